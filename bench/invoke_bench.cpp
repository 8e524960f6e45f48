// Invokes through teed, measured in one run on one private bus with their floors (floors.cpp) and
// the concurrency benchmark (concurrency.cpp):
//   BM_Teed_Invoke/0            Session.Invoke of the hello_world TA through the client library;
//   BM_Teed_TempMemref/N        the copy TA with N-byte temporary memrefs in and out: the bytes
//                               travel inside the D-Bus messages;
//   BM_Teed_RegisteredShm/N     the copy TA with both memrefs in registered memfds (MEMREF_WHOLE);
//   BM_Teed_AllocatedShm/N      the same in device memory teed allocated;
//   BM_Teed_Channel/N           hello_world (N = 1) or the copy TA's temporary memrefs over the
//                               session's channel (the fast path) instead of D-Bus;
//   BM_Direct_SimulatedDevice/N the same calls as Invoke/TempMemref made on the simulated device in
//                               this process: no bus, no daemon.
// Every memref benchmark counts N bytes in + N bytes out per call. scripts/bench turns the
// medians into the ratios docs/performance.md reports.

#include <cstring>
#include <vector>

#include <benchmark/benchmark.h>

#include "backends/kernel/gp.h"
#include "backends/optee/gp_client.h"
#include "backends/sim/sim_device.h"
#include "bench/bench_environment.h"
#include "teed/client.h"

namespace {

using namespace teed;

constexpr const char* kHelloWorld = "8aaaf200-2450-11e4-abe2-0002a5d5c51b";
constexpr const char* kCopy = "82110af0-5dff-4c5b-8e60-94810e550ce9";

void count_bytes(benchmark::State& state) {
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * state.range(0) * 2));
}

void BM_Teed_Invoke(benchmark::State& state) {
    auto client = client::Client::connect(bench::environment().address());
    auto [session, opened] = client.open_session(kHelloWorld);
    if (!session) {
        state.SkipWithError("cannot open a session");
        return;
    }
    const std::vector<client::Param> params{client::Param::value_inout(42)};
    for (auto _ : state) {
        auto reply = session->invoke(0, params);
        if (!reply.ok()) {
            state.SkipWithError("invoke failed");
            break;
        }
        benchmark::DoNotOptimize(reply);
    }
}

void BM_Teed_TempMemref(benchmark::State& state) {
    auto client = client::Client::connect(bench::environment().address());
    auto [session, opened] = client.open_session(kCopy);
    if (!session) {
        state.SkipWithError("cannot open a session");
        return;
    }
    const auto size = static_cast<uint64_t>(state.range(0));
    const std::vector<uint8_t> input(size, 'x');
    const std::vector<client::Param> params{client::Param::temp_in(input),
                                            client::Param::temp_out(size)};
    client::Reply reply;
    for (auto _ : state) {
        reply = session->invoke(0, params);
        if (!reply.ok()) {
            state.SkipWithError("invoke failed");
            break;
        }
    }
    if (reply.params.size() < 2 || reply.params[1].data != input)
        state.SkipWithError("the copy differs");
    count_bytes(state);
}

// The copy TA with both memrefs in shared memory: registered memfds (zero copy on the simulated
// device, which has REG_MEM) or device memory teed allocated. No memref byte crosses the bus.
void shared_memory_copy(benchmark::State& state, bool allocate) {
    auto client = client::Client::connect(bench::environment().address());
    auto [session, opened] = client.open_session(kCopy);
    if (!session) {
        state.SkipWithError("cannot open a session");
        return;
    }
    const auto size = static_cast<uint64_t>(state.range(0));
    auto make = [&](uint32_t flags) {
        return allocate ? client.allocate_shared_memory(size, flags)
                        : client.register_shared_memory(size, flags);
    };
    auto in = make(client::kMemInput);
    auto out = make(client::kMemOutput);
    std::memset(in.data(), 'x', size);
    const std::vector<client::Param> params{client::whole(in), client::whole(out)};
    for (auto _ : state) {
        auto reply = session->invoke(0, params);
        if (!reply.ok()) {
            state.SkipWithError("invoke failed");
            break;
        }
        benchmark::DoNotOptimize(out.data()[0]);
    }
    if (std::memcmp(in.data(), out.data(), size) != 0) state.SkipWithError("the copy differs");
    count_bytes(state);
}

