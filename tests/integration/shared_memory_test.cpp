// Shared-memory objects end to end: a client's sealed memfd registered with the (simulated) TEE,
// device memory allocated for a client, registered-memory memrefs, and every refusal the issue
// names. Driven with sd-bus directly.

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <future>

#include <gtest/gtest.h>
#include <systemd/sd-bus.h>

#include "harness.h"
#include "teed/client.h"

namespace teed::test {
namespace {

constexpr const char* kEcho = "4cbe901c-6d6c-4b1d-8ecd-fa9216ce5fe6";
constexpr const char* kSleep = "ab86ff20-02df-4d53-acee-341029557c38";
constexpr uint32_t kMemIn = 1, kMemOut = 2;
constexpr uint32_t kWhole = 0xC, kPartialIn = 0xD, kPartialOut = 0xE, kPartialInout = 0xF;

struct Param {
    uint32_t type = 0;
    uint64_t a = 0;
    std::string shm = "/";
    uint64_t offset = 0, size = 0;
};

struct Answer {
    std::string error;  // D-Bus error name, "" on success
    std::string message;
    uint32_t code = 0;
    std::vector<uint64_t> sizes;
};

// A memfd of `size` bytes, sealed against shrinking unless told otherwise, and mapped.
struct Memfd {
    explicit Memfd(size_t n, bool seal = true) : size(n) {
        fd = memfd_create("teed-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        EXPECT_EQ(ftruncate(fd, static_cast<off_t>(n)), 0);
        if (seal) {
            EXPECT_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
        }
        map = static_cast<uint8_t*>(mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    }
    ~Memfd() {
        munmap(map, size);
        close(fd);
    }
    int fd;
    size_t size;
    uint8_t* map;
};

class Connection {
public:
    explicit Connection(const std::string& address) : bus_(connect_raw(address)) {}

    // RegisterSharedMemory; returns the path or "" with `error` set.
    std::string register_memory(int fd, uint64_t size, uint32_t flags, std::string* error = nullptr) {
        sd_bus_message* reply = nullptr;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(bus_.get(), "org.teed.Teed1", "/org/teed/Teed1", "org.teed.Teed1.Manager",
                                   "RegisterSharedMemory", &e, &reply, "htua{sv}", fd, size, flags, 0);
        return path_or_error(r, reply, e, error);
    }
    std::string allocate_memory(uint64_t size, uint32_t flags, int* ret_fd, std::string* error = nullptr) {
        sd_bus_message* reply = nullptr;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(bus_.get(), "org.teed.Teed1", "/org/teed/Teed1", "org.teed.Teed1.Manager",
                                   "AllocateSharedMemory", &e, &reply, "tua{sv}", size, flags, 0);
        std::string path = path_or_error(r, reply, e, error, ret_fd);
        return path;
    }
    std::string open(const char* uuid) {
        sd_bus_message* reply = nullptr;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(bus_.get(), "org.teed.Teed1", "/org/teed/Teed1", "org.teed.Teed1.Manager",
                                   "OpenSession", &e, &reply, "ssuua(uttayott)a{sv}", "", uuid, 0u, 0u, 0, 0);
        return path_or_error(r, reply, e, nullptr);
    }
    Answer invoke(const std::string& session, uint32_t command, const std::vector<Param>& params) {
        sd_bus_message* m = new_invoke(session, command, params);
        sd_bus_message* reply = nullptr;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Answer answer;
        if (sd_bus_call(bus_.get(), m, 30'000'000, &e, &reply) < 0) {
            answer.error = e.name ? e.name : "errno";
            answer.message = e.message ? e.message : "";
        } else {
            uint32_t origin = 0;
            sd_bus_message_read(reply, "uu", &origin, &answer.code);
            sd_bus_message_enter_container(reply, 'a', "(uttayott)");
            while (sd_bus_message_enter_container(reply, 'r', "uttayott") > 0) {
                uint32_t type;
                uint64_t a, b, offset, size;
                const void* data;
                size_t len;
                const char* shm;
                sd_bus_message_read(reply, "utt", &type, &a, &b);
                sd_bus_message_read_array(reply, 'y', &data, &len);
                sd_bus_message_read(reply, "ott", &shm, &offset, &size);
                answer.sizes.push_back(size);
                sd_bus_message_exit_container(reply);
            }
        }
        sd_bus_error_free(&e);
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        return answer;
    }
    // Sends Invoke without waiting; wait_for() turns the connection until `*done`.
    void invoke_async(const std::string& session, uint32_t command, const std::vector<Param>& params,
                      bool* done) {
        sd_bus_message* m = new_invoke(session, command, params);
        auto on_reply = [](sd_bus_message* reply, void* userdata, sd_bus_error*) -> int {
            EXPECT_EQ(sd_bus_message_get_error(reply), nullptr);
            *static_cast<bool*>(userdata) = true;
            return 0;
        };
        EXPECT_GE(sd_bus_call_async(bus_.get(), nullptr, m, on_reply, done, 30'000'000), 0);
        sd_bus_message_unref(m);
    }
    void wait_for(bool* done) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!*done && std::chrono::steady_clock::now() < deadline)
            if (sd_bus_process(bus_.get(), nullptr) == 0) sd_bus_wait(bus_.get(), 100'000);
        EXPECT_TRUE(*done);
    }
    std::string release(const std::string& shm) { return simple_call(shm, "org.teed.Teed1.SharedMemory", "Release"); }
    std::string introspect(const std::string& path) {
        return simple_call(path, "org.freedesktop.DBus.Introspectable", "Introspect");
    }
    bool zero_copy(const std::string& shm) {
        int value = 0;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_get_property_trivial(bus_.get(), "org.teed.Teed1", shm.c_str(), "org.teed.Teed1.SharedMemory",
                                    "ZeroCopy", &e, 'b', &value);
        sd_bus_error_free(&e);
        return value != 0;
    }

private:
    sd_bus_message* new_invoke(const std::string& session, uint32_t command,
                               const std::vector<Param>& params) {
        sd_bus_message* m = nullptr;
        sd_bus_message_new_method_call(bus_.get(), &m, "org.teed.Teed1", session.c_str(),
                                       "org.teed.Teed1.Session", "Invoke");
        sd_bus_message_append(m, "u", command);
        sd_bus_message_open_container(m, 'a', "(uttayott)");
        for (const auto& p : params)
            sd_bus_message_append(m, "(uttayott)", p.type, p.a, uint64_t{0}, 0, p.shm.c_str(), p.offset, p.size);
        sd_bus_message_close_container(m);
        sd_bus_message_append(m, "a{sv}", 0);
        return m;
    }

    std::string simple_call(const std::string& path, const char* iface, const char* member) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message* reply = nullptr;
        int r = sd_bus_call_method(bus_.get(), "org.teed.Teed1", path.c_str(), iface, member, &e, &reply, "");
        std::string name = r < 0 ? (e.name ? e.name : "errno") : "";
        sd_bus_error_free(&e);
        sd_bus_message_unref(reply);
        return name;
    }
    std::string path_or_error(int r, sd_bus_message* reply, sd_bus_error& e, std::string* error,
                              int* ret_fd = nullptr) {
        std::string path;
        if (r < 0) {
            if (error) *error = std::string(e.name ? e.name : "errno") + ": " + (e.message ? e.message : "");
        } else {
            const char* p = nullptr;
            sd_bus_message_read(reply, "o", &p);
            path = p;
            if (ret_fd) {
                int fd = -1;
                sd_bus_message_read(reply, "h", &fd);
                *ret_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
            }
        }
        sd_bus_error_free(&e);
        sd_bus_message_unref(reply);
        return path;
    }

