// Policy decisions: who matches, which rule wins, and the limits a client gets.
#include "daemon/policy.h"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "backends/kernel/gp.h"
#include "tests/unit/daemon/policy_test_support.h"

namespace teed {
namespace {

using test::kAlice;
using test::kBob;
using test::kStaff;
using test::kTee;
using test::policy_from;

constexpr const char* kTaX = "8aaaf200-2450-11e4-abe2-0002a5d5c51b";
constexpr const char* kTaY = "4839ae89-dd05-41d8-bd50-0e6109a44689";

Uuid uuid(const char* text) { return Uuid::parse(text).value(); }

SessionRequest request(const char* ta = kTaX, uint32_t login = gp::kLoginPublic,
                       const char* device = "tee0") {
    return SessionRequest{.device = device, .ta = uuid(ta), .login = login};
}

const PolicyClient kAliceInTee{.uid = kAlice, .gid = kAlice, .groups = {kTee}};
const PolicyClient kBobInTee{.uid = kBob, .gid = kBob, .groups = {kTee}};
const PolicyClient kCarolOutside{.uid = 1002, .gid = 1002, .groups = {kStaff}};

std::string rules(const std::string& body) { return R"({"version": 1, "rules": [)" + body + "]}"; }

PolicyDecision decide(const Policy& policy, const PolicyClient& client,
                      const SessionRequest& r = request()) {
    return policy.decide_session(client, r, Limits{});
}

TEST(APolicy, DeniesEverythingWhenNoRuleApplies) {
    Policy empty;
    auto d = decide(empty, kAliceInTee);
    EXPECT_EQ(d.effect, PolicyEffect::Deny);
    EXPECT_EQ(d.rule, "default");
    EXPECT_EQ(d.source, "");
}

TEST(APolicy, AllowsWhatARuleAllowsAndNamesTheRuleAndItsSource) {
    auto policy = policy_from(rules(R"(
        {"name": "tee", "match": {"groups": ["tee"]}, "allow": {"sessions": {}}})"),
                              "/etc/teed/policy.d/10-x.json");
    auto d = decide(policy, kAliceInTee);
    EXPECT_EQ(d.effect, PolicyEffect::Allow);
    EXPECT_EQ(d.rule, "tee");
    EXPECT_EQ(d.source, "/etc/teed/policy.d/10-x.json:2");
    EXPECT_EQ(decide(policy, kCarolOutside).rule, "default");
    EXPECT_EQ(decide(policy, kCarolOutside).effect, PolicyEffect::Deny);
}

TEST(APolicy, MatchesThePrimaryGroupAsWellAsSupplementaryOnes) {
    auto policy = policy_from(rules(R"({"name": "tee", "match": {"groups": ["tee"]},
                                        "allow": {"sessions": {}}})"));
    PolicyClient primary{.uid = 1005, .gid = kTee, .groups = {}};
    EXPECT_EQ(decide(policy, primary).effect, PolicyEffect::Allow);
}

TEST(APolicy, LetsAUserRuleBeatAGroupRule) {
    auto policy = policy_from(rules(R"(
        {"name": "tee", "match": {"groups": ["tee"]}, "allow": {"sessions": {}}},
        {"name": "not-bob", "match": {"users": ["bob"]}, "deny": {"sessions": {}}})"));
    EXPECT_EQ(decide(policy, kAliceInTee).effect, PolicyEffect::Allow);
    auto bob = decide(policy, kBobInTee);
    EXPECT_EQ(bob.effect, PolicyEffect::Deny);
    EXPECT_EQ(bob.rule, "not-bob");
}

TEST(APolicy, LetsAUnitRuleBeatAUserRule) {
    auto policy = policy_from(rules(R"(
        {"name": "alice-no", "match": {"users": ["alice"]}, "deny": {"sessions": {}}},
        {"name": "alice-service", "match": {"units": ["wallet.service"]}, "allow": {"sessions": {}}})"));
    PolicyClient in_unit = kAliceInTee;
    in_unit.unit = "wallet.service";
    EXPECT_EQ(decide(policy, in_unit).rule, "alice-service");
    EXPECT_EQ(decide(policy, in_unit).effect, PolicyEffect::Allow);
    EXPECT_EQ(decide(policy, kAliceInTee).rule, "alice-no");
}

TEST(APolicy, LetsAGroupRuleBeatARuleForEveryone) {
    auto policy = policy_from(rules(R"(
        {"name": "nobody", "deny": {"sessions": {}}},
        {"name": "tee", "match": {"groups": ["tee"]}, "allow": {"sessions": {}}})"));
    EXPECT_EQ(decide(policy, kAliceInTee).effect, PolicyEffect::Allow);
    EXPECT_EQ(decide(policy, kCarolOutside).rule, "nobody");
}

TEST(APolicy, RanksAMatchOnSeveralKindsAboveAMatchOnTheMostSpecificOneAlone) {
    // users + groups (3) beats users alone (2); units alone (4) beats users + groups (3).
    auto policy = policy_from(rules(R"(
        {"name": "alice", "match": {"users": ["alice"]}, "deny": {"sessions": {}}},
        {"name": "alice-in-tee", "match": {"users": ["alice"], "groups": ["tee"]},
         "allow": {"sessions": {}}},
        {"name": "unit", "match": {"units": ["x.service"]}, "deny": {"sessions": {}}})"));
    EXPECT_EQ(decide(policy, kAliceInTee).rule, "alice-in-tee");
    PolicyClient in_unit = kAliceInTee;
    in_unit.unit = "x.service";
    EXPECT_EQ(decide(policy, in_unit).rule, "unit");
}

TEST(APolicy, RequiresEveryKindInAMatchToMatch) {
    auto policy = policy_from(rules(R"(
        {"name": "alice-service", "match": {"users": ["alice"], "units": ["wallet.service"]},
         "allow": {"sessions": {}}})"));
    PolicyClient alice_in_unit = kAliceInTee;
    alice_in_unit.unit = "wallet.service";
    PolicyClient bob_in_unit = kBobInTee;
    bob_in_unit.unit = "wallet.service";
    EXPECT_EQ(decide(policy, alice_in_unit).effect, PolicyEffect::Allow);
    EXPECT_EQ(decide(policy, bob_in_unit).effect, PolicyEffect::Deny);
    EXPECT_EQ(decide(policy, kAliceInTee).effect, PolicyEffect::Deny);  // no unit
}

TEST(APolicy, LetsAnExactTaBeatTheWildcardForTheSameClients) {
    auto deny_one = policy_from(rules(R"(
        {"name": "all", "match": {"groups": ["tee"]}, "allow": {"sessions": {"tas": ["*"]}}},
        {"name": "not-x", "match": {"groups": ["tee"]},
         "deny": {"sessions": {"tas": ["8AAAF200-2450-11E4-ABE2-0002A5D5C51B"]}}})"));
    EXPECT_EQ(decide(deny_one, kAliceInTee, request(kTaX)).rule, "not-x");
    EXPECT_EQ(decide(deny_one, kAliceInTee, request(kTaY)).effect, PolicyEffect::Allow);

    auto allow_one = policy_from(rules(R"(
        {"name": "none", "match": {"groups": ["tee"]}, "deny": {"sessions": {"tas": ["*"]}}},
        {"name": "only-x", "match": {"groups": ["tee"]},
         "allow": {"sessions": {"tas": ["8aaaf200-2450-11e4-abe2-0002a5d5c51b"]}}})"));
    EXPECT_EQ(decide(allow_one, kAliceInTee, request(kTaX)).effect, PolicyEffect::Allow);
    EXPECT_EQ(decide(allow_one, kAliceInTee, request(kTaY)).rule, "none");
}

TEST(APolicy, RanksWhoARuleNamesAboveWhatItNames) {
    // Alice's own rule wins over a rule for everyone, however precisely that one names the TA.
    auto policy = policy_from(rules(R"(
        {"name": "nobody-x", "deny": {"sessions": {"tas": ["8aaaf200-2450-11e4-abe2-0002a5d5c51b"]}}},
        {"name": "alice", "match": {"users": ["alice"]}, "allow": {"sessions": {}}})"));
    EXPECT_EQ(decide(policy, kAliceInTee, request(kTaX)).rule, "alice");
    EXPECT_EQ(decide(policy, kBobInTee, request(kTaX)).rule, "nobody-x");
}

TEST(APolicy, LetsAnExactDeviceAndLoginBeatTheWildcard) {
    auto policy = policy_from(rules(R"(
        {"name": "all", "match": {"groups": ["tee"]}, "allow": {"sessions": {}}},
        {"name": "not-tee1", "match": {"groups": ["tee"]}, "deny": {"sessions": {"devices": ["tee1"]}}},
        {"name": "no-user-login", "match": {"groups": ["tee"]}, "deny": {"sessions": {"logins": ["user"]}}})"));
    EXPECT_EQ(decide(policy, kAliceInTee, request(kTaX, gp::kLoginPublic, "tee0")).rule, "all");
    EXPECT_EQ(decide(policy, kAliceInTee, request(kTaX, gp::kLoginPublic, "tee1")).rule, "not-tee1");
    EXPECT_EQ(decide(policy, kAliceInTee, request(kTaX, gp::kLoginUser, "tee0")).rule, "no-user-login");
}

TEST(APolicy, LetsDenyWinATieWhicheverComesFirst) {
    const char* allow = R"({"name": "yes", "match": {"groups": ["tee"]}, "allow": {"sessions": {}}})";
    const char* deny = R"({"name": "no", "match": {"groups": ["staff"]}, "deny": {"sessions": {}}})";
    PolicyClient both{.uid = kAlice, .gid = kAlice, .groups = {kTee, kStaff}};
    for (const auto& body : {std::string(allow) + "," + deny, std::string(deny) + "," + allow}) {
        auto d = decide(policy_from(rules(body)), both);
        EXPECT_EQ(d.effect, PolicyEffect::Deny) << body;
        EXPECT_EQ(d.rule, "no") << body;
    }
    // The same rule allowing and denying the same scope denies.
    auto same = policy_from(rules(R"({"name": "both", "allow": {"sessions": {}}, "deny": {"sessions": {}}})"));
    EXPECT_EQ(decide(same, kAliceInTee).effect, PolicyEffect::Deny);
}

TEST(APolicy, AllowsOnlyTheLoginMethodsItNames) {
    auto policy = policy_from(rules(R"(
        {"name": "public-only", "allow": {"sessions": {"logins": ["public"]}}})"));
    EXPECT_EQ(decide(policy, kAliceInTee, request(kTaX, gp::kLoginPublic)).effect, PolicyEffect::Allow);
    for (uint32_t login : {gp::kLoginUser, gp::kLoginGroup, gp::kLoginApplication, 0xF0000000u})
        EXPECT_EQ(decide(policy, kAliceInTee, request(kTaX, login)).effect, PolicyEffect::Deny) << login;
}

TEST(APolicy, NeverMatchesAUnitRuleForAClientWithoutAUnit) {
    auto policy = policy_from(rules(R"({"name": "u", "match": {"units": ["a.service"]},
                                        "allow": {"sessions": {}}})"));
    EXPECT_EQ(decide(policy, kAliceInTee).effect, PolicyEffect::Deny);
    PolicyClient other = kAliceInTee;
    other.unit = "b.service";
    EXPECT_EQ(decide(policy, other).effect, PolicyEffect::Deny);
}

TEST(APolicy, LetsAnExecutableRuleBeatAUnitRuleAndNeverMatchesAnUnknownExecutable) {
    auto policy = policy_from(rules(R"(
        {"name": "wallet-unit", "match": {"units": ["wallet.service"]}, "deny": {"sessions": {}}},
        {"name": "wallet-app", "match": {"executables": ["/usr/bin/wallet"]},
         "allow": {"sessions": {"logins": ["application"]}}})"));
    PolicyClient wallet = kAliceInTee;
    wallet.unit = "wallet.service";
    wallet.executable = "/usr/bin/wallet";
    auto d = decide(policy, wallet, request(kTaX, gp::kLoginApplication));
    EXPECT_EQ(d.effect, PolicyEffect::Allow);
    EXPECT_EQ(d.rule, "wallet-app");
    EXPECT_EQ(decide(policy, wallet, request(kTaX, gp::kLoginPublic)).rule, "wallet-unit");
    wallet.executable = "";  // non-dumpable: teed could not read it
    EXPECT_EQ(decide(policy, wallet, request(kTaX, gp::kLoginApplication)).rule, "wallet-unit");
    wallet.executable = "/usr/bin/wallet2";
    EXPECT_EQ(decide(policy, wallet, request(kTaX, gp::kLoginApplication)).effect, PolicyEffect::Deny);
}

TEST(APolicy, NeverMatchesAnUnknownUserOrGroupEvenWhenThatLeavesTheListEmpty) {
    PolicyFileResult r = parse_policy_text(rules(R"(
        {"name": "ghosts", "match": {"users": ["ghost"]}, "allow": {"sessions": {}}},
        {"name": "ghost-group", "match": {"groups": ["phantoms"]}, "allow": {"sessions": {}}},
        {"name": "ghost-or-bob", "match": {"users": ["ghost", "bob"]}, "allow": {"sessions": {}}})"),
                                           "g.json", test::fake_resolver());
    ASSERT_TRUE(r.errors.empty());
    ASSERT_EQ(r.warnings.size(), 3u);
    Policy policy(std::move(r.rules));
    PolicyClient nobody{.uid = static_cast<uid_t>(-1), .gid = static_cast<gid_t>(-1)};
    for (const auto& client : {kAliceInTee, kCarolOutside, nobody})
        EXPECT_EQ(decide(policy, client).rule, "default") << client.uid;
    EXPECT_EQ(decide(policy, kBobInTee).rule, "ghost-or-bob");
}

TEST(APolicy, GivesTheConfiguredLimitsWhenNoRuleSetsOne) {
    Limits configured;
    configured.max_sessions_per_client = 3;
    auto policy = policy_from(rules(R"({"name": "tee", "allow": {"sessions": {}}})"));
    EXPECT_EQ(policy.limits_for(kAliceInTee, configured).max_sessions_per_client, 3u);
    EXPECT_EQ(policy.decide_session(kAliceInTee, request(), configured).limits.max_sessions_per_client, 3u);
}

TEST(APolicy, TakesTheMostSpecificRulesLimitAndTheLowerOneOnATie) {
    auto policy = policy_from(rules(R"(
        {"name": "tee", "match": {"groups": ["tee"]}, "limits": {"max_sessions_per_client": 8,
                                                                  "max_shm_bytes": 4096}},
        {"name": "tee-tight", "match": {"groups": ["tee"]}, "limits": {"max_sessions_per_client": 4}},
        {"name": "alice", "match": {"users": ["alice"]}, "limits": {"max_sessions_per_client": 100}},
        {"name": "everyone", "limits": {"max_channels_per_session": 1}})"));
    Limits alice = policy.limits_for(kAliceInTee, Limits{});
    EXPECT_EQ(alice.max_sessions_per_client, 100u);  // her own rule, though higher
    EXPECT_EQ(alice.max_shm_bytes, 4096u);           // the group's, for what her rule leaves out
    EXPECT_EQ(alice.max_channels_per_session, 1u);
    Limits bob = policy.limits_for(kBobInTee, Limits{});
    EXPECT_EQ(bob.max_sessions_per_client, 4u);  // two group rules: the lower
    Limits carol = policy.limits_for(kCarolOutside, Limits{});
    EXPECT_EQ(carol.max_sessions_per_client, defaults::kMaxSessionsPerClient);
    EXPECT_EQ(carol.max_channels_per_session, 1u);
}

TEST(APolicy, KeepsTheLowestGlobalLimitOfItsFilesAndAppliesItToEveryClient) {
    GlobalLimitOverrides a{.max_clients = 50, .max_shm_bytes_total = 1000};
    a.merge({.max_clients = 70, .max_sessions_total = 5});
    Policy policy({}, a);
    Limits configured;
    Limits limits = policy.limits_for(PolicyClient{.uid = 1000}, configured);
    EXPECT_EQ(limits.max_clients, 50u);
    EXPECT_EQ(limits.max_sessions_total, 5u);
    EXPECT_EQ(limits.max_shm_bytes_total, 1000u);
    EXPECT_EQ(limits.max_concurrent_calls_total, configured.max_concurrent_calls_total);
}

TEST(APolicy, EnablesApplicationLoginsOnlyWhenARuleNamesOneInAnAllow) {
    PolicyRule any{.name = "any", .allow_sessions = SessionScope{}};
    EXPECT_FALSE(Policy({any}).enables_application_logins()) << "\"*\" does not count";
    PolicyRule denied{.name = "no-apps",
                      .deny_sessions = SessionScope{.logins = std::vector<uint32_t>{gp::kLoginApplication}}};
    EXPECT_FALSE(Policy({any, denied}).enables_application_logins());
    PolicyRule apps{.name = "apps",
                    .allow_sessions = SessionScope{.logins = std::vector<uint32_t>{gp::kLoginUserApplication}}};
    EXPECT_TRUE(Policy({any, apps}).enables_application_logins());
}

TEST(ALoginName, RoundTripsEveryGlobalPlatformMethod) {
    for (uint32_t login : {gp::kLoginPublic, gp::kLoginUser, gp::kLoginGroup, gp::kLoginApplication,
                           gp::kLoginUserApplication, gp::kLoginGroupApplication}) {
        auto name = login_policy_name(login);
        ASSERT_FALSE(name.empty()) << login;
        EXPECT_EQ(login_from_policy_name(name), login);
    }
    EXPECT_EQ(login_policy_name(3), "");
    EXPECT_EQ(login_from_policy_name("PUBLIC"), std::nullopt);
}

// The file installed as ${datadir}/teed/policy.d/50-default.json.
class TheShippedPolicy : public testing::Test {
protected:
    void SetUp() override {
        std::ifstream in(std::string(TEED_SOURCE_DIR) + "/systemd/policy.d/50-default.json");
        ASSERT_TRUE(in) << "cannot read the shipped policy";
        std::stringstream text;
        text << in.rdbuf();
        auto r = parse_policy_text(text.str(), "50-default.json", test::fake_resolver());
        ASSERT_TRUE(r.errors.empty()) << r.errors.front().to_string();
        EXPECT_TRUE(r.warnings.empty());
        policy_ = Policy(std::move(r.rules));
    }
    Policy policy_;
};

TEST_F(TheShippedPolicy, LetsGroupTeeOpenPublicUserAndGroupSessionsOnAnyDeviceAndTa) {
    for (uint32_t login : {gp::kLoginPublic, gp::kLoginUser, gp::kLoginGroup})
        for (const char* device : {"tee0", "simtee3"})
            for (const char* ta : {kTaX, kTaY})
                EXPECT_EQ(decide(policy_, kAliceInTee, request(ta, login, device)).effect,
                          PolicyEffect::Allow)
                    << login << " " << device << " " << ta;
}

TEST_F(TheShippedPolicy, DeniesOtherLoginsAndEveryoneOutsideGroupTee) {
    EXPECT_EQ(decide(policy_, kAliceInTee, request(kTaX, gp::kLoginApplication)).effect,
              PolicyEffect::Deny);
    PolicyClient root{.uid = 0, .gid = 0, .groups = {0}};
    for (const auto& client : {kCarolOutside, root}) {
        auto d = decide(policy_, client);
        EXPECT_EQ(d.effect, PolicyEffect::Deny);
        EXPECT_EQ(d.rule, "default");
    }
}

TEST_F(TheShippedPolicy, LeavesEveryClientTheLimitsOfLimitsH) {
    for (const auto& client : {kAliceInTee, kCarolOutside}) {
        Limits l = decide(policy_, client).limits;
        EXPECT_EQ(l.max_memref_bytes, defaults::kMaxMemrefBytes);
        EXPECT_EQ(l.max_call_memref_bytes, defaults::kMaxCallMemrefBytes);
        EXPECT_EQ(l.max_sessions_per_client, defaults::kMaxSessionsPerClient);
        EXPECT_EQ(l.max_concurrent_calls_per_client, defaults::kMaxConcurrentCallsPerClient);
        EXPECT_EQ(l.max_shm_bytes, defaults::kMaxSharedMemoryBytes);
        EXPECT_EQ(l.max_shm_per_client, defaults::kMaxSharedMemoryPerClient);
        EXPECT_EQ(l.max_channels_per_session, defaults::kMaxChannelsPerSession);
    }
}

}  // namespace
}  // namespace teed
