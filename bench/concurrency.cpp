// BM_Teed_Concurrent/P: P client processes, each with its own bus connection and hello_world
// session, invoke as fast as they can for one round of a fixed length that starts for all of them
// at once. BM_Teed_ConcurrentChannel/P does the same over each session's channel.
// BM_Teed_ConcurrentPaced/P and BM_Teed_ConcurrentPacedChannel/P have each client call at a
// steady 100 calls/s from a random phase instead: P clients at once, without saturating teed, so
// their latency shows what concurrency costs rather than the queue a saturated server builds.
// One iteration is one round; its time (manual time) is from the start until the last
// call of the round returned. Counters, per round:
//   calls_per_s   all calls of all clients / the round's time;
//   p50_us/p99_us per-call latency, nearest rank over the calls of every client pooled;
//   calls         all calls of the round.
// Processes, not threads, because teed serves each connection on its own and a real client is a
// process: threads of one process would share its allocator and scheduler slice.

#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench/bench_environment.h"
#include "bench/bench_support.h"
#include "teed/client.h"

namespace {

using namespace teed;
using namespace std::chrono_literals;

constexpr const char* kHelloWorld = "8aaaf200-2450-11e4-abe2-0002a5d5c51b";
constexpr int64_t kRoundNs = 1'000'000'000;
constexpr int64_t kPacedPeriodNs = 10'000'000;  // 100 calls/s per paced client
// Latency samples kept per client and round; calls beyond it are counted, not sampled. A round of
// 1 s cannot fill it at the tens of microseconds a call takes at best.
constexpr size_t kMaxSamples = 1 << 16;
// Connecting, opening and finishing: generous, so that a loaded machine still completes.
constexpr auto kSetUpLimit = 60s;

// Memory shared by the benchmark and its clients: plain aggregates in a zero-filled mapping.
struct RoundHeader {
    int64_t deadline_ns;  // written by the benchmark before it opens the start barrier
};
struct ClientReport {
    uint64_t calls;          // calls that returned within the round
    int64_t last_return_ns;  // when the last of them returned
    uint32_t latency_ns[kMaxSamples];
};

struct Mode {
    bool channel = false;    // invoke over the session's channel instead of D-Bus
    int64_t period_ns = 0;   // 0: back to back; else one call per period
};

struct Round {
    std::string error;
    double seconds = 0;
    uint64_t calls = 0;
    std::vector<uint32_t> latency_ns;
};

// Connects, opens a session and makes one call, then reports ready (1) or not (0) on `ready_fd`.
// Returns the session on success.
std::optional<client::Session> prepare_client(std::optional<client::Client>& client, int ready_fd,
                                              const Mode& mode) {
    std::optional<client::Session> session;
    try {
        client = client::Client::connect(bench::environment().address());
        auto [opened, reply] = client->open_session(kHelloWorld, {.use_channel = mode.channel});
        if (opened && opened->using_channel() == mode.channel &&
            opened->invoke(0, {client::Param::value_inout(1)}).ok())
            session = std::move(opened);
    } catch (const std::exception&) {
        session.reset();
    }
    const uint8_t ready = session ? 1 : 0;
    bench::write_all(ready_fd, &ready, 1);
    return session;
}

// Sleeps until the monotonic clock reads `ns`.
void sleep_until_ns(int64_t ns) {
    timespec at{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) == EINTR) {}
}

// One client process: prepare, wait at the barrier, invoke until the deadline.
int run_client(RoundHeader& header, ClientReport& report, int ready_fd, int start_fd,
               const Mode& mode, unsigned seed) {
    std::optional<client::Client> client;
    auto session = prepare_client(client, ready_fd, mode);
    if (!session) return 1;
    uint8_t ignored = 0;
    if (::read(start_fd, &ignored, 1) != 0) return 1;  // the barrier opens as end of file
    const int64_t deadline =
        std::atomic_ref<int64_t>(header.deadline_ns).load(std::memory_order_acquire);
    const std::vector<client::Param> params{client::Param::value_inout(42)};
    int64_t now = bench::monotonic_ns();
    // Paced clients start at a random point of their period, so they do not call in step.
    int64_t next = mode.period_ns ? now + static_cast<int64_t>(seed % mode.period_ns) : now;
    while (next < deadline) {
        if (mode.period_ns) sleep_until_ns(next);
        const int64_t before = bench::monotonic_ns();
        if (!session->invoke(0, params).ok()) return 1;
        now = bench::monotonic_ns();
        if (report.calls < kMaxSamples)
            report.latency_ns[report.calls] =
                static_cast<uint32_t>(std::min<int64_t>(now - before, UINT32_MAX));
        ++report.calls;
        next = mode.period_ns ? next + mode.period_ns : now;
    }
    report.last_return_ns = now;
    return 0;
}

