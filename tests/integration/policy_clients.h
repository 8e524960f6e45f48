#pragma once
// Clients for the policy, quota and audit tests, which need a client of a given uid to stay
// connected while the test rewrites the policy, reads teed's counters or starts other clients:
//
//   RawClient root(bus.address());                     // in this process, as the test (root)
//   Outcome opened = root.open_session(kHello);         // D-Bus errors are values, not throws
//   ChildClient member_client(bus.address(), member()); // a child process as the member...
//   Outcome denied = member_client.ask("open " + std::string(kHello));  // ...driven over a socket
//
// ChildClient runs RawClient::run() in a child made by run_in_child(), one command per line, and
// sends back each Outcome; the child's bus connection (its unique name, its sessions) lives until
// the ChildClient is destroyed or quit().

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <systemd/sd-bus.h>

#include "common/unique_fd.h"
#include "harness.h"

namespace teed::test {

inline constexpr const char* kHello = "8aaaf200-2450-11e4-abe2-0002a5d5c51b";  // cmd 0: +1
inline constexpr const char* kEcho = "4cbe901c-6d6c-4b1d-8ecd-fa9216ce5fe6";
inline constexpr const char* kSleep = "ab86ff20-02df-4d53-acee-341029557c38";  // cmd 0: a ms
inline constexpr const char* kLimitExceeded = "org.teed.Teed1.Error.LimitExceeded";
inline constexpr const char* kAccessDenied = "org.teed.Teed1.Error.AccessDenied";
inline constexpr const char* kInvalidArgument = "org.teed.Teed1.Error.InvalidArgument";

// What a call came back with.
struct Outcome {
    std::string error;    // the D-Bus error name; empty on success
    std::string message;  // the error's message
    std::string value;    // the reply as text: a path, a number, "files rules"
    bool ok() const { return error.empty(); }
    // For failed assertions: "ok <value>" or "<error>: <message>".
    std::string describe() const { return ok() ? "ok " + value : error + ": " + message; }
};

// One private connection to teed on the test bus, in the calling process and identity.
class RawClient {
public:
    explicit RawClient(const std::string& address) : bus_(connect_raw(address)) {}
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    // Manager.OpenSession(any device, uuid, PUBLIC): value is the session's path. A TA's own
    // failure (session "/") is reported as error "tee" with the return code as the message.
    Outcome open_session(const std::string& uuid) {
        return call(
            "/org/teed/Teed1", "org.teed.Teed1.Manager", "OpenSession",
            [&](sd_bus_message* m) {
                return sd_bus_message_append(m, "ssuua(uttayott)a{sv}", "", uuid.c_str(), 0u, 0u, 0,
                                             0);
            },
            [](sd_bus_message* reply, Outcome& out) {
                const char* path = nullptr;
                uint32_t origin = 0, code = 0;
                int r = sd_bus_message_read(reply, "ouu", &path, &origin, &code);
                if (r < 0) return r;
                if (code != 0) {
                    out.error = "tee";
                    out.message = std::to_string(code);
                } else {
                    out.value = path;
                }
                return 0;
            });
    }
    // Session.Invoke(0, [VALUE_INOUT a]) on hello_world: value is the TA's answer, a + 1.
    Outcome invoke_hello(const std::string& session, uint64_t a) {
        return call(
            session, "org.teed.Teed1.Session", "Invoke",
            [&](sd_bus_message* m) {
                return sd_bus_message_append(m, "ua(uttayott)a{sv}", 0u, 1, 3u, a, uint64_t{0}, 0,
                                             "/", uint64_t{0}, uint64_t{0}, 0);
            },
            [](sd_bus_message* reply, Outcome& out) {
                uint32_t origin = 0, code = 0, type = 0;
                uint64_t value = 0;
                int r = sd_bus_message_read(reply, "uu", &origin, &code);
                if (r >= 0) r = sd_bus_message_enter_container(reply, 'a', "(uttayott)");
                if (r >= 0) r = sd_bus_message_enter_container(reply, 'r', "uttayott");
                if (r >= 0) r = sd_bus_message_read(reply, "ut", &type, &value);
                if (r < 0) return r;
                if (code != 0) {
                    out.error = "tee";
                    out.message = std::to_string(code);
                }
                out.value = std::to_string(value);
                return 0;
            });
    }
    Outcome close_session(const std::string& session) {
        return call(session, "org.teed.Teed1.Session", "Close", {}, {});
    }
    // Manager.AllocateSharedMemory(size, INPUT|OUTPUT): value is the object's path. The fd in
    // the reply is closed with it; teed keeps the object until Release or the client leaves.
    Outcome allocate_shared_memory(uint64_t size) {
        return call(
            "/org/teed/Teed1", "org.teed.Teed1.Manager", "AllocateSharedMemory",
            [&](sd_bus_message* m) { return sd_bus_message_append(m, "tua{sv}", size, 3u, 0); },
            [](sd_bus_message* reply, Outcome& out) {
                const char* path = nullptr;
                int fd = -1;
                int r = sd_bus_message_read(reply, "oh", &path, &fd);
                if (r >= 0) out.value = path;
                return r;
            });
    }
    Outcome release_shared_memory(const std::string& shm) {
        return call(shm, "org.teed.Teed1.SharedMemory", "Release", {}, {});
    }
    // Manager.ReloadPolicy: value is "<files> <rules>".
    Outcome reload_policy() {
        return call("/org/teed/Teed1", "org.teed.Teed1.Manager", "ReloadPolicy", {},
                    [](sd_bus_message* reply, Outcome& out) {
                        uint32_t files = 0, rules = 0;
                        int r = sd_bus_message_read(reply, "uu", &files, &rules);
                        if (r >= 0) out.value = std::to_string(files) + " " + std::to_string(rules);
                        return r;
                    });
    }
    // Manager.GetStatistics: value is "key=value key=value ...".
    Outcome get_statistics(std::map<std::string, uint64_t>* ret_stats = nullptr) {
        return call(
            "/org/teed/Teed1", "org.teed.Teed1.Manager", "GetStatistics", {},
            [ret_stats](sd_bus_message* reply, Outcome& out) {
                int r = sd_bus_message_enter_container(reply, 'a', "{st}");
                const char* key = nullptr;
                uint64_t value = 0;
                while (r >= 0 && (r = sd_bus_message_read(reply, "{st}", &key, &value)) > 0) {
                    out.value += (out.value.empty() ? "" : " ") + std::string(key) + "=" +
                                 std::to_string(value);
                    if (ret_stats) (*ret_stats)[key] = value;
                }
                return r;
            });
    }
    // teed's counters; a test failure (and an empty map) when the call fails.
    std::map<std::string, uint64_t> statistics() {
        std::map<std::string, uint64_t> stats;
        Outcome got = get_statistics(&stats);
        EXPECT_TRUE(got.ok()) << got.describe();
        return stats;
    }

