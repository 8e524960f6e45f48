// The manager's asynchronous flows on the simulated TEE, with a real loop and real workers, no bus.
#include "daemon/manager.h"

#include <unistd.h>

#include <chrono>

#include <gtest/gtest.h>
#include <systemd/sd-event.h>

#include "backends/kernel/gp.h"
#include "backends/sim/sim_device.h"
#include "daemon/event_loop.h"
#include "daemon/worker_pool.h"

namespace teed {
namespace {

constexpr const char* kHello = "8aaaf200-2450-11e4-abe2-0002a5d5c51b";
constexpr const char* kSleep = "ab86ff20-02df-4d53-acee-341029557c38";
constexpr const char* kWhoami = "4839ae89-dd05-41d8-bd50-0e6109a44689";

class FixedCredentials : public CredentialsSource {
public:
    void lookup(const std::string&, std::function<void(Result<Credentials>)> done) override {
        ++lookups;
        done(creds);
    }
    Result<Credentials> complete(Credentials c) override { return c; }
    Credentials creds{.uid = 65534, .groups = {65534}, .pid = 1, .gid = 65534};
    int lookups = 0;
};

class AManager : public testing::Test {
protected:
    void SetUp() override {
        loop_ = EventLoop::create().value();
        ASSERT_TRUE(devices_.add(make_simulated_node({})).ok());
        workers_ = std::make_unique<WorkerPool>(4);
        policy_.install(allow_everything());
        manager_ = std::make_unique<Manager>(config_, devices_, *loop_, *workers_, credentials_,
                                             policy_);
    }
    void TearDown() override {
        manager_.reset();
        workers_.reset();
        loop_->discard_posted();
    }

    // Turns the loop until `done` holds; fails the test after a generous deadline.
    template <typename Predicate>
    void run_until(Predicate done) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!done()) {
            ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "timed out";
            sd_event_run(loop_->event(), 50'000);
        }
    }

    Result<OpenSessionOutcome> open(const std::string& caller, OpenSessionRequest request) {
        std::optional<Result<OpenSessionOutcome>> result;
        manager_->open_session(caller, std::move(request),
                               [&](Result<OpenSessionOutcome> r) { result.emplace(std::move(r)); });
        run_until([&] { return result.has_value(); });
        return std::move(*result);
    }
    std::shared_ptr<Session> open_ok(const std::string& caller, const char* uuid, uint32_t login = 0) {
        auto r = open(caller, {.uuid = uuid, .login = login});
        EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
        return r.ok() ? r->session : nullptr;
    }
    Result<GpReply> invoke(const std::string& caller, const std::shared_ptr<Session>& s,
                           uint32_t command, GpParams params) {
        std::optional<Result<GpReply>> result;
        manager_->invoke(caller, s, command, std::move(params), std::nullopt,
                         [&](Result<GpReply> r) { result.emplace(std::move(r)); });
        run_until([&] { return result.has_value(); });
        return std::move(*result);
    }

    // One rule for everyone, every session: these tests are about the manager's flows; the
    // policy's own decisions are tested in policy_test.cpp and end to end in the policy matrix.
    static std::shared_ptr<const Policy> allow_everything() {
        PolicyRule rule{.name = "everything", .allow_sessions = SessionScope{}};
        return std::make_shared<const Policy>(std::vector<PolicyRule>{rule});
    }

    Config config_;
    FixedCredentials credentials_;
    PolicyStore policy_{{}};
    DeviceRegistry devices_;
    std::unique_ptr<EventLoop> loop_;
    std::unique_ptr<WorkerPool> workers_;
    std::unique_ptr<Manager> manager_;
};

TEST_F(AManager, OpensAndInvokesAHelloWorldSession) {
    auto session = open_ok(":1.1", kHello);
    ASSERT_TRUE(session);
    auto reply = invoke(":1.1", session, 0, {GpParam::value_inout(42)});
    ASSERT_TRUE(reply.ok()) << reply.error().message();
    EXPECT_EQ(reply->return_code, gp::kSuccess);
    EXPECT_EQ(reply->params[0].a, 43u);
}

TEST_F(AManager, AnswersAnUnknownTaAsANormalReply) {
    auto r = open(":1.1", {.uuid = "00000000-0000-0000-0000-000000000001"});
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->session);
    EXPECT_EQ(r->reply.return_code, gp::kErrorItemNotFound);
    EXPECT_EQ(r->reply.return_origin, gp::kOriginTee);
}

