// Policy files as text: every kind of bad input is an error naming the file, the line and why.
#include "daemon/policy_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backends/kernel/gp.h"
#include "tests/unit/daemon/policy_test_support.h"

namespace teed {
namespace {

using ::testing::HasSubstr;

PolicyFileResult parse(const std::string& text) {
    return parse_policy_text(text, "/etc/teed/policy.d/10-test.json", test::fake_resolver());
}

struct BadFile {
    const char* why;
    std::string text;
    int line;            // where the error must point
    const char* reason;  // a part of the reason
};

std::string with_rule(const std::string& rule) {
    return "{\n\"version\": 1,\n\"rules\": [\n" + rule + "\n]\n}";  // the rule starts on line 4
}

const BadFile kBadFiles[] = {
    {"broken JSON", "{\n\"version\": 1,\n\"rules\": [\n{\"name\": \"x\" \"allow\": {}}\n]}", 4,
     "not valid JSON"},
    {"a trailing comma", "{\n\"version\": 1,\n\"rules\": [],\n}", 4, "not valid JSON"},
    {"a duplicate key", "{\"version\": 1,\n\"version\": 1, \"rules\": []}", 2, "not valid JSON"},
    {"an unfinished file", "{\"version\": 1,\n\"rules\": [", 2, "not valid JSON"},
    {"an empty file", "", 1, "not valid JSON"},
    {"a list at the top", "[1]", 1, "the top level must be an object"},
    {"no version", "{\n\"rules\": []}", 1, "missing 'version'"},
    {"a version as a string", "{\n\"version\": \"1\", \"rules\": []}", 2, "'version' must be 1"},
    {"a future version", "{\n\"version\": 2, \"rules\": []}", 2, "version 2 is newer"},
    {"no rules", "{\"version\": 1}", 1, "'rules' must be a list"},
    {"rules as an object", "{\"version\": 1,\n\"rules\": {}}", 2, "'rules' must be a list"},
    {"an unknown top-level key", "{\"version\": 1, \"rules\": [],\n\"rule\": []}", 2,
     "unknown key 'rule'"},
    {"a rule that is a string", with_rule("\"allow everything\""), 4, "rules[0] must be an object"},
    {"a rule without a name", with_rule(R"({"allow": {"sessions": {}}})"), 4, "rules[0].name"},
    {"a name with spaces", with_rule(R"({"name": "a b", "allow": {}})"), 4, "rules[0].name"},
    {"a name that is a number", with_rule(R"({"name": 7, "allow": {}})"), 4, "rules[0].name"},
    {"an unknown rule key", with_rule("{\"name\": \"x\", \"allow\": {},\n\"permit\": {}}"), 5,
     "unknown key 'permit' in rules[0]"},
    {"a rule that does nothing", with_rule(R"({"name": "x", "match": {"users": ["alice"]}})"), 4,
     "so it would do nothing"},
    {"match as a list", with_rule(R"({"name": "x", "match": ["alice"], "allow": {}})"), 4,
     "rule 'x': match must be an object"},
    {"an unknown match key", with_rule("{\"name\": \"x\", \"allow\": {}, \"match\": {\n\"user\": [\"alice\"]}}"),
     5, "unknown key 'user' in rule 'x': match"},
    {"users as a string", with_rule(R"({"name": "x", "allow": {}, "match": {"users": "alice"}})"), 4,
     "rule 'x': match.users must be a list"},
    {"an empty users list", with_rule(R"({"name": "x", "allow": {}, "match": {"users": []}})"), 4,
     "must name at least one"},
    {"a negative uid", with_rule(R"({"name": "x", "allow": {}, "match": {"users": [-1]}})"), 4,
     "match.users[0] must be a user name or a uid"},
    {"a group that is true", with_rule(R"({"name": "x", "allow": {}, "match": {"groups": [true]}})"), 4,
     "match.groups[0] must be a group name or a gid"},
    {"a unit without a type", with_rule(R"({"name": "x", "allow": {}, "match": {"units": ["wallet"]}})"), 4,
     "systemd unit name"},
    {"a relative executable", with_rule(R"({"name": "x", "allow": {}, "match": {"executables": ["wallet"]}})"), 4,
     "match.executables[0] must be an absolute path"},
    {"an executable with ..", with_rule(R"({"name": "x", "allow": {}, "match": {"executables": ["/usr/../bin/x"]}})"), 4,
     "match.executables[0] must be an absolute path"},
    {"allow as a list", with_rule(R"({"name": "x", "allow": ["sessions"]})"), 4,
     "rule 'x': allow must be an object"},
    {"an unknown permission", with_rule("{\"name\": \"x\", \"deny\": {\n\"vm\": {}}}"), 5,
     "unknown key 'vm' in rule 'x': deny"},
    {"an unknown session key", with_rule("{\"name\": \"x\", \"allow\": {\"sessions\": {\n\"ta\": [\"*\"]}}}"),
     5, "unknown key 'ta'"},
    {"a TA that is not a UUID", with_rule("{\"name\": \"x\", \"allow\": {\"sessions\": {\"tas\": [\n\"8aaaf200-2450-11e4-abe2-0002a5d5c51b\",\n\"8aaaf200\"]}}}"),
     6, "'8aaaf200' is not a TA UUID"},
    {"a star with names", with_rule("{\"name\": \"x\", \"allow\": {\"sessions\": {\"tas\": [\"*\",\n\"8aaaf200-2450-11e4-abe2-0002a5d5c51b\"]}}}"),
     4, "'*' already means all TAs"},
    {"an unknown login", with_rule(R"({"name": "x", "allow": {"sessions": {"logins": ["root"]}}})"), 4,
     "'root' is not one of public, user, group"},
    {"a login in capitals", with_rule(R"({"name": "x", "allow": {"sessions": {"logins": ["PUBLIC"]}}})"), 4,
     "'PUBLIC' is not one of"},
    {"a device path", with_rule(R"({"name": "x", "allow": {"sessions": {"devices": ["/dev/tee0"]}}})"), 4,
     "'/dev/tee0' is not a device name"},
    {"an empty device list", with_rule(R"({"name": "x", "allow": {"sessions": {"devices": []}}})"), 4,
     "must name at least one of devices"},
    {"a limit as a string", with_rule("{\"name\": \"x\", \"limits\": {\n\"max_sessions_per_client\": \"4\"}}"),
     5, "max_sessions_per_client must be a non-negative integer"},
    {"a negative limit", with_rule(R"({"name": "x", "limits": {"max_shm_bytes": -1}})"), 4,
     "max_shm_bytes must be a non-negative integer"},
    {"a limit too large", with_rule(R"({"name": "x", "limits": {"max_shm_per_client": 4294967296}})"), 4,
     "at most 4294967295"},
    {"a global limit in a rule", with_rule(R"({"name": "x", "limits": {"max_clients": 4}})"), 4,
     "set it in the file's top-level \"limits\" or in teed.conf"},
    {"a per-client limit at the top level",
     "{\"version\": 1, \"rules\": [],\n\"limits\": {\"max_sessions_per_client\": 4}}", 2,
     "unknown key 'max_sessions_per_client' in the top-level 'limits'"},
    {"a global limit as a string", "{\"version\": 1, \"rules\": [],\n\"limits\": {\"max_clients\": \"4\"}}",
     2, "limits.max_clients must be a non-negative integer"},
    {"an unknown limit", with_rule("{\"name\": \"x\", \"limits\": {\n\"max_sessions\": 4}}"), 5,
     "unknown key 'max_sessions'"},
    {"two rules of the same name",
     with_rule("{\"name\": \"x\", \"allow\": {}},\n{\"name\": \"x\", \"deny\": {}}"), 5,
     "a second rule named 'x'"},
};

TEST(APolicyFile, IsRejectedWithItsFileLineAndReason) {
    for (const BadFile& bad : kBadFiles) {
        PolicyFileResult r = parse(bad.text);
        ASSERT_FALSE(r.errors.empty()) << bad.why;
        const PolicyProblem& e = r.errors.front();
        EXPECT_EQ(e.file, "/etc/teed/policy.d/10-test.json") << bad.why;
        EXPECT_EQ(e.line, bad.line) << bad.why << ": " << e.to_string();
        EXPECT_THAT(e.reason, HasSubstr(bad.reason)) << bad.why;
        EXPECT_EQ(e.to_string(), e.file + ":" + std::to_string(bad.line) + ": " + e.reason);
        EXPECT_TRUE(r.rules.empty()) << bad.why << ": a file with errors gives no rules";
    }
}

TEST(APolicyFile, ReportsEveryErrorNotOnlyTheFirst) {
    auto r = parse(with_rule("{\"name\": \"x\", \"allow\": {\"sessions\": {\"logins\": [\"root\"]}},\n"
                             "\"limits\": {\"max_clients\": 1}},\n{\"name\": \"y\"}"));
    ASSERT_EQ(r.errors.size(), 3u);
    // Keys are checked before values, yet the report reads from top to bottom.
    EXPECT_EQ(r.errors[0].line, 4);
    EXPECT_EQ(r.errors[1].line, 5);
    EXPECT_EQ(r.errors[2].line, 6);
}

TEST(APolicyFile, KeepsTheGoodRulesOfAFileWithoutErrors) {
    auto r = parse(R"({
        // comments are allowed
        "version": 1,
        "rules": [
            {"name": "a", "match": {"users": ["alice", 1001], "groups": ["tee", 7]},
             "allow": {"sessions": {"devices": ["tee0", "simtee1"],
                                    "tas": ["8AAAF200-2450-11E4-ABE2-0002A5D5C51B"],
                                    "logins": ["public", "group_application"]}}},
            {"name": "b", "match": {"units": ["wallet.service", "getty@tty1.service"]},
             "deny": {"sessions": {"tas": ["*"]}}, "limits": {"max_sessions_per_client": 0}}
        ]
    })");
    ASSERT_TRUE(r.errors.empty()) << r.errors.front().to_string();
    ASSERT_EQ(r.rules.size(), 2u);
    const PolicyRule& a = r.rules[0];
    EXPECT_EQ(a.name, "a");
    EXPECT_EQ(a.source, "/etc/teed/policy.d/10-test.json:5");
    EXPECT_EQ(*a.match.uids, (std::vector<uid_t>{test::kAlice, 1001}));
    EXPECT_EQ(*a.match.gids, (std::vector<gid_t>{test::kTee, 7}));
    EXPECT_FALSE(a.match.units);
    ASSERT_TRUE(a.allow_sessions);
    EXPECT_EQ(*a.allow_sessions->devices, (std::vector<std::string>{"tee0", "simtee1"}));
    EXPECT_EQ(a.allow_sessions->tas->front().to_string(), "8aaaf200-2450-11e4-abe2-0002a5d5c51b");
    EXPECT_EQ(*a.allow_sessions->logins,
              (std::vector<uint32_t>{gp::kLoginPublic, gp::kLoginGroupApplication}));
    EXPECT_FALSE(a.deny_sessions);
    const PolicyRule& b = r.rules[1];
    EXPECT_EQ(b.match.units->size(), 2u);
    ASSERT_TRUE(b.deny_sessions);
    EXPECT_FALSE(b.deny_sessions->tas) << "'*' is any";
    EXPECT_EQ(b.limits.max_sessions_per_client, 0u);
}

TEST(APolicyFile, ReadsLimitsOnAllClientsFromItsTopLevel) {
    auto r = parse(R"({"version": 1, "rules": [],
        "limits": {"max_clients": 10, "max_sessions_total": 20, "max_concurrent_calls_total": 30,
                   "max_shm_bytes_total": 40}})");
    ASSERT_TRUE(r.errors.empty()) << r.errors.front().to_string();
    EXPECT_EQ(r.global_limits.max_clients, 10u);
    EXPECT_EQ(r.global_limits.max_sessions_total, 20u);
    EXPECT_EQ(r.global_limits.max_concurrent_calls_total, 30u);
    EXPECT_EQ(r.global_limits.max_shm_bytes_total, 40u);
}