    // One command as ChildClient sends it: "open UUID", "invoke PATH A", "close PATH",
    // "allocate SIZE", "release PATH", "reload", "stats".
    Outcome run(const std::string& command) {
        std::istringstream words(command);
        std::string verb, arg;
        words >> verb >> arg;
        if (verb == "open") return open_session(arg);
        if (verb == "invoke") {
            uint64_t a = 0;
            words >> a;
            return invoke_hello(arg, a);
        }
        if (verb == "close") return close_session(arg);
        if (verb == "allocate") return allocate_shared_memory(std::stoull(arg));
        if (verb == "release") return release_shared_memory(arg);
        if (verb == "reload") return reload_policy();
        if (verb == "stats") return get_statistics();
        return {.error = "test", .message = "unknown command '" + command + "'"};
    }

private:
    using Fill = std::function<int(sd_bus_message*)>;
    using Read = std::function<int(sd_bus_message*, Outcome&)>;

    Outcome call(const std::string& path, const char* iface, const char* member, const Fill& fill,
                 const Read& read) {
        Outcome out;
        sd_bus_message* m = nullptr;
        sd_bus_message* reply = nullptr;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r =
            sd_bus_message_new_method_call(bus_.get(), &m, "org.teed.Teed1", path.c_str(), iface, member);
        if (r >= 0 && fill) r = fill(m);
        if (r < 0) {
            out = {.error = "test",
                   .message = "cannot build the call: " + std::string(strerror(-r))};
        } else if (sd_bus_call(bus_.get(), m, 30'000'000, &error, &reply) < 0) {
            out.error = error.name ? error.name : "errno";
            out.message = error.message ? error.message : "";
        } else if (read && (r = read(reply, out)) < 0) {
            out = {.error = "test",
                   .message = "cannot read the reply: " + std::string(strerror(-r))};
        }
        sd_bus_error_free(&error);
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        return out;
    }