TEST_F(AManager, RefusesBadRequestsWithNamedErrors) {
    EXPECT_EQ(open(":1.1", {.device = "tee9", .uuid = kHello}).error().kind(), ErrorKind::NotFound);
    EXPECT_EQ(open(":1.1", {.uuid = "hello"}).error().kind(), ErrorKind::InvalidArgument);
    EXPECT_EQ(open(":1.1", {.uuid = kHello, .login = 4}).error().kind(), ErrorKind::NotSupported);
    EXPECT_EQ(open(":1.1", {.uuid = kHello, .login = 0x80000000}).error().kind(), ErrorKind::AccessDenied);
    EXPECT_EQ(open(":1.1", {.uuid = kHello, .login = 3}).error().kind(), ErrorKind::InvalidArgument);
    EXPECT_EQ(manager_->statistics().sessions, 0u);
}

TEST_F(AManager, HidesASessionFromEveryoneButItsOwner) {
    auto session = open_ok(":1.1", kHello);
    ASSERT_TRUE(session);
    EXPECT_EQ(manager_->find_session(":1.1", session->id()), session);
    EXPECT_EQ(manager_->find_session(":1.2", session->id()), nullptr);
}

TEST_F(AManager, RefusesOneSessionPastTheLimitAndCreatesNothingForIt) {
    config_.limits.max_sessions_per_client = 2;
    ASSERT_TRUE(open_ok(":1.1", kHello));
    ASSERT_TRUE(open_ok(":1.1", kHello));
    auto third = open(":1.1", {.uuid = kHello});
    ASSERT_FALSE(third.ok());
    EXPECT_EQ(third.error().kind(), ErrorKind::LimitExceeded);
    EXPECT_NE(third.error().message().find("max_sessions_per_client=2"), std::string::npos);
    EXPECT_EQ(manager_->statistics().sessions, 2u);
    EXPECT_TRUE(open_ok(":1.2", kHello));  // another client is not affected
}

TEST_F(AManager, ClosesTheSessionOfAClientThatLeavesDuringABlockingInvoke) {
    auto session = open_ok(":1.1", kSleep);
    ASSERT_TRUE(session);
    GpParam ms;
    ms.type = gp::kValueInput;
    ms.a = 300;
    std::optional<Result<GpReply>> reply;
    manager_->invoke(":1.1", session, 0, {ms}, std::nullopt,
                     [&](Result<GpReply> r) { reply.emplace(std::move(r)); });
    std::weak_ptr<Session> watch = session;
    session.reset();
    manager_->client_vanished(":1.1");
    EXPECT_EQ(manager_->statistics().clients, 0u);
    run_until([&] { return reply.has_value(); });
    EXPECT_EQ((*reply)->return_code, gp::kSuccess);
    run_until([&] { return watch.expired() && DeviceContext::live_count() == 0; });
}

TEST_F(AManager, CancelsOnlyCallsThatAreRunning) {
    auto session = open_ok(":1.1", kSleep);
    ASSERT_TRUE(session);
    std::optional<Result<void>> cancelled;
    manager_->request_cancellation(":1.1", session, 5, [&](Result<void> r) { cancelled.emplace(r); });
    ASSERT_TRUE(cancelled.has_value());
    EXPECT_EQ(cancelled->error().kind(), ErrorKind::NotFound);

    GpParam ms;
    ms.type = gp::kValueInput;
    ms.a = 20000;
    std::optional<Result<GpReply>> reply;
    manager_->invoke(":1.1", session, 0, {ms}, 5, [&](Result<GpReply> r) { reply.emplace(std::move(r)); });
    cancelled.reset();
    manager_->request_cancellation(":1.1", session, 5, [&](Result<void> r) { cancelled.emplace(r); });
    run_until([&] { return reply.has_value(); });
    ASSERT_TRUE(reply->ok());
    EXPECT_EQ((*reply)->return_code, gp::kErrorCancel);
}

