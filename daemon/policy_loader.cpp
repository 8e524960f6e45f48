#include "daemon/policy_loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>

#include "common/build_config.h"
#include "common/log.h"
#include "common/unique_fd.h"

namespace teed {
namespace {

namespace fs = std::filesystem;

bool is_policy_file_name(const std::string& name) {
    return name.size() > 5 && name.front() != '.' && name.ends_with(".json");
}

// A symlink to /dev/null masks the file of the same name, as in systemd's configuration
// directories. Checked as systemd does, by device number (fs::equivalent refuses devices).
bool is_masked(const fs::path& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
}

// The files that make up the policy, by name; a later path's file replaces an earlier one's.
std::map<std::string, fs::path> collect_files(const std::vector<std::string>& paths,
                                              MissingPath missing, PolicyLoadReport& report) {
    std::map<std::string, fs::path> by_name;
    for (const std::string& path : paths) {
        std::error_code ec;
        fs::file_status status = fs::status(path, ec);
        if (!fs::exists(status)) {
            if (missing == MissingPath::IsError || (ec && ec != std::errc::no_such_file_or_directory))
                report.errors.push_back({path, 0, ec ? ec.message() : "No such file or directory"});
            continue;
        }
        if (!fs::is_directory(status)) {
            by_name[fs::path(path).filename()] = path;
            continue;
        }
        fs::directory_iterator entries(path, ec);
        if (ec) {
            report.errors.push_back({path, 0, "cannot list the directory: " + ec.message()});
            continue;
        }
        for (const auto& entry : entries) {
            std::string name = entry.path().filename();
            if (is_policy_file_name(name)) by_name[name] = entry.path();
        }
    }
    return by_name;
}

// The file's content, or nullopt with an error in `report`. Refuses anything but a regular file
// (a FIFO would block the daemon) and anything past kMaxPolicyFileBytes.
std::optional<std::string> read_policy_file(const std::string& path, PolicyLoadReport& report) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    struct stat st {};
    if (!fd.valid() || ::fstat(fd.get(), &st) != 0) {
        report.errors.push_back({path, 0, std::string("cannot read: ") + std::strerror(errno)});
        return std::nullopt;
    }
    if (!S_ISREG(st.st_mode)) {
        report.errors.push_back({path, 0, "not a regular file"});
        return std::nullopt;
    }
    std::string text;
    char buffer[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            report.errors.push_back({path, 0, std::string("cannot read: ") + std::strerror(errno)});
            return std::nullopt;
        }
        if (n == 0) return text;
        if (text.size() + static_cast<size_t>(n) > kMaxPolicyFileBytes) {
            report.errors.push_back({path, 0, "larger than " + std::to_string(kMaxPolicyFileBytes) +
                                                  " bytes, the most a policy file may hold"});
            return std::nullopt;
        }
        text.append(buffer, static_cast<size_t>(n));
    }
}

template <typename T>
void append(std::vector<T>& to, std::vector<T>&& from) {
    to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

}  // namespace

std::vector<std::string> default_policy_directories() {
    return {std::string(TEED_DATADIR) + "/teed/policy.d",
            std::string(TEED_SYSCONFDIR) + "/teed/policy.d"};
}

LoadedPolicy load_policy(const std::vector<std::string>& paths, MissingPath missing,
                         const NameResolver& resolver) {
    LoadedPolicy loaded;
    PolicyLoadReport& report = loaded.report;
    std::vector<PolicyRule> rules;
    GlobalLimitOverrides global;
    for (const auto& [name, path] : collect_files(paths, missing, report)) {
        if (is_masked(path)) continue;
        auto text = read_policy_file(path, report);
        if (!text) continue;
        report.files.push_back(path);
        PolicyFileResult file = parse_policy_text(*text, path, resolver);
        append(rules, std::move(file.rules));
        global.merge(file.global_limits);
        append(report.errors, std::move(file.errors));
        append(report.warnings, std::move(file.warnings));
    }
    if (!report.ok()) return loaded;
    report.rules = rules.size();
    loaded.policy = std::make_shared<const Policy>(std::move(rules), global);
    return loaded;
}

PolicyStore::PolicyStore(std::vector<std::string> directories, NameResolver resolver)
    : directories_(std::move(directories)), resolver_(std::move(resolver)) {}

PolicyLoadReport PolicyStore::reload() {
    LoadedPolicy loaded = load_policy(directories_, MissingPath::Ignore, resolver_);
    if (loaded.policy) current_ = std::move(loaded.policy);
    return std::move(loaded.report);
}

void log_policy_report(const PolicyLoadReport& report) {
    for (const auto& w : report.warnings) log_warning("policy: " + w.to_string());
    for (const auto& e : report.errors) log_error("policy: " + e.to_string());
    if (report.ok())
        log_info("policy loaded", {{"TEED_POLICY_FILES", std::to_string(report.files.size())},
                                   {"TEED_POLICY_RULES", std::to_string(report.rules)}});
    else
        log_error("policy rejected; the previous policy stays in force");
}

}  // namespace teed