void BM_Teed_RegisteredShm(benchmark::State& state) {
    shared_memory_copy(state, /*allocate=*/false);
}
void BM_Teed_AllocatedShm(benchmark::State& state) {
    shared_memory_copy(state, /*allocate=*/true);
}

// The per-session fast path (Session::use_channel()): argument 1 is a hello_world call, any other
// the bytes of the copy TA's temporary memrefs in and out, as for BM_Floor_SocketPingPong, the
// floor it is reported against.
void BM_Teed_Channel(benchmark::State& state) {
    auto client = client::Client::connect(bench::environment().address());
    const auto size = static_cast<uint64_t>(state.range(0));
    const bool hello = size == 1;
    auto [session, opened] = client.open_session(hello ? kHelloWorld : kCopy, {.use_channel = true});
    if (!session || !session->using_channel()) {
        state.SkipWithError("cannot open a session with a channel");
        return;
    }
    const std::vector<uint8_t> input(hello ? 0 : size, 'x');
    const std::vector<client::Param> params =
        hello ? std::vector<client::Param>{client::Param::value_inout(42)}
              : std::vector<client::Param>{client::Param::temp_in(input), client::Param::temp_out(size)};
    client::Reply reply;
    for (auto _ : state) {
        reply = session->invoke(0, params);
        if (!reply.ok()) {
            state.SkipWithError("invoke failed");
            break;
        }
    }
    if (!hello && (reply.params.size() < 2 || reply.params[1].data != input))
        state.SkipWithError("the copy differs");
    if (!hello) count_bytes(state);
}

void BM_Direct_SimulatedDevice(benchmark::State& state) {
    auto node = make_simulated_node({});
    auto device = std::move(node->open()).value();
    GpClient gp(*device, /*memref_null=*/true, /*reg_mem=*/true);
    const auto size = static_cast<uint64_t>(state.range(0));
    GpOpenRequest request{.uuid = Uuid::parse(size != 0 ? kCopy : kHelloWorld).value()};
    auto opened = gp.open_session(request).value();
    GpParams params = size != 0 ? GpParams{GpParam::temp_input(std::vector<uint8_t>(size, 'x')),
                                           GpParam::temp_output(size)}
                                : GpParams{GpParam::value_inout(42)};
    for (auto _ : state) {
        auto reply = gp.invoke(opened.session_id, 0, 0, params);
        benchmark::DoNotOptimize(reply);
    }
    count_bytes(state);
}

BENCHMARK(BM_Teed_Invoke)->Arg(0)->UseRealTime();
// Argument: the bytes of the input memref, and of the output memref.
BENCHMARK(BM_Teed_TempMemref)
    ->Apply(bench::memref_sizes)
    ->UseRealTime();
BENCHMARK(BM_Teed_RegisteredShm)
    ->Apply(bench::memref_sizes)
    ->UseRealTime();
BENCHMARK(BM_Teed_AllocatedShm)
    ->Apply(bench::memref_sizes)
    ->UseRealTime();
// Argument: 1 for hello_world, else as for BM_Teed_TempMemref.
BENCHMARK(BM_Teed_Channel)
    ->Arg(1)
    ->Apply(bench::memref_sizes)
    ->UseRealTime();
// Argument: 0 for hello_world, else as for BM_Teed_TempMemref.
BENCHMARK(BM_Direct_SimulatedDevice)
    ->Arg(0)
    ->Apply(bench::memref_sizes)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
    return teed::bench::run_benchmarks(argc, argv, "invoke_bench");
}
