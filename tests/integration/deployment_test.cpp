// The files in systemd/ checked with systemd's own tools, offline: the unit's hardening score and
// syntax, the sysusers.d and tmpfiles.d entries applied to a scratch root, and the example
// configuration as teed reads it.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace teed::test {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

// systemd-analyze security's overall exposure (0 = locked down, 10 = unprotected) must stay at or
// below this. Measured 1.1 with systemd 252 on Debian bookworm (docs/deployment.md).
constexpr double kMaxExposure = 1.5;

std::string source_file(const std::string& relative) {
    return std::string(TEED_SOURCE_DIR) + "/" + relative;
}
std::string built_unit() {
    return std::string(TEED_BUILD_DIR) + "/systemd/teed.service";
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

bool have_tool(const std::string& name) {
    return run({"sh", "-c", "command -v \"$0\"", name}).exit_code() == 0;
}

TEST(TheUnit, KeepsItsExposureScoreLow) {
    if (!have_tool("systemd-analyze")) GTEST_SKIP() << "systemd-analyze is not installed";
    auto threshold = static_cast<int>(kMaxExposure * 10);  // the option counts tenths
    auto r = run({"systemd-analyze", "security", "--offline=true",
                  "--threshold=" + std::to_string(threshold), built_unit()});
    std::smatch score;
    ASSERT_TRUE(std::regex_search(
        r.out, score, std::regex(R"(Overall exposure level for teed\.service: ([0-9.]+))")))
        << r.describe();
    RecordProperty("exposure", score[1].str());
    std::cout << "teed.service exposure (systemd-analyze security): " << score[1].str() << "\n";
    EXPECT_EQ(r.exit_code(), 0) << "above the threshold of " << kMaxExposure << "\n"
                                << r.describe();
    EXPECT_LE(std::stod(score[1].str()), kMaxExposure);
}

// systemd-analyze verify checks ExecStart= against the file system, and the installed path does
// not exist in a build tree: verify a copy whose ExecStart= is the built teed.
TEST(TheUnit, PassesSystemdAnalyzeVerify) {
    if (!have_tool("systemd-analyze")) GTEST_SKIP() << "systemd-analyze is not installed";
    ASSERT_STRNE(TEED_BINARY, "") << "teed was not built";
    TempDir dir;
    std::string unit = read_text(built_unit());
    std::string copy = std::regex_replace(unit, std::regex("\nExecStart=[^\n]*"),
                                          std::string("\nExecStart=") + TEED_BINARY);
    ASSERT_NE(copy, unit) << "no ExecStart= in " << built_unit();
    std::ofstream(dir.path() + "/teed.service") << copy;

    auto r = run({"systemd-analyze", "verify", dir.path() + "/teed.service"});
    EXPECT_EQ(r.exit_code(), 0) << r.describe();
    // verify only warns about unknown or invalid settings and still exits 0.
    std::string complaints;
    std::istringstream lines(r.out + r.err);
    for (std::string line; std::getline(lines, line);)
        if (line.find("teed.service") != std::string::npos) complaints += line + "\n";
    EXPECT_THAT(complaints, IsEmpty());
}

// The sysusers.d and tmpfiles.d entries applied to a scratch root: the service account, the
// client group and the state directory come out as the unit and the bus policy expect.
TEST(TheSysusersAndTmpfilesEntries, CreateTheAccountsAndDirectories) {
    if (!have_tool("systemd-sysusers") || !have_tool("systemd-tmpfiles"))
        GTEST_SKIP() << "systemd-sysusers or systemd-tmpfiles is not installed";
    if (!running_as_root()) GTEST_SKIP() << "systemd-tmpfiles needs root to chown";
    TempDir root;
    std::filesystem::create_directories(root.path() + "/etc");

    auto users =
        run({"systemd-sysusers", "--root=" + root.path(), source_file("systemd/teed.sysusers")});
    ASSERT_EQ(users.exit_code(), 0) << users.describe();
    std::smatch account;
    std::string passwd = read_text(root.path() + "/etc/passwd");
    ASSERT_TRUE(std::regex_search(
        passwd, account, std::regex(R"((^|\n)teed:x:([0-9]+):[0-9]+:[^:]*:/var/lib/teed:)")))
        << passwd;
    EXPECT_TRUE(
        std::regex_search(read_text(root.path() + "/etc/group"), std::regex(R"((^|\n)tee:x:)")));

    auto dirs = run({"systemd-tmpfiles", "--root=" + root.path(), "--create",
                     source_file("systemd/teed.tmpfiles")});
    ASSERT_EQ(dirs.exit_code(), 0) << dirs.describe();
    struct stat state {};
    ASSERT_EQ(stat((root.path() + "/var/lib/teed").c_str(), &state), 0);
    EXPECT_TRUE(S_ISDIR(state.st_mode));
    EXPECT_EQ(state.st_mode & 07777, 0700u);
    EXPECT_EQ(state.st_uid, static_cast<uid_t>(std::stoul(account[2].str())));
    struct stat config {};
    ASSERT_EQ(stat((root.path() + "/etc/teed").c_str(), &config), 0);
    EXPECT_EQ(config.st_uid, 0u);
}

// teed run the way teed.service runs it (user teed, CAP_SETUID and CAP_SETGID, no-setuid-fixup)
// gives each client of a USER login its own identity: root first, so that the worker thread
// has acted as euid 0 and back before it serves a member, and then root again.
TEST(TheServiceUserSetup, GivesRootAndMembersTheirOwnUserLoginIdentities) {
    TEED_REQUIRE_TEST_USERS();
    TestBus bus;
    TeedDaemon teed(bus, TeedOptions{{"--simulate", "--no-hardware", "--workers", "1"},
                                     service_user(),
                                     {},
                                     std::chrono::seconds(10)});
    const std::vector<std::string> whoami{"invoke", "4839ae89-dd05-41d8-bd50-0e6109a44689",
                                          "0",      "--login",
                                          "user",   "--value-out",
                                          "--out",  "16"};
    auto as_root = teectl(bus, std::nullopt, whoami);
    ASSERT_EQ(as_root.exit_code(), 0) << as_root.describe();
    auto as_member = teectl(bus, member(), whoami);
    ASSERT_EQ(as_member.exit_code(), 0) << as_member.describe();
    auto as_root_again = teectl(bus, std::nullopt, whoami);
    ASSERT_EQ(as_root_again.exit_code(), 0) << as_root_again.describe();

    EXPECT_NE(as_root.out, as_member.out);  // the identity the TA reports differs
    EXPECT_EQ(as_root.out, as_root_again.out);
    EXPECT_TRUE(teed.running());
}

TEST(TheExampleConfiguration, IsAcceptedByTeed) {
    TestBus bus;
    // The command line comes after the file, so the example's "hardware": true is overridden.
    TeedDaemon teed(
        bus, {"--config", source_file("systemd/teed.conf.example"), "--simulate", "--no-hardware"});
    EXPECT_TRUE(teed.running());
}

// The counterpart that shows the file is really read: one unknown key and teed refuses to start.
TEST(TheExampleConfiguration, WouldBeRefusedWithAnUnknownKey) {
    TempDir dir;
    std::string text = read_text(source_file("systemd/teed.conf.example"));
    text.insert(text.find('{') + 1, "\n    \"no_such_key\": 1,");
    std::ofstream(dir.path() + "/teed.conf") << text;
    TestBus bus;
    try {
        TeedDaemon teed(bus,
                        {"--config", dir.path() + "/teed.conf", "--simulate", "--no-hardware"});
        FAIL() << "teed started with an unknown configuration key";
    } catch (const HarnessError& e) {
        EXPECT_THAT(e.what(), HasSubstr("no_such_key"));
    }
}

}  // namespace
}  // namespace teed::test