// Reads one byte per client from `fd`: true if all are ready in time.
bool wait_until_ready(int fd, int clients) {
    const auto deadline = std::chrono::steady_clock::now() + kSetUpLimit;
    for (int ready = 0; ready < clients;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd p{fd, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
        uint8_t byte = 0;
        if (!bench::read_all(fd, &byte, 1) || byte != 1) return false;
        ++ready;
    }
    return true;
}

Round collect(const ClientReport* reports, int clients, int64_t start_ns) {
    Round round;
    int64_t last = start_ns;
    for (int i = 0; i < clients; ++i) {
        const ClientReport& r = reports[i];
        round.calls += r.calls;
        last = std::max(last, r.last_return_ns);
        const size_t kept = std::min<uint64_t>(r.calls, kMaxSamples);
        round.latency_ns.insert(round.latency_ns.end(), r.latency_ns, r.latency_ns + kept);
    }
    round.seconds = static_cast<double>(last - start_ns) / 1e9;
    return round;
}

Round run_round(int clients, const Mode& mode) {
    bench::SharedMapping shared(sizeof(RoundHeader) +
                                sizeof(ClientReport) * static_cast<size_t>(clients));
    auto* header = static_cast<RoundHeader*>(shared.data());
    auto* reports = reinterpret_cast<ClientReport*>(header + 1);
    bench::Pipe ready = bench::make_pipe();
    bench::Pipe start = bench::make_pipe();
    std::vector<bench::ForkedChild> children;
    children.reserve(static_cast<size_t>(clients));
    for (int i = 0; i < clients; ++i) {
        children.emplace_back([&, i] {
            start.write.reset();  // else this child would hold the barrier shut itself
            ready.read.reset();
            return run_client(*header, reports[i], ready.write.get(), start.read.get(), mode,
                              static_cast<unsigned>(i) * 2654435761u);
        });
    }
    ready.write.reset();
    if (!wait_until_ready(ready.read.get(), clients))
        return {.error = "a client could not open a session"};
    const int64_t start_ns = bench::monotonic_ns();
    std::atomic_ref<int64_t>(header->deadline_ns)
        .store(start_ns + kRoundNs, std::memory_order_release);
    start.write.reset();
    for (auto& child : children)
        if (child.wait_for(std::chrono::duration_cast<std::chrono::milliseconds>(kSetUpLimit)) != 0)
            return {.error = "a client failed or did not finish"};
    return collect(reports, clients, start_ns);
}

// Nearest rank: the smallest sample with at least `fraction` of the samples at or below it.
double percentile_us(std::vector<uint32_t>& samples, double fraction) {
    if (samples.empty()) return 0;
    auto rank = static_cast<size_t>(std::ceil(fraction * static_cast<double>(samples.size())));
    auto nth = samples.begin() + static_cast<std::ptrdiff_t>(std::max<size_t>(rank, 1) - 1);
    std::nth_element(samples.begin(), nth, samples.end());
    return *nth / 1e3;
}

void run_concurrent(benchmark::State& state, const Mode& mode) {
    // Children use the client library after fork(), which is safe only without other threads.
    if (bench::thread_count() != 1) {
        state.SkipWithError("cannot fork safely: the process has other threads");
        return;
    }
    const auto clients = static_cast<int>(state.range(0));
    for (auto _ : state) {
        Round round = run_round(clients, mode);
        if (!round.error.empty() || round.calls == 0) {
            state.SkipWithError(round.error.empty() ? "no call completed" : round.error.c_str());
            break;
        }
        state.SetIterationTime(round.seconds);
        state.counters["clients"] = clients;
        state.counters["calls"] = static_cast<double>(round.calls);
        state.counters["calls_per_s"] = static_cast<double>(round.calls) / round.seconds;
        state.counters["p50_us"] = percentile_us(round.latency_ns, 0.50);
        state.counters["p99_us"] = percentile_us(round.latency_ns, 0.99);
    }
}

// Argument: client processes. teed's defaults (daemon/limits.h) allow 1024 clients; with one
// call in flight each, 64 clients stay far below max_concurrent_calls_per_client.
void BM_Teed_Concurrent(benchmark::State& state) { run_concurrent(state, {}); }
void BM_Teed_ConcurrentChannel(benchmark::State& state) { run_concurrent(state, {.channel = true}); }
void BM_Teed_ConcurrentPaced(benchmark::State& state) {
    run_concurrent(state, {.period_ns = kPacedPeriodNs});
}
void BM_Teed_ConcurrentPacedChannel(benchmark::State& state) {
    run_concurrent(state, {.channel = true, .period_ns = kPacedPeriodNs});
}

BENCHMARK(BM_Teed_Concurrent)->Arg(1)->Arg(4)->Arg(16)->Arg(64)->Iterations(1)->UseManualTime();
BENCHMARK(BM_Teed_ConcurrentChannel)->Arg(1)->Arg(4)->Arg(16)->Arg(64)->Iterations(1)->UseManualTime();
BENCHMARK(BM_Teed_ConcurrentPaced)->Arg(1)->Arg(64)->Iterations(1)->UseManualTime();
BENCHMARK(BM_Teed_ConcurrentPacedChannel)->Arg(1)->Arg(64)->Iterations(1)->UseManualTime();

}  // namespace
