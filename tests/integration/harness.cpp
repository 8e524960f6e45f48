#include "tests/integration/harness.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

extern char** environ;

namespace teed::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr milliseconds kStopTimeout = std::chrono::seconds(5);

[[noreturn]] void fail(const std::string& message) {
    throw HarnessError(message);
}
[[noreturn]] void fail_errno(const std::string& message) {
    throw HarnessError(message + ": " + std::strerror(errno));
}

std::string join(const std::vector<std::string>& argv) {
    std::string text;
    for (const auto& arg : argv) text += (text.empty() ? "" : " ") + arg;
    return text;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) fail("cannot write '" + path + "'");
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
}

int remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::clamp<long long>(left, 0, 60'000));
}

// See test-bus.conf.in: as root the directory stays empty and only the shipped policy applies.
void write_developer_policy(const std::string& dir) {
    fs::create_directory(dir);
    if (running_as_root()) return;
    std::string user = std::to_string(geteuid());
    if (const passwd* entry = getpwuid(geteuid())) user = entry->pw_name;
    write_file(
        dir + "/developer.conf",
        "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN\"\n"
        " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
        "<busconfig>\n  <policy user=\"" +
            user +
            "\">\n"
            "    <allow own=\"org.teed.Teed1\"/>\n"
            "    <allow send_destination=\"org.teed.Teed1\"/>\n"
            "  </policy>\n</busconfig>\n");
}

UniqueFd open_log(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd.valid()) fail_errno("open '" + path + "'");
    return fd;
}

std::pair<UniqueFd, UniqueFd> make_pipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) fail_errno("pipe2");
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

UniqueFd open_pidfd(pid_t pid) {
    return UniqueFd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
}

// Waits until `pid` exits or the deadline passes, polling its pidfd (or, on kernels without
// pidfds, waking every 20 ms to ask). Returns the exit status and reaps, or nullopt.
std::optional<ExitStatus> wait_pid_until(pid_t pid, int pidfd, Clock::time_point deadline) {
    for (;;) {
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return ExitStatus::from_wait_status(status);
        if (r < 0 && errno != EINTR) fail_errno("waitpid " + std::to_string(pid));
        int left = remaining_ms(deadline);
        if (left == 0) return std::nullopt;
        pollfd p{pidfd, POLLIN, 0};
        if (pidfd >= 0)
            poll(&p, 1, left);
        else
            poll(nullptr, 0, std::min(left, 20));
    }
}