TEST_F(AManager, DoesNotLetALateCancellationHitTheNextCallWithTheSameId) {
    auto session = open_ok(":1.1", kHello);
    ASSERT_TRUE(session);
    ASSERT_EQ(invoke(":1.1", session, 0, {GpParam::value_inout(1)})->return_code, gp::kSuccess);
    // A cancellation that a worker runs after its call has already returned cancels nothing...
    ASSERT_TRUE(session->cancel(0).ok());
    // ...and in particular not the next call under the same id.
    auto next = invoke(":1.1", session, 0, {GpParam::value_inout(1)});
    ASSERT_TRUE(next.ok());
    EXPECT_EQ(next->return_code, gp::kSuccess);
    EXPECT_EQ(next->params[0].a, 2u);
}

TEST_F(AManager, RunsOneCancellationPerIdHoweverOftenItIsRequested) {
    auto session = open_ok(":1.1", kSleep);
    ASSERT_TRUE(session);
    GpParam ms;
    ms.type = gp::kValueInput;
    ms.a = 20000;
    std::optional<Result<GpReply>> reply;
    manager_->invoke(":1.1", session, 0, {ms}, 9, [&](Result<GpReply> r) { reply.emplace(std::move(r)); });
    int answered_at_once = 0;
    for (int i = 0; i < 50; ++i)
        manager_->request_cancellation(":1.1", session, 9, [&](Result<void> r) {
            EXPECT_TRUE(r.ok());
            ++answered_at_once;
        });
    // The first is queued for a worker; the other 49 are covered by it and answered at once,
    // without queueing anything.
    EXPECT_EQ(answered_at_once, 49);
    run_until([&] { return reply.has_value(); });
    EXPECT_EQ((*reply)->return_code, gp::kErrorCancel);
}

TEST_F(AManager, OpensUserLoginsWithTheClientsIdentityNotTeeds) {
    if (geteuid() != 0) GTEST_SKIP() << "switching a thread to another uid needs root";
    auto session = open_ok(":1.1", kWhoami, gp::kLoginUser);
    ASSERT_TRUE(session);
    GpParam login;
    login.type = gp::kValueOutput;
    auto reply = invoke(":1.1", session, 0, {login, GpParam::temp_output(16)});
    ASSERT_TRUE(reply.ok());
    ASSERT_EQ(reply->return_code, gp::kSuccess);
    EXPECT_EQ(reply->params[0].a, gp::kLoginUser);
    auto ns = Uuid::parse(kClientUuidNamespace).value();
    auto expected = Uuid::v5(ns, "uid=fffe");  // 65534, the fake client's uid
    EXPECT_EQ(reply->params[1].data, std::vector<uint8_t>(expected.bytes.begin(), expected.bytes.end()));
    EXPECT_EQ(geteuid(), 0u);  // the loop thread kept its own identity
}

TEST_F(AManager, RefusesGroupLoginsForGroupsTheClientIsNotIn) {
    auto r = open(":1.1", {.uuid = kWhoami, .login = gp::kLoginGroup, .connection_data = 4242});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind(), ErrorKind::AccessDenied);
}

TEST_F(AManager, RefusesWhatThePolicyDeniesNamingTheRuleAndCreatesNothing) {
    PolicyRule hello_only{.name = "hello-only",
                          .source = "10-test.json:3",
                          .allow_sessions = SessionScope{.tas = std::vector<Uuid>{Uuid::parse(kHello).value()}}};
    policy_.install(std::make_shared<const Policy>(std::vector<PolicyRule>{hello_only}));
    EXPECT_TRUE(open_ok(":1.1", kHello));
    auto denied = open(":1.1", {.uuid = kSleep});
    ASSERT_FALSE(denied.ok());
    EXPECT_EQ(denied.error().kind(), ErrorKind::AccessDenied);
    EXPECT_NE(denied.error().message().find("rule 'default'"), std::string::npos)
        << denied.error().message();
    EXPECT_EQ(manager_->statistics().sessions, 1u);
    EXPECT_EQ(manager_->statistics().calls_in_flight, 0u);
}

TEST_F(AManager, AppliesANewPolicyToNewRequestsAndKeepsOpenSessions) {
    auto session = open_ok(":1.1", kHello);
    ASSERT_TRUE(session);
    policy_.install(std::make_shared<const Policy>());  // denies everything
    EXPECT_EQ(open(":1.1", {.uuid = kHello}).error().kind(), ErrorKind::AccessDenied);
    auto reply = invoke(":1.1", session, 0, {GpParam::value_inout(1)});
    ASSERT_TRUE(reply.ok()) << reply.error().message();
    EXPECT_EQ(reply->params[0].a, 2u);
}

