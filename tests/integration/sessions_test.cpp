// GlobalPlatform sessions end to end: teed on simulated devices on a private system-type bus with
// the project's policy, driven through the client library, raw sd-bus calls and other users.

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <systemd/sd-bus.h>

#include "harness.h"
#include "teed/client.h"

namespace teed::test {
namespace {

using client::Param;

constexpr const char* kHello = "8aaaf200-2450-11e4-abe2-0002a5d5c51b";
constexpr const char* kEcho = "4cbe901c-6d6c-4b1d-8ecd-fa9216ce5fe6";
constexpr const char* kSleep = "ab86ff20-02df-4d53-acee-341029557c38";
constexpr const char* kPanic = "f71671d9-735f-4dd7-82d2-6f108c84a7e5";
constexpr const char* kWhoami = "4839ae89-dd05-41d8-bd50-0e6109a44689";
constexpr uint32_t kSuccess = 0;
constexpr uint32_t kErrorCancel = 0xFFFF0002;
constexpr uint32_t kErrorItemNotFound = 0xFFFF0008;
constexpr uint32_t kErrorShortBuffer = 0xFFFF0010;
constexpr uint32_t kErrorTargetDead = 0xFFFF3024;
constexpr uint32_t kOriginTee = 3;

// A connection of its own, for calls the client library would never make.
class RawBus {
public:
    explicit RawBus(const std::string& address) : bus_(connect_raw(address)) {}

    // Calls Session.Invoke(0, [value_inout 1], {}) on `path`; returns the error name or "".
    std::string invoke(const std::string& path) {
        return call(path, "org.teed.Teed1.Session", "Invoke", [](sd_bus_message* m) {
            sd_bus_message_append(m, "u", 0u);
            sd_bus_message_append(m, "a(uttayott)", 1, 3u, uint64_t{1}, uint64_t{0}, 0, "/",
                                  uint64_t{0}, uint64_t{0});
            sd_bus_message_append(m, "a{sv}", 0);
        });
    }
    std::string introspect(const std::string& path, std::string* ret_xml = nullptr) {
        return call(path, "org.freedesktop.DBus.Introspectable", "Introspect",
                    [](sd_bus_message*) {}, ret_xml);
    }
    std::string get_property(const std::string& path, const char* iface, const char* name) {
        return call(path, "org.freedesktop.DBus.Properties", "Get", [&](sd_bus_message* m) {
            sd_bus_message_append(m, "ss", iface, name);
        });
    }
    // OpenSession with a raw parameter array built by `params` (the array's contents only).
    std::string open_session(const std::string& device, const std::string& uuid, uint32_t login,
                             const std::function<void(sd_bus_message*)>& params,
                             const std::function<void(sd_bus_message*)>& options = {}) {
        return call("/org/teed/Teed1", "org.teed.Teed1.Manager", "OpenSession", [&](sd_bus_message* m) {
            sd_bus_message_append(m, "ssuu", device.c_str(), uuid.c_str(), login, 0u);
            sd_bus_message_open_container(m, 'a', "(uttayott)");
            if (params) params(m);
            sd_bus_message_close_container(m);
            sd_bus_message_open_container(m, 'a', "{sv}");
            if (options) options(m);
            sd_bus_message_close_container(m);
        });
    }

    std::string call(const std::string& path, const char* iface, const char* member,
                     const std::function<void(sd_bus_message*)>& fill, std::string* ret_xml = nullptr) {
        sd_bus_message* m = nullptr;
        sd_bus_message_new_method_call(bus_.get(), &m, "org.teed.Teed1", path.c_str(), iface, member);
        fill(m);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message* reply = nullptr;
        int r = sd_bus_call(bus_.get(), m, 30'000'000, &error, &reply);
        std::string name = r < 0 ? (error.name ? error.name : "errno") : "";
        last_message_ = r < 0 && error.message ? error.message : "";
        if (r >= 0 && ret_xml) {
            const char* xml = nullptr;
            sd_bus_message_read(reply, "s", &xml);
            *ret_xml = xml;
        }
        sd_bus_error_free(&error);
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        return name;
    }
    const std::string& last_message() const { return last_message_; }

private:
    UniqueSdBus bus_;
    std::string last_message_;
};

void append_param(sd_bus_message* m, uint32_t type, uint64_t a, const std::string& shm, uint64_t size) {
    sd_bus_message_append(m, "(uttayott)", type, a, uint64_t{0}, 0, shm.c_str(), uint64_t{0}, size);
}

class Sessions : public testing::Test {
protected:
    void SetUp() override {
        bus_ = std::make_unique<TestBus>();
        teed_ = std::make_unique<TeedDaemon>(*bus_, TeedOptions{.args = teed_args()});
    }
    void TearDown() override {
        EXPECT_TRUE(teed_->running()) << "teed exited:\n" << teed_->log();
        EXPECT_TRUE(bus_->configuration_problems().empty()) << bus_->log();
    }
    virtual std::vector<std::string> teed_args() { return {"--simulate", "--no-hardware"}; }