ExitStatus kill_and_reap(pid_t pid, bool whole_group) {
    kill(whole_group ? -pid : pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return ExitStatus::from_wait_status(status);
}

// SIGTERM, a grace period, then SIGKILL; always reaps.
ExitStatus terminate_and_reap(pid_t pid, int pidfd) {
    kill(pid, SIGTERM);
    if (auto status = wait_pid_until(pid, pidfd, Clock::now() + kStopTimeout)) return *status;
    return kill_and_reap(pid, /*whole_group=*/false);
}

std::vector<std::string> build_environment(const Environment& additions,
                                           const std::vector<std::string>& removals) {
    Environment env;
    for (char** entry = environ; *entry; ++entry) {
        std::string_view text(*entry);
        auto eq = text.find('=');
        if (eq == std::string_view::npos) continue;
        env[std::string(text.substr(0, eq))] = std::string(text.substr(eq + 1));
    }
    for (const auto& name : removals) env.erase(name);
    for (const auto& [name, value] : additions) env[name] = value;
    std::vector<std::string> result;
    for (const auto& [name, value] : env) result.push_back(name + "=" + value);
    return result;
}

// Writes a message and the errno to stderr, using only async-signal-safe calls (after fork()).
void child_report(const char* what) {
    int err = errno;
    char digits[16];
    int n = 0;
    do {
        digits[sizeof digits - 1 - static_cast<size_t>(n++)] = static_cast<char>('0' + err % 10);
        err /= 10;
    } while (err > 0 && n < 15);
    const char prefix[] = "harness child: ";
    const char middle[] = " failed, errno ";
    ssize_t ignored = write(STDERR_FILENO, prefix, sizeof prefix - 1);
    ignored = write(STDERR_FILENO, what, std::strlen(what));
    ignored = write(STDERR_FILENO, middle, sizeof middle - 1);
    ignored = write(STDERR_FILENO, digits + sizeof digits - n, static_cast<size_t>(n));
    ignored = write(STDERR_FILENO, "\n", 1);
    (void)ignored;
}

// In a child after fork(): groups first, then the gid, then the uid (which ends the privileges
// needed for the other two).
bool take_identity(const Identity& who) {
    if (setgroups(who.groups.size(), who.groups.data()) < 0) {
        child_report("setgroups");
        return false;
    }
    if (setresgid(who.gid, who.gid, who.gid) < 0) {
        child_report("setresgid");
        return false;
    }
    if (setresuid(who.uid, who.uid, who.uid) < 0) {
        child_report("setresuid");
        return false;
    }
    if (chdir("/") < 0) {
        child_report("chdir /");
        return false;
    }
    return true;
}

Environment identity_environment(const std::optional<Identity>& as, Environment env) {
    if (!as) return env;
    env.try_emplace("HOME", "/");
    env.try_emplace("USER", as->name);
    env.try_emplace("LOGNAME", as->name);
    return env;
}

struct SpawnSpec {
    std::vector<std::string> argv;
    std::vector<std::string> env;
    std::optional<Identity> as;
    int stdout_fd = -1;
    int stderr_fd = -1;
    bool own_process_group = false;
};

// fork + exec. Everything the child needs is prepared before fork(); the child then only makes
// system calls. A failure in the child is reported on its stderr, with exit code 127.
pid_t spawn(const SpawnSpec& spec) {
    std::vector<char*> argv;
    for (const auto& arg : spec.argv) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& entry : spec.env) envp.push_back(const_cast<char*>(entry.c_str()));
    envp.push_back(nullptr);
    UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!devnull.valid()) fail_errno("open /dev/null");

    std::fflush(nullptr);  // or the child would print the parent's buffered output again
    pid_t pid = fork();
    if (pid < 0) fail_errno("fork");
    if (pid > 0) return pid;

    if (spec.own_process_group) setpgid(0, 0);
    if (dup2(devnull.get(), STDIN_FILENO) < 0 || dup2(spec.stdout_fd, STDOUT_FILENO) < 0 ||
        dup2(spec.stderr_fd, STDERR_FILENO) < 0) {
        child_report("dup2");
        _exit(127);
    }
    if (spec.as && !take_identity(*spec.as)) _exit(127);
    execvpe(argv[0], argv.data(), envp.data());
    child_report(argv[0]);
    _exit(127);
}

// Reads everything both pipes deliver until they close or the deadline passes.
bool drain_pipes(int out_fd, int err_fd, std::string& out, std::string& err,
                 Clock::time_point deadline) {
    std::array<pollfd, 2> fds{pollfd{out_fd, POLLIN, 0}, pollfd{err_fd, POLLIN, 0}};
    std::array<std::string*, 2> sinks{&out, &err};
    char buffer[65536];
    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
        int left = remaining_ms(deadline);
        if (left == 0) return false;
        int n = poll(fds.data(), fds.size(), left);
        if (n < 0 && errno != EINTR) fail_errno("poll");
        for (size_t i = 0; i < fds.size(); ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            ssize_t got = read(fds[i].fd, buffer, sizeof buffer);
            if (got > 0)
                sinks[i]->append(buffer, static_cast<size_t>(got));
            else if (got == 0 || errno != EINTR)
                fds[i].fd = -1;  // closed
        }
    }
    return true;
}

const char* require_tool_path(const char* path, const char* what) {
    if (path[0] == '\0')
        fail(std::string(what) + " was not built: there was no '" + what +
             "' target when CMake configured the tests");
    if (access(path, X_OK) < 0) fail_errno(std::string(what) + " binary '" + path + "'");
    return path;
}

Identity require_user(const char* name) {
    auto who = find_user(name);
    if (!who) fail(std::string("user '") + name + "' is missing (run scripts/create-test-users)");
    return *who;
}

