#include "daemon/peer_process.h"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <optional>
#include <string_view>

#include "common/unique_fd.h"

namespace teed {
namespace {

// Field 22 of /proc/PID/stat, counted from 1; fields 1 and 2 end at the last ')'.
constexpr int kStartTimeField = 22;
constexpr int kFirstFieldAfterComm = 3;

Error process_exited(pid_t pid) {
    return Error(ErrorKind::NotFound) << "process " << pid << " has exited";
}

// A failed call on /proc/PID: ENOENT and ESRCH mean the process is gone (its directory, or a file
// in it, disappears once it has been reaped).
Error proc_error(int err, pid_t pid, std::string_view what) {
    if (err == ENOENT || err == ESRCH) return process_exited(pid);
    return ErrnoError(err) << "reading " << what << " of process " << pid;
}

Result<std::string> read_proc_file(int dir_fd, const char* name, pid_t pid) {
    // Blocking on purpose: /proc files never block, and a test may put a FIFO in a fake proc root.
    UniqueFd fd(::openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd.valid()) return proc_error(errno, pid, name);
    std::string text;
    char buffer[4096];
    for (;;) {
        ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return proc_error(errno, pid, name);
        if (n == 0) return text;
        text.append(buffer, static_cast<size_t>(n));
    }
}

template <typename Int>
std::optional<Int> parse_number(std::string_view text) {
    Int value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

// Takes the first line off `rest` and returns it without its '\n'.
std::string_view take_line(std::string_view& rest) {
    size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    return line;
}

// The `index`th space-separated field of `text`, counted from 0, or nullopt.
std::optional<std::string_view> field(std::string_view text, int index) {
    size_t start = text.find_first_not_of(" \t\n");
    for (int i = 0; start != std::string_view::npos; ++i) {
        size_t end = text.find_first_of(" \t\n", start);
        if (i == index)
            return text.substr(start, end == std::string_view::npos ? end : end - start);
        start = end == std::string_view::npos ? end : text.find_first_not_of(" \t\n", end);
    }
    return std::nullopt;
}

Result<uint64_t> read_start_time(int dir_fd, pid_t pid) {
    std::string stat = TEED_TRY(read_proc_file(dir_fd, "stat", pid));
    // comm (field 2) is the executable's name in parentheses and may itself hold spaces and ')'.
    size_t comm_end = stat.rfind(')');
    std::optional<std::string_view> text;
    if (comm_end != std::string::npos)
        text = field(std::string_view(stat).substr(comm_end + 1),
                     kStartTimeField - kFirstFieldAfterComm);
    std::optional<uint64_t> start_time = text ? parse_number<uint64_t>(*text) : std::nullopt;
    if (!start_time)
        return Error(ErrorKind::Internal)
               << "cannot read the start time of process " << pid << " from its stat file";
    return *start_time;
}

// The second field (the effective id) of a "Uid:" or "Gid:" line of /proc/PID/status, whose
// fields are the real, effective, saved and filesystem ids.
Result<uint32_t> effective_id(std::string_view status, std::string_view key, pid_t pid) {
    std::optional<uint32_t> id;
    for (std::string_view rest = status; !rest.empty();) {
        std::string_view line = take_line(rest);
        if (!line.starts_with(key)) continue;
        std::optional<std::string_view> text = field(line.substr(key.size()), 1);
        if (text) id = parse_number<uint32_t>(*text);
        break;
    }
    if (!id)
        return Error(ErrorKind::Internal)
               << "cannot read the " << key << " line of process " << pid << "'s status file";
    return *id;
}

// The process's cgroup path: the cgroup v2 line ("0::/path"), or on a legacy hierarchy the line
// of systemd's own ("1:name=systemd:/path"); "" when there is neither.
std::string_view cgroup_path(std::string_view cgroup_file) {
    constexpr std::string_view kLegacy = "name=systemd:";
    std::string_view legacy;
    for (std::string_view rest = cgroup_file; !rest.empty();) {
        std::string_view line = take_line(rest);
        if (line.starts_with("0::")) return line.substr(3);
        size_t colon = line.find(':');
        if (colon != std::string_view::npos && line.substr(colon + 1).starts_with(kLegacy))
            legacy = line.substr(colon + 1 + kLegacy.size());
    }
    return legacy;
}

// The unit of a cgroup path, by the rule of systemd's cg_path_get_unit() (behind
// sd_pid_get_unit()): skip the leading ".slice" components; the next component is the unit if it
// is a service or a scope. systemd escapes a component that could clash with a kernel file name
// by prefixing '_', which is dropped here as it does.
//
// Parsed here rather than asked of sd_pid_get_unit() so that every field comes from the same
// /proc/PID directory, between the two start-time reads, and so that a fake proc root exercises
// it. systemd also shifts the path by its own root cgroup, which is "/" for a teed on the host.
std::string unit_of_cgroup(std::string_view path) {
    while (!path.empty()) {
        path.remove_prefix(std::min(path.find_first_not_of('/'), path.size()));
        size_t end = path.find('/');
        std::string_view component = path.substr(0, end);
        if (component.starts_with('_')) component.remove_prefix(1);
        if (!component.ends_with(".slice")) {
            bool is_unit = component.ends_with(".service") || component.ends_with(".scope");
            return is_unit ? std::string(component) : std::string();
        }
        path = end == std::string_view::npos ? std::string_view() : path.substr(end);
    }
    return {};
}

// Reading another user's /proc/PID/exe needs ptrace access, which a teed without
// CAP_SYS_PTRACE may lack; the executable is then unknown, not an error.
std::string read_executable(int dir_fd) {
    char target[PATH_MAX];
    ssize_t n = ::readlinkat(dir_fd, "exe", target, sizeof target);
    if (n < 0 || static_cast<size_t>(n) == sizeof target) return {};
    std::string_view path(target, static_cast<size_t>(n));
    constexpr std::string_view kDeleted = " (deleted)";
    if (path.ends_with(kDeleted)) path.remove_suffix(kDeleted.size());
    return std::string(path);
}

}  // namespace

Result<PeerProcess> read_peer_process(pid_t pid, uid_t expected_uid, const std::string& proc_root) {
    if (pid <= 0) return Error(ErrorKind::InvalidArgument) << "the bus reported no process id";
    // Everything is read through one descriptor of /proc/PID. The kernel ties that directory to
    // the process it was opened for, so a later read fails rather than reading a newcomer that
    // took the pid; the start time read again at the end makes the same check explicit.
    std::string dir = proc_root + "/" + std::to_string(pid);
    UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd.valid()) return proc_error(errno, pid, "'" + dir + "'");

