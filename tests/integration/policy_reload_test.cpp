// teed's policy files changing under connected clients (Manager.ReloadPolicy and SIGHUP), broken
// files on reload, the privileged-method check teed makes itself, and the audit trail teed writes
// to its stderr (the harness's log) when there is no journal. The member runs in a child process
// that stays connected while the test rewrites the policy.

#include <csignal>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness.h"
#include "policy_clients.h"

namespace teed::test {
namespace {

using ::testing::HasSubstr;

constexpr uint32_t kAuditBurst = 20;  // daemon/audit.h: AuditRateLimit, per uid...
constexpr auto kAuditInterval = std::chrono::seconds(10);  // ...per fixed window

std::string allow_all(const std::string& name, uid_t uid) {
    return R"({"name": ")" + name + R"(", "match": {"users": [)" + std::to_string(uid) +
           R"(]}, "allow": {"sessions": {}}})";
}

// Same clients as allow_all(), one exact TA: the more specific rule (docs/policy.md).
std::string deny_ta(const std::string& name, uid_t uid, const std::string& ta) {
    return R"({"name": ")" + name + R"(", "match": {"users": [)" + std::to_string(uid) +
           R"(]}, "deny": {"sessions": {"tas": [")" + ta + R"("]}}})";
}

std::string policy(const std::vector<std::string>& rules) {
    std::string text = "{\"version\": 1, \"rules\": [\n";
    for (size_t i = 0; i < rules.size(); ++i) text += (i ? ",\n" : "") + rules[i];
    return text + "\n]}\n";
}

std::string session_id(const std::string& path) {
    return path.substr(path.rfind('/') + 1);
}

class PolicyFiles : public testing::Test {
protected:
    void SetUp() override {
        TEED_REQUIRE_TEST_USERS();
        member_ = member();
        write(allowing());
        bus_ = std::make_unique<TestBus>();
        teed_ = std::make_unique<TeedDaemon>(*bus_, TeedOptions{.policy_dirs = {{dir()}}});
        root_ = std::make_unique<RawClient>(bus_->address());
    }
    void TearDown() override {
        if (teed_) {
            EXPECT_TRUE(teed_->running()) << "teed exited:\n" << teed_->log();
        }
    }

    std::string dir() const { return policy_dir_.path() + "/policy.d"; }
    std::string file() const { return dir() + "/50-test.json"; }
    void write(const std::string& json, const std::string& name = "50-test.json") {
        write_policy_file(dir(), name, json);
    }
    // The member may open every session; so may the test (root), which drives the quotas.
    std::string allowing() const {
        return policy({allow_all("member", member_.uid), allow_all("runner", 0)});
    }
    // As allowing(), but rule 'member-no-hello' keeps the member away from hello_world.
    std::string denying_hello() const {
        return policy({allow_all("member", member_.uid),
                       deny_ta("member-no-hello", member_.uid, kHello), allow_all("runner", 0)});
    }
    std::unique_ptr<ChildClient> member_client() {
        return std::make_unique<ChildClient>(bus_->address(), member_);
    }
    std::vector<std::string> audit_lines(const std::vector<std::string>& fields) {
        std::vector<std::string> with_audit{"TEED_AUDIT=1"};
        with_audit.insert(with_audit.end(), fields.begin(), fields.end());
        return log_lines_with(teed_->log(), with_audit);
    }
    size_t reloads_logged() { return audit_lines({"TEED_EVENT=policy-reloaded"}).size(); }
    std::string member_uid_field() const {
        return "TEED_CLIENT_UID=" + std::to_string(member_.uid);
    }

