#include "bench/bench_environment.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <vector>

#include <benchmark/benchmark.h>

namespace teed::bench {
namespace {

std::unique_ptr<BenchEnvironment> g_environment;

constexpr uint64_t kMaxMemrefBytes = 16u << 20;   // the largest memref the benchmarks send
constexpr uint64_t kMaxMessageBytes = 64u << 20;  // dbus-daemon's max_message_size

pid_t spawn(const std::vector<std::string>& argv, int stdout_fd, const std::string& notify_socket) {
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        if (stdout_fd >= 0) dup2(stdout_fd, STDOUT_FILENO);
        if (!notify_socket.empty()) setenv("NOTIFY_SOCKET", notify_socket.c_str(), 1);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execvp(args[0], args.data());
        _exit(127);
    }
    return pid;
}

std::string read_line(int fd) {
    std::string line;
    char c;
    pollfd p{fd, POLLIN, 0};
    while (poll(&p, 1, 10000) > 0 && read(fd, &c, 1) == 1 && c != '\n') line += c;
    return line;
}

void stop(pid_t pid) {
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
}

void write_bus_config(const std::string& path) {
    std::ofstream out(path);
    out << R"(<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
  </policy>
  <policy user="root">
    <allow own=")" << kFloorName << R"("/>
    <allow send_destination=")" << kFloorName << R"("/>
  </policy>
  <includedir>)" << TEED_POLICY_DIR << R"(</includedir>
  <!-- A 16 MiB temporary memref travels as one message each way, plus its header. The system
       bus's default (32 MiB) would do; this states the need and leaves room. -->
  <limit name="max_message_size">)" << kMaxMessageBytes << R"(</limit>
</busconfig>
)";
}

// teed's limits for the benchmarks: a call with a 16 MiB temporary memref in and another out
// carries 32 MiB of memrefs, above the default max_call_memref_bytes (24 MiB).
// teed's policy files: one rule that lets the benchmark's own user open every session, so that
// every call is decided by the policy as in production.
void write_teed_config(const std::string& directory) {
    std::string policy_dir = directory + "/policy.d";
    mkdir(policy_dir.c_str(), 0755);
    std::ofstream(policy_dir + "/50-bench.json")
        << R"({"version": 1, "rules": [{"name": "bench", "match": {"users": [)" << geteuid()
        << R"(]}, "allow": {"sessions": {}}}]})";
    std::ofstream out(directory + "/teed.conf");
    out << "{\n"
        << "    \"max_memref_bytes\": " << kMaxMemrefBytes << ",\n"
        << "    \"max_call_memref_bytes\": " << 2 * kMaxMemrefBytes << ",\n"
        << "    \"policy_directories\": [\"" << policy_dir << "\"],\n"
        << "    \"state_directory\": \"" << directory << "/state\"\n"
        << "}\n";
}

}  // namespace

BenchEnvironment::BenchEnvironment() {
    char pattern[] = "/tmp/teed-bench-XXXXXX";
    if (mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    directory_ = pattern;
    write_bus_config(directory_ + "/bus.conf");
    write_teed_config(directory_);

    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    bus_pid_ = spawn({"dbus-daemon", "--config-file=" + directory_ + "/bus.conf", "--nofork",
                      "--nopidfile", "--print-address=1"},
                     pipe_fds[1], "");
    close(pipe_fds[1]);
    address_ = read_line(pipe_fds[0]);
    close(pipe_fds[0]);
    if (address_.empty()) throw std::runtime_error("dbus-daemon did not start");

    // teed reports READY=1 on a datagram socket we own.
    std::string notify_path = directory_ + "/notify";
    int notify = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    notify_path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    bind(notify, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    teed_pid_ = spawn({TEED_BINARY, "--config=" + directory_ + "/teed.conf", "--simulate",
                       "--no-hardware", "--log-level=warning", "--bus-address=" + address_},
                      -1, notify_path);
    bool ready = false;
    pollfd p{notify, POLLIN, 0};
    char buffer[512];
    while (!ready && poll(&p, 1, 10000) > 0) {
        ssize_t n = recv(notify, buffer, sizeof buffer - 1, 0);
        if (n <= 0) break;
        buffer[n] = 0;
        ready = std::string(buffer).find("READY=1") != std::string::npos;
    }
    close(notify);
    if (!ready) throw std::runtime_error("teed did not become ready");
    setenv("DBUS_SYSTEM_BUS_ADDRESS", address_.c_str(), 1);
}

BenchEnvironment::~BenchEnvironment() {
    stop(teed_pid_);
    stop(bus_pid_);
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
}

}  // namespace teed::bench

namespace teed::bench {

BenchEnvironment& environment() {
    if (!g_environment) throw std::logic_error("the benchmark environment is not started");
    return *g_environment;
}

int run_benchmarks(int argc, char** argv, const char* program) {
    benchmark::Initialize(&argc, argv);
    try {
        g_environment = std::make_unique<BenchEnvironment>();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", program, e.what());
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    g_environment.reset();
    return 0;
}

}  // namespace teed::bench