    UniqueSdBus bus_;
};

// A RawClient in a child process (run_in_child) as `as`, driven one command at a time.
class ChildClient {
public:
    ChildClient(const std::string& address, std::optional<Identity> as) {
        int pair[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
            throw HarnessError("socketpair: " + std::string(strerror(errno)));
        parent_ = UniqueFd(pair[0]);
        UniqueFd child_end(pair[1]);
        int child_fd = child_end.get();
        int parent_fd = parent_.get();
        thread_ = std::thread([this, address, as, child_fd, parent_fd] {
            try {
                exit_code_ = run_in_child(
                    as, [&] { return serve(address, child_fd, parent_fd); },
                    std::chrono::seconds(120));
            } catch (...) {
                exit_code_ = -1;  // run_in_child killed it at its deadline
            }
        });
        // The child says "ready" once connected; then only it holds its end.
        Outcome ready = receive(std::chrono::seconds(20));
        child_end.reset();
        if (!ready.ok() || ready.value != "ready") {
            quit();
            throw HarnessError("the child client did not start: " + ready.describe());
        }
    }
    ~ChildClient() { quit(); }
    ChildClient(const ChildClient&) = delete;
    ChildClient& operator=(const ChildClient&) = delete;

    // Sends one RawClient::run() command and waits for its outcome.
    Outcome ask(const std::string& command,
                std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
        std::string line = command + "\n";
        if (send(parent_.get(), line.data(), line.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(line.size()))
            return {.error = "test", .message = "the child client is gone"};
        return receive(timeout);
    }
    // Ends the child (closing its connection: teed sees the client leave) and returns its exit
    // code: 0 when it served every command and quit when told.
    int quit() {
        if (thread_.joinable()) {
            send(parent_.get(), "quit\n", 5, MSG_NOSIGNAL);
            thread_.join();
        }
        return exit_code_;
    }

private:
    static std::string flatten(std::string text) {
        for (char& c : text)
            if (c == '\t' || c == '\n') c = ' ';
        return text;
    }

    static bool read_line(int fd, std::string& line) {
        line.clear();
        char c;
        for (;;) {
            ssize_t n = read(fd, &c, 1);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            if (c == '\n') return true;
            line += c;
        }
    }

    static bool write_outcome(int fd, const Outcome& o) {
        std::string line =
            flatten(o.error) + "\t" + flatten(o.message) + "\t" + flatten(o.value) + "\n";
        return send(fd, line.data(), line.size(), MSG_NOSIGNAL) ==
               static_cast<ssize_t>(line.size());
    }

    // The child's side; its return value is its exit code.
    static int serve(const std::string& address, int fd, int parent_fd) {
        close(parent_fd);
        RawClient client(address);
        if (!write_outcome(fd, {.value = "ready"})) return 2;
        for (std::string command; read_line(fd, command);) {
            if (command == "quit") return 0;
            if (!write_outcome(fd, client.run(command))) return 3;
        }
        return 4;  // the test went away without saying quit
    }

    Outcome receive(std::chrono::milliseconds timeout) {
        auto deadline = Clock::now() + timeout;
        std::string line;
        char c;
        while (true) {
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            pollfd p{parent_.get(), POLLIN, 0};
            if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) == 0)
                return {.error = "test", .message = "no answer from the child client in time"};
            ssize_t n = read(parent_.get(), &c, 1);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return {.error = "test", .message = "the child client is gone"};
            if (c == '\n') break;
            line += c;
        }
        Outcome o;
        auto tab1 = line.find('\t');
        auto tab2 = line.find('\t', tab1 + 1);
        if (tab1 == std::string::npos || tab2 == std::string::npos)
            return {.error = "test", .message = "garbled answer '" + line + "'"};
        o.error = line.substr(0, tab1);
        o.message = line.substr(tab1 + 1, tab2 - tab1 - 1);
        o.value = line.substr(tab2 + 1);
        return o;
    }

    UniqueFd parent_;
    std::thread thread_;
    int exit_code_ = -1;
};

// Polls `done` until it holds or `timeout` passes (each try is a round trip or a file read:
// the pause between tries only keeps the loop from spinning). Returns whether it held.
template <typename Predicate>
bool eventually(Predicate done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        if (done()) return true;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

// Whether the key=value line `line` has the field `field` ("KEY=value") whole.
inline bool has_field(const std::string& line, const std::string& field) {
    for (auto at = line.find(" " + field); at != std::string::npos;
         at = line.find(" " + field, at + 1)) {
        auto end = at + 1 + field.size();
        if (end == line.size() || line[end] == ' ') return true;
    }
    return false;
}

// The lines of `log` that contain every one of `needles` (e.g. "TEED_EVENT=session-denied").
inline std::vector<std::string> log_lines_with(const std::string& log,
                                               const std::vector<std::string>& needles) {
    std::vector<std::string> found;
    std::istringstream lines(log);
    for (std::string line; std::getline(lines, line);) {
        bool all = true;
        for (const auto& needle : needles) all = all && has_field(line, needle);
        if (all) found.push_back(line);
    }
    return found;
}

}  // namespace teed::test
