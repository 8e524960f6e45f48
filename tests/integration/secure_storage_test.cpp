// Secure storage through the whole path: a client's WRITE_RAW reaches the simulated secure_storage
// TA, whose REE FS requests teed's supplicant serves into files under --state-directory.
//
// The crash test kills teed with SIGKILL in the middle of a write storm, restarts it on the same
// directory, and reads every object back: each must be exactly the last version whose write was
// acknowledged or the one in flight when teed died, never a mix, never missing, never corrupt
// (the TA checks its own integrity hash). 5 rounds by default, 100 with TEED_LONG_TESTS=1.
// SIGKILL tests atomicity against the death of the process; the fsyncs that make the same hold
// across a power cut cannot be observed from a test.
//
// The full-disk test runs teed with RLIMIT_FSIZE so that a large object cannot be written:
// TEEC_ERROR_STORAGE_NO_SPACE reaches the client and the previous version stays readable. The
// limit binds memfds too (the shared memory of memrefs), so the object is sized to fit in
// shared memory, page-rounded, and not in a file with the TA's header.

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "harness.h"
#include "teed/client.h"

namespace teed::test {
namespace {

using client::Param;

constexpr const char* kSecureStorage = "f4e750bb-1437-4fbf-8785-8d3580c34994";
constexpr uint32_t kReadRaw = 0;
constexpr uint32_t kWriteRaw = 1;
constexpr uint32_t kEnumerate = 0x101;
constexpr uint32_t kSuccess = 0;
constexpr uint32_t kErrorStorageNoSpace = 0xFFFF3041;

std::vector<uint8_t> bytes_of(const std::string& text) {
    return {text.begin(), text.end()};
}

// Version `version` of object `index`: its own size and bytes, so that any two versions differ.
std::vector<uint8_t> content(uint32_t index, uint32_t version) {
    uint64_t state = (uint64_t{index} << 32) | version;
    auto next = [&state] {  // splitmix64
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    };
    std::vector<uint8_t> data(1024 + next() % (60 * 1024));
    for (auto& byte : data) byte = static_cast<uint8_t>(next());
    return data;
}

std::string object_id(uint32_t index) {
    return "object-" + std::to_string(index);
}

class SecureStorageClient {
public:
    explicit SecureStorageClient(const std::string& address)
        : client_(client::Client::connect(address)),
          session_(std::move(client_.open_session(kSecureStorage).first.value())) {}