    UniqueSdBus bus_;
};

class SharedMemory : public testing::Test {
protected:
    TestBus bus_;
    TeedDaemon teed_{bus_};
    Connection client_{bus_.address()};

    void TearDown() override { EXPECT_TRUE(teed_.running()) << teed_.log(); }
};

TEST_F(SharedMemory, LetsTheTeeWorkOnTheClientsOwnMemory) {
    Memfd memory(4096);
    std::memcpy(memory.map, "hello", 5);
    std::string shm = client_.register_memory(memory.fd, 4096, kMemIn | kMemOut);
    ASSERT_FALSE(shm.empty());
    EXPECT_TRUE(client_.zero_copy(shm));
    std::string session = client_.open(kEcho);
    ASSERT_NE(session, "/");
    auto answer = client_.invoke(session, 0, {{kPartialIn, 0, shm, 0, 5}, {kPartialOut, 0, shm, 100, 16}});
    ASSERT_EQ(answer.error, "") << answer.message;
    EXPECT_EQ(answer.code, 0u);
    EXPECT_EQ(answer.sizes.at(1), 5u);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(memory.map) + 100, 5), "olleh");
}

TEST_F(SharedMemory, AllocatesDeviceMemoryTheClientMaps) {
    int fd = -1;
    std::string allocated = client_.allocate_memory(4096, kMemIn, &fd);
    ASSERT_FALSE(allocated.empty());
    ASSERT_GE(fd, 0);
    auto* view = static_cast<uint8_t*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    ASSERT_NE(view, MAP_FAILED);
    std::memcpy(view, "abc", 3);
    Memfd out(4096);
    std::string registered = client_.register_memory(out.fd, 4096, kMemOut);
    std::string session = client_.open(kEcho);
    auto answer = client_.invoke(session, 0, {{kPartialIn, 0, allocated, 0, 3}, {kWhole, 0, registered}});
    ASSERT_EQ(answer.error, "") << answer.message;
    EXPECT_EQ(std::string(reinterpret_cast<char*>(out.map), 3), "cba");
    munmap(view, 4096);
    close(fd);
}