    client::Client connect() { return client::Client::connect(bus_->address()); }

    std::map<std::string, uint64_t> statistics() { return teed_statistics(*bus_); }
    // Polls teed's own counters until every session (and, once no client is connected, every
    // device context: a connected client keeps its context, as an open /dev/tee0 fd would) is gone.
    void expect_no_sessions_left(bool clients_connected = false) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        std::map<std::string, uint64_t> stats;
        do {
            stats = statistics();
            if (stats["sessions"] == 0 && stats["live_sessions"] == 0 &&
                (clients_connected || stats["device_contexts"] == 0))
                return;
        } while (std::chrono::steady_clock::now() < deadline);
        ADD_FAILURE() << "sessions left: " << stats["sessions"] << " live: " << stats["live_sessions"]
                      << " contexts: " << stats["device_contexts"];
    }

    std::unique_ptr<TestBus> bus_;
    std::unique_ptr<TeedDaemon> teed_;
};

TEST_F(Sessions, HelloWorldIncrementsAndDecrementsThroughTheClientLibrary) {
    auto teed = connect();
    auto [session, opened] = teed.open_session(kHello);
    ASSERT_TRUE(session) << opened.return_code;
    auto inc = session->invoke(0, {Param::value_inout(42)});
    EXPECT_EQ(inc.return_code, kSuccess);
    EXPECT_EQ(inc.params.at(0).a, 43u);
    auto dec = session->invoke(1, {Param::value_inout(42)});
    EXPECT_EQ(dec.params.at(0).a, 41u);
    session->close();
    expect_no_sessions_left(/*clients_connected=*/true);
}

TEST_F(Sessions, CloseEverythingOfAClientThatExitsWithoutClosing) {
    std::string address = bus_->address();
    int opened = run_in_child(std::nullopt, [address] {
        auto teed = client::Client::connect(address);
        auto [a, opened_a] = teed.open_session(kHello);
        auto [b, opened_b] = teed.open_session(kEcho);
        // _exit: no destructor gets to close anything.
        _exit(a && b ? 0 : 1);
        return 1;
    });
    EXPECT_EQ(opened, 0);
    expect_no_sessions_left();
}

TEST_F(Sessions, EchoReturnsTheInputReversedAndTheNeededSizeWhenShort) {
    auto teed = connect();
    auto [session, opened] = teed.open_session(kEcho);
    ASSERT_TRUE(session);
    std::vector<uint8_t> hello{'h', 'e', 'l', 'l', 'o'};
    auto reply = session->invoke(0, {Param::temp_in(hello), Param::temp_out(16)});
    EXPECT_EQ(reply.return_code, kSuccess);
    EXPECT_EQ(reply.params.at(1).size, 5u);
    EXPECT_EQ(reply.params.at(1).data, (std::vector<uint8_t>{'o', 'l', 'l', 'e', 'h'}));
    auto shorter = session->invoke(0, {Param::temp_in(hello), Param::temp_out(2)});
    EXPECT_EQ(shorter.return_code, kErrorShortBuffer);
    EXPECT_EQ(shorter.params.at(1).size, 5u);
}

TEST_F(Sessions, CarriesMultiMegabyteMemrefsWithoutStalling) {
    auto teed = connect();
    auto [session, opened] = teed.open_session(kEcho);
    ASSERT_TRUE(session);
    std::vector<uint8_t> big(8 << 20);
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 7);
    auto reply = session->invoke(0, {Param::temp_in(big), Param::temp_out(big.size())});
    ASSERT_EQ(reply.return_code, kSuccess);
    ASSERT_EQ(reply.params.at(1).data.size(), big.size());
    EXPECT_TRUE(std::equal(big.rbegin(), big.rend(), reply.params.at(1).data.begin()));
}

