// The floors teed's figures are compared with, measured in the same run as teed:
//   BM_Floor_DbusRoundTrip/N   a bare D-Bus method round trip with the message shape of an invoke
//                              (sdbus-c++ proxy to an sd-bus server that echoes the parameters
//                              back, as a TA's reply would carry them);
//   BM_Floor_SocketPingPong/N  N bytes to a forked child over a Unix socketpair and back: the
//                              floor of any socket transport, such as a per-session fast path;
//   BM_Floor_Memcpy/N          one memcpy of N bytes: what the copy TA itself costs, and the best
//                              a call moving N bytes in and N bytes out through shared memory can
//                              do.
// Every one counts N bytes in + N bytes out per iteration, as the teed benchmarks do.

#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <sdbus-c++/sdbus-c++.h>
#include <systemd/sd-bus.h>

#include "backends/kernel/gp.h"
#include "bench/bench_environment.h"
#include "bench/bench_support.h"
#include "dbus/gp_wire.h"

namespace {

using namespace teed;

constexpr const char* kFloorPath = "/org/teed/BenchFloor";
constexpr const char* kFloorInterface = "org.teed.BenchFloor";

// The floor's server: plain sd-bus on its own thread, replying (u, u, a(uttayott)) with the
// parameters it got, which is what teed's Invoke reply looks like.
class FloorServer {
public:
    FloorServer() {
        if (sd_bus_open_system(&bus_) < 0) throw std::runtime_error("floor: cannot connect");
        if (sd_bus_add_object_vtable(bus_, nullptr, kFloorPath, kFloorInterface, kVtable, nullptr) <
            0)
            throw std::runtime_error("floor: cannot register");
        if (sd_bus_request_name(bus_, bench::kFloorName, 0) < 0)
            throw std::runtime_error("floor: cannot own its name");
        thread_ = std::thread([this] { serve(); });
    }
    ~FloorServer() {
        stop_ = true;
        thread_.join();
        sd_bus_flush_close_unref(bus_);
    }
    FloorServer(const FloorServer&) = delete;
    FloorServer& operator=(const FloorServer&) = delete;

private:
    static int invoke(sd_bus_message* m, void*, sd_bus_error*) {
        uint32_t command = 0;
        GpParams params;
        sd_bus_message_read(m, "u", &command);
        read_wire_params(m, params);
        sd_bus_message* reply = nullptr;
        sd_bus_message_new_method_return(m, &reply);
        sd_bus_message_append(reply, "uu", gp::kOriginTrustedApp, gp::kSuccess);
        append_wire_params(reply, params);
        int r = sd_bus_send(nullptr, reply, nullptr);
        sd_bus_message_unref(reply);
        return r < 0 ? r : 1;
    }
    void serve() {
        while (!stop_) {
            int r = sd_bus_process(bus_, nullptr);
            if (r < 0) return;
            if (r == 0) sd_bus_wait(bus_, 50'000);
        }
    }
    static constexpr sd_bus_vtable kVtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Invoke", "ua(uttayott)a{sv}", "uua(uttayott)", invoke,
                      SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
    };
    sd_bus* bus_ = nullptr;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

void BM_Floor_DbusRoundTrip(benchmark::State& state) {
    FloorServer server;
    auto connection = sdbus::createSystemBusConnection();
    auto proxy = sdbus::createProxy(*connection, bench::kFloorName, kFloorPath);
    const auto size = static_cast<size_t>(state.range(0));
    WireParams params = size == 0 ? to_wire({GpParam::value_inout(42)})
                                  : to_wire({GpParam::temp_input(std::vector<uint8_t>(size, 'x')),
                                             GpParam::temp_output(size)});
    std::map<std::string, sdbus::Variant> options;
    for (auto _ : state) {
        uint32_t origin = 0, code = 0;
        WireParams out;
        proxy->callMethod("Invoke")
            .onInterface(kFloorInterface)
            .withArguments(uint32_t{0}, params, options)
            .storeResultsTo(origin, code, out);
        benchmark::DoNotOptimize(out);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size * 2));
}

// The echo child of the ping-pong: reads `buffer.size()` bytes, writes them back, until the
// benchmark closes its end.
int echo_messages(int socket, std::vector<uint8_t>& buffer) {
    while (bench::read_all(socket, buffer.data(), buffer.size()))
        if (!bench::write_all(socket, buffer.data(), buffer.size())) return 1;
    return 0;
}

void BM_Floor_SocketPingPong(benchmark::State& state) {
    if (bench::thread_count() != 1) {
        state.SkipWithError("cannot fork safely: the process has other threads");
        return;
    }
    const auto size = static_cast<size_t>(state.range(0));
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        state.SkipWithError("socketpair failed");
        return;
    }
    UniqueFd mine(fds[0]);
    UniqueFd theirs(fds[1]);
    // Allocated before the fork, so that the child only makes system calls.
    std::vector<uint8_t> echo_buffer(size);
    bench::ForkedChild echo([&] {
        mine.reset();  // so that the benchmark closing its end is the child's end of file
        return echo_messages(theirs.get(), echo_buffer);
    });
    theirs.reset();
    std::vector<uint8_t> out(size, 'x');
    std::vector<uint8_t> in(size);
    for (auto _ : state) {
        if (!bench::write_all(mine.get(), out.data(), size) ||
            !bench::read_all(mine.get(), in.data(), size)) {
            state.SkipWithError("the echo child went away");
            break;
        }
    }
    if (in != out) state.SkipWithError("the echo came back different");
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size * 2));
}

void BM_Floor_Memcpy(benchmark::State& state) {
    const auto size = static_cast<size_t>(state.range(0));
    std::vector<uint8_t> in(size, 'x'), out(size);
    for (auto _ : state) {
        std::memcpy(out.data(), in.data(), size);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size * 2));
}

// Argument: 0 for the hello_world shape (one value), else the bytes of an in + out memref.
BENCHMARK(BM_Floor_DbusRoundTrip)
    ->Arg(0)
    ->Apply(bench::memref_sizes)
    ->UseRealTime();
// Argument: bytes each way; 1 is the small-call floor.
BENCHMARK(BM_Floor_SocketPingPong)
    ->Arg(1)
    ->Apply(bench::memref_sizes)
    ->UseRealTime();
BENCHMARK(BM_Floor_Memcpy)->Apply(bench::memref_sizes)->UseRealTime();

}  // namespace