TEST_F(AManager, TakesAClientsLimitsFromThePolicyAndRecomputesThemOnReload) {
    PolicyRule everything{.name = "everything", .allow_sessions = SessionScope{}};
    everything.limits.max_sessions_per_client = 1;
    policy_.install(std::make_shared<const Policy>(std::vector<PolicyRule>{everything}));
    ASSERT_TRUE(open_ok(":1.1", kHello));
    auto second = open(":1.1", {.uuid = kHello});
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().kind(), ErrorKind::LimitExceeded);
    EXPECT_NE(second.error().message().find("max_sessions_per_client=1"), std::string::npos);
    everything.limits.max_sessions_per_client = 2;
    policy_.install(std::make_shared<const Policy>(std::vector<PolicyRule>{everything}));
    EXPECT_TRUE(open_ok(":1.1", kHello));
    EXPECT_EQ(manager_->limits_for(":1.1").max_sessions_per_client, 2u);
}

TEST_F(AManager, EnforcesTheGlobalLimitsOfThePolicy) {
    GlobalLimitOverrides global{.max_sessions_total = 1};
    PolicyRule everything{.name = "everything", .allow_sessions = SessionScope{}};
    policy_.install(std::make_shared<const Policy>(std::vector<PolicyRule>{everything}, global));
    ASSERT_TRUE(open_ok(":1.1", kHello));
    auto other = open(":1.2", {.uuid = kHello});
    ASSERT_FALSE(other.ok());
    EXPECT_NE(other.error().message().find("max_sessions_total=1"), std::string::npos);
}

TEST_F(AManager, RefusesApplicationLoginsUntilThePolicyAllowsOne) {
    EXPECT_EQ(open(":1.1", {.uuid = kWhoami, .login = gp::kLoginApplication}).error().kind(),
              ErrorKind::NotSupported);
    PolicyRule apps{.name = "apps",
                    .allow_sessions = SessionScope{.logins = std::vector<uint32_t>{gp::kLoginApplication}}};
    policy_.install(std::make_shared<const Policy>(std::vector<PolicyRule>{apps}));
    auto session = open_ok(":1.1", kWhoami, gp::kLoginApplication);
    ASSERT_TRUE(session);
    EXPECT_EQ(session->login(), gp::kLoginApplication);
    GpParam login;
    login.type = gp::kValueOutput;
    auto reply = invoke(":1.1", session, 0, {login, GpParam::temp_output(16)});
    ASSERT_TRUE(reply.ok());
    // The kernel has no application identity: the TA sees the login without it.
    EXPECT_EQ(reply->params[0].a, gp::kLoginPublic);
    // Allowed for APPLICATION is not allowed for USER_APPLICATION.
    EXPECT_EQ(open(":1.1", {.uuid = kWhoami, .login = gp::kLoginUserApplication}).error().kind(),
              ErrorKind::AccessDenied);
}

TEST_F(AManager, RefusesSharedMemoryPastTheClientsByteQuota) {
    config_.limits.max_shm_bytes_per_client = 3 * 4096;
    auto allocate = [&](uint64_t size) {
        std::optional<Result<void>> result;
        manager_->allocate_shared_memory(":1.1", {.size = size, .flags = 3}, [&](auto r) {
            result.emplace(r.ok() ? Result<void>{} : Result<void>(std::move(r).error()));
        });
        run_until([&] { return result.has_value(); });
        return std::move(*result);
    };
    EXPECT_TRUE(allocate(2 * 4096).ok());
    auto refused = allocate(2 * 4096);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().kind(), ErrorKind::LimitExceeded);
    EXPECT_NE(refused.error().message().find("max_shm_bytes_per_client=12288"), std::string::npos)
        << refused.error().message();
    EXPECT_TRUE(allocate(4096).ok());
    EXPECT_EQ(manager_->statistics().shared_memory_bytes, 3u * 4096);
    manager_->client_vanished(":1.1");
    EXPECT_EQ(manager_->statistics().shared_memory_bytes, 0u);
}

}  // namespace
}  // namespace teed
