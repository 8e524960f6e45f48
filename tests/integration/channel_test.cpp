// Session channels (Session.OpenChannel, docs/channel.md) end to end: calls through the client
// library's fast path give what Session.Invoke gives, and every bad frame, a client that stops
// reading and a client killed with a channel open cost teed nothing that stays.

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include <gtest/gtest.h>
#include <systemd/sd-bus.h>

#include "common/channel_frame.h"
#include "harness.h"
#include "teed/client.h"

namespace teed::test {
namespace {

using client::Param;
using namespace std::chrono_literals;

constexpr const char* kHello = "8aaaf200-2450-11e4-abe2-0002a5d5c51b";
constexpr const char* kEcho = "4cbe901c-6d6c-4b1d-8ecd-fa9216ce5fe6";
constexpr const char* kSleep = "ab86ff20-02df-4d53-acee-341029557c38";
constexpr uint32_t kErrorCancel = 0xFFFF0002;
constexpr uint32_t kErrorShortBuffer = 0xFFFF0010;

// An sd-bus connection that opens sessions and their channels without the client library, so the
// tests can write any bytes they like on the socket.
class RawClient {
public:
    explicit RawClient(const std::string& address) : bus_(connect_raw(address)) {}

    std::string open_session(const char* uuid) {
        sd_bus_message* reply = nullptr;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(bus_.get(), "org.teed.Teed1", "/org/teed/Teed1", "org.teed.Teed1.Manager",
                                   "OpenSession", &error, &reply, "ssuua(uttayott)a{sv}", "", uuid,
                                   0u, 0u, 0, 0);
        std::string path;
        const char* p = nullptr;
        if (r >= 0 && sd_bus_message_read(reply, "o", &p) >= 0) path = p;
        sd_bus_error_free(&error);
        sd_bus_message_unref(reply);
        return path;
    }

    // OpenChannel: the socket, or -1 with the error name in `error` (and its text in `message`).
    int open_channel(const std::string& session, std::string* error = nullptr,
                     const char* option = nullptr, std::string* message = nullptr) {
        sd_bus_message* call = nullptr;
        sd_bus_message_new_method_call(bus_.get(), &call, "org.teed.Teed1", session.c_str(),
                                       "org.teed.Teed1.Session", "OpenChannel");
        if (option)
            sd_bus_message_append(call, "a{sv}", 1, option, "u", 1u);
        else
            sd_bus_message_append(call, "a{sv}", 0);
        sd_bus_message* reply = nullptr;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int fd = -1;
        if (sd_bus_call(bus_.get(), call, 0, &e, &reply) >= 0) {
            int borrowed = -1;
            if (sd_bus_message_read(reply, "h", &borrowed) >= 0) fd = fcntl(borrowed, F_DUPFD_CLOEXEC, 3);
        } else {
            if (error) *error = e.name ? e.name : "";
            if (message) *message = e.message ? e.message : "";
        }
        sd_bus_error_free(&e);
        sd_bus_message_unref(reply);
        sd_bus_message_unref(call);
        return fd;
    }

    std::string close_session(const std::string& session) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(bus_.get(), "org.teed.Teed1", session.c_str(), "org.teed.Teed1.Session",
                                   "Close", &e, nullptr, "");
        std::string name = r < 0 && e.name ? e.name : "";
        sd_bus_error_free(&e);
        return name;
    }

private:
    UniqueSdBus bus_;
};

std::vector<uint8_t> invoke_frame(uint64_t tag, uint32_t command, std::vector<channel::FrameParam> params) {
    return channel::encode({.tag = tag, .body = channel::InvokeRequest{.command = command,
                                                                       .params = std::move(params)}});
}

bool write_all(int fd, const std::vector<uint8_t>& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
        if (n <= 0) return false;
        done += static_cast<size_t>(n);
    }
    return true;
}

// The next frame on `fd`, or an error (EOF included) within `timeout`.
Result<channel::Frame> read_frame(int fd, std::chrono::milliseconds timeout = 10s) {
    channel::FrameReader reader({.accept_requests = false});
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (auto frame = reader.next()) return std::move(*frame);
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{.fd = fd, .events = POLLIN};
        if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0)
            return Error(ErrorKind::Busy) << "no frame in time";
        auto room = reader.prepare(1 << 20);
        ssize_t n = read(fd, room.data(), room.size());
        if (n <= 0) return Error(ErrorKind::NotFound) << "end of channel";
        reader.commit(static_cast<size_t>(n));
    }
}

