#pragma once
// The integration-test harness: a private system-type D-Bus daemon that loads the policy file as
// shipped, the teed binary under test on it, the test users, and child processes run as them.
//
//   TEST(ABusPolicy, LetsAMemberReadTheVersion) {
//       TEED_REQUIRE_TEST_USERS();       // skips unless root; fails if root but users are missing
//       teed::test::TestBus bus;         // dbus-daemon with tests/integration/test-bus.conf.in
//       teed::test::TeedDaemon teed(bus);  // teed --simulate --no-hardware; READY=1 was received
//       auto r = teed::test::busctl(bus, teed::test::member(),
//                                   {"get-property", "org.teed.Teed1", "/org/teed/Teed1",
//                                    "org.teed.Teed1.Manager", "Version"});
//       EXPECT_EQ(r.exit_code(), 0) << r.describe();
//   }
//
// Setting up can fail (no dbus-daemon, teed exits before READY=1, ...): the constructors then throw
// HarnessError, which gtest reports as the test's failure with the message. Every wait has a
// deadline; nothing sleeps. Destructors stop and reap what they started, and print the daemons'
// logs when the test has failed.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <systemd/sd-bus.h>

#include "common/unique_fd.h"

namespace teed::test {

using Clock = std::chrono::steady_clock;

class HarnessError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// How a child process ended.
struct ExitStatus {
    int code = -1;   // exit code when it exited, else -1
    int signal = 0;  // the signal that ended it, else 0

    static ExitStatus from_wait_status(int status);
    bool success() const { return signal == 0 && code == 0; }
    std::string describe() const;  // "exit code 3", "killed by signal 9 (Killed)"
};

struct ProcessResult {
    std::string command;  // argv joined by spaces, for messages
    ExitStatus status;
    bool timed_out = false;  // killed by the harness at its deadline
    std::string out;
    std::string err;

    int exit_code() const { return status.code; }
    // Command, status, stdout and stderr: the message to stream into a failed assertion.
    std::string describe() const;
};

struct Identity {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // every group, the primary one included
};

// The names scripts/create-test-users creates (the service account as systemd/teed.sysusers
// declares it).
inline constexpr const char* kClientGroup = "tee";               // may use org.teed.Teed1
inline constexpr const char* kMemberUser = "teed-test-member";   // in kClientGroup and kExtraGroup
inline constexpr const char* kOutsiderUser = "teed-test-other";  // in neither
inline constexpr const char* kExtraGroup = "teed-test-extra";    // for GROUP logins
inline constexpr const char* kServiceUser = "teed";

std::optional<Identity> find_user(const std::string& name);
std::optional<gid_t> find_group(const std::string& name);

// Why the test users cannot be used (not root, or a user or group missing or wrongly set up), or
// nullopt when they can.
std::optional<std::string> test_users_problem();

// These throw HarnessError when the user is missing; call TEED_REQUIRE_TEST_USERS() first.
Identity member();
Identity outsider();
Identity service_user();

// Skips the test when not running as root (the test needs to switch users), and fails it when
// running as root but the users are missing or wrong. Use it in a test body or SetUp().
#define TEED_REQUIRE_TEST_USERS()                                                         \
    do {                                                                                  \
        if (auto teed_users_problem_ = ::teed::test::test_users_problem()) {              \
            if (!::teed::test::running_as_root())                                         \
                GTEST_SKIP() << "needs root and scripts/create-test-users: "              \
                             << *teed_users_problem_;                                     \
            FAIL() << *teed_users_problem_ << " (run scripts/create-test-users as root)"; \
        }                                                                                 \
    } while (0)

bool running_as_root();

// Environment variables added to (or replacing) the harness's own in a child.
using Environment = std::map<std::string, std::string>;

inline constexpr std::chrono::milliseconds kDefaultRunTimeout = std::chrono::seconds(30);

// Runs argv (argv[0] looked up in PATH) with stdin from /dev/null and stdout and stderr captured.
// With `as`, the child first takes that identity (setgroups, setresgid, setresuid, in that order),
// sets HOME, USER and LOGNAME to match and changes to "/". At the deadline the child's process
// group is killed and the result is marked timed_out.
ProcessResult run(const std::vector<std::string>& argv, std::optional<Identity> as = {},
                  const Environment& env = {},
                  std::chrono::milliseconds timeout = kDefaultRunTimeout);

// Exit codes run_in_child reports for the child's own failures.
inline constexpr int kChildSetupFailed = 125;  // could not take the identity
inline constexpr int kChildThrew = 124;        // `body` threw

// Forks, takes the identity `as` in the child (as run() does), runs `body` there and returns its
// return value as the child's exit code (a signal that kills the child gives 128 + signal). The
// child always _exits: it never returns into gtest, so gtest assertions inside `body` are lost;
// report through the return value. Throws HarnessError when the child outlives the deadline.
int run_in_child(std::optional<Identity> as, const std::function<int()>& body,
                 std::chrono::milliseconds timeout = kDefaultRunTimeout);

// A fresh directory under $TMPDIR (or /tmp), mode 0755 so the test users can enter it, removed
// with its contents on destruction unless TEED_TEST_KEEP_TMP is set.
class TempDir {
public:
    explicit TempDir(const std::string& prefix = "teed-test-");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// A private dbus-daemon with a system-type configuration (tests/integration/test-bus.conf.in) in a
// fresh temporary directory. Its <includedir> is the build tree's dbus-policy/, which holds
// systemd/org.teed.Teed1.conf unmodified. Run by a user other than root, the bus also lets that
// user own and call org.teed.Teed1 (as root may), so TeedDaemon works for an unprivileged
// developer; the policy tests, which need root, are skipped then.
class TestBus {
public:
    TestBus();
    ~TestBus();
    TestBus(const TestBus&) = delete;
    TestBus& operator=(const TestBus&) = delete;

