// The harness itself: that it really switches identities, enforces its deadlines, and reports
// teed's lifecycle. Other integration tests rely on these; a harness that silently ran everything
// as root would make every deny test pass for the wrong reason.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace teed::test {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

std::vector<gid_t> group_ids(const std::string& text) {
    std::vector<gid_t> ids;
    std::istringstream words(text);
    for (unsigned long id; words >> id;) ids.push_back(static_cast<gid_t>(id));
    return ids;
}

TEST(Run, CapturesOutputAndExitCode) {
    auto r = run({"sh", "-c", "echo to-out; echo to-err >&2; exit 3"});
    EXPECT_EQ(r.exit_code(), 3);
    EXPECT_EQ(r.out, "to-out\n");
    EXPECT_EQ(r.err, "to-err\n");
    EXPECT_FALSE(r.timed_out);
}

TEST(Run, AddsEnvironmentVariables) {
    auto r = run({"sh", "-c", "printf %s \"$TEED_HARNESS_PROBE\""}, std::nullopt,
                 {{"TEED_HARNESS_PROBE", "set"}});
    EXPECT_EQ(r.out, "set") << r.describe();
}

TEST(Run, KillsTheProcessGroupAtTheDeadline) {
    auto started = Clock::now();
    // The grandchild holds the pipes open too: the whole group must go.
    auto r = run({"sh", "-c", "sleep 30 & sleep 30"}, std::nullopt, {}, 300ms);
    EXPECT_TRUE(r.timed_out);
    EXPECT_EQ(r.status.signal, SIGKILL) << r.describe();
    EXPECT_LT(Clock::now() - started, 10s);
}

TEST(Run, ReportsACommandThatCannotBeStarted) {
    auto r = run({"teed-harness-no-such-program"});
    EXPECT_EQ(r.exit_code(), 127);
    EXPECT_THAT(r.err, HasSubstr("teed-harness-no-such-program"));
}

TEST(Run, TakesTheIdentityItIsGiven) {
    TEED_REQUIRE_TEST_USERS();
    Identity who = member();
    auto r = run({"id", "-u"}, who);
    EXPECT_EQ(r.out, std::to_string(who.uid) + "\n") << r.describe();
    gid_t tee = *find_group(kClientGroup);
    EXPECT_THAT(group_ids(run({"id", "-G"}, who).out), Contains(tee));
    EXPECT_THAT(group_ids(run({"id", "-G"}, outsider()).out), Not(Contains(tee)));
}

TEST(RunInChild, ReturnsTheBodysResultAsTheGivenUser) {
    TEED_REQUIRE_TEST_USERS();
    Identity who = member();
    EXPECT_EQ(
        run_in_child(who, [&] { return getuid() == who.uid && geteuid() == who.uid ? 7 : 1; }), 7);
    EXPECT_EQ(run_in_child(std::nullopt, [] { return 5; }), 5);
}

TEST(RunInChild, ReportsABodyThatThrows) {
    EXPECT_EQ(run_in_child(std::nullopt, []() -> int { throw std::runtime_error("boom"); }),
              kChildThrew);
}

TEST(RunInChild, FailsWhenTheChildOutlivesItsDeadline) {
    EXPECT_THROW(run_in_child(
                     std::nullopt, [] { return pause(); }, 200ms),
                 HarnessError);
}

TEST(ATestBus, ListensAndLogs) {
    TestBus bus;
    EXPECT_THAT(bus.address(), HasSubstr("unix:path=" + bus.directory()));
    auto r = busctl(bus, std::nullopt, {"list", "--no-pager"});
    EXPECT_EQ(r.exit_code(), 0) << r.describe();
    EXPECT_THAT(r.out, HasSubstr("org.freedesktop.DBus"));
}

TEST(ATeedDaemon, ReportsItsLifecycle) {
    TestBus bus;
    TeedDaemon teed(bus);
    EXPECT_TRUE(teed.running());
    EXPECT_GT(teed.startup_time().count(), 0);
    EXPECT_LT(teed.startup_time(), 10s);
    EXPECT_GT(teed.open_fd_count(), 3u);
    EXPECT_GT(teed.rss_kib(), 0);
    std::cout << "teed startup (spawn to READY=1): " << teed.startup_time().count() << " us, RSS "
              << teed.rss_kib() << " KiB, " << teed.open_fd_count() << " fds\n";

    teed.send_signal(SIGTERM);
    auto status = teed.wait_exit(5s);
    ASSERT_TRUE(status.has_value()) << "teed ignored SIGTERM";
    EXPECT_TRUE(status->success()) << status->describe();
    EXPECT_FALSE(teed.running());
    EXPECT_TRUE(teed.wait_notification("STOPPING=1", 1s).has_value());
}

TEST(ATeedDaemon, ThrowsWhenTeedExitsBeforeReady) {
    TestBus bus;
    try {
        TeedDaemon teed(bus, {"--no-such-option"});
        FAIL() << "teed started with an unknown option";
    } catch (const HarnessError& e) {
        EXPECT_THAT(e.what(), HasSubstr("before READY=1"));
        EXPECT_THAT(e.what(), HasSubstr("no-such-option"));
    }
}

}  // namespace
}  // namespace teed::test
