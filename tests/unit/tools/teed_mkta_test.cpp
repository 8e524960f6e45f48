// teed-mkta, run as the build installs it, and the `.ta` file the build ships for the simulator.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "backends/optee/ta_image.h"
#include "backends/sim/sim_ta_image.h"
#include "tests/unit/backends/ta_file_test_support.h"

namespace teed {
namespace {

using testing::HasSubstr;

constexpr const char* kUuid = "0f6f6a55-5a2d-4d4e-9c52-7fd2b7b0c1a3";

struct MktaRun {
    int status = -1;  // the exit code, or -1 if it did not exit
    std::string stderr_text;
};

// Runs teed-mkta with `args` (no shell), capturing its standard error.
MktaRun run_mkta(std::vector<std::string> args) {
    args.insert(args.begin(), TEED_MKTA);
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return {};
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(pipe_fds[1], STDERR_FILENO);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(pipe_fds[1]);
    MktaRun run;
    char chunk[512];
    ssize_t n = 0;
    while ((n = ::read(pipe_fds[0], chunk, sizeof(chunk))) > 0) run.stderr_text.append(chunk, n);
    ::close(pipe_fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
}

std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class TeedMkta : public testing::Test {
protected:
    std::string output() const { return dir_.file(std::string(kUuid) + ".ta"); }
    tatest::TempDirectory dir_;
};

TEST_F(TeedMkta, WritesAFileTheSimulatorVerifies) {
    MktaRun run = run_mkta({"--uuid", kUuid, "--ta-version", "4294967295", "--program", "loadable",
                            "--name", "My TA: v2", "-o", output()});
    ASSERT_EQ(run.status, 0) << run.stderr_text;
    auto file = read_file(output());
    EXPECT_TRUE(optee::parse_ta_image(file).ok());
    auto verified = sim::verify_sim_ta_file(file, tatest::uuid(kUuid));
    ASSERT_TRUE(verified.ok()) << verified.error().message();
    EXPECT_EQ(verified->ta_version, 4294967295u);
    auto manifest = sim::parse_sim_ta_manifest(verified->payload);
    ASSERT_TRUE(manifest.ok()) << manifest.error().message();
    EXPECT_EQ(manifest->program, "loadable");
    EXPECT_EQ(manifest->name, "My TA: v2");
    EXPECT_EQ(std::filesystem::status(output()).permissions() & std::filesystem::perms::all,
              std::filesystem::perms(0644));
}

TEST_F(TeedMkta, NamesTheTaAfterItsProgramByDefaultAndReplacesAnOldFile) {
    std::ofstream(output()) << "old contents";
    MktaRun run = run_mkta(
        {"--uuid", kUuid, "--ta-version", "7", "--program", "loadable", "--output", output()});
    ASSERT_EQ(run.status, 0) << run.stderr_text;
    auto verified = sim::verify_sim_ta_file(read_file(output()), tatest::uuid(kUuid));
    ASSERT_TRUE(verified.ok()) << verified.error().message();
    EXPECT_EQ(sim::parse_sim_ta_manifest(verified->payload)->name, "loadable");
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_.path()),
                            std::filesystem::directory_iterator()),
              1)
        << "no temporary file left behind";
}

TEST_F(TeedMkta, RefusesBadArgumentsWithUsageStatusAndWritesNothing) {
    auto refused = [&](std::vector<std::string> args, const std::string& why) {
        MktaRun run = run_mkta(args);
        EXPECT_EQ(run.status, 2) << why;
        EXPECT_THAT(run.stderr_text, HasSubstr(why));
        EXPECT_THAT(run.stderr_text, HasSubstr("Usage: teed-mkta"));
        EXPECT_FALSE(std::filesystem::exists(output())) << why;
    };
    refused({"--uuid", "not-a-uuid", "--ta-version", "1", "--program", "loadable", "-o", output()},
            "'not-a-uuid' is not a UUID");
    refused(
        {"--uuid", kUuid, "--ta-version", "4294967296", "--program", "loadable", "-o", output()},
        "is not a 32-bit number");
    refused({"--uuid", kUuid, "--ta-version", "-1", "--program", "loadable", "-o", output()},
            "is not a 32-bit number");
    refused({"--uuid", kUuid, "--ta-version", "1", "--program", "rootkit", "-o", output()},
            "the simulator has no program 'rootkit'");
    refused({"--uuid", kUuid, "--ta-version", "1", "--program", "loadable", "--name", "a\nb", "-o",
             output()},
            "line break");
    refused({"--uuid", kUuid, "--program", "loadable", "-o", output()}, "are required");
    refused(
        {"--uuid", kUuid, "--ta-version", "1", "--program", "loadable", "-o", output(), "extra"},
        "unexpected 'extra'");
    refused({"--bogus"}, "unknown option or missing value: '--bogus'");
}

TEST_F(TeedMkta, ExplainsItselfOnHelp) {
    EXPECT_EQ(run_mkta({"--help"}).status, 0);
    EXPECT_FALSE(std::filesystem::exists(output()));
}

TEST_F(TeedMkta, FailsWhenItCannotWrite) {
    MktaRun run = run_mkta({"--uuid", kUuid, "--ta-version", "1", "--program", "loadable", "-o",
                            dir_.file("missing/dir/x.ta")});
    EXPECT_EQ(run.status, 1);
    EXPECT_THAT(run.stderr_text, HasSubstr("creating '" + dir_.file("missing/dir/x.ta")));
}

TEST(TheShippedLoadableTa, IsBuiltUnderItsUuidAndVerifies) {
    const std::string path = std::string(TEED_SIM_TA_DIR) + "/" + TEED_SIM_LOADABLE_TA_UUID + ".ta";
    auto file = read_file(path);
    ASSERT_FALSE(file.empty()) << path;
    auto verified = sim::verify_sim_ta_file(file, tatest::uuid(TEED_SIM_LOADABLE_TA_UUID));
    ASSERT_TRUE(verified.ok()) << verified.error().message();
    EXPECT_EQ(verified->ta_version, 1u);
    EXPECT_EQ(sim::parse_sim_ta_manifest(verified->payload)->program, "loadable");
}

}  // namespace
}  // namespace teed
