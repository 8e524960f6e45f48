// teectl's policy commands against the real teed: `client-info` shows a client the identity,
// rules, limits and usage teed has for it; `reload-policy` puts edited policy files in force, for
// root and teed's user only. teed runs with the harness's policy directories: the shipped one
// (rule tee-group-sessions, which matches the test member through group "tee") and the runner's
// (rule test-runner, which matches root).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>


#include "tests/integration/harness.h"
#include "tests/integration/teectl_json.h"

namespace teed::test {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class TeectlPolicy : public testing::Test {
protected:
    void SetUp() override {
        TEED_REQUIRE_TEST_USERS();
        bus_ = std::make_unique<TestBus>();
        teed_ = std::make_unique<TeedDaemon>(*bus_);
    }
    void TearDown() override {
        if (teed_) {
            EXPECT_TRUE(teed_->running()) << "teed exited:\n" << teed_->log();
        }
    }

    ProcessResult as_member(const std::vector<std::string>& args) {
        return teectl(*bus_, member(), args);
    }
    ProcessResult as_root(const std::vector<std::string>& args) {
        return teectl(*bus_, std::nullopt, args);
    }

    std::unique_ptr<TestBus> bus_;
    std::unique_ptr<TeedDaemon> teed_;
};

TEST_F(TeectlPolicy, ShowsAMemberItsIdentityAndTheShippedRule) {
    Identity user = member();
    auto r = as_member({"client-info"});
    ASSERT_EQ(r.exit_code(), 0) << r.describe();
    EXPECT_THAT(r.out, StartsWith("uid: " + std::to_string(user.uid) + "\n"));
    EXPECT_THAT(r.out, HasSubstr("\ngid: " + std::to_string(user.gid) + "\n"));
    auto tee = find_group(kClientGroup);
    ASSERT_TRUE(tee.has_value());
    EXPECT_THAT(r.out, HasSubstr(" " + std::to_string(*tee)));
    EXPECT_THAT(r.out, HasSubstr("\nrules: tee-group-sessions\n"));
    EXPECT_THAT(r.out, HasSubstr("\nlimits:\n"));
    EXPECT_THAT(r.out, HasSubstr("\n  max_sessions_per_client: "));
    EXPECT_THAT(r.out, HasSubstr("\nusage:\n"));
    EXPECT_THAT(r.out, HasSubstr("\n  sessions: 0\n"));
    EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST_F(TeectlPolicy, PrintsClientInfoAsOneJsonObject) {
    Identity user = member();
    auto r = as_member({"--json", "client-info"});
    ASSERT_EQ(r.exit_code(), 0) << r.describe();
    auto json = parse_json(r.out);
    ASSERT_TRUE(json.isObject()) << r.out;
    EXPECT_EQ(json["uid"].asUInt(), user.uid);
    EXPECT_EQ(json["gid"].asUInt(), user.gid);
    EXPECT_TRUE(json["groups"].isArray());
    EXPECT_GT(json["pid"].asUInt(), 0u);
    EXPECT_THAT(json["executable"].asString(), HasSubstr("teectl"));
    ASSERT_TRUE(json["rules"].isArray());
    ASSERT_EQ(json["rules"].size(), 1u) << r.out;
    EXPECT_EQ(json["rules"][0].asString(), "tee-group-sessions");
    EXPECT_TRUE(json["limits"].isMember("max_sessions_per_client")) << r.out;
    EXPECT_EQ(json["usage"]["sessions"].asUInt64(), 0u) << r.out;
}

TEST_F(TeectlPolicy, ShowsRootTheRunnersRule) {
    auto r = as_root({"client-info"});
    ASSERT_EQ(r.exit_code(), 0) << r.describe();
    EXPECT_THAT(r.out, StartsWith("uid: 0\n"));
    EXPECT_THAT(r.out, HasSubstr("\nrules: test-runner\n"));
}

TEST_F(TeectlPolicy, ReloadsThePolicyForRoot) {
    auto r = as_root({"reload-policy"});
    ASSERT_EQ(r.exit_code(), 0) << r.describe();
    EXPECT_EQ(r.out, "policy reloaded: 2 file(s), 2 rule(s)\n");

    auto json = as_root({"--json", "reload-policy"});
    ASSERT_EQ(json.exit_code(), 0) << json.describe();
    auto value = parse_json(json.out);
    EXPECT_EQ(value["files"].asUInt(), 2u);
    EXPECT_EQ(value["rules"].asUInt(), 2u);
    EXPECT_TRUE(value["warnings"].isArray());
}

TEST_F(TeectlPolicy, RefusesAReloadByAMember) {
    auto r = as_member({"reload-policy"});
    EXPECT_EQ(r.exit_code(), 3) << r.describe();
    EXPECT_THAT(r.err, HasSubstr("teectl: org.teed.Teed1.Error.AccessDenied: "));
    EXPECT_TRUE(r.out.empty()) << r.out;

    auto json = as_member({"--json", "reload-policy"});
    EXPECT_EQ(json.exit_code(), 3) << json.describe();
    EXPECT_EQ(parse_json(json.out)["error"].asString(), "org.teed.Teed1.Error.AccessDenied");
}

TEST_F(TeectlPolicy, PutsANewRuleInForceOnReload) {
    Identity user = member();
    write_policy_file(teed_->runner_policy_dir(), "60-member-limits.json",
                      R"({"version": 1, "rules": [{"name": "member-limits", "match": {"users": [)" +
                          std::to_string(user.uid) +
                          R"(]}, "limits": {"max_sessions_per_client": 3}}]})");
    auto before = as_member({"client-info"});
    ASSERT_EQ(before.exit_code(), 0) << before.describe();
    EXPECT_THAT(before.out, HasSubstr("\nrules: tee-group-sessions\n")) << "read before the reload";

    auto reload = as_root({"reload-policy"});
    ASSERT_EQ(reload.exit_code(), 0) << reload.describe();
    EXPECT_EQ(reload.out, "policy reloaded: 3 file(s), 3 rule(s)\n");

    auto after = as_member({"client-info"});
    ASSERT_EQ(after.exit_code(), 0) << after.describe();
    EXPECT_THAT(after.out, HasSubstr("\nrules: tee-group-sessions member-limits\n"));
    EXPECT_THAT(after.out, HasSubstr("\n  max_sessions_per_client: 3\n"));
}

TEST_F(TeectlPolicy, KeepsThePreviousPolicyWhenAFileIsInvalid) {
    write_policy_file(teed_->runner_policy_dir(), "70-broken.json",
                      "{\"version\": 1,\n\"rules\": [,]}");
    auto r = as_root({"reload-policy"});
    EXPECT_EQ(r.exit_code(), 3) << r.describe();
    EXPECT_THAT(r.err, HasSubstr("org.teed.Teed1.Error.InvalidArgument"));
    EXPECT_THAT(r.err, HasSubstr("70-broken.json:2: "));

    auto info = as_member({"client-info"});
    ASSERT_EQ(info.exit_code(), 0) << info.describe();
    EXPECT_THAT(info.out, HasSubstr("\nrules: tee-group-sessions\n"));
}

}  // namespace
}  // namespace teed::test