void print_log_on_failure(const std::string& what, const std::string& log) {
    if (!::testing::Test::HasFailure()) return;
    std::cerr << "----- " << what << " -----\n"
              << log << (log.ends_with('\n') ? "" : "\n") << "----- end of " << what << " -----\n";
}

}  // namespace

// ----- results and identities -----

ExitStatus ExitStatus::from_wait_status(int status) {
    ExitStatus result;
    if (WIFEXITED(status)) result.code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
    return result;
}

std::string ExitStatus::describe() const {
    if (signal != 0)
        return "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
    return "exit code " + std::to_string(code);
}

std::string ProcessResult::describe() const {
    std::ostringstream text;
    text << "command: " << command << "\n"
         << (timed_out ? "timed out, " : "") << status.describe() << "\n"
         << "stdout:\n"
         << out << (out.ends_with('\n') || out.empty() ? "" : "\n") << "stderr:\n"
         << err;
    return text.str();
}

std::optional<gid_t> find_group(const std::string& name) {
    std::vector<char> buffer(16384);
    group entry{};
    group* found = nullptr;
    if (getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || !found)
        return std::nullopt;
    return found->gr_gid;
}

std::optional<Identity> find_user(const std::string& name) {
    std::vector<char> buffer(16384);
    passwd entry{};
    passwd* found = nullptr;
    if (getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || !found)
        return std::nullopt;
    Identity who{name, found->pw_uid, found->pw_gid, {}};
    int count = 32;
    for (;;) {
        who.groups.resize(static_cast<size_t>(count));
        int asked = count;
        if (getgrouplist(name.c_str(), who.gid, who.groups.data(), &count) >= 0) break;
        if (count <= asked) count = asked * 2;  // some NSS modules do not report the size
    }
    who.groups.resize(static_cast<size_t>(count));
    return who;
}

bool running_as_root() {
    return geteuid() == 0;
}

std::optional<std::string> test_users_problem() {
    if (!running_as_root())
        return "the tests switch users, which needs root (running as uid " +
               std::to_string(geteuid()) + ")";
    auto client_group = find_group(kClientGroup);
    auto extra_group = find_group(kExtraGroup);
    if (!client_group) return std::string("group '") + kClientGroup + "' is missing";
    if (!extra_group) return std::string("group '") + kExtraGroup + "' is missing";
    if (!find_user(kServiceUser)) return std::string("user '") + kServiceUser + "' is missing";
    auto in = [](const Identity& who, gid_t gid) {
        return std::find(who.groups.begin(), who.groups.end(), gid) != who.groups.end();
    };
    auto m = find_user(kMemberUser);
    if (!m) return std::string("user '") + kMemberUser + "' is missing";
    if (!in(*m, *client_group) || !in(*m, *extra_group))
        return std::string("user '") + kMemberUser + "' must be in groups '" + kClientGroup +
               "' and '" + kExtraGroup + "'";
    auto o = find_user(kOutsiderUser);
    if (!o) return std::string("user '") + kOutsiderUser + "' is missing";
    if (in(*o, *client_group))
        return std::string("user '") + kOutsiderUser + "' must not be in group '" + kClientGroup +
               "'";
    return std::nullopt;
}

Identity member() {
    return require_user(kMemberUser);
}
Identity outsider() {
    return require_user(kOutsiderUser);
}
Identity service_user() {
    return require_user(kServiceUser);
}

// ----- running commands -----

ProcessResult run(const std::vector<std::string>& argv, std::optional<Identity> as,
                  const Environment& env, milliseconds timeout) {
    if (argv.empty()) fail("run: empty argv");
    auto [out_read, out_write] = make_pipe();
    auto [err_read, err_write] = make_pipe();
    SpawnSpec spec{argv,
                   build_environment(identity_environment(as, env), {}),
                   as,
                   out_write.get(),
                   err_write.get(),
                   /*own_process_group=*/true};
    auto deadline = Clock::now() + timeout;
    pid_t pid = spawn(spec);
    out_write.reset();
    err_write.reset();

    ProcessResult result;
    result.command = join(argv);
    UniqueFd pidfd = open_pidfd(pid);
    bool drained = drain_pipes(out_read.get(), err_read.get(), result.out, result.err, deadline);
    std::optional<ExitStatus> status;
    if (drained) status = wait_pid_until(pid, pidfd.get(), deadline);
    if (!status) {
        result.timed_out = true;
        status = kill_and_reap(pid, /*whole_group=*/true);
        // Whatever the killed group had written; give up on descendants that escaped the group.
        drain_pipes(out_read.get(), err_read.get(), result.out, result.err,
                    Clock::now() + milliseconds(500));
    }
    result.status = *status;
    return result;
}