// Eight clients at once with 12 MiB in and out each: teed needs a few hundred MiB while the
// calls run, and gives them back when they are done (with glibc's default dynamic mmap
// threshold it kept 280 MiB with no call left, daemon/main.cpp).
TEST_F(Sessions, GiveTheMemoryOfLargeCallsBackWhenTheyAreDone) {
    const long rss_before = teed_->rss_kib();
    const std::vector<uint8_t> big(12 << 20, 0x5a);
    for (int round = 0; round < 2; ++round) {
        std::vector<std::future<uint32_t>> calls;
        for (int i = 0; i < 8; ++i) {
            calls.push_back(std::async(std::launch::async, [&] {
                auto teed = connect();
                auto [session, opened] = teed.open_session(kEcho);
                if (!session) return opened.return_code;
                return session->invoke(0, {Param::temp_in(big), Param::temp_out(big.size())}).return_code;
            }));
        }
        for (auto& call : calls) EXPECT_EQ(call.get(), kSuccess);
    }
    expect_no_sessions_left();
    EXPECT_LT(teed_->rss_kib() - rss_before, 32 * 1024)
        << "teed kept " << teed_->rss_kib() - rss_before << " KiB after the calls";
}

TEST_F(Sessions, ASleepingTaDoesNotDelayAnotherClient) {
    auto sleeper = connect();
    auto [slow, opened] = sleeper.open_session(kSleep);
    ASSERT_TRUE(slow);
    std::atomic<bool> sleeping_done{false};
    auto sleeping = std::async(std::launch::async, [&, s = &*slow] {
        auto r = s->invoke(0, {Param::value_in(2000)});
        sleeping_done = true;
        return r.return_code;
    });
    auto other = connect();
    auto [hello, hello_opened] = other.open_session(kHello);
    ASSERT_TRUE(hello);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(hello->invoke(0, {Param::value_inout(i)}).params.at(0).a, i + 1u);
    EXPECT_FALSE(sleeping_done) << "the 2 s sleep ended before another client's 10 calls did";
    EXPECT_EQ(sleeping.get(), kSuccess);
}

TEST_F(Sessions, CancelsARunningInvokeByItsCancelId) {
    auto teed = connect();
    auto [session, opened] = teed.open_session(kSleep);
    ASSERT_TRUE(session);
    auto sleeping = std::async(std::launch::async, [s = &*session] {
        return s->invoke(0, {Param::value_in(60000)}, {.cancel_id = 7}).return_code;
    });
    // The cancel must reach a running call: retry while teed says nothing runs under that id yet.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
        try {
            session->request_cancellation(7);
            break;
        } catch (const client::Error& e) {
            ASSERT_EQ(e.name(), "org.teed.Teed1.Error.NotFound");
            ASSERT_LT(std::chrono::steady_clock::now(), deadline);
        }
    }
    EXPECT_EQ(sleeping.get(), kErrorCancel);
}

TEST_F(Sessions, RefusesToCancelAnIdThatIsNotRunning) {
    auto teed = connect();
    auto [session, opened] = teed.open_session(kSleep);
    ASSERT_TRUE(session);
    try {
        session->request_cancellation(99);
        FAIL() << "cancelling nothing succeeded";
    } catch (const client::Error& e) {
        EXPECT_EQ(e.name(), "org.teed.Teed1.Error.NotFound");
    }
}

TEST_F(Sessions, APanickedTaAnswersTargetDeadFromThenOn) {
    auto teed = connect();
    auto [session, opened] = teed.open_session(kPanic);
    ASSERT_TRUE(session);
    auto first = session->invoke(0);
    EXPECT_EQ(first.return_code, kErrorTargetDead);
    EXPECT_EQ(first.return_origin, kOriginTee);
    EXPECT_EQ(session->invoke(0).return_code, kErrorTargetDead);
}

