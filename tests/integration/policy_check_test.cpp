// `teed --check-policy`, run as the built binary: the shipped policy passes, bad files fail with
// exit code 1 and one "file:line: reason" line per problem. No bus, no devices.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "tests/integration/harness.h"

namespace teed::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kShippedPolicy = std::string(TEED_SOURCE_DIR) + "/systemd/policy.d/50-default.json";

ProcessResult check_policy(std::vector<std::string> paths) {
    paths.insert(paths.begin(), {TEED_BINARY, "--check-policy"});
    return run(paths);
}

class TeedCheckPolicy : public testing::Test {
protected:
    void SetUp() override { ASSERT_STRNE(TEED_BINARY, "") << "teed was not built"; }
    std::string write(const std::string& name, const std::string& text) {
        std::string path = dir_.path() + "/" + name;
        std::ofstream(path) << text;
        return path;
    }
    TempDir dir_;
};

TEST_F(TeedCheckPolicy, AcceptsTheShippedPolicy) {
    auto r = check_policy({kShippedPolicy});
    EXPECT_EQ(r.exit_code(), 0) << r.describe();
    EXPECT_THAT(r.out, HasSubstr("policy valid: 1 file(s), 1 rule(s)"));
}

TEST_F(TeedCheckPolicy, NamesTheFileAndLineOfEachProblemAndExits1) {
    std::string bad = write("20-bad.json", "{\n  \"version\": 1,\n  \"rules\": [\n"
                                           "    {\"name\": \"x\", \"allow\": {\"sessions\": {\n"
                                           "      \"tas\": [\"not-a-uuid\"]}}},\n"
                                           "    {\"name\": \"y\", \"deny\": {}, \"color\": \"red\"}\n"
                                           "  ]\n}\n");
    auto r = check_policy({bad});
    EXPECT_EQ(r.exit_code(), 1) << r.describe();
    EXPECT_THAT(r.err, HasSubstr(bad + ":5: rule 'x': allow.sessions.tas[0]: 'not-a-uuid' is not a TA UUID"));
    EXPECT_THAT(r.err, HasSubstr(bad + ":6: unknown key 'color' in rules[1]"));
    EXPECT_THAT(r.out, HasSubstr("policy not valid: 2 error(s)"));
}

TEST_F(TeedCheckPolicy, RejectsBrokenJsonWithItsLine) {
    std::string bad = write("30-broken.json", "{\"version\": 1,\n\"rules\": [,]}");
    auto r = check_policy({bad});
    EXPECT_EQ(r.exit_code(), 1) << r.describe();
    EXPECT_THAT(r.err, HasSubstr(bad + ":2: not valid JSON"));
}

TEST_F(TeedCheckPolicy, ChecksADirectoryWithTheDaemonsOverrideByName) {
    TempDir etc;
    write("50-default.json", "this file is replaced, so never read");
    std::ofstream(etc.path() + "/50-default.json") << R"({"version": 1, "rules": []})";
    auto r = check_policy({dir_.path(), etc.path()});
    EXPECT_EQ(r.exit_code(), 0) << r.describe();
    EXPECT_THAT(r.out, HasSubstr("1 file(s), 0 rule(s)"));
}

TEST_F(TeedCheckPolicy, WarnsAboutAnUnknownUserButPasses) {
    std::string file = write("10-ghost.json", "{\"version\": 1, \"rules\": [{\"name\": \"g\",\n"
                                              "\"match\": {\"users\": [\"teed-no-such-user-7f3a\"]},"
                                              " \"allow\": {}}]}");
    auto r = check_policy({file});
    EXPECT_EQ(r.exit_code(), 0) << r.describe();
    EXPECT_THAT(r.err, HasSubstr(file + ":2: "));
    EXPECT_THAT(r.err, HasSubstr("unknown user 'teed-no-such-user-7f3a'"));
    EXPECT_THAT(r.out, HasSubstr("1 warning(s)"));
}

TEST_F(TeedCheckPolicy, RefusesAFileOverOneMebibyte) {
    std::string big = write("40-big.json", std::string((1 << 20) + 1, ' '));
    auto r = check_policy({big});
    EXPECT_EQ(r.exit_code(), 1) << r.describe();
    EXPECT_THAT(r.err, HasSubstr(big + ": larger than 1048576 bytes"));
}

TEST_F(TeedCheckPolicy, CallsAMissingPathAnError) {
    auto r = check_policy({dir_.path() + "/missing.json"});
    EXPECT_EQ(r.exit_code(), 1) << r.describe();
    EXPECT_THAT(r.err, HasSubstr(dir_.path() + "/missing.json: "));
}

TEST_F(TeedCheckPolicy, IsListedInTheHelp) {
    auto r = run({TEED_BINARY, "--help"});
    EXPECT_EQ(r.exit_code(), 0) << r.describe();
    EXPECT_THAT(r.out, HasSubstr("--check-policy"));
    EXPECT_THAT(r.out, Not(HasSubstr("--check-policy=")));
}

}  // namespace
}  // namespace teed::test
