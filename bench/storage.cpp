// Secure storage through the whole path, with its floor, measured in the same run as the other
// benchmarks:
//   BM_Teed_SecureStorageWrite/N  WRITE_RAW of an N-byte object to the simulated secure_storage
//                                 TA: the client's call, the TA's REE FS requests to teed's
//                                 supplicant (create a new file, write, close, rename over the
//                                 old one), each written durably;
//   BM_Teed_SecureStorageRead/N   READ_RAW of the same object;
//   BM_Floor_DurableReplace/N     what that write must cost at least on this disk: in this
//                                 process, write N bytes to a new file, fdatasync, rename it over
//                                 the old one and fsync the directory;
//   BM_Floor_FileRead/N           pread of N bytes of a cached file.
// Each counts N bytes per iteration.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench/bench_environment.h"
#include "common/unique_fd.h"
#include "teed/client.h"

namespace {

using namespace teed;

constexpr const char* kSecureStorage = "f4e750bb-1437-4fbf-8785-8d3580c34994";
constexpr uint32_t kReadRaw = 0;
constexpr uint32_t kWriteRaw = 1;

void storage_sizes(benchmark::internal::Benchmark* b) {
    b->Arg(1 << 10)->Arg(1 << 20)->UseRealTime();
}

std::vector<uint8_t> object_id(const char* text) {
    return {text, text + std::char_traits<char>::length(text)};
}

void BM_Teed_SecureStorageWrite(benchmark::State& state) {
    auto client = client::Client::connect(bench::environment().address());
    auto [session, opened] = client.open_session(kSecureStorage);
    if (!session) return state.SkipWithError("cannot open a secure_storage session");
    const std::vector<uint8_t> data(static_cast<size_t>(state.range(0)), 0x5a);
    const std::vector<client::Param> params{client::Param::temp_in(object_id("bench-write")),
                                            client::Param::temp_in(data)};
    for (auto _ : state) {
        if (!session->invoke(kWriteRaw, params).ok()) return state.SkipWithError("write failed");
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * state.range(0)));
}

void BM_Teed_SecureStorageRead(benchmark::State& state) {
    auto client = client::Client::connect(bench::environment().address());
    auto [session, opened] = client.open_session(kSecureStorage);
    if (!session) return state.SkipWithError("cannot open a secure_storage session");
    const auto size = static_cast<size_t>(state.range(0));
    const auto id = object_id("bench-read");
    if (!session->invoke(kWriteRaw, {client::Param::temp_in(id),
                                     client::Param::temp_in(std::vector<uint8_t>(size, 0x33))})
             .ok())
        return state.SkipWithError("cannot write the object to read");
    const std::vector<client::Param> params{client::Param::temp_in(id), client::Param::temp_out(size)};
    for (auto _ : state) {
        auto reply = session->invoke(kReadRaw, params);
        if (!reply.ok() || reply.params[1].data.size() != size) return state.SkipWithError("read failed");
        benchmark::DoNotOptimize(reply);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * state.range(0)));
}

// A directory of the floor's own next to teed's state, so both write to the same file system.
std::string floor_directory() {
    return bench::environment().state_directory() + "/floor";
}

void BM_Floor_DurableReplace(benchmark::State& state) {
    const std::string dir = floor_directory();
    ::mkdir(dir.c_str(), 0700);
    UniqueFd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    const std::vector<uint8_t> data(static_cast<size_t>(state.range(0)), 0x5a);
    const std::string temp = dir + "/object.tmp", final_name = dir + "/object";
    for (auto _ : state) {
        UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (!fd.valid() || ::write(fd.get(), data.data(), data.size()) != static_cast<ssize_t>(data.size()) ||
            ::fdatasync(fd.get()) < 0 || ::rename(temp.c_str(), final_name.c_str()) < 0 ||
            ::fsync(dirfd.get()) < 0)
            return state.SkipWithError("durable replace failed");
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * state.range(0)));
}

void BM_Floor_FileRead(benchmark::State& state) {
    const std::string dir = floor_directory();
    ::mkdir(dir.c_str(), 0700);
    const std::string path = dir + "/read";
    const auto size = static_cast<size_t>(state.range(0));
    std::vector<uint8_t> data(size, 0x33);
    {
        UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (!fd.valid() || ::write(fd.get(), data.data(), size) != static_cast<ssize_t>(size))
            return state.SkipWithError("cannot write the file to read");
    }
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    for (auto _ : state) {
        if (::pread(fd.get(), data.data(), size, 0) != static_cast<ssize_t>(size))
            return state.SkipWithError("read failed");
        benchmark::DoNotOptimize(data);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * state.range(0)));
}

}  // namespace

BENCHMARK(BM_Teed_SecureStorageWrite)->Apply(storage_sizes);
BENCHMARK(BM_Teed_SecureStorageRead)->Apply(storage_sizes);
BENCHMARK(BM_Floor_DurableReplace)->Apply(storage_sizes);
BENCHMARK(BM_Floor_FileRead)->Apply(storage_sizes);