TEST_F(Sessions, AnswersAnUnknownTaWithItemNotFoundAsANormalReply) {
    auto teed = connect();
    auto [session, opened] = teed.open_session("00000000-1111-2222-3333-444444444444");
    EXPECT_FALSE(session);
    EXPECT_EQ(opened.return_code, kErrorItemNotFound);
    EXPECT_EQ(opened.return_origin, kOriginTee);
}

TEST_F(Sessions, RefusesBadOpenSessionInputWithNamedErrors) {
    RawBus raw(bus_->address());
    auto hello_value = [](sd_bus_message* m) { append_param(m, 3, 1, "/", 0); };
    EXPECT_EQ(raw.open_session("tee7", kHello, 0, hello_value), "org.teed.Teed1.Error.NotFound");
    EXPECT_EQ(raw.open_session("", "8aaaf200-2450-11e4-abe2", 0, {}), "org.teed.Teed1.Error.InvalidArgument");
    EXPECT_EQ(raw.open_session("", kHello, 4, {}), "org.teed.Teed1.Error.NotSupported");
    EXPECT_EQ(raw.open_session("", kHello, 0x80000000, {}), "org.teed.Teed1.Error.AccessDenied");
    EXPECT_EQ(raw.open_session("", kHello, 0,
                               [](sd_bus_message* m) {
                                   for (int i = 0; i < 5; ++i) append_param(m, 0, 0, "/", 0);
                               }),
              "org.teed.Teed1.Error.InvalidArgument");
    EXPECT_EQ(raw.open_session("", kHello, 0, [](sd_bus_message* m) { append_param(m, 0x4, 0, "/", 0); }),
              "org.teed.Teed1.Error.InvalidArgument");
    // A shm path that names no shared-memory object of this client.
    EXPECT_EQ(raw.open_session("", kHello, 0,
                               [](sd_bus_message* m) { append_param(m, 0xD, 0, "/org/teed/Teed1/shm/x", 4); }),
              "org.teed.Teed1.Error.NotFound");
    EXPECT_EQ(raw.open_session("", kHello, 0, {},
                               [](sd_bus_message* m) { sd_bus_message_append(m, "{sv}", "speed", "u", 1u); }),
              "org.teed.Teed1.Error.InvalidArgument");
    EXPECT_EQ(raw.open_session("", kHello, 0, {}), "");  // and teed still serves good requests
}

TEST_F(Sessions, RefusesAMemrefAboveTheConfiguredMaximum) {
    RawBus raw(bus_->address());
    auto too_big = [](sd_bus_message* m) { append_param(m, 0x6, 0, "/", (16u << 20) + 1); };
    EXPECT_EQ(raw.open_session("", kEcho, 0, too_big), "org.teed.Teed1.Error.LimitExceeded");
    EXPECT_NE(raw.last_message().find("max_memref_bytes"), std::string::npos) << raw.last_message();
}

TEST_F(Sessions, AreInvisibleToEveryConnectionButTheOwner) {
    auto owner = connect();
    auto [session, opened] = owner.open_session(kHello);
    ASSERT_TRUE(session);
    std::string path = session->path();
    RawBus stranger(bus_->address());
    std::string never = "/org/teed/Teed1/sessions/0123456789abcdef0123456789abcdef";
    // Another connection gets exactly what a path that never existed gets.
    EXPECT_EQ(stranger.invoke(path), "org.freedesktop.DBus.Error.UnknownObject");
    EXPECT_EQ(stranger.invoke(never), "org.freedesktop.DBus.Error.UnknownObject");
    EXPECT_EQ(stranger.introspect(path), stranger.introspect(never));
    EXPECT_EQ(stranger.get_property(path, "org.teed.Teed1.Session", "TrustedApplication"),
              stranger.get_property(never, "org.teed.Teed1.Session", "TrustedApplication"));
    std::string listing;
    EXPECT_EQ(stranger.introspect("/org/teed/Teed1/sessions", &listing), "");
    EXPECT_EQ(listing.find(path.substr(path.rfind('/') + 1)), std::string::npos) << listing;
    // The ObjectManager lists devices only.
    auto objects = busctl(*bus_, std::nullopt,
                          {"call", "org.teed.Teed1", "/org/teed/Teed1",
                           "org.freedesktop.DBus.ObjectManager", "GetManagedObjects"});
    EXPECT_EQ(objects.exit_code(), 0) << objects.describe();
    EXPECT_NE(objects.out.find("/org/teed/Teed1/devices/simtee0"), std::string::npos);
    EXPECT_EQ(objects.out.find("sessions"), std::string::npos) << objects.out;
    // The owner still uses it, and after closing it is gone for the owner too.
    EXPECT_EQ(session->invoke(0, {Param::value_inout(1)}).params.at(0).a, 2u);
    session->close();
    EXPECT_EQ(stranger.invoke(path), "org.freedesktop.DBus.Error.UnknownObject");
    try {
        session->invoke(0, {Param::value_inout(1)});
        FAIL() << "a closed session answered";
    } catch (const client::Error& e) {
        EXPECT_EQ(e.name(), "org.freedesktop.DBus.Error.UnknownObject");
    }
}