    const std::string& address() const { return address_; }
    const std::string& directory() const { return directory_.path(); }
    pid_t pid() const { return pid_; }
    std::string log() const;  // dbus-daemon's stderr so far

    // Log lines saying a configuration file was skipped or a rule names an unknown user or
    // group. dbus-daemon starts anyway after such errors, silently without those rules.
    std::vector<std::string> configuration_problems() const;

private:
    TempDir directory_{"teed-bus-"};
    std::string address_;
    pid_t pid_ = -1;
    UniqueFd stdout_;
};

struct TeedOptions {
    std::vector<std::string> args{"--simulate", "--no-hardware"};
    // Run as this user with only CAP_SETUID and CAP_SETGID (ambient and bounding set), the
    // no-setuid-fixup secure bit and no_new_privs: the way systemd/teed.service runs teed.
    // Default: as the test (root in CI).
    std::optional<Identity> as;
    Environment env;
    std::chrono::milliseconds ready_timeout = std::chrono::seconds(10);
    // teed's policy directories (--policy-dir). Default: the shipped systemd/policy.d, then a
    // file that lets the user running the tests (root in CI) open every session, since most tests
    // are about something other than the policy. The policy tests name their own.
    std::optional<std::vector<std::string>> policy_dirs;
    // teed's --state-directory (secure storage, emulated RPMB). Default: a fresh directory of the
    // daemon's own, owned by the user teed runs as. Persistence tests give two daemons the same.
    std::optional<std::string> state_directory;
    // teed's --ta-path. Default: the simulator's TAs built with teed-mkta (build/ta).
    std::optional<std::string> ta_path;
};

// Writes `json` as `dir`/`name` (mode 0644, `dir` created 0755) for teed's --policy-dir.
void write_policy_file(const std::string& dir, const std::string& name, const std::string& json);
std::string shipped_policy_dir();  // systemd/policy.d in the source tree

// The teed binary under test, started with --bus-address and the options' arguments, and
// NOTIFY_SOCKET pointing at a datagram socket the harness owns. The constructor returns once teed
// sent READY=1. Its stdout and stderr go to a log file.
class TeedDaemon {
public:
    explicit TeedDaemon(const TestBus& bus, TeedOptions options = {});
    TeedDaemon(const TestBus& bus, std::vector<std::string> args);
    // The directory of the harness's default policy file for the test runner (TeedOptions).
    std::string runner_policy_dir() const { return directory_.path() + "/policy-runner"; }
    // SIGTERM, then SIGKILL if teed has not exited after five seconds.
    ~TeedDaemon();
    TeedDaemon(const TeedDaemon&) = delete;
    TeedDaemon& operator=(const TeedDaemon&) = delete;

    pid_t pid() const { return pid_; }
    bool running();  // false once teed has exited (it is then reaped)
    std::string log() const;
    // Time from fork to READY=1.
    std::chrono::microseconds startup_time() const { return startup_time_; }
    std::size_t open_fd_count() const;  // entries in /proc/<pid>/fd
    long rss_kib() const;               // VmRSS from /proc/<pid>/status
    void send_signal(int signal) const;
    // teed's exit status, or nullopt if it is still running at the deadline.
    std::optional<ExitStatus> wait_exit(std::chrono::milliseconds timeout);
    // Waits for a notification carrying `assignment` (e.g. "STOPPING=1", "WATCHDOG=1") and returns
    // the whole message, or nullopt at the deadline or when teed exits. Only messages after READY=1
    // and after the one the previous call returned count, so repeated calls see successive ones.
    std::optional<std::string> wait_notification(std::string_view assignment,
                                                 std::chrono::milliseconds timeout);
    // Every notification message received so far, oldest first.
    const std::vector<std::string>& notifications() const { return notifications_; }

private:
    void wait_ready(std::chrono::milliseconds timeout, Clock::time_point spawned);
    // Reads one pending notification sent by teed; false when none is queued.
    bool receive_notification();
    std::optional<ExitStatus> reap(bool block);

    TempDir directory_{"teed-daemon-"};
    pid_t pid_ = -1;
    UniqueFd pidfd_;
    UniqueFd notify_;
    std::optional<ExitStatus> exit_status_;
    std::chrono::microseconds startup_time_{0};
    std::vector<std::string> notifications_;
    std::size_t search_from_ = 0;  // first message wait_notification() has not returned or passed
};

// dbus-send --bus=<bus> --print-reply ARGS..., as `as`. dbus-send prints the D-Bus error name and
// message on failure (busctl prints only the errno text).
ProcessResult dbus_send(const TestBus& bus, std::optional<Identity> as,
                        const std::vector<std::string>& args);
// busctl --address=<bus> ARGS..., as `as`.
ProcessResult busctl(const TestBus& bus, std::optional<Identity> as,
                     const std::vector<std::string>& args);
// An sd-bus connection of the test's own to `address` (fd passing negotiated), for calls the
// client library would never make. Throws HarnessError when it cannot connect.
struct SdBusCloser {
    void operator()(sd_bus* bus) const { sd_bus_flush_close_unref(bus); }
};
using UniqueSdBus = std::unique_ptr<sd_bus, SdBusCloser>;
UniqueSdBus connect_raw(const std::string& address);

// Manager.GetStatistics as root (teed's own counters); a test failure if the call fails.
std::map<std::string, uint64_t> teed_statistics(const TestBus& bus);
// The built teectl with --bus-address=<bus> ARGS..., as `as`.
ProcessResult teectl(const TestBus& bus, std::optional<Identity> as,
                     const std::vector<std::string>& args);

}  // namespace teed::test
