// Bursts against teed's quotas as the policy files set them: per client in a rule's "limits",
// for all clients in a file's top-level "limits". Each refusal must be LimitExceeded naming the
// limit as name=value, must create nothing (teed's own counters), and must leave other clients and
// later requests working.

#include <future>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness.h"
#include "policy_clients.h"
#include "teed/client.h"

namespace teed::test {
namespace {

using ::testing::HasSubstr;

constexpr uint32_t kErrorCancel = 0xFFFF0002;

// A rule for `uid` allowing every session, with `limits` (a JSON object's members) if given.
std::string rule(const std::string& name, uid_t uid, const std::string& limits = "") {
    return R"({"name": ")" + name + R"(", "match": {"users": [)" + std::to_string(uid) +
           R"(]}, "allow": {"sessions": {}})" +
           (limits.empty() ? "" : R"(, "limits": {)" + limits + "}") + "}";
}

class Quota : public testing::Test {
protected:
    // Starts teed with one policy file of `rules` and top-level `global_limits`.
    void start(const std::vector<std::string>& rules, const std::string& global_limits = "") {
        std::string text = "{\"version\": 1, ";
        if (!global_limits.empty()) text += "\"limits\": {" + global_limits + "}, ";
        text += "\"rules\": [";
        for (size_t i = 0; i < rules.size(); ++i) text += (i ? ", " : "") + rules[i];
        write_policy_file(dir_.path() + "/policy.d", "50-quota.json", text + "]}\n");
        bus_ = std::make_unique<TestBus>();
        teed_ = std::make_unique<TeedDaemon>(
            *bus_, TeedOptions{.policy_dirs = {{dir_.path() + "/policy.d"}}});
    }
    void TearDown() override {
        if (teed_) {
            EXPECT_TRUE(teed_->running()) << "teed exited:\n" << teed_->log();
        }
    }
    std::unique_ptr<RawClient> raw() { return std::make_unique<RawClient>(bus_->address()); }
    static void expect_limit(const Outcome& refused, const std::string& limit) {
        EXPECT_EQ(refused.error, kLimitExceeded) << refused.describe();
        EXPECT_THAT(refused.message, HasSubstr("(" + limit + ")"));
    }

