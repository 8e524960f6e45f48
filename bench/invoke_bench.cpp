// Invoke latency through teed against its floors, measured in one run on one private bus:
//   floor:  a bare D-Bus method round trip with the same message shape (sdbus-c++ proxy to an
//           sd-bus server that echoes the parameters back, as a TA's reply would carry them);
//   teed:   Session.Invoke of the hello_world TA through the client library;
//   direct: the same call made on the simulated device in this process (no bus, no daemon).
// scripts/bench turns the medians into the ratios docs/performance.md reports.

#include <atomic>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <thread>

#include <benchmark/benchmark.h>
#include <systemd/sd-bus.h>
#include <sdbus-c++/sdbus-c++.h>

#include "backends/kernel/gp.h"
#include "backends/optee/gp_client.h"
#include "backends/sim/sim_device.h"
#include "bench/bench_environment.h"
#include "dbus/gp_wire.h"
#include "teed/client.h"

namespace {

using namespace teed;

constexpr const char* kHelloWorld = "8aaaf200-2450-11e4-abe2-0002a5d5c51b";
constexpr const char* kEcho = "4cbe901c-6d6c-4b1d-8ecd-fa9216ce5fe6";
constexpr const char* kFloorPath = "/org/teed/BenchFloor";
constexpr const char* kFloorInterface = "org.teed.BenchFloor";

std::unique_ptr<bench::BenchEnvironment> g_environment;

// The floor's server: plain sd-bus on its own thread, replying (u, u, a(uttayott)) with the
// parameters it got, which is what teed's Invoke reply looks like.
class FloorServer {
public:
    FloorServer() {
        if (sd_bus_open_system(&bus_) < 0) throw std::runtime_error("floor: cannot connect");
        if (sd_bus_add_object_vtable(bus_, nullptr, kFloorPath, kFloorInterface, kVtable, nullptr) < 0)
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
        SD_BUS_METHOD("Invoke", "ua(uttayott)a{sv}", "uua(uttayott)", invoke, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
    };
    sd_bus* bus_ = nullptr;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

WireParams hello_params() { return to_wire({GpParam::value_inout(42)}); }

void BM_Floor_DbusRoundTrip(benchmark::State& state) {
    FloorServer server;
    auto connection = sdbus::createSystemBusConnection();
    auto proxy = sdbus::createProxy(*connection, bench::kFloorName, kFloorPath);
    WireParams params = state.range(0) == 0 ? hello_params()
                                            : to_wire({GpParam::temp_input(std::vector<uint8_t>(state.range(0), 'x')),
                                                       GpParam::temp_output(state.range(0))});
    std::map<std::string, sdbus::Variant> options;
    for (auto _ : state) {
        uint32_t origin = 0, code = 0;
        WireParams out;
        proxy->callMethod("Invoke").onInterface(kFloorInterface).withArguments(uint32_t{0}, params, options)
            .storeResultsTo(origin, code, out);
        benchmark::DoNotOptimize(out);
    }
    state.SetBytesProcessed(state.iterations() * state.range(0) * 2);
}

void BM_Teed_Invoke(benchmark::State& state) {
    auto client = client::Client::connect(g_environment->address());
    bool echo = state.range(0) != 0;
    auto [session, opened] = client.open_session(echo ? kEcho : kHelloWorld);
    if (!session) {
        state.SkipWithError("cannot open a session");
        return;
    }
    std::vector<client::Param> params;
    if (echo) {
        params = {client::Param::temp_in(std::vector<uint8_t>(state.range(0), 'x')),
                  client::Param::temp_out(state.range(0))};
    } else {
        params = {client::Param::value_inout(42)};
    }
    for (auto _ : state) {
        auto reply = session->invoke(0, params);
        if (!reply.ok()) state.SkipWithError("invoke failed");
        benchmark::DoNotOptimize(reply);
    }
    state.SetBytesProcessed(state.iterations() * state.range(0) * 2);
}

void BM_Direct_SimulatedDevice(benchmark::State& state) {
    auto node = make_simulated_node({});
    auto device = std::move(node->open()).value();
    GpClient gp(*device, /*memref_null=*/true);
    bool echo = state.range(0) != 0;
    GpOpenRequest request{.uuid = Uuid::parse(echo ? kEcho : kHelloWorld).value()};
    auto opened = gp.open_session(request).value();
    GpParams params = echo ? GpParams{GpParam::temp_input(std::vector<uint8_t>(state.range(0), 'x')),
                                      GpParam::temp_output(state.range(0))}
                           : GpParams{GpParam::value_inout(42)};
    for (auto _ : state) {
        auto reply = gp.invoke(opened.session_id, 0, 0, params);
        benchmark::DoNotOptimize(reply);
    }
    state.SetBytesProcessed(state.iterations() * state.range(0) * 2);
}

// The echo TA through teed with both memrefs in shared memory: registered memfds (zero copy on
// the simulated device, which has REG_MEM) or device memory teed allocated.
void shared_memory_echo(benchmark::State& state, bool allocate) {
    auto client = client::Client::connect(g_environment->address());
    auto [session, opened] = client.open_session(kEcho);
    uint64_t size = static_cast<uint64_t>(state.range(0));
    auto make = [&](uint32_t flags) {
        return allocate ? client.allocate_shared_memory(size, flags) : client.register_shared_memory(size, flags);
    };
    auto in = make(client::kMemInput);
    auto out = make(client::kMemOutput);
    std::memset(in.data(), 'x', size);
    std::vector<client::Param> params{client::whole(in), client::whole(out)};
    for (auto _ : state) {
        auto reply = session->invoke(0, params);
        if (!reply.ok()) state.SkipWithError("invoke failed");
        benchmark::DoNotOptimize(out.data()[0]);
    }
    state.SetBytesProcessed(state.iterations() * state.range(0) * 2);
}

void BM_Teed_RegisteredShm(benchmark::State& state) { shared_memory_echo(state, /*allocate=*/false); }
void BM_Teed_AllocatedShm(benchmark::State& state) { shared_memory_echo(state, /*allocate=*/true); }

// The memcpy floor: the same bytes copied once each way, in this process.
void BM_Floor_Memcpy(benchmark::State& state) {
    std::vector<uint8_t> a(state.range(0), 'x'), b(state.range(0));
    for (auto _ : state) {
        std::memcpy(b.data(), a.data(), a.size());
        std::memcpy(a.data(), b.data(), b.size());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * state.range(0) * 2);
}

// Argument: 0 for the hello_world shape (one value), else the bytes of an echo in + out memref.
BENCHMARK(BM_Floor_DbusRoundTrip)->Arg(0)->Arg(4096)->Arg(65536)->Arg(1 << 20)->UseRealTime();
BENCHMARK(BM_Teed_Invoke)->Arg(0)->Arg(4096)->Arg(65536)->Arg(1 << 20)->UseRealTime();
BENCHMARK(BM_Direct_SimulatedDevice)->Arg(0)->Arg(4096)->Arg(65536)->Arg(1 << 20)->UseRealTime();
BENCHMARK(BM_Teed_RegisteredShm)->Arg(4096)->Arg(1 << 20)->Arg(16 << 20)->UseRealTime();
BENCHMARK(BM_Teed_AllocatedShm)->Arg(4096)->Arg(1 << 20)->Arg(16 << 20)->UseRealTime();
BENCHMARK(BM_Floor_Memcpy)->Arg(4096)->Arg(1 << 20)->Arg(16 << 20)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    try {
        g_environment = std::make_unique<bench::BenchEnvironment>();
    } catch (const std::exception& e) {
        fprintf(stderr, "invoke_bench: %s\n", e.what());
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    g_environment.reset();
    return 0;
}
