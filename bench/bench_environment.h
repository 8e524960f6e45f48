#pragma once
// What a benchmark needs around it: a private system-type bus that includes teed's real policy
// (plus a rule for the benchmark's own floor server), and teed on simulated devices, configured
// for memrefs of up to 16 MiB.

#include <sys/types.h>

#include <cstdint>
#include <string>

#include <benchmark/benchmark.h>

namespace teed::bench {

class BenchEnvironment {
public:
    // Starts dbus-daemon and `teed --config=... --simulate --no-hardware`; throws
    // std::runtime_error on failure.
    BenchEnvironment();
    ~BenchEnvironment();
    BenchEnvironment(const BenchEnvironment&) = delete;
    BenchEnvironment& operator=(const BenchEnvironment&) = delete;

    const std::string& address() const { return address_; }
    // teed's --state-directory: its secure storage lives below it.
    std::string state_directory() const { return directory_ + "/state"; }

private:
    std::string directory_;
    std::string address_;
    pid_t bus_pid_ = -1;
    pid_t teed_pid_ = -1;
};

// The environment of the running benchmark program, started by run_benchmarks().
BenchEnvironment& environment();

// A benchmark program's main(): parses Google Benchmark's options, starts the environment, runs
// every registered benchmark and stops the environment. Returns the exit code.
int run_benchmarks(int argc, char** argv, const char* program);

// The memref sizes every bandwidth benchmark runs at (4 KiB, 64 KiB, 1 MiB, 16 MiB), after any
// small-call arguments it adds itself: BENCHMARK(f)->Arg(0)->Apply(memref_sizes).
inline void memref_sizes(benchmark::internal::Benchmark* b) {
    for (int64_t size : {int64_t{4} << 10, int64_t{64} << 10, int64_t{1} << 20, int64_t{16} << 20})
        b->Arg(size);
}

// The well-known name the floor server owns on the benchmark bus.
inline constexpr const char* kFloorName = "org.teed.BenchFloor";

}  // namespace teed::bench
