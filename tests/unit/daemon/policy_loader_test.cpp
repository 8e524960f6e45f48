// Policy directories: which files count, overriding by name, the size cap, and a reload that fails
// leaving the previous policy in force.
#include "daemon/policy_loader.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/daemon/policy_test_support.h"

namespace teed {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr const char* kTa = "8aaaf200-2450-11e4-abe2-0002a5d5c51b";

const PolicyClient kAlice{.uid = test::kAlice, .gid = test::kAlice, .groups = {test::kTee}};

std::string rule_file(const std::string& name, const char* effect) {
    return std::string(R"({"version": 1, "rules": [{"name": ")") + name + R"(", ")" + effect +
           R"(": {"sessions": {}}}]})";
}

class APolicyLoader : public testing::Test {
protected:
    void SetUp() override {
        root_ = fs::path(testing::TempDir()) /
                ("teed-policy-" + std::to_string(::getpid()) + "-" +
                 testing::UnitTest::GetInstance()->current_test_info()->name());
        usr_ = root_ / "usr/share/teed/policy.d";
        etc_ = root_ / "etc/teed/policy.d";
        fs::remove_all(root_);
        fs::create_directories(usr_);
        fs::create_directories(etc_);
    }
    void TearDown() override { fs::remove_all(root_); }

    void write(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }
    LoadedPolicy load(MissingPath missing = MissingPath::Ignore) {
        return load_policy({usr_, etc_}, missing, test::fake_resolver());
    }
    static PolicyDecision decide(const Policy& policy) {
        return policy.decide_session(kAlice, {.device = "tee0", .ta = Uuid::parse(kTa).value()},
                                     Limits{});
    }

    fs::path root_;
    fs::path usr_;
    fs::path etc_;
};

TEST_F(APolicyLoader, ReadsNothingFromDirectoriesThatDoNotExist) {
    fs::remove_all(root_);
    auto loaded = load();
    ASSERT_TRUE(loaded.policy);
    EXPECT_TRUE(loaded.report.files.empty());
    EXPECT_EQ(decide(*loaded.policy).rule, "default");
}

TEST_F(APolicyLoader, CallsAMissingNamedPathAnError) {
    auto loaded = load_policy({(root_ / "nope.json").string()}, MissingPath::IsError, test::fake_resolver());
    EXPECT_FALSE(loaded.policy);
    ASSERT_EQ(loaded.report.errors.size(), 1u);
    EXPECT_EQ(loaded.report.errors[0].file, (root_ / "nope.json").string());
}

TEST_F(APolicyLoader, ReadsOnlyJsonFilesInNameOrderSkippingHiddenOnes) {
    write(usr_ / "20-b.json", rule_file("b", "allow"));
    write(etc_ / "10-a.json", rule_file("a", "allow"));
    write(etc_ / "30-c.conf", "not json at all");
    write(etc_ / ".30-hidden.json", "not json at all");
    write(etc_ / "30-c.json~", "not json at all");
    auto loaded = load();
    ASSERT_TRUE(loaded.policy) << loaded.report.errors.front().to_string();
    EXPECT_THAT(loaded.report.files, ElementsAre((etc_ / "10-a.json").string(), (usr_ / "20-b.json").string()));
    ASSERT_EQ(loaded.policy->rules().size(), 2u);
    EXPECT_EQ(loaded.policy->rules()[0].name, "a");
    EXPECT_EQ(loaded.report.rules, 2u);
}

TEST_F(APolicyLoader, LetsAFileInEtcReplaceTheShippedFileOfTheSameName) {
    write(usr_ / "50-default.json", rule_file("shipped", "allow"));
    write(etc_ / "50-default.json", rule_file("local", "deny"));
    auto loaded = load();
    ASSERT_TRUE(loaded.policy);
    EXPECT_THAT(loaded.report.files, ElementsAre((etc_ / "50-default.json").string()));
    auto d = decide(*loaded.policy);
    EXPECT_EQ(d.rule, "local");
    EXPECT_EQ(d.effect, PolicyEffect::Deny);
}

TEST_F(APolicyLoader, LetsASymlinkToDevNullMaskAShippedFile) {
    write(usr_ / "50-default.json", rule_file("shipped", "allow"));
    fs::create_symlink("/dev/null", etc_ / "50-default.json");
    auto loaded = load();
    ASSERT_TRUE(loaded.policy) << loaded.report.errors.front().to_string();
    EXPECT_TRUE(loaded.report.files.empty());
    EXPECT_EQ(decide(*loaded.policy).rule, "default");
}