TEST_F(Sessions, ClosesTheSessionsOfAClientKilledInTheMiddleOfABlockingInvoke) {
    size_t fds_before = teed_->open_fd_count();
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        auto teed = client::Client::connect(bus_->address());
        auto [session, opened] = teed.open_session(kSleep);
        if (session) session->invoke(0, {Param::value_in(1500)});
        _exit(0);
    }
    // Kill it once its call is running in the TEE.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (statistics()["workers_busy"] == 0) ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    expect_no_sessions_left();
    EXPECT_LE(teed_->open_fd_count(), fds_before);
}

TEST_F(Sessions, AreServedToTheTeeGroupAndRefusedToOthersByTheBusPolicy) {
    TEED_REQUIRE_TEST_USERS();
    auto in_group = teectl(*bus_, member(), {"invoke", kHello, "0", "--value-inout", "1"});
    EXPECT_EQ(in_group.exit_code(), 0) << in_group.describe();
    EXPECT_NE(in_group.out.find("a=2"), std::string::npos) << in_group.out;
    auto outsider_result = teectl(*bus_, outsider(), {"invoke", kHello, "0", "--value-inout", "1"});
    EXPECT_EQ(outsider_result.exit_code(), 3) << outsider_result.describe();
    EXPECT_NE(outsider_result.err.find("org.freedesktop.DBus.Error.AccessDenied"), std::string::npos)
        << outsider_result.err;
}

TEST_F(Sessions, GiveUserLoginsTheClientsIdentityNotTeeds) {
    TEED_REQUIRE_TEST_USERS();
    Identity user = member();
    auto r = teectl(*bus_, user, {"--json", "invoke", kWhoami, "0", "--login", "user", "--value-out", "--out", "16"});
    ASSERT_EQ(r.exit_code(), 0) << r.describe();
    // UUIDv5(58ac9ca0-2086-4683-a1b8-ec4bc08e01b6, "uid=<hex euid>"), computed independently.
    char name[32];
    snprintf(name, sizeof name, "uid=%x", user.uid);
    auto py = run({"python3", "-c",
                   std::string("import uuid;print(uuid.uuid5(uuid.UUID('58ac9ca0-2086-4683-a1b8-ec4bc08e01b6'),'") +
                       name + "').hex)"});
    ASSERT_EQ(py.exit_code(), 0) << py.describe();
    std::string expected = py.out.substr(0, 32);
    EXPECT_NE(r.out.find("\"data_hex\":\"" + expected + "\""), std::string::npos) << r.out << " vs " << expected;
    EXPECT_NE(r.out.find("\"a\":1"), std::string::npos) << r.out;  // login USER
}

TEST_F(Sessions, RefuseGroupLoginsForAGroupTheClientIsNotIn) {
    TEED_REQUIRE_TEST_USERS();
    auto r = teectl(*bus_, member(), {"open", kWhoami, "--login", "group", "--group", "0"});
    EXPECT_EQ(r.exit_code(), 3) << r.describe();
    EXPECT_NE(r.err.find("org.teed.Teed1.Error.AccessDenied"), std::string::npos) << r.err;
}