int run_in_child(std::optional<Identity> as, const std::function<int()>& body,
                 milliseconds timeout) {
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid < 0) fail_errno("fork");
    if (pid == 0) {
        int code = kChildSetupFailed;
        if (!as || take_identity(*as)) {
            try {
                code = body();
            } catch (const std::exception& e) {
                std::fprintf(stderr, "harness child: %s\n", e.what());
                code = kChildThrew;
            } catch (...) {
                code = kChildThrew;
            }
        }
        std::fflush(nullptr);
        _exit(code & 0xff);
    }
    UniqueFd pidfd = open_pidfd(pid);
    auto status = wait_pid_until(pid, pidfd.get(), Clock::now() + timeout);
    if (!status) {
        kill_and_reap(pid, /*whole_group=*/false);
        fail("run_in_child: the child was still running after " + std::to_string(timeout.count()) +
             " ms and was killed");
    }
    return status->signal != 0 ? 128 + status->signal : status->code;
}

ProcessResult dbus_send(const TestBus& bus, std::optional<Identity> as,
                        const std::vector<std::string>& args) {
    std::vector<std::string> argv{"dbus-send", "--bus=" + bus.address(), "--print-reply",
                                  "--reply-timeout=20000"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, std::move(as));
}

ProcessResult busctl(const TestBus& bus, std::optional<Identity> as,
                     const std::vector<std::string>& args) {
    std::vector<std::string> argv{"busctl", "--address=" + bus.address(), "--timeout=20"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, std::move(as));
}

std::map<std::string, uint64_t> teed_statistics(const TestBus& bus) {
    auto r = busctl(bus, std::nullopt,
                    {"call", "org.teed.Teed1", "/org/teed/Teed1", "org.teed.Teed1.Manager",
                     "GetStatistics"});
    EXPECT_EQ(r.exit_code(), 0) << r.describe();
    // busctl prints: a{st} N "key" value "key" value ...
    std::map<std::string, uint64_t> stats;
    std::istringstream in(r.out);
    std::string signature;
    size_t count = 0;
    in >> signature >> count;
    for (size_t i = 0; i < count; ++i) {
        std::string key;
        uint64_t value = 0;
        in >> key >> value;
        stats[key.substr(1, key.size() - 2)] = value;
    }
    return stats;
}

ProcessResult teectl(const TestBus& bus, std::optional<Identity> as,
                     const std::vector<std::string>& args) {
    std::vector<std::string> argv{require_tool_path(TEECTL_BINARY, "teectl"), "--bus-address",
                                  bus.address()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, std::move(as));
}

// ----- TempDir -----

TempDir::TempDir(const std::string& prefix) {
    std::string pattern = (fs::temp_directory_path() / (prefix + "XXXXXX")).string();
    if (!mkdtemp(pattern.data())) fail_errno("mkdtemp '" + pattern + "'");
    path_ = pattern;
    if (chmod(path_.c_str(), 0755) < 0) fail_errno("chmod '" + path_ + "'");
}

TempDir::~TempDir() {
    if (std::getenv("TEED_TEST_KEEP_TMP")) {
        std::cerr << "[harness] keeping " << path_ << "\n";
        return;
    }
    std::error_code ignored;
    fs::remove_all(path_, ignored);
}

// ----- TestBus -----