// Whether teed closed its end: reading gives end-of-file within `timeout`.
bool closed_by_teed(int fd, std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    char byte;
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t n = read(fd, &byte, 1);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
    }
    return false;
}

class Channels : public testing::Test {
protected:
    void SetUp() override {
        bus_ = std::make_unique<TestBus>();
        teed_ = std::make_unique<TeedDaemon>(*bus_, TeedOptions{.args = {"--simulate", "--no-hardware"}});
    }
    void TearDown() override {
        EXPECT_TRUE(teed_->running()) << "teed exited:\n" << teed_->log();
        EXPECT_TRUE(bus_->configuration_problems().empty()) << bus_->log();
    }

    client::Client connect() { return client::Client::connect(bus_->address()); }

    std::map<std::string, uint64_t> statistics() { return teed_statistics(*bus_); }

    // Polls until `key` reads `value`; the last reading otherwise.
    uint64_t wait_for_statistic(const std::string& key, uint64_t value, std::chrono::seconds timeout = 20s) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        uint64_t seen = 0;
        do {
            seen = statistics()[key];
            if (seen == value) return seen;
            std::this_thread::sleep_for(20ms);
        } while (std::chrono::steady_clock::now() < deadline);
        return seen;
    }

    // The hello_world session still answers on D-Bus: a bad channel harmed nothing else.
    void expect_dbus_still_serves() {
        auto teed = connect();
        auto [session, opened] = teed.open_session(kHello);
        ASSERT_TRUE(session);
        EXPECT_EQ(session->invoke(0, {Param::value_inout(1)}).params.at(0).a, 2u);
    }

    std::unique_ptr<TestBus> bus_;
    std::unique_ptr<TeedDaemon> teed_;
};

TEST_F(Channels, CarryInvokesThroughTheClientLibrary) {
    auto teed = connect();
    auto [session, opened] = teed.open_session(kHello, {.use_channel = true});
    ASSERT_TRUE(session);
    EXPECT_TRUE(session->using_channel());
    EXPECT_EQ(statistics()["channels"], 1u);
    for (uint64_t i = 0; i < 100; ++i)
        EXPECT_EQ(session->invoke(0, {Param::value_inout(i)}).params.at(0).a, i + 1);
    EXPECT_EQ(session->invoke(1, {Param::value_inout(10)}).params.at(0).a, 9u);
    session->close();
    EXPECT_EQ(wait_for_statistic("channels", 0), 0u);
}

TEST_F(Channels, GiveTheSameAnswersAsDbus) {
    auto teed = connect();
    auto [over_dbus, opened] = teed.open_session(kEcho);
    auto [over_channel, opened_too] = teed.open_session(kEcho, {.use_channel = true});
    ASSERT_TRUE(over_dbus && over_channel);
    ASSERT_TRUE(over_channel->using_channel());

    auto same = [&](const std::vector<Param>& params) {
        auto a = over_dbus->invoke(0, params);
        auto b = over_channel->invoke(0, params);
        EXPECT_EQ(a.return_origin, b.return_origin);
        EXPECT_EQ(a.return_code, b.return_code);
        EXPECT_EQ(a.params, b.params);
        return b;
    };
    auto reversed = same({Param::temp_in({1, 2, 3}), Param::temp_out(3)});
    EXPECT_EQ(reversed.params.at(1).data, (std::vector<uint8_t>{3, 2, 1}));
    auto too_small = same({Param::temp_in({1, 2, 3}), Param::temp_out(1)});
    EXPECT_EQ(too_small.return_code, kErrorShortBuffer);
    EXPECT_EQ(too_small.params.at(1).size, 3u);

    auto same_error = [&](const std::vector<Param>& params, const std::string& expected) {
        std::string dbus_error, channel_error;
        try { over_dbus->invoke(0, params); } catch (const client::Error& e) { dbus_error = e.name(); }
        try { over_channel->invoke(0, params); } catch (const client::Error& e) { channel_error = e.name(); }
        EXPECT_EQ(dbus_error, expected);
        EXPECT_EQ(channel_error, expected);
    };
    Param not_a_type;
    not_a_type.type = 0x4;
    same_error({not_a_type}, "org.teed.Teed1.Error.InvalidArgument");
    same_error({Param::temp_out(uint64_t{17} << 20)}, "org.teed.Teed1.Error.LimitExceeded");
    Param unknown_shm;
    unknown_shm.type = client::kParamMemrefWhole;
    unknown_shm.shm = "/org/teed/Teed1/shm/0123456789abcdef0123456789abcdef";
    same_error({unknown_shm}, "org.teed.Teed1.Error.NotFound");
    same_error({Param::none(), Param::none(), Param::none(), Param::none(), Param::none()},
               "org.teed.Teed1.Error.InvalidArgument");
    // A channel error answers that call only.
    EXPECT_EQ(over_channel->invoke(0, {Param::temp_in({7}), Param::temp_out(1)}).params.at(1).data,
              std::vector<uint8_t>{7});
}