TEST_F(APolicyLoader, RejectsTheWholePolicyWhenOneFileIsBad) {
    write(usr_ / "10-good.json", rule_file("good", "allow"));
    write(etc_ / "20-bad.json", "{\"version\": 1,\n\"rules\": [}");
    auto loaded = load();
    EXPECT_FALSE(loaded.policy);
    ASSERT_EQ(loaded.report.errors.size(), 1u);
    EXPECT_EQ(loaded.report.errors[0].file, (etc_ / "20-bad.json").string());
    EXPECT_EQ(loaded.report.errors[0].line, 2);
}

TEST_F(APolicyLoader, RefusesAFileOverTheSizeCapUnparsed) {
    // Exactly at the cap is fine: a valid file padded with spaces.
    std::string valid = rule_file("big", "allow");
    write(etc_ / "10-at-cap.json", valid + std::string(kMaxPolicyFileBytes - valid.size(), ' '));
    auto at_cap = load();
    EXPECT_TRUE(at_cap.policy) << at_cap.report.errors.front().to_string();

    write(etc_ / "10-at-cap.json", valid + std::string(kMaxPolicyFileBytes - valid.size() + 1, ' '));
    auto over = load();
    EXPECT_FALSE(over.policy);
    ASSERT_EQ(over.report.errors.size(), 1u);
    EXPECT_EQ(over.report.errors[0].line, 0);
    EXPECT_THAT(over.report.errors[0].to_string(), HasSubstr("10-at-cap.json: larger than 1048576 bytes"));
}

TEST_F(APolicyLoader, RefusesAFifoOrADirectoryWithoutBlocking) {
    ASSERT_EQ(::mkfifo((etc_ / "10-fifo.json").c_str(), 0600), 0);
    fs::create_directory(etc_ / "20-dir.json");
    auto loaded = load();
    EXPECT_FALSE(loaded.policy);
    ASSERT_EQ(loaded.report.errors.size(), 2u);
    EXPECT_THAT(loaded.report.errors[0].to_string(), HasSubstr("10-fifo.json: not a regular file"));
    EXPECT_THAT(loaded.report.errors[1].to_string(), HasSubstr("20-dir.json: not a regular file"));
}

TEST_F(APolicyLoader, ReadsANamedFileWhateverItsName) {
    write(root_ / "candidate.txt", rule_file("c", "allow"));
    auto loaded = load_policy({(root_ / "candidate.txt").string()}, MissingPath::IsError,
                              test::fake_resolver());
    ASSERT_TRUE(loaded.policy);
    EXPECT_EQ(loaded.policy->rules().size(), 1u);
}

TEST_F(APolicyLoader, ReportsWarningsWithoutRejecting) {
    write(etc_ / "10-ghost.json",
          R"({"version": 1, "rules": [{"name": "g", "match": {"users": ["ghost"]}, "allow": {}}]})");
    auto loaded = load();
    ASSERT_TRUE(loaded.policy);
    ASSERT_EQ(loaded.report.warnings.size(), 1u);
    EXPECT_EQ(loaded.report.warnings[0].file, (etc_ / "10-ghost.json").string());
}

TEST_F(APolicyLoader, KeepsThePreviousPolicyWhenAReloadFails) {
    PolicyStore store({usr_, etc_}, test::fake_resolver());
    EXPECT_EQ(decide(*store.current()).rule, "default") << "nothing loaded yet: deny";

    write(etc_ / "10-a.json", rule_file("first", "allow"));
    ASSERT_TRUE(store.reload().ok());
    EXPECT_EQ(decide(*store.current()).rule, "first");

    write(etc_ / "10-a.json", rule_file("second", "allow") + ",");
    auto report = store.reload();
    EXPECT_FALSE(report.ok());
    EXPECT_EQ(decide(*store.current()).rule, "first");

    write(etc_ / "10-a.json", rule_file("third", "deny"));
    ASSERT_TRUE(store.reload().ok());
    EXPECT_EQ(decide(*store.current()).rule, "third");
}

TEST(TheDefaultPolicyDirectories, PutTheShippedDirectoryBeforeTheAdministratorsOne) {
    auto dirs = default_policy_directories();
    ASSERT_EQ(dirs.size(), 2u);
    EXPECT_THAT(dirs[0], HasSubstr("/share/teed/policy.d"));
    EXPECT_THAT(dirs[1], HasSubstr("etc/teed/policy.d"));
}

}  // namespace
}  // namespace teed