TestBus::TestBus() {
    const std::string& dir = directory();
    try {
        std::string policy_dir = TEED_POLICY_DIR;
        if (!fs::exists(fs::path(policy_dir) / "org.teed.Teed1.conf"))
            fail("no org.teed.Teed1.conf in '" + policy_dir +
                 "' (systemd/CMakeLists.txt copies it)");
        std::string config =
            read_file(std::string(TEED_SOURCE_DIR) + "/tests/integration/test-bus.conf.in");
        if (config.empty()) fail("cannot read tests/integration/test-bus.conf.in");
        replace_all(config, "@TEED_BUS_DIR@", dir);
        replace_all(config, "@TEED_POLICY_DIR@", policy_dir);
        write_file(dir + "/bus.conf", config);
        write_developer_policy(dir + "/developer-policy");

        UniqueFd log_fd = open_log(dir + "/bus.log");
        auto [out_read, out_write] = make_pipe();
        SpawnSpec spec{{"dbus-daemon", "--config-file=" + dir + "/bus.conf", "--nofork",
                        "--nopidfile", "--print-address=1"},
                       build_environment({}, {}),
                       std::nullopt,
                       out_write.get(),
                       log_fd.get()};
        pid_ = spawn(spec);
        out_write.reset();
        stdout_ = std::move(out_read);

        // dbus-daemon prints its address once it listens; EOF means it gave up.
        std::string line;
        auto deadline = Clock::now() + std::chrono::seconds(10);
        while (line.find('\n') == std::string::npos) {
            pollfd p{stdout_.get(), POLLIN, 0};
            if (poll(&p, 1, remaining_ms(deadline)) == 0)
                fail("dbus-daemon printed no address within 10 s; its log:\n" + log());
            char buffer[512];
            ssize_t got = read(stdout_.get(), buffer, sizeof buffer);
            if (got == 0) fail("dbus-daemon exited at start; its log:\n" + log());
            if (got > 0) line.append(buffer, static_cast<size_t>(got));
        }
        address_ = line.substr(0, line.find('\n'));
    } catch (...) {
        if (pid_ > 0) kill_and_reap(pid_, /*whole_group=*/false);
        throw;
    }
}

TestBus::~TestBus() {
    UniqueFd pidfd = open_pidfd(pid_);
    terminate_and_reap(pid_, pidfd.get());
    print_log_on_failure("dbus-daemon log (" + directory() + "/bus.log)", log());
}

std::string TestBus::log() const {
    return read_file(directory() + "/bus.log");
}

std::vector<std::string> TestBus::configuration_problems() const {
    std::vector<std::string> problems;
    std::istringstream lines(log());
    for (std::string line; std::getline(lines, line);) {
        if (line.find("Encountered error") != std::string::npos ||
            line.find("Unknown username") != std::string::npos ||
            line.find("Unknown group") != std::string::npos)
            problems.push_back(line);
    }
    return problems;
}

// ----- TeedDaemon -----

TeedDaemon::TeedDaemon(const TestBus& bus, std::vector<std::string> args)
    : TeedDaemon(bus, TeedOptions{.args = std::move(args)}) {}

UniqueSdBus connect_raw(const std::string& address) {
    sd_bus* bus = nullptr;
    if (sd_bus_new(&bus) < 0) fail("sd_bus_new failed");
    UniqueSdBus owned(bus);
    sd_bus_set_address(bus, address.c_str());
    sd_bus_set_bus_client(bus, 1);
    sd_bus_negotiate_fds(bus, 1);
    if (int r = sd_bus_start(bus); r < 0)
        fail("cannot connect to the test bus " + address + ": " + strerror(-r));
    return owned;
}

void write_policy_file(const std::string& dir, const std::string& name, const std::string& json) {
    if (mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST) fail_errno("mkdir '" + dir + "'");
    if (chmod(dir.c_str(), 0755) < 0) fail_errno("chmod '" + dir + "'");
    write_file(dir + "/" + name, json);
    if (chmod((dir + "/" + name).c_str(), 0644) < 0) fail_errno("chmod '" + dir + "/" + name + "'");
}

std::string shipped_policy_dir() { return std::string(TEED_SOURCE_DIR) + "/systemd/policy.d"; }