TEST_F(Channels, CarryRegisteredMemoryAndLargeTemporaryMemrefs) {
    auto teed = connect();
    auto [session, opened] = teed.open_session(kEcho, {.use_channel = true});
    ASSERT_TRUE(session && session->using_channel());
    auto input = teed.register_shared_memory(4096, client::kMemInput);
    auto output = teed.allocate_shared_memory(4096, client::kMemOutput);
    std::memcpy(input.data(), "channel", 7);
    auto reply = session->invoke(0, {client::partial_in(input, 0, 7), client::whole(output)});
    EXPECT_EQ(reply.return_code, 0u);
    EXPECT_EQ(reply.params.at(1).size, 7u);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(output.data()), 7), "lennahc");

    std::vector<uint8_t> big(8u << 20);
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 7);
    auto echoed = session->invoke(0, {Param::temp_in(big), Param::temp_out(big.size())});
    ASSERT_EQ(echoed.params.at(1).data.size(), big.size());
    EXPECT_TRUE(std::equal(big.rbegin(), big.rend(), echoed.params.at(1).data.begin()));
}

TEST_F(Channels, CallsOnAChannelAreCancelledOverDbus) {
    auto teed = connect();
    auto [session, opened] = teed.open_session(kSleep, {.use_channel = true});
    ASSERT_TRUE(session && session->using_channel());
    std::thread canceller([&] {
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (statistics()["workers_busy"] == 0 && std::chrono::steady_clock::now() < deadline) {}
        session->request_cancellation(5);
    });
    auto reply = session->invoke(0, {Param::value_in(20'000)}, {.cancel_id = 5});
    canceller.join();
    EXPECT_EQ(reply.return_code, kErrorCancel);
}

TEST_F(Channels, AreOwnedByTheirSessionsConnection) {
    RawClient owner(bus_->address()), stranger(bus_->address());
    std::string session = owner.open_session(kHello);
    ASSERT_FALSE(session.empty());
    std::string error;
    EXPECT_EQ(stranger.open_channel(session, &error), -1);
    EXPECT_EQ(error, "org.freedesktop.DBus.Error.UnknownObject");
    std::string message;
    EXPECT_EQ(owner.open_channel(session, &error, "turbo", &message), -1);
    EXPECT_EQ(error, "org.teed.Teed1.Error.InvalidArgument");
    EXPECT_EQ(message, "unknown option 'turbo' (known options: none)")
        << "OpenChannel takes no options; naming Invoke's would mislead";
}

TEST_F(Channels, AreLimitedPerSession) {
    RawClient client(bus_->address());
    std::string session = client.open_session(kHello);
    std::vector<UniqueFd> open;
    for (int i = 0; i < 4; ++i) {
        open.emplace_back(client.open_channel(session));
        ASSERT_TRUE(open.back().valid());
    }
    std::string error;
    EXPECT_EQ(client.open_channel(session, &error), -1);
    EXPECT_EQ(error, "org.teed.Teed1.Error.LimitExceeded");
    // A closed one makes room again.
    open.pop_back();
    EXPECT_EQ(wait_for_statistic("channels", 3), 3u);
    UniqueFd again(client.open_channel(session));
    EXPECT_TRUE(again.valid());
}

TEST_F(Channels, CloseWhenTheirSessionCloses) {
    RawClient client(bus_->address());
    std::string session = client.open_session(kHello);
    UniqueFd channel(client.open_channel(session));
    ASSERT_TRUE(channel.valid());
    ASSERT_TRUE(write_all(channel.get(), invoke_frame(1, 0, {{.type = 0x3, .a = 4}})));
    auto reply = read_frame(channel.get());
    ASSERT_TRUE(reply.ok()) << reply.error().message();
    EXPECT_EQ(reply.value().tag, 1u);
    EXPECT_EQ(std::get<channel::InvokeReply>(reply.value().body).params.at(0).a, 5u);
    EXPECT_EQ(client.close_session(session), "");
    EXPECT_TRUE(closed_by_teed(channel.get()));
    EXPECT_EQ(wait_for_statistic("channels", 0), 0u);
}

// Each malformed stream ends its own channel, with a log line, and nothing else.
struct BadStream {
    const char* name;
    std::vector<uint8_t> bytes;
};

std::vector<BadStream> bad_streams() {
    auto good = invoke_frame(1, 0, {{.type = 0x3, .a = 1}});
    auto version = good;
    version[0] = 9;
    auto type = good;
    type[1] = 0x81;  // a reply type, from a client
    auto unknown_type = good;
    unknown_type[1] = 0x33;
    auto oversized = good;
    uint32_t huge = 0x7fffffff;
    std::memcpy(oversized.data() + 4, &huge, sizeof huge);
    auto reserved = good;
    reserved[3] = 1;
    auto inner = good;
    inner[channel::kHeaderSize + 12] = 9;  // param_count beyond the body
    return {{"unknown version", version}, {"reply type", type}, {"unknown type", unknown_type},
            {"oversized body", oversized}, {"reserved bits", reserved}, {"inner length", inner}};
}

TEST_F(Channels, EndOnAMalformedFrameAndNothingElse) {
    RawClient client(bus_->address());
    std::string session = client.open_session(kHello);
    UniqueFd keeper(client.open_channel(session));  // a good channel on the same session
    for (const auto& bad : bad_streams()) {
        SCOPED_TRACE(bad.name);
        UniqueFd channel(client.open_channel(session));
        ASSERT_TRUE(channel.valid());
        write_all(channel.get(), bad.bytes);
        EXPECT_TRUE(closed_by_teed(channel.get()));
    }
    EXPECT_EQ(wait_for_statistic("channels", 1), 1u);
    ASSERT_TRUE(write_all(keeper.get(), invoke_frame(7, 0, {{.type = 0x3, .a = 1}})));
    auto reply = read_frame(keeper.get());
    ASSERT_TRUE(reply.ok()) << reply.error().message();
    EXPECT_EQ(reply.value().tag, 7u);
    expect_dbus_still_serves();
    EXPECT_NE(teed_->log().find("session channel closed: malformed frame"), std::string::npos);
}

TEST_F(Channels, EndOnATruncatedFrame) {
    RawClient client(bus_->address());
    std::string session = client.open_session(kHello);
    UniqueFd channel(client.open_channel(session));
    auto frame = invoke_frame(1, 0, {{.type = 0x3, .a = 1}});
    frame.resize(frame.size() - 5);
    ASSERT_TRUE(write_all(channel.get(), frame));
    shutdown(channel.get(), SHUT_WR);  // the client stops in the middle of a frame
    EXPECT_TRUE(closed_by_teed(channel.get()));
    EXPECT_EQ(wait_for_statistic("channels", 0), 0u);
    EXPECT_NE(teed_->log().find("in the middle of a frame"), std::string::npos);
    expect_dbus_still_serves();
}

TEST_F(Channels, AnswerAnInvalidShmPathWithAnErrorFrame) {
    RawClient client(bus_->address());
    std::string session = client.open_session(kEcho);
    UniqueFd channel(client.open_channel(session));
    ASSERT_TRUE(write_all(channel.get(), invoke_frame(3, 0, {{.type = 0xC, .shm = "not//a path"}})));
    auto reply = read_frame(channel.get());
    ASSERT_TRUE(reply.ok()) << reply.error().message();
    auto* error = std::get_if<channel::ErrorReply>(&reply.value().body);
    ASSERT_NE(error, nullptr);
    EXPECT_EQ(error->name, "org.teed.Teed1.Error.InvalidArgument");
    EXPECT_NE(error->message.find("not an object path"), std::string::npos) << error->message;
}

TEST_F(Channels, HoldBoundedMemoryForAClientThatStopsReading) {
    RawClient client(bus_->address());
    std::string session = client.open_session(kEcho);
    UniqueFd channel(client.open_channel(session));
    int flags = fcntl(channel.get(), F_GETFL);
    fcntl(channel.get(), F_SETFL, flags | O_NONBLOCK);
    long rss_before = teed_->rss_kib();

    // 1 MiB echo calls, written until the socket takes no more, never reading a reply.
    constexpr size_t kSize = 1 << 20;
    auto frame = invoke_frame(1, 0, {{.type = 0x5, .data = std::vector<uint8_t>(kSize, 1), .size = kSize},
                                     {.type = 0x6, .size = kSize}});
    size_t frames_sent = 0, offset = 0;
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline && frames_sent < 200) {
        ssize_t n = send(channel.get(), frame.data() + offset, frame.size() - offset, MSG_NOSIGNAL);
        if (n < 0) {
            ASSERT_EQ(errno, EAGAIN);
            std::this_thread::sleep_for(50ms);  // give teed every chance to read more
            continue;
        }
        offset += static_cast<size_t>(n);
        if (offset == frame.size()) {
            offset = 0;
            ++frames_sent;
        }
    }
    // teed stopped reading long before 200 frames (200 MiB) went in.
    EXPECT_LT(frames_sent, 200u);
    auto stats = statistics();
    EXPECT_EQ(stats["channels"], 1u);
    // At most the replies of the calls a client may run at once (8), each 1 MiB, plus one frame.
    EXPECT_LE(stats["channel_buffered_bytes"], 10u * kSize) << stats["channel_buffered_bytes"];
    EXPECT_LT(teed_->rss_kib() - rss_before, 64 * 1024);
    // Nobody else waits for this client.
    expect_dbus_still_serves();
    channel.reset();
    EXPECT_EQ(wait_for_statistic("channels", 0), 0u);
    EXPECT_EQ(wait_for_statistic("channel_buffered_bytes", 0), 0u);
}

TEST_F(Channels, LeaveNothingBehindWhenTheirClientIsKilled) {
    size_t fds_before = teed_->open_fd_count();
    int ready[2];
    ASSERT_EQ(pipe2(ready, O_CLOEXEC), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        close(ready[0]);
        auto teed = connect();
        auto memory = teed.register_shared_memory(1 << 20, client::kMemInput | client::kMemOutput);
        auto [session, opened] = teed.open_session(kSleep, {.use_channel = true});
        if (!session || !session->using_channel()) _exit(1);
        char go = 1;
        if (write(ready[1], &go, 1) != 1) _exit(1);
        // Blocks in the TEE, over the channel, with the shared memory as a parameter.
        session->invoke(1, {Param::value_in(1500), client::whole(memory)});
        _exit(0);
    }
    close(ready[1]);
    char go = 0;
    ASSERT_EQ(read(ready[0], &go, 1), 1);
    close(ready[0]);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (statistics()["workers_busy"] == 0) ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    EXPECT_EQ(statistics()["channels"], 1u);
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);

    EXPECT_EQ(wait_for_statistic("channels", 0), 0u);
    EXPECT_EQ(wait_for_statistic("sessions", 0), 0u);
    EXPECT_EQ(wait_for_statistic("shared_memory", 0), 0u);
    EXPECT_EQ(wait_for_statistic("live_sessions", 0, 30s), 0u);
    EXPECT_EQ(wait_for_statistic("device_contexts", 0), 0u);
    EXPECT_EQ(wait_for_statistic("channel_buffered_bytes", 0), 0u);
    auto fd_deadline = std::chrono::steady_clock::now() + 10s;
    while (teed_->open_fd_count() > fds_before && std::chrono::steady_clock::now() < fd_deadline)
        std::this_thread::sleep_for(50ms);
    EXPECT_LE(teed_->open_fd_count(), fds_before);
}

}  // namespace
}  // namespace teed::test