TEST_F(SharedMemory, RefusesFdsThatAreNotSealedMemfdsOfTheRightSize) {
    std::string error;
    int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    EXPECT_EQ(client_.register_memory(devnull, 4096, kMemIn, &error), "");
    EXPECT_NE(error.find("org.teed.Teed1.Error.InvalidArgument"), std::string::npos) << error;
    close(devnull);
    Memfd unsealed(4096, /*seal=*/false);
    EXPECT_EQ(client_.register_memory(unsealed.fd, 4096, kMemIn, &error), "");
    EXPECT_NE(error.find("F_SEAL_SHRINK"), std::string::npos) << error;
    Memfd small(4096);
    EXPECT_EQ(client_.register_memory(small.fd, 8192, kMemIn, &error), "");
    EXPECT_NE(error.find("InvalidArgument"), std::string::npos) << error;
    EXPECT_EQ(client_.register_memory(small.fd, 0, kMemIn, &error), "");
    EXPECT_NE(error.find("InvalidArgument"), std::string::npos) << error;
    EXPECT_EQ(client_.register_memory(small.fd, 4096, 4, &error), "");
    EXPECT_NE(error.find("InvalidArgument"), std::string::npos) << error;

    // The same memfd reopened read-only, and one sealed against writing: teed must write into
    // it, and says so rather than passing on mmap's EACCES/EPERM as AccessDenied.
    int read_only = ::open(("/proc/self/fd/" + std::to_string(small.fd)).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(read_only, 0);
    EXPECT_EQ(client_.register_memory(read_only, 4096, kMemIn, &error), "");
    EXPECT_NE(error.find("org.teed.Teed1.Error.InvalidArgument: the memfd is not open for reading "
                         "and writing"), std::string::npos) << error;
    close(read_only);
    int sealed = memfd_create("teed-test-sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    ASSERT_EQ(ftruncate(sealed, 4096), 0);
    ASSERT_EQ(fcntl(sealed, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_WRITE), 0);
    EXPECT_EQ(client_.register_memory(sealed, 4096, kMemIn, &error), "");
    EXPECT_NE(error.find("org.teed.Teed1.Error.InvalidArgument: the memfd is sealed against writing"),
              std::string::npos) << error;
    close(sealed);
    int fd = -1;
    EXPECT_EQ(client_.allocate_memory(uint64_t{1} << 40, kMemIn, &fd, &error), "");
    EXPECT_NE(error.find("LimitExceeded"), std::string::npos) << error;
}

TEST_F(SharedMemory, RefusesMemrefsOutsideTheMemoryOrAgainstItsFlags) {
    Memfd memory(4096);
    std::string input_only = client_.register_memory(memory.fd, 4096, kMemIn);
    std::string session = client_.open(kEcho);
    auto overflow = client_.invoke(session, 0, {{kPartialIn, 0, input_only, ~uint64_t{0} - 2, 8}, {0x6, 0, "/", 0, 8}});
    EXPECT_EQ(overflow.error, "org.teed.Teed1.Error.InvalidArgument") << overflow.message;
    auto outside = client_.invoke(session, 0, {{kPartialIn, 0, input_only, 4090, 8}, {0x6, 0, "/", 0, 8}});
    EXPECT_EQ(outside.error, "org.teed.Teed1.Error.InvalidArgument") << outside.message;
    auto direction = client_.invoke(session, 0, {{0x5, 0, "/", 0, 0}, {kPartialOut, 0, input_only, 0, 8}});
    EXPECT_EQ(direction.error, "org.teed.Teed1.Error.InvalidArgument") << direction.message;
    auto not_named = client_.invoke(session, 0, {{kPartialIn, 0, "/", 0, 8}});
    EXPECT_EQ(not_named.error, "org.teed.Teed1.Error.InvalidArgument") << not_named.message;
}

TEST_F(SharedMemory, IsInvisibleToOtherClientsAndGoneOnceReleased) {
    Memfd memory(4096);
    std::string shm = client_.register_memory(memory.fd, 4096, kMemIn | kMemOut);
    Connection stranger(bus_.address());
    std::string session = stranger.open(kEcho);
    auto foreign = stranger.invoke(session, 0, {{kPartialIn, 0, shm, 0, 4}, {0x6, 0, "/", 0, 8}});
    EXPECT_EQ(foreign.error, "org.teed.Teed1.Error.NotFound") << foreign.message;
    EXPECT_EQ(stranger.introspect(shm), stranger.introspect("/org/teed/Teed1/shm/0123456789abcdef0123456789abcdef"));
    EXPECT_EQ(stranger.release(shm), "org.freedesktop.DBus.Error.UnknownObject");
    EXPECT_EQ(client_.release(shm), "");
    std::string mine = client_.open(kEcho);
    auto released = client_.invoke(mine, 0, {{kPartialIn, 0, shm, 0, 4}, {0x6, 0, "/", 0, 8}});
    EXPECT_EQ(released.error, "org.teed.Teed1.Error.NotFound") << released.message;
}

// Only the path teed published names the object: any other path that ends in its id is
// another (nonexistent) object.
TEST_F(SharedMemory, IsNamedOnlyByThePathTeedPublished) {
    Memfd memory(4096);
    std::string shm = client_.register_memory(memory.fd, 4096, kMemIn);
    ASSERT_EQ(shm.rfind("/org/teed/Teed1/shm/", 0), 0u) << shm;
    const std::string id = shm.substr(shm.rfind('/') + 1);
    std::string session = client_.open(kEcho);
    for (const std::string& lookalike : {"/org/teed/Teed1/sessions/" + id, "/x/" + id, "/" + id,
                                         "/org/teed/Teed1/shm/x/" + id}) {
        auto answer = client_.invoke(session, 0, {{kPartialIn, 0, lookalike, 0, 4}, {0x6, 0, "/", 0, 8}});
        EXPECT_EQ(answer.error, "org.teed.Teed1.Error.NotFound") << lookalike << ": " << answer.message;
    }
    auto published = client_.invoke(session, 0, {{kPartialIn, 0, shm, 0, 4}, {0x6, 0, "/", 0, 8}});
    EXPECT_EQ(published.error, "") << published.message;
}

TEST_F(SharedMemory, CannotBeReleasedWhileACallUsesIt) {
    Memfd memory(4096);
    memory.map[0] = 41;
    std::string shm = client_.register_memory(memory.fd, 4096, kMemIn | kMemOut);
    std::string session = client_.open(kSleep);
    // The bus delivers one connection's messages in order: teed has taken the Invoke (and a
    // reference to the memory) before it sees the Release.
    bool done = false;
    client_.invoke_async(session, 1, {{0x1, 300, "/", 0, 0}, {kPartialInout, 0, shm, 0, 1}}, &done);
    EXPECT_EQ(client_.release(shm), "org.teed.Teed1.Error.Busy");
    client_.wait_for(&done);
    EXPECT_EQ(memory.map[0], 42);  // the TA wrote into the client's memory
    EXPECT_EQ(client_.release(shm), "");
}

TEST_F(SharedMemory, IsFreedWhenItsClientLeaves) {
    {
        Connection leaving(bus_.address());
        Memfd memory(4096);
        ASSERT_FALSE(leaving.register_memory(memory.fd, 4096, kMemIn).empty());
        int fd = -1;
        ASSERT_FALSE(leaving.allocate_memory(4096, kMemOut, &fd).empty());
        close(fd);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (;;) {
        auto stats = teed_statistics(bus_);
        ASSERT_TRUE(stats.count("shared_memory") && stats.count("device_contexts"));
        if (stats["shared_memory"] == 0 && stats["device_contexts"] == 0) break;
        ASSERT_LT(std::chrono::steady_clock::now(), deadline)
            << "shared_memory " << stats["shared_memory"] << ", device_contexts "
            << stats["device_contexts"];
    }
}

TEST_F(SharedMemory, WorksThroughTheClientLibrary) {
    auto teed = client::Client::connect(bus_.address());
    auto registered = teed.register_shared_memory(4096, client::kMemInput | client::kMemOutput);
    EXPECT_TRUE(registered.zero_copy());
    std::memcpy(registered.data(), "library", 7);
    auto allocated = teed.allocate_shared_memory(4096, client::kMemOutput);
    auto [session, opened] = teed.open_session(kEcho);
    ASSERT_TRUE(session);
    auto reply = session->invoke(0, {client::partial_in(registered, 0, 7), client::whole(allocated)});
    EXPECT_EQ(reply.return_code, 0u);
    EXPECT_EQ(reply.params.at(1).size, 7u);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(allocated.data()), 7), "yrarbil");
    registered.release();
    try {
        session->invoke(0, {client::partial_in(registered, 0, 7), client::whole(allocated)});
        FAIL() << "released memory was used";
    } catch (const client::Error& e) {
        EXPECT_EQ(e.name(), "org.teed.Teed1.Error.NotFound");
    }
}

}  // namespace
}  // namespace teed::test