TeedDaemon::TeedDaemon(const TestBus& bus, TeedOptions options) {
    const char* binary = require_tool_path(TEED_BINARY, "teed");
    const std::string& dir = directory_.path();
    try {
        // The notification socket. SO_PASSCRED makes the kernel attach the sender's pid, so only
        // teed's own messages count. Mode 0777 lets teed send when it runs as another user.
        std::string notify_path = dir + "/notify";
        notify_ = UniqueFd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (!notify_.valid()) fail_errno("socket(AF_UNIX, SOCK_DGRAM)");
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (notify_path.size() >= sizeof addr.sun_path)
            fail("notify socket path too long: " + notify_path);
        std::memcpy(addr.sun_path, notify_path.c_str(), notify_path.size() + 1);
        if (bind(notify_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
            fail_errno("bind '" + notify_path + "'");
        int on = 1;
        if (setsockopt(notify_.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on) < 0)
            fail_errno("SO_PASSCRED");
        if (chmod(notify_path.c_str(), 0777) < 0) fail_errno("chmod '" + notify_path + "'");

        std::vector<std::string> argv;
        if (options.as) {
            // What systemd/teed.service sets up: User=, AmbientCapabilities=,
            // CapabilityBoundingSet=, SecureBits=, NoNewPrivileges=.
            argv = {"setpriv",
                    "--reuid=" + std::to_string(options.as->uid),
                    "--regid=" + std::to_string(options.as->gid),
                    "--init-groups",
                    "--inh-caps=-all,+setuid,+setgid",
                    "--ambient-caps=-all,+setuid,+setgid",
                    "--bounding-set=-all,+setuid,+setgid",
                    "--securebits=+no_setuid_fixup,+no_setuid_fixup_locked",
                    "--no-new-privs",
                    "--"};
        }
        argv.insert(argv.end(), {binary, "--bus-address", bus.address()});
        argv.insert(argv.end(), options.args.begin(), options.args.end());
        if (!options.policy_dirs) {
            write_policy_file(runner_policy_dir(), "90-test-runner.json",
                              R"({"version": 1, "rules": [{"name": "test-runner", "match": {"users": [)" +
                                  std::to_string(geteuid()) +
                                  R"(]}, "allow": {"sessions": {}}}]})");
            options.policy_dirs = {shipped_policy_dir(), runner_policy_dir()};
        }
        for (const auto& policy_dir : *options.policy_dirs) argv.push_back("--policy-dir=" + policy_dir);
        if (!options.state_directory) {
            options.state_directory = dir + "/state";
            if (mkdir(options.state_directory->c_str(), 0700) < 0)
                fail_errno("mkdir '" + *options.state_directory + "'");
            if (options.as && chown(options.state_directory->c_str(), options.as->uid, options.as->gid) < 0)
                fail_errno("chown '" + *options.state_directory + "'");
        }
        argv.push_back("--state-directory=" + *options.state_directory);
        argv.push_back("--ta-path=" + options.ta_path.value_or(TEED_TEST_TA_DIR));

        Environment env = options.env;
        env["NOTIFY_SOCKET"] = notify_path;
        UniqueFd log_fd = open_log(dir + "/teed.log");
        // teed's stderr is the log file: a JOURNAL_STREAM inherited from a runner started by
        // systemd would send its log, audit trail included, to the journal instead.
        SpawnSpec spec{argv,
                       build_environment(env, {"WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS",
                                               "LISTEN_PID", "LISTEN_FDNAMES", "JOURNAL_STREAM"}),
                       std::nullopt, log_fd.get(), log_fd.get()};
        auto spawned = Clock::now();
        pid_ = spawn(spec);
        pidfd_ = open_pidfd(pid_);
        wait_ready(options.ready_timeout, spawned);
    } catch (...) {
        if (pid_ > 0 && !exit_status_) kill_and_reap(pid_, /*whole_group=*/false);
        throw;
    }
}

TeedDaemon::~TeedDaemon() {
    if (!exit_status_) exit_status_ = terminate_and_reap(pid_, pidfd_.get());
    print_log_on_failure(
        "teed log (" + directory_.path() + "/teed.log, " + exit_status_->describe() + ")", log());
}

void TeedDaemon::wait_ready(milliseconds timeout, Clock::time_point spawned) {
    auto deadline = spawned + timeout;
    std::size_t seen = 0;
    for (;;) {
        for (; seen < notifications_.size(); ++seen) {
            std::istringstream lines(notifications_[seen]);
            for (std::string line; std::getline(lines, line);) {
                if (line != "READY=1") continue;
                startup_time_ =
                    std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - spawned);
                search_from_ = seen + 1;
                return;
            }
        }
        std::array<pollfd, 2> fds{pollfd{notify_.get(), POLLIN, 0},
                                  pollfd{pidfd_.get(), POLLIN, 0}};
        int left = remaining_ms(deadline);
        if (left == 0)
            fail("teed sent no READY=1 within " + std::to_string(timeout.count()) +
                 " ms; its log:\n" + log());
        poll(fds.data(), pidfd_.valid() ? 2 : 1, pidfd_.valid() ? left : std::min(left, 20));
        while (receive_notification()) {
        }
        if (seen == notifications_.size() && reap(/*block=*/false))
            fail("teed exited (" + exit_status_->describe() + ") before READY=1; its log:\n" +
                 log());
    }
}

bool TeedDaemon::receive_notification() {
    char text[4096];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    iovec iov{text, sizeof text - 1};
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ssize_t got = recvmsg(notify_.get(), &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (got < 0) {
        if (errno == EINTR) return true;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
        fail_errno("recvmsg on the notification socket");
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_CREDENTIALS) continue;
        ucred sender{};
        std::memcpy(&sender, CMSG_DATA(c), sizeof sender);
        if (sender.pid != pid_) return true;  // not from teed: ignore it
    }
    notifications_.emplace_back(text, static_cast<size_t>(got));
    return true;
}

std::optional<ExitStatus> TeedDaemon::reap(bool block) {
    if (exit_status_) return exit_status_;
    int status = 0;
    pid_t r;
    do {
        r = waitpid(pid_, &status, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == pid_) exit_status_ = ExitStatus::from_wait_status(status);
    return exit_status_;
}

bool TeedDaemon::running() {
    return !reap(/*block=*/false);
}

std::string TeedDaemon::log() const {
    return read_file(directory_.path() + "/teed.log");
}

std::size_t TeedDaemon::open_fd_count() const {
    if (exit_status_) fail("open_fd_count: teed has exited");
    std::error_code error;
    auto entries = fs::directory_iterator("/proc/" + std::to_string(pid_) + "/fd", error);
    if (error) fail("open_fd_count: " + error.message());
    return static_cast<std::size_t>(std::distance(fs::begin(entries), fs::end(entries)));
}

long TeedDaemon::rss_kib() const {
    if (exit_status_) fail("rss_kib: teed has exited");
    std::istringstream lines(read_file("/proc/" + std::to_string(pid_) + "/status"));
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    fail("rss_kib: no VmRSS in /proc/" + std::to_string(pid_) + "/status");
}

void TeedDaemon::send_signal(int signal) const {
    if (exit_status_) fail("send_signal: teed has exited (" + exit_status_->describe() + ")");
    if (kill(pid_, signal) < 0) fail_errno("kill " + std::to_string(pid_));
}

std::optional<ExitStatus> TeedDaemon::wait_exit(milliseconds timeout) {
    if (exit_status_) return exit_status_;
    auto status = wait_pid_until(pid_, pidfd_.get(), Clock::now() + timeout);
    if (status) exit_status_ = status;
    return exit_status_;
}

std::optional<std::string> TeedDaemon::wait_notification(std::string_view assignment,
                                                         milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        while (receive_notification()) {
        }
        for (; search_from_ < notifications_.size(); ++search_from_) {
            std::istringstream lines(notifications_[search_from_]);
            for (std::string line; std::getline(lines, line);) {
                if (line == assignment) return notifications_[search_from_++];
            }
        }
        int left = remaining_ms(deadline);
        if (left == 0 || exit_status_) return std::nullopt;
        std::array<pollfd, 2> fds{pollfd{notify_.get(), POLLIN, 0},
                                  pollfd{pidfd_.get(), POLLIN, 0}};
        poll(fds.data(), pidfd_.valid() ? 2 : 1, pidfd_.valid() ? left : std::min(left, 20));
        reap(/*block=*/false);  // messages sent before exiting are still read on the next round
    }
}

}  // namespace teed::test