    uint32_t write(const std::string& id, std::vector<uint8_t> data) {
        return session_.invoke(kWriteRaw, {Param::temp_in(bytes_of(id)), Param::temp_in(std::move(data))})
            .return_code;
    }
    client::Reply read(const std::string& id, uint64_t capacity = 64 * 1024) {
        return session_.invoke(kReadRaw, {Param::temp_in(bytes_of(id)), Param::temp_out(capacity)});
    }
    client::Reply enumerate() { return session_.invoke(kEnumerate, {Param::temp_out(64 * 1024)}); }

private:
    client::Client client_;
    client::Session session_;
};

int crash_rounds() {
    const char* long_tests = std::getenv("TEED_LONG_TESTS");
    return long_tests != nullptr && std::string(long_tests) == "1" ? 100 : 5;
}

// Each writer owns some objects and writes ever newer versions of them until teed dies.
struct ObjectVersions {
    std::atomic<uint32_t> acknowledged{0};  // the newest version whose write succeeded
    std::atomic<uint32_t> attempted{0};     // the newest version sent
};

TEST(SecureStorage, ObjectsSurviveTeedBeingKilledMidWrite) {
    constexpr uint32_t kObjects = 8;
    constexpr uint32_t kWriters = 4;
    TempDir state("teed-storage-");
    TestBus bus;
    std::vector<ObjectVersions> versions(kObjects);
    {
        TeedDaemon teed(bus, TeedOptions{.state_directory = state.path()});
        SecureStorageClient setup(bus.address());
        for (uint32_t i = 0; i < kObjects; ++i) ASSERT_EQ(setup.write(object_id(i), content(i, 0)), kSuccess);
    }
    std::mt19937 random(20261124);
    const int rounds = crash_rounds();
    for (int round = 0; round < rounds; ++round) {
        auto teed = std::make_unique<TeedDaemon>(bus, TeedOptions{.state_directory = state.path()});
        // Every object is the acknowledged version or the one in flight, and readable.
        {
            SecureStorageClient reader(bus.address());
            for (uint32_t i = 0; i < kObjects; ++i) {
                auto reply = reader.read(object_id(i));
                ASSERT_EQ(reply.return_code, kSuccess)
                    << "round " << round << ", object " << i << ": "
                    << std::hex << reply.return_code;
                const auto& data = reply.params[1].data;
                const uint32_t acknowledged = versions[i].acknowledged, attempted = versions[i].attempted;
                if (data == content(i, acknowledged)) {
                    versions[i].attempted = acknowledged;
                } else if (data == content(i, attempted)) {
                    versions[i].acknowledged = attempted;
                } else {
                    FAIL() << "round " << round << ", object " << i << ": neither version "
                           << acknowledged << " nor " << attempted << " (" << data.size() << " bytes)";
                }
            }
        }
        std::atomic<bool> stop{false};
        std::vector<std::thread> writers;
        for (uint32_t w = 0; w < kWriters; ++w) {
            writers.emplace_back([&, w] {
                try {
                    SecureStorageClient writer(bus.address());
                    for (uint32_t n = 0; !stop; ++n) {
                        uint32_t i = w + kWriters * (n % (kObjects / kWriters));
                        uint32_t version = versions[i].acknowledged + 1;
                        versions[i].attempted = version;
                        if (writer.write(object_id(i), content(i, version)) == kSuccess)
                            versions[i].acknowledged = version;
                    }
                } catch (const client::Error&) {
                    // teed died under the writer: the write in flight may or may not have landed.
                }
            });
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20 + random() % 180));
        teed->send_signal(SIGKILL);
        ASSERT_TRUE(teed->wait_exit(std::chrono::seconds(10)));
        stop = true;
        for (auto& writer : writers) writer.join();
        teed.reset();
    }
    uint32_t total = 0;
    for (auto& v : versions) total += v.acknowledged;
    RecordProperty("rounds", rounds);
    RecordProperty("acknowledged_writes", total);
    EXPECT_GT(total, 0u) << "the storm wrote nothing: the test proved nothing";
}

// RLIMIT_FSIZE for the children started while it lives (teed inherits it at fork).
class FileSizeLimit {
public:
    explicit FileSizeLimit(rlim_t bytes) {
        getrlimit(RLIMIT_FSIZE, &saved_);
        rlimit limit{bytes, saved_.rlim_max};
        if (setrlimit(RLIMIT_FSIZE, &limit) < 0) ADD_FAILURE() << "setrlimit: " << strerror(errno);
    }
    ~FileSizeLimit() { setrlimit(RLIMIT_FSIZE, &saved_); }
    FileSizeLimit(const FileSizeLimit&) = delete;
    FileSizeLimit& operator=(const FileSizeLimit&) = delete;

private:
    rlimit saved_{};
};

TEST(SecureStorage, AFullDiskReachesTheTaAndCorruptsNothing) {
    TestBus bus;
    std::unique_ptr<TeedDaemon> teed;
    constexpr rlim_t kLimit = 256 * 1024;
    {
        // No file of teed's may grow past 256 KiB (its log stays far below).
        FileSizeLimit limit(kLimit);
        teed = std::make_unique<TeedDaemon>(bus);
    }
    SecureStorageClient storage(bus.address());
    std::vector<uint8_t> small(100 * 1024, 0x11);
    ASSERT_EQ(storage.write("object", small), kSuccess);
    // Its memrefs round up to exactly the limit; its file, with the TA's header, exceeds it.
    EXPECT_EQ(storage.write("object", std::vector<uint8_t>(kLimit - 40, 0x22)), kErrorStorageNoSpace);

    auto reply = storage.read("object", 128 * 1024);
    ASSERT_EQ(reply.return_code, kSuccess);
    EXPECT_EQ(reply.params[1].data, small) << "the previous version is intact";
    auto listed = storage.enumerate();
    ASSERT_EQ(listed.return_code, kSuccess);
    const std::string id = "object";
    std::vector<uint8_t> expected(4 + id.size(), 0);  // u32 length, little-endian, then the id
    expected[0] = static_cast<uint8_t>(id.size());
    std::copy(id.begin(), id.end(), expected.begin() + 4);
    EXPECT_EQ(listed.params[0].data, expected) << "no half-written object is listed";
    EXPECT_EQ(storage.write("other", std::vector<uint8_t>(1024, 0x33)), kSuccess)
        << "teed keeps serving";
    EXPECT_TRUE(teed->running());
}

}  // namespace
}  // namespace teed::test