    PeerProcess peer;
    peer.start_time = TEED_TRY(read_start_time(dir_fd.get(), pid));
    std::string status = TEED_TRY(read_proc_file(dir_fd.get(), "status", pid));
    uid_t euid = TEED_TRY(effective_id(status, "Uid:", pid));
    if (euid != expected_uid)
        return Error(ErrorKind::AccessDenied)
               << "process " << pid << " runs as uid " << euid << ", not as uid " << expected_uid
               << " that its bus connection was made with: it changed its effective uid, or it "
                  "exited and its pid was reused; make calls from a process that keeps the uid it "
                  "connected with";
    peer.gid = TEED_TRY(effective_id(status, "Gid:", pid));
    std::string cgroup = TEED_TRY(read_proc_file(dir_fd.get(), "cgroup", pid));
    peer.unit = unit_of_cgroup(cgroup_path(cgroup));
    peer.executable = read_executable(dir_fd.get());
    if (TEED_TRY(read_start_time(dir_fd.get(), pid)) != peer.start_time)
        return Error(ErrorKind::AccessDenied)
               << "process " << pid << " changed while being read (its pid was reused)";
    return peer;
}

Uuid application_identity(const std::string& executable) {
    if (executable.empty()) return Uuid{};
    static const Uuid kNamespace = Uuid::parse("58ac9ca0-2086-4683-a1b8-ec4bc08e01b6").value();
    return Uuid::v5(kNamespace, "path=" + executable);
}

}  // namespace teed