    TempDir dir_{"teed-quota-"};
    std::unique_ptr<TestBus> bus_;
    std::unique_ptr<TeedDaemon> teed_;
};

TEST_F(Quota, SessionsPerClientFromAMembersRule) {
    TEED_REQUIRE_TEST_USERS();
    Identity user = member();
    start({rule("member", user.uid, R"("max_sessions_per_client": 3)"), rule("runner", 0)});
    auto root = raw();
    ChildClient client(bus_->address(), user);
    std::vector<std::string> sessions;
    for (int i = 0; i < 3; ++i) {
        Outcome opened = client.ask(std::string("open ") + kHello);
        ASSERT_TRUE(opened.ok()) << i << ": " << opened.describe();
        sessions.push_back(opened.value);
    }
    expect_limit(client.ask(std::string("open ") + kHello), "max_sessions_per_client=3");
    auto stats = root->statistics();
    EXPECT_EQ(stats["sessions"], 3u);
    EXPECT_EQ(stats["live_sessions"], 3u);
    EXPECT_EQ(stats["calls_in_flight"], 0u);
    auto audited = log_lines_with(
        teed_->log(), {"TEED_EVENT=request-denied", "TEED_CLIENT_UID=" + std::to_string(user.uid)});
    ASSERT_EQ(audited.size(), 1u) << teed_->log();
    EXPECT_THAT(audited[0], HasSubstr("max_sessions_per_client=3"));

    // The member's sessions still serve, the limit is the member's alone, and a closed session
    // frees its place.
    EXPECT_EQ(client.ask("invoke " + sessions[0] + " 1").value, "2");
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(root->open_session(kHello).ok()) << i;
    EXPECT_TRUE(client.ask("close " + sessions[1]).ok());
    Outcome again = client.ask(std::string("open ") + kHello);
    EXPECT_TRUE(again.ok()) << again.describe();
    EXPECT_EQ(root->statistics()["sessions"], 7u);
    EXPECT_EQ(client.quit(), 0);
}

// Cancels the call `cancel_id` on `session` and returns its return code. A cancellation that
// reaches the simulated TEE before the call has started there is lost, so it is repeated until the
// call ends.
uint32_t cancel(client::Session& session, uint32_t cancel_id, std::future<uint32_t>& call) {
    auto deadline = Clock::now() + std::chrono::seconds(20);
    do {
        try {
            session.request_cancellation(cancel_id);
        } catch (const client::Error&) {
            // NotFound: the call has just ended.
        }
    } while (call.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready &&
             Clock::now() < deadline);
    return call.get();
}

TEST_F(Quota, ConcurrentCallsPerClientRefuseTheExcessWhileTheSleepersRun) {
    start({rule("runner", 0, R"("max_concurrent_calls_per_client": 2)")});
    auto stats_client = raw();
    auto busy = client::Client::connect(bus_->address());
    auto [first, first_opened] = busy.open_session(kSleep);
    auto [second, second_opened] = busy.open_session(kSleep);
    ASSERT_TRUE(first && second);
    auto sleep_on = [](client::Session* s, uint32_t cancel_id) {
        return std::async(std::launch::async, [s, cancel_id] {
            return s->invoke(0, {client::Param::value_in(10000)}, {.cancel_id = cancel_id})
                .return_code;
        });
    };
    auto sleeping1 = sleep_on(&*first, 1);
    auto sleeping2 = sleep_on(&*second, 2);
    ASSERT_TRUE(eventually([&] {
        auto stats = stats_client->statistics();
        return stats["calls_in_flight"] == 2 && stats["workers_busy"] == 2;
    }));

    auto refused = [](const std::function<void()>& call) -> Outcome {
        try {
            call();
            return {};
        } catch (const client::Error& e) {
            return {.error = e.name(), .message = e.message()};
        }
    };
    expect_limit(refused([&] { first->invoke(0, {client::Param::value_in(0)}); }),
                 "max_concurrent_calls_per_client=2");
    expect_limit(refused([&] { busy.open_session(kHello); }), "max_concurrent_calls_per_client=2");
    auto stats = stats_client->statistics();
    EXPECT_EQ(stats["calls_in_flight"], 2u);
    EXPECT_EQ(stats["sessions"], 2u);  // the refused open made none
    EXPECT_EQ(stats["live_sessions"], 2u);
    // Another client is not held back by this one's limit.
    auto other = raw();
    Outcome opened = other->open_session(kHello);
    ASSERT_TRUE(opened.ok()) << opened.describe();
    EXPECT_EQ(other->invoke_hello(opened.value, 10).value, "11");

    EXPECT_EQ(cancel(*first, 1, sleeping1), kErrorCancel);
    EXPECT_EQ(cancel(*second, 2, sleeping2), kErrorCancel);
    // The sleepers' places are free once their replies are out.
    EXPECT_EQ(first->invoke(0, {client::Param::value_in(0)}).return_code, 0u);
    EXPECT_EQ(stats_client->statistics()["calls_in_flight"], 0u);
}

TEST_F(Quota, SharedMemoryBytesPerClient) {
    start({rule("runner", 0, R"("max_shm_bytes_per_client": 12288)")});
    auto client = raw();
    std::vector<std::string> objects;
    for (int i = 0; i < 3; ++i) {
        Outcome allocated = client->allocate_shared_memory(4096);
        ASSERT_TRUE(allocated.ok()) << i << ": " << allocated.describe();
        objects.push_back(allocated.value);
    }
    expect_limit(client->allocate_shared_memory(1), "max_shm_bytes_per_client=12288");
    auto stats = client->statistics();
    EXPECT_EQ(stats["shared_memory"], 3u);
    EXPECT_EQ(stats["shared_memory_bytes"], 12288u);

    auto other = raw();
    Outcome others = other->allocate_shared_memory(8192);
    EXPECT_TRUE(others.ok()) << others.describe();
    EXPECT_TRUE(client->release_shared_memory(objects[0]).ok());
    expect_limit(client->allocate_shared_memory(4097), "max_shm_bytes_per_client=12288");
    Outcome again = client->allocate_shared_memory(4096);
    EXPECT_TRUE(again.ok()) << again.describe();
    stats = client->statistics();
    EXPECT_EQ(stats["shared_memory"], 4u);
    EXPECT_EQ(stats["shared_memory_bytes"], 12288u + 8192u);
}

// Client processes of their own, each one connection: teed counts connections with state.
TEST_F(Quota, MaxClientsFromThePolicysTopLevelLimits) {
    start({rule("runner", 0)}, R"("max_clients": 3)");
    // The first client: it reads the counters, which needs a place too (the entry holds the
    // caller's credentials).
    auto admin = raw();
    ASSERT_EQ(admin->statistics()["clients"], 1u);
    ChildClient a(bus_->address(), std::nullopt);
    ChildClient b(bus_->address(), std::nullopt);
    Outcome a_opened = a.ask(std::string("open ") + kHello);
    ASSERT_TRUE(a_opened.ok()) << a_opened.describe();
    ASSERT_TRUE(b.ask(std::string("open ") + kHello).ok());

    // The fourth is root's too, so it keeps a place in the administrative reserve, from which
    // only GetStatistics and ReloadPolicy may be called.
    ChildClient c(bus_->address(), std::nullopt);
    expect_limit(c.ask(std::string("open ") + kHello), "max_clients=3");
    expect_limit(c.ask(std::string("allocate 4096")), "max_clients=3");
    auto stats = admin->statistics();
    EXPECT_EQ(stats["clients"], 4u);
    EXPECT_EQ(stats["sessions"], 2u);
    EXPECT_EQ(stats["shared_memory"], 0u);
    EXPECT_EQ(a.ask("invoke " + a_opened.value + " 1").value, "2");  // the admitted go on
    auto audited = log_lines_with(teed_->log(), {"TEED_AUDIT=1", "TEED_EVENT=request-denied"});
    ASSERT_EQ(audited.size(), 2u) << teed_->log();
    EXPECT_THAT(audited[0], HasSubstr("(max_clients=3)"));

    // A regular place that comes free goes to the client in the reserve on its next call.
    EXPECT_EQ(b.quit(), 0);
    ASSERT_TRUE(eventually([&] { return admin->statistics()["clients"] == 3; }));
    Outcome admitted = c.ask(std::string("open ") + kHello);
    EXPECT_TRUE(admitted.ok()) << admitted.describe();
    ChildClient d(bus_->address(), std::nullopt);
    expect_limit(d.ask(std::string("open ") + kHello), "max_clients=3");
    stats = admin->statistics();
    EXPECT_EQ(stats["clients"], 4u);
    EXPECT_EQ(stats["sessions"], 2u);  // a's and c's; b's went with b
    EXPECT_EQ(a.quit(), 0);
    EXPECT_EQ(c.quit(), 0);
    EXPECT_EQ(d.quit(), 0);
}

// Members holding every place cannot lock the administrators out: root's new connection still
// gets GetStatistics and ReloadPolicy (nothing else), and a member's extra connection is refused
// without keeping a place.
TEST_F(Quota, MaxClientsKeepsPlacesForRootsPrivilegedMethods) {
    TEED_REQUIRE_TEST_USERS();
    Identity user = member();
    start({rule("member", user.uid), rule("runner", 0)}, R"("max_clients": 2)");
    ChildClient first(bus_->address(), user);
    ChildClient second(bus_->address(), user);
    ASSERT_TRUE(first.ask(std::string("open ") + kHello).ok());
    ASSERT_TRUE(second.ask(std::string("open ") + kHello).ok());
    ChildClient third(bus_->address(), user);
    expect_limit(third.ask(std::string("open ") + kHello), "max_clients=2");
    Outcome member_stats = third.ask("stats");
    EXPECT_EQ(member_stats.error, kAccessDenied) << member_stats.describe();

    auto root = raw();
    std::map<std::string, uint64_t> stats;
    Outcome got = root->get_statistics(&stats);
    ASSERT_TRUE(got.ok()) << got.describe();
    EXPECT_EQ(stats["clients"], 3u) << "the two members and root; the third member kept no place";
    EXPECT_EQ(stats["sessions"], 2u);
    Outcome reloaded = root->reload_policy();
    EXPECT_TRUE(reloaded.ok()) << reloaded.describe();
    expect_limit(root->open_session(kHello), "max_clients=2");
    EXPECT_EQ(first.quit(), 0);
    EXPECT_EQ(second.quit(), 0);
    EXPECT_EQ(third.quit(), 0);
}

TEST_F(Quota, MaxSessionsTotalFromThePolicysTopLevelLimits) {
    start({rule("runner", 0)}, R"("max_sessions_total": 3)");
    auto x = raw();
    auto y = raw();
    Outcome x1 = x->open_session(kHello);
    ASSERT_TRUE(x1.ok()) << x1.describe();
    ASSERT_TRUE(x->open_session(kHello).ok());
    ASSERT_TRUE(y->open_session(kHello).ok());
    expect_limit(y->open_session(kHello), "max_sessions_total=3");
    expect_limit(x->open_session(kEcho), "max_sessions_total=3");
    auto stats = x->statistics();
    EXPECT_EQ(stats["sessions"], 3u);
    EXPECT_EQ(stats["live_sessions"], 3u);
    EXPECT_EQ(stats["calls_in_flight"], 0u);
    EXPECT_EQ(x->invoke_hello(x1.value, 5).value, "6");  // open sessions still serve

    ASSERT_TRUE(x->close_session(x1.value).ok());
    // The closed session counts until the TEE has closed it, on a worker.
    ASSERT_TRUE(eventually([&] { return x->statistics()["live_sessions"] == 2; }));
    Outcome admitted = y->open_session(kHello);
    EXPECT_TRUE(admitted.ok()) << admitted.describe();
    EXPECT_EQ(x->statistics()["sessions"], 3u);
}

}  // namespace
}  // namespace teed::test