TEST(APolicyFile, AcceptsAnEmptyRuleList) {
    auto r = parse(R"({"version": 1, "rules": []})");
    EXPECT_TRUE(r.errors.empty());
    EXPECT_TRUE(r.rules.empty());
}

TEST(APolicyFile, WarnsAboutUnknownUsersAndGroupsWithTheirLine) {
    auto r = parse(with_rule("{\"name\": \"x\", \"allow\": {}, \"match\": {\n"
                             "\"users\": [\"alice\", \"ghost\"],\n\"groups\": [\"phantoms\"]}}"));
    ASSERT_TRUE(r.errors.empty()) << r.errors.front().to_string();
    ASSERT_EQ(r.warnings.size(), 2u);
    EXPECT_EQ(r.warnings[0].line, 5);
    EXPECT_THAT(r.warnings[0].reason, HasSubstr("unknown user 'ghost'"));
    EXPECT_THAT(r.warnings[0].reason, HasSubstr("never matches"));
    EXPECT_EQ(r.warnings[1].line, 6);
    EXPECT_THAT(r.warnings[1].reason, HasSubstr("unknown group 'phantoms'"));
    ASSERT_EQ(r.rules.size(), 1u);
    EXPECT_EQ(*r.rules[0].match.uids, std::vector<uid_t>{test::kAlice});
    EXPECT_TRUE(r.rules[0].match.gids->empty()) << "present but empty: matches no one";
}

TEST(APolicyProblem, LeavesOutTheLineWhenItConcernsTheWholeFile) {
    EXPECT_EQ((PolicyProblem{"a.json", 0, "too big"}).to_string(), "a.json: too big");
    EXPECT_EQ((PolicyProblem{"a.json", 3, "bad"}).to_string(), "a.json:3: bad");
}

TEST(TheSystemNameResolver, FindsRootAndNotAMadeUpName) {
    NameResolver system = NameResolver::system();
    EXPECT_EQ(system.user("root"), uid_t{0});
    EXPECT_EQ(system.group("root"), gid_t{0});
    EXPECT_EQ(system.user("teed-no-such-user-7f3a"), std::nullopt);
    EXPECT_EQ(system.group("teed-no-such-group-7f3a"), std::nullopt);
}

}  // namespace
}  // namespace teed