TEST_F(Sessions, OpenAndAnswerThroughBusctl) {
    auto call = [&](std::vector<std::string> params) {
        std::vector<std::string> args{"--json=short", "call", "org.teed.Teed1", "/org/teed/Teed1",
                                      "org.teed.Teed1.Manager", "OpenSession", "ssuua(uttayott)a{sv}",
                                      "simtee0", kHello, "0", "0"};
        args.insert(args.end(), params.begin(), params.end());
        args.push_back("0");  // no options
        return busctl(*bus_, std::nullopt, args);
    };
    auto opened = call({"0"});
    ASSERT_EQ(opened.exit_code(), 0) << opened.describe();
    EXPECT_NE(opened.out.find("\"/org/teed/Teed1/sessions/"), std::string::npos) << opened.out;
    EXPECT_NE(opened.out.find("\",4,0,[]]"), std::string::npos) << opened.out;  // ORIGIN_TRUSTED_APP, SUCCESS
    // hello_world takes no open parameters: its refusal is a normal reply, with session "/".
    auto refused = call({"1", "3", "42", "0", "0", "/", "0", "0"});
    ASSERT_EQ(refused.exit_code(), 0) << refused.describe();
    EXPECT_NE(refused.out.find("[\"/\",4,4294901766,[[3,42,0,[],\"/\",0,0]]]"), std::string::npos)
        << refused.out;
}

TEST_F(Sessions, ServeAMemberOfTheTeeGroupStartedWithSetpriv) {
    TEED_REQUIRE_TEST_USERS();
    Identity user = member();
    auto r = run({"setpriv", "--reuid=" + std::to_string(user.uid), "--regid=" + std::to_string(user.gid),
                  "--init-groups", TEECTL_BINARY, "--bus-address=" + bus_->address(), "invoke", kEcho, "0",
                  "--in", "setpriv", "--out", "16"});
    EXPECT_EQ(r.exit_code(), 0) << r.describe();
    EXPECT_NE(r.out.find("virptes"), std::string::npos) << r.out;
}

class NoDevices : public Sessions {
protected:
    std::vector<std::string> teed_args() override { return {"--no-hardware"}; }
};

TEST_F(NoDevices, StartPublishingNothingAndSayWhy) {
    auto status = busctl(*bus_, std::nullopt,
                         {"get-property", "org.teed.Teed1", "/org/teed/Teed1", "org.teed.Teed1.Manager", "Status"});
    EXPECT_EQ(status.exit_code(), 0) << status.describe();
    EXPECT_NE(status.out.find("no TEE devices"), std::string::npos) << status.out;
    bool notified = false;
    for (const auto& message : teed_->notifications())
        notified |= message.find("STATUS=no TEE devices") != std::string::npos;
    EXPECT_TRUE(notified);
    auto teed = connect();
    EXPECT_TRUE(teed.devices().empty());
    try {
        teed.open_session(kHello);
        FAIL() << "a session opened without devices";
    } catch (const client::Error& e) {
        EXPECT_EQ(e.name(), "org.teed.Teed1.Error.DeviceUnavailable");
    }
}

class SmallLimits : public Sessions {
protected:
    std::vector<std::string> teed_args() override {
        config_ = std::make_unique<TempDir>();
        std::string path = config_->path() + "/teed.conf";
        std::ofstream(path) << R"({"max_memref_bytes": 1024, "max_sessions_per_client": 2})";
        return {"--simulate", "--no-hardware", "--config=" + path};
    }
    std::unique_ptr<TempDir> config_;
};

TEST_F(SmallLimits, ApplyTheConfiguredMemrefAndSessionLimits) {
    auto teed = connect();
    auto [echo, opened] = teed.open_session(kEcho);
    ASSERT_TRUE(echo);
    try {
        echo->invoke(0, {Param::temp_in(std::vector<uint8_t>(1025, 1)), Param::temp_out(1025)});
        FAIL() << "a memref above max_memref_bytes went through";
    } catch (const client::Error& e) {
        EXPECT_EQ(e.name(), "org.teed.Teed1.Error.LimitExceeded");
    }
    auto [second, opened2] = teed.open_session(kHello);
    ASSERT_TRUE(second);
    try {
        teed.open_session(kHello);
        FAIL() << "a third session went through";
    } catch (const client::Error& e) {
        EXPECT_EQ(e.name(), "org.teed.Teed1.Error.LimitExceeded");
    }
}

}  // namespace
}  // namespace teed::test