    Identity member_;
    TempDir policy_dir_{"teed-policy-"};
    std::unique_ptr<TestBus> bus_;
    std::unique_ptr<TeedDaemon> teed_;
    std::unique_ptr<RawClient> root_;
};

using PolicyReload = PolicyFiles;

TEST_F(PolicyReload, KeepsOpenSessionsAndAppliesTheNewPolicyToTheNextOpen) {
    auto client = member_client();
    Outcome opened = client->ask(std::string("open ") + kHello);
    ASSERT_TRUE(opened.ok()) << opened.describe();
    ASSERT_EQ(client->ask("invoke " + opened.value + " 41").value, "42");

    write(denying_hello());
    Outcome reloaded = root_->reload_policy();
    ASSERT_TRUE(reloaded.ok()) << reloaded.describe();
    EXPECT_EQ(reloaded.value, "1 3");  // one file, three rules
    EXPECT_EQ(reloads_logged(), 1u);

    // The session opened before the reload is not touched...
    Outcome invoked = client->ask("invoke " + opened.value + " 1");
    EXPECT_TRUE(invoked.ok()) << invoked.describe();
    EXPECT_EQ(invoked.value, "2");
    // ...while the same connection's next open is decided by the new rule, which it names.
    Outcome denied = client->ask(std::string("open ") + kHello);
    EXPECT_EQ(denied.error, kAccessDenied) << denied.describe();
    EXPECT_THAT(denied.message, HasSubstr("rule 'member-no-hello' at " + file()));
    Outcome other_ta = client->ask(std::string("open ") + kEcho);
    EXPECT_TRUE(other_ta.ok()) << other_ta.describe();
    auto stats = root_->statistics();
    EXPECT_EQ(stats["sessions"], 2u);  // hello from before and echo: the denial created nothing
    EXPECT_EQ(stats["live_sessions"], 2u);

    // Back to allowing, by SIGHUP this time: the reload is done when its audit entry is written.
    write(allowing());
    teed_->send_signal(SIGHUP);
    ASSERT_TRUE(eventually([&] { return reloads_logged() == 2; })) << teed_->log();
    Outcome allowed = client->ask(std::string("open ") + kHello);
    EXPECT_TRUE(allowed.ok()) << allowed.describe();
    EXPECT_EQ(client->ask("invoke " + allowed.value + " 7").value, "8");
    EXPECT_EQ(client->quit(), 0);
}

TEST_F(PolicyReload, RefusesBrokenFilesNamingFileAndLineAndKeepsThePolicyInForce) {
    auto client = member_client();
    // Valid on its own, this edit would deny the member: it must not take effect while another
    // file of the same reload is broken.
    write(denying_hello());
    const std::string broken = dir() + "/60-broken.json";
    write("{\n  \"version\": 1,\n  \"rules\": [,]\n}\n", "60-broken.json");
    Outcome bad_json = root_->reload_policy();
    EXPECT_EQ(bad_json.error, kInvalidArgument) << bad_json.describe();
    EXPECT_THAT(bad_json.message, HasSubstr(broken + ":3: "));
    EXPECT_THAT(bad_json.message, HasSubstr("not valid JSON"));
    Outcome still_allowed = client->ask(std::string("open ") + kHello);
    EXPECT_TRUE(still_allowed.ok()) << still_allowed.describe();

    write(
        "{\n  \"version\": 1,\n  \"rules\": [\n    {\n      \"name\": \"typo\",\n"
        "      \"dney\": {\"sessions\": {}}\n    }\n  ]\n}\n",
        "60-broken.json");
    Outcome unknown_key = root_->reload_policy();
    EXPECT_EQ(unknown_key.error, kInvalidArgument) << unknown_key.describe();
    EXPECT_THAT(unknown_key.message, HasSubstr(broken + ":6: unknown key 'dney' in rules[0]"));
    still_allowed = client->ask(std::string("open ") + kHello);
    EXPECT_TRUE(still_allowed.ok()) << still_allowed.describe();
    EXPECT_EQ(reloads_logged(), 0u);

    // Without the broken file the same reload goes through: the edit was held back by it alone.
    ASSERT_EQ(unlink(broken.c_str()), 0);
    Outcome reloaded = root_->reload_policy();
    EXPECT_TRUE(reloaded.ok()) << reloaded.describe();
    Outcome denied = client->ask(std::string("open ") + kHello);
    EXPECT_EQ(denied.error, kAccessDenied) << denied.describe();
    EXPECT_EQ(reloads_logged(), 1u);
    EXPECT_EQ(client->quit(), 0);
}

// The bus policy lets group tee send anything to the Manager interface, so these calls reach teed
// and its own check must refuse them: org.teed.Teed1.Error.AccessDenied is teed's answer (the
// bus would answer org.freedesktop.DBus.Error.AccessDenied).
TEST_F(PolicyReload, AndGetStatisticsAreRefusedByTeedToAMemberTheBusLetsThrough) {
    auto client = member_client();
    write(denying_hello());
    Outcome reload = client->ask("reload");
    EXPECT_EQ(reload.error, kAccessDenied) << reload.describe();
    EXPECT_THAT(reload.message,
                HasSubstr("ReloadPolicy is for root and teed's own user only (the caller is uid " +
                          std::to_string(member_.uid) + ")"));
    Outcome stats = client->ask("stats");
    EXPECT_EQ(stats.error, kAccessDenied) << stats.describe();
    EXPECT_THAT(stats.message, HasSubstr("GetStatistics is for root and teed's own user only"));

    // The member's reload did nothing: the denying file on disk is not in force.
    Outcome opened = client->ask(std::string("open ") + kHello);
    EXPECT_TRUE(opened.ok()) << opened.describe();
    EXPECT_EQ(reloads_logged(), 0u);
    auto denials =
        audit_lines({"TEED_EVENT=request-denied", "TEED_DECISION=deny", member_uid_field()});
    ASSERT_EQ(denials.size(), 2u) << teed_->log();
    EXPECT_THAT(denials[0], HasSubstr("ReloadPolicy is for root"));
    EXPECT_THAT(denials[1], HasSubstr("GetStatistics is for root"));

    // Root may do both.
    EXPECT_TRUE(root_->reload_policy().ok());
    EXPECT_TRUE(root_->get_statistics().ok());
    EXPECT_EQ(client->quit(), 0);
}

using Audit = PolicyFiles;

TEST_F(Audit, WritesKeyValueEntriesForADeniedOpenAndAnOpenedAndClosedSession) {
    write(denying_hello());
    ASSERT_TRUE(root_->reload_policy().ok());
    auto client = member_client();
    Outcome denied = client->ask(std::string("open ") + kHello);
    ASSERT_EQ(denied.error, kAccessDenied) << denied.describe();
    Outcome opened = client->ask(std::string("open ") + kEcho);
    ASSERT_TRUE(opened.ok()) << opened.describe();
    Outcome closed = client->ask("close " + opened.value);
    ASSERT_TRUE(closed.ok()) << closed.describe();

    std::string uid = member_uid_field();
    auto denial =
        audit_lines({"TEED_EVENT=session-denied", "TEED_DECISION=deny", "TEED_RULE=member-no-hello",
                     uid, std::string("TEED_TA_UUID=") + kHello, "TEED_LOGIN=public"});
    EXPECT_EQ(denial.size(), 1u) << teed_->log();
    std::string session = "TEED_SESSION=" + session_id(opened.value);
    auto open = audit_lines({"TEED_EVENT=session-opened", "TEED_DECISION=allow", uid,
                             std::string("TEED_TA_UUID=") + kEcho, session});
    EXPECT_EQ(open.size(), 1u) << teed_->log();
    auto close = audit_lines({"TEED_EVENT=session-closed", uid, session});
    EXPECT_EQ(close.size(), 1u) << teed_->log();
    // Nothing else about the member: one entry per event.
    EXPECT_EQ(audit_lines({uid}).size(), 3u) << teed_->log();
    EXPECT_EQ(client->quit(), 0);
}

// 200 denials from one uid: the first kAuditBurst of each window are written, the others counted.
TEST_F(Audit, RateLimitsAFloodOfDenialsFromOneClientAndCountsWhatItDrops) {
    constexpr int kFlood = 200;
    write(denying_hello());
    ASSERT_TRUE(root_->reload_policy().ok());
    auto client = member_client();
    auto log_lines_before = log_lines_with(teed_->log(), {}).size();
    auto started = Clock::now();
    int refused = 0;
    for (int i = 0; i < kFlood; ++i)
        refused += client->ask(std::string("open ") + kHello).error == kAccessDenied;
    auto took = Clock::now() - started;
    ASSERT_EQ(refused, kFlood);

    auto written = audit_lines({"TEED_EVENT=session-denied", member_uid_field()}).size();
    uint64_t suppressed = root_->statistics()["audit_suppressed"];
    EXPECT_EQ(written + suppressed, static_cast<uint64_t>(kFlood))
        << "every denial is written or counted";
    // Nor do the "call refused" notices get past their own limit (20 per 10 s, dbus/guard.cpp).
    auto refusal_windows = static_cast<uint64_t>(took / std::chrono::seconds(10)) + 1;
    EXPECT_LE(log_lines_with(teed_->log(), {}).size() - log_lines_before, written + 20 * refusal_windows)
        << teed_->log();
    // Windows are fixed, starting at the first denial: a flood of duration d spans at most
    // d / interval + 1 of them. On any usual machine it takes well under one.
    auto windows = static_cast<uint64_t>(took / kAuditInterval) + 1;
    EXPECT_LE(written, kAuditBurst * windows);
    EXPECT_GE(written, std::min<uint64_t>(kAuditBurst, kFlood));
    if (windows == 1) {
        EXPECT_EQ(written, kAuditBurst);
        EXPECT_EQ(suppressed, static_cast<uint64_t>(kFlood - kAuditBurst));
    }
    // Sessions have a window of their own: the flood of denials does not silence them.
    Outcome opened = client->ask(std::string("open ") + kEcho);
    ASSERT_TRUE(opened.ok()) << opened.describe();
    EXPECT_EQ(audit_lines({"TEED_EVENT=session-opened", member_uid_field()}).size(), 1u);
    EXPECT_EQ(client->quit(), 0);
}

// A member opening and closing sessions in a loop: 60 session entries per window are written,
// the rest counted, and the uid's denials still get through.
TEST_F(Audit, RateLimitsAFloodOfSessionsFromOneClientApartFromItsDenials) {
    constexpr int kSessions = 100;
    constexpr uint64_t kSessionBurst = 60;  // daemon/audit.h: AuditRateLimit::session_burst
    write(denying_hello());
    ASSERT_TRUE(root_->reload_policy().ok());
    auto client = member_client();
    auto started = Clock::now();
    for (int i = 0; i < kSessions; ++i) {
        Outcome opened = client->ask(std::string("open ") + kEcho);
        ASSERT_TRUE(opened.ok()) << opened.describe();
        ASSERT_TRUE(client->ask("close " + opened.value).ok());
    }
    auto took = Clock::now() - started;
    Outcome denied = client->ask(std::string("open ") + kHello);
    ASSERT_EQ(denied.error, kAccessDenied) << denied.describe();

    auto opened = audit_lines({"TEED_EVENT=session-opened", member_uid_field()}).size();
    auto closed = audit_lines({"TEED_EVENT=session-closed", member_uid_field()}).size();
    uint64_t suppressed = root_->statistics()["audit_suppressed"];
    EXPECT_EQ(opened + closed + suppressed, 2u * kSessions) << "every entry is written or counted";
    auto windows = static_cast<uint64_t>(took / kAuditInterval) + 1;
    EXPECT_LE(opened + closed, kSessionBurst * windows) << teed_->log();
    EXPECT_EQ(audit_lines({"TEED_EVENT=session-denied", member_uid_field()}).size(), 1u)
        << "the session flood does not silence the uid's denials";
    EXPECT_EQ(client->quit(), 0);
}

}  // namespace
}  // namespace teed::test
