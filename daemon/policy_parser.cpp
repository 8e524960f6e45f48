#include "daemon/policy_parser.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <memory>
#include <set>
#include <string_view>

#include <json/json.h>

namespace teed {
namespace {

constexpr size_t kMaxNameLength = 128;  // rule names and device names
constexpr size_t kMaxUnitNameLength = 255;  // systemd's UNIT_NAME_MAX

bool made_of(std::string_view text, std::string_view extra_chars) {
    return std::all_of(text.begin(), text.end(), [&](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               extra_chars.find(c) != std::string_view::npos;
    });
}

bool is_rule_name(std::string_view s) {
    return !s.empty() && s.size() <= kMaxNameLength && made_of(s, "-_.:@");
}
bool is_device_name(std::string_view s) {
    return !s.empty() && s.size() <= kMaxNameLength && made_of(s, "-_");
}
// The characters systemd allows in unit names, and a type suffix ("foo.service").
bool is_unit_name(std::string_view s) {
    auto dot = s.rfind('.');
    return s.size() <= kMaxUnitNameLength && dot != std::string_view::npos && dot > 0 &&
           dot + 1 < s.size() && made_of(s, "-_.:@\\");
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// jsoncpp's CharReader (1.9.5) reports errors only as text: "* Line 3, Column 5\n  Syntax error:
// ...\n". The first error's line and message are what a person needs.
PolicyProblem problem_from_reader_errors(const std::string& file, const std::string& errors) {
    PolicyProblem problem{file, 0, "not valid JSON"};
    int line = 0, column = 0;
    if (std::sscanf(errors.c_str(), "* Line %d, Column %d", &line, &column) == 2) problem.line = line;
    auto first_newline = errors.find('\n');
    if (first_newline != std::string::npos) {
        auto start = errors.find_first_not_of(' ', first_newline + 1);
        auto end = errors.find('\n', start);
        if (start != std::string::npos)
            problem.reason = "not valid JSON: " + errors.substr(start, end - start);
    }
    return problem;
}

bool is_global_limit(const std::string& key) {
    return key == "max_clients" || key == "max_sessions_total" ||
           key == "max_concurrent_calls_total" || key == "max_shm_bytes_total";
}

// As /proc/PID/exe shows it: absolute, and without "." or ".." components that would never match.
bool is_executable_path(std::string_view path) {
    if (path.size() < 2 || path.front() != '/' || path.back() == '/') return false;
    return path.find("/./") == std::string::npos && path.find("/../") == std::string::npos &&
           path.find("//") == std::string::npos && !path.ends_with("/.") && !path.ends_with("/..");
}

class FileParser {
public:
    FileParser(const std::string& text, const std::string& file, const NameResolver& resolver)
        : text_(text), file_(file), resolver_(resolver) {}

    PolicyFileResult parse() &&;

private:
    int line_of(const Json::Value& value) const;
    void error(const Json::Value& at, const std::string& reason);
    void warning(const Json::Value& at, const std::string& reason);
    bool expect_object(const Json::Value& value, const std::string& path);
    // Errors for every key of `object` not in `known`; false if there was one.
    bool known_keys(const Json::Value& object, const std::string& path,
                    std::initializer_list<std::string_view> known);
    // A non-empty list; each entry is then checked by the caller.
    bool expect_list(const Json::Value& value, const std::string& path, const char* what);
    // A list of strings that `valid` accepts, into `ret`; each other entry is an error saying it
    // `must_be`. False (with the error) when `value` is not a list at all.
    bool parse_strings(const Json::Value& value, const std::string& path, const char* list_of,
                       bool (*valid)(std::string_view), const char* must_be,
                       std::optional<std::vector<std::string>>& ret, bool& ok);
    // A scope list: strings each turned into a T by `convert` (nullopt: not valid, described by
    // `expected`), or "*" alone, which means any and gives nullopt. Errors set `ret_ok` false.
    template <typename T, typename Convert>
    std::optional<std::vector<T>> scope_list(const Json::Value& value, const std::string& path,
                                             const char* what, const char* expected,
                                             Convert convert, bool& ret_ok);

    bool parse_version(const Json::Value& root);
    std::optional<PolicyRule> parse_rule(const Json::Value& value, const std::string& path);
    bool parse_match(const Json::Value& value, const std::string& path, ClientMatch& ret_match);
    std::optional<std::vector<uid_t>> parse_users(const Json::Value& value, const std::string& path,
                                                  bool& ret_ok);
    std::optional<std::vector<gid_t>> parse_groups(const Json::Value& value,
                                                   const std::string& path, bool& ret_ok);
    bool parse_permissions(const Json::Value& value, const std::string& path,
                           std::optional<SessionScope>& ret_sessions);
    bool parse_sessions(const Json::Value& value, const std::string& path, SessionScope& ret_scope);
    bool parse_limits(const Json::Value& value, const std::string& path, LimitOverrides& ret_limits);
    bool parse_global_limits(const Json::Value& value, GlobalLimitOverrides& ret_limits);
    template <typename T>
    bool parse_limit(const Json::Value& value, const std::string& path, std::optional<T>& ret);

    const std::string& text_;
    const std::string& file_;
    const NameResolver& resolver_;
    PolicyFileResult result_;
};

int FileParser::line_of(const Json::Value& value) const {
    auto offset = static_cast<size_t>(std::max<ptrdiff_t>(value.getOffsetStart(), 0));
    offset = std::min(offset, text_.size());
    return 1 + static_cast<int>(std::count(text_.begin(), text_.begin() + static_cast<ptrdiff_t>(offset), '\n'));
}

void FileParser::error(const Json::Value& at, const std::string& reason) {
    result_.errors.push_back({file_, line_of(at), reason});
}

void FileParser::warning(const Json::Value& at, const std::string& reason) {
    result_.warnings.push_back({file_, line_of(at), reason});
}

bool FileParser::expect_object(const Json::Value& value, const std::string& path) {
    if (value.isObject()) return true;
    error(value, path + " must be an object");
    return false;
}

bool FileParser::known_keys(const Json::Value& object, const std::string& path,
                            std::initializer_list<std::string_view> known) {
    bool ok = true;
    for (const std::string& key : object.getMemberNames()) {
        if (std::find(known.begin(), known.end(), key) != known.end()) continue;
        std::string expected;
        for (auto k : known) expected += (expected.empty() ? "" : ", ") + std::string(k);
        error(object[key], "unknown key " + quoted(key) + " in " + path + " (expected " + expected + ")");
        ok = false;
    }
    return ok;
}

bool FileParser::expect_list(const Json::Value& value, const std::string& path, const char* what) {
    if (!value.isArray()) {
        error(value, path + " must be a list of " + what);
        return false;
    }
    if (value.empty()) {
        error(value, path + " must name at least one of " + what + " (leave it out to mean any)");
        return false;
    }
    return true;
}

template <typename T, typename Convert>
std::optional<std::vector<T>> FileParser::scope_list(const Json::Value& value,
                                                     const std::string& path, const char* what,
                                                     const char* expected, Convert convert,
                                                     bool& ret_ok) {
    if (!expect_list(value, path, what)) return ret_ok = false, std::vector<T>{};
    std::vector<T> entries;
    bool any = false;
    for (Json::ArrayIndex i = 0; i < value.size(); ++i) {
        std::string at = path + "[" + std::to_string(i) + "]";
        std::optional<T> entry;
        if (value[i].isString() && value[i].asString() == "*") {
            any = true;
            continue;
        }
        if (value[i].isString()) entry = convert(value[i].asString());
        if (!entry) {
            error(value[i], value[i].isString()
                                ? at + ": " + quoted(value[i].asString()) + " is not " + expected + " or '*'"
                                : at + " must be a string: " + expected + " or '*'");
            ret_ok = false;
            continue;
        }
        entries.push_back(*entry);
    }
    if (any && value.size() > 1) {
        error(value, path + ": '*' already means all " + what + "; list nothing else with it");
        ret_ok = false;
    }
    if (any) return std::nullopt;
    return entries;
}

bool FileParser::parse_version(const Json::Value& root) {
    if (!root.isMember("version")) {
        error(root, "missing 'version' (this teed reads version " + std::to_string(kPolicyVersion) + ")");
        return false;
    }
    const Json::Value& v = root["version"];
    if (v.isUInt() && v.asUInt() > kPolicyVersion) {
        error(v, "version " + std::to_string(v.asUInt()) + " is newer than this teed reads (" +
                     std::to_string(kPolicyVersion) + ")");
        return false;
    }
    if (!v.isUInt() || v.asUInt() != kPolicyVersion) {
        error(v, "'version' must be " + std::to_string(kPolicyVersion));
        return false;
    }
    return true;
}

PolicyFileResult FileParser::parse() && {
    Json::CharReaderBuilder builder;
    Json::CharReaderBuilder::strictMode(&builder.settings_);  // no trailing commas, no duplicates
    builder["allowComments"] = true;
    std::unique_ptr<Json::CharReader> reader(builder.newCharReader());
    Json::Value root;
    std::string errors;
    if (!reader->parse(text_.data(), text_.data() + text_.size(), &root, &errors)) {
        result_.errors.push_back(problem_from_reader_errors(file_, errors));
        return std::move(result_);
    }
    if (!expect_object(root, "the top level")) return std::move(result_);
    bool keys_ok = known_keys(root, "the top level", {"version", "rules", "limits"});
    // A newer schema may mean something else by any key: read nothing else.
    if (!parse_version(root) || !keys_ok) return std::move(result_);
    const Json::Value& rules = root["rules"];
    if (!root.isMember("rules") || !rules.isArray()) {
        error(root.isMember("rules") ? rules : root, "'rules' must be a list of rules (it may be empty)");
        return std::move(result_);
    }
    if (root.isMember("limits")) parse_global_limits(root["limits"], result_.global_limits);
    std::set<std::string> names;
    for (Json::ArrayIndex i = 0; i < rules.size(); ++i) {
        auto rule = parse_rule(rules[i], "rules[" + std::to_string(i) + "]");
        if (!rule) continue;
        if (!names.insert(rule->name).second) {
            error(rules[i], "a second rule named " + quoted(rule->name) + " in this file");
            continue;
        }
        result_.rules.push_back(std::move(*rule));
    }
    if (!result_.errors.empty()) result_.rules.clear();
    // Keys are checked before values, so problems are found out of order: report them by line.
    auto by_line = [](const PolicyProblem& a, const PolicyProblem& b) { return a.line < b.line; };
    std::stable_sort(result_.errors.begin(), result_.errors.end(), by_line);
    std::stable_sort(result_.warnings.begin(), result_.warnings.end(), by_line);
    return std::move(result_);
}

std::optional<PolicyRule> FileParser::parse_rule(const Json::Value& value, const std::string& path) {
    if (!expect_object(value, path)) return std::nullopt;
    bool ok = known_keys(value, path, {"name", "match", "allow", "deny", "limits"});
    PolicyRule rule;
    const Json::Value& name = value["name"];
    if (!name.isString() || !is_rule_name(name.asString())) {
        error(value.isMember("name") ? name : value,
              path + ".name must be a string of letters, digits and - _ . : @ (at most 128)");
        ok = false;
    } else {
        rule.name = name.asString();
    }
    rule.source = file_ + ":" + std::to_string(line_of(value));
    // "rule 'x': allow.sessions.tas: ..." reads better than an index, when there is a name.
    std::string where = rule.name.empty() ? path + "." : "rule " + quoted(rule.name) + ": ";
    if (value.isMember("match")) ok = parse_match(value["match"], where + "match", rule.match) && ok;
    if (value.isMember("allow"))
        ok = parse_permissions(value["allow"], where + "allow", rule.allow_sessions) && ok;
    if (value.isMember("deny"))
        ok = parse_permissions(value["deny"], where + "deny", rule.deny_sessions) && ok;
    if (value.isMember("limits")) ok = parse_limits(value["limits"], where + "limits", rule.limits) && ok;
    if (ok && !value.isMember("allow") && !value.isMember("deny") && !value.isMember("limits")) {
        error(value, path + " (" + quoted(rule.name) +
                         ") has none of 'allow', 'deny' or 'limits', so it would do nothing");
        ok = false;
    }
    if (!ok) return std::nullopt;
    return rule;
}

bool FileParser::parse_match(const Json::Value& value, const std::string& path,
                             ClientMatch& ret_match) {
    if (!expect_object(value, path)) return false;
    bool ok = known_keys(value, path, {"users", "groups", "units", "executables"});
    if (value.isMember("users")) ret_match.uids = parse_users(value["users"], path + ".users", ok);
    if (value.isMember("groups")) ret_match.gids = parse_groups(value["groups"], path + ".groups", ok);
    if (value.isMember("units") &&
        !parse_strings(value["units"], path + ".units", "systemd unit names", is_unit_name,
                       "a systemd unit name such as 'foo.service'", ret_match.units, ok))
        return false;
    if (value.isMember("executables") &&
        !parse_strings(value["executables"], path + ".executables", "absolute paths",
                       is_executable_path, "an absolute path such as '/usr/bin/wallet'",
                       ret_match.executables, ok))
        return false;
    return ok;
}

bool FileParser::parse_strings(const Json::Value& value, const std::string& path,
                               const char* list_of, bool (*valid)(std::string_view),
                               const char* must_be, std::optional<std::vector<std::string>>& ret,
                               bool& ok) {
    if (!expect_list(value, path, list_of)) return false;
    ret.emplace();
    for (Json::ArrayIndex i = 0; i < value.size(); ++i) {
        if (!value[i].isString() || !valid(value[i].asString())) {
            error(value[i], path + "[" + std::to_string(i) + "] must be " + must_be);
            ok = false;
            continue;
        }
        ret->push_back(value[i].asString());
    }
    return true;
}

// Users and groups are names (looked up now) or numeric ids. A name that does not resolve is left
// out with a warning, so the list may end up empty: present but matching no one, never everyone.
std::optional<std::vector<uid_t>> FileParser::parse_users(const Json::Value& value,
                                                          const std::string& path, bool& ret_ok) {
    if (!expect_list(value, path, "user names or uids")) return ret_ok = false, std::vector<uid_t>{};
    std::vector<uid_t> uids;
    for (Json::ArrayIndex i = 0; i < value.size(); ++i) {
        const Json::Value& entry = value[i];
        std::string at = path + "[" + std::to_string(i) + "]";
        if (entry.isUInt() && entry.asUInt() != std::numeric_limits<uid_t>::max()) {
            uids.push_back(static_cast<uid_t>(entry.asUInt()));
        } else if (entry.isString() && !entry.asString().empty()) {
            if (auto uid = resolver_.user(entry.asString()))
                uids.push_back(*uid);
            else
                warning(entry, at + ": unknown user " + quoted(entry.asString()) + "; this entry never matches");
        } else {
            error(entry, at + " must be a user name or a uid");
            ret_ok = false;
        }
    }
    return uids;
}

std::optional<std::vector<gid_t>> FileParser::parse_groups(const Json::Value& value,
                                                           const std::string& path, bool& ret_ok) {
    if (!expect_list(value, path, "group names or gids")) return ret_ok = false, std::vector<gid_t>{};
    std::vector<gid_t> gids;
    for (Json::ArrayIndex i = 0; i < value.size(); ++i) {
        const Json::Value& entry = value[i];
        std::string at = path + "[" + std::to_string(i) + "]";
        if (entry.isUInt() && entry.asUInt() != std::numeric_limits<gid_t>::max()) {
            gids.push_back(static_cast<gid_t>(entry.asUInt()));
        } else if (entry.isString() && !entry.asString().empty()) {
            if (auto gid = resolver_.group(entry.asString()))
                gids.push_back(*gid);
            else
                warning(entry, at + ": unknown group " + quoted(entry.asString()) + "; this entry never matches");
        } else {
            error(entry, at + " must be a group name or a gid");
            ret_ok = false;
        }
    }
    return gids;
}

// "allow" and "deny" hold one key per kind of thing a client can ask for. Only "sessions" exists
// in version 1; later kinds ("services", "objects", "vms") are new keys beside it, so files
// written for version 1 keep their meaning.
bool FileParser::parse_permissions(const Json::Value& value, const std::string& path,
                                   std::optional<SessionScope>& ret_sessions) {
    if (!expect_object(value, path)) return false;
    bool ok = known_keys(value, path, {"sessions"});
    if (value.isMember("sessions")) {
        SessionScope scope;
        if (parse_sessions(value["sessions"], path + ".sessions", scope))
            ret_sessions = std::move(scope);
        else
            ok = false;
    }
    return ok;
}

bool FileParser::parse_sessions(const Json::Value& value, const std::string& path,
                                SessionScope& ret_scope) {
    if (!expect_object(value, path)) return false;
    bool ok = known_keys(value, path, {"devices", "tas", "logins"});
    if (value.isMember("devices"))
        ret_scope.devices = scope_list<std::string>(
            value["devices"], path + ".devices", "devices", "a device name such as 'tee0'",
            [](const std::string& s) -> std::optional<std::string> {
                if (!is_device_name(s)) return std::nullopt;
                return s;
            },
            ok);
    if (value.isMember("tas"))
        ret_scope.tas = scope_list<Uuid>(
            value["tas"], path + ".tas", "TAs", "a TA UUID (8-4-4-4-12 hex digits)",
            [](const std::string& s) -> std::optional<Uuid> {
                auto uuid = Uuid::parse(s);
                if (!uuid.ok()) return std::nullopt;
                return *uuid;
            },
            ok);
    if (value.isMember("logins"))
        ret_scope.logins = scope_list<uint32_t>(
            value["logins"], path + ".logins", "login methods",
            "one of public, user, group, application, user_application, group_application",
            [](const std::string& s) { return login_from_policy_name(s); }, ok);
    return ok;
}

template <typename T>
bool FileParser::parse_limit(const Json::Value& value, const std::string& path, std::optional<T>& ret) {
    if (!value.isUInt64() || value.asUInt64() > std::numeric_limits<T>::max()) {
        error(value, path + " must be a non-negative integer of at most " +
                         std::to_string(std::numeric_limits<T>::max()));
        return false;
    }
    ret = static_cast<T>(value.asUInt64());
    return true;
}

bool FileParser::parse_limits(const Json::Value& value, const std::string& path,
                              LimitOverrides& ret_limits) {
    if (!expect_object(value, path)) return false;
    bool ok = true;
    LimitOverrides& l = ret_limits;
    for (const std::string& key : value.getMemberNames()) {
        const Json::Value& v = value[key];
        std::string at = path + "." + key;
        if (key == "max_memref_bytes") ok = parse_limit(v, at, l.max_memref_bytes) && ok;
        else if (key == "max_call_memref_bytes") ok = parse_limit(v, at, l.max_call_memref_bytes) && ok;
        else if (key == "max_sessions_per_client") ok = parse_limit(v, at, l.max_sessions_per_client) && ok;
        else if (key == "max_concurrent_calls_per_client")
            ok = parse_limit(v, at, l.max_concurrent_calls_per_client) && ok;
        else if (key == "max_shm_bytes") ok = parse_limit(v, at, l.max_shm_bytes) && ok;
        else if (key == "max_shm_per_client") ok = parse_limit(v, at, l.max_shm_per_client) && ok;
        else if (key == "max_shm_bytes_per_client") ok = parse_limit(v, at, l.max_shm_bytes_per_client) && ok;
        else if (key == "max_channels_per_session") ok = parse_limit(v, at, l.max_channels_per_session) && ok;
        else if (is_global_limit(key)) {
            error(v, at + " is a limit on all clients together: set it in the file's top-level"
                          " \"limits\" or in teed.conf (docs/policy.md)");
            ok = false;
        } else {
            error(v, "unknown key " + quoted(key) + " in " + path +
                         " (expected one of the per-client limits in docs/policy.md)");
            ok = false;
        }
    }
    return ok;
}

bool FileParser::parse_global_limits(const Json::Value& value, GlobalLimitOverrides& ret_limits) {
    const std::string path = "the top-level 'limits'";
    if (!expect_object(value, path)) return false;
    bool ok = true;
    GlobalLimitOverrides& l = ret_limits;
    for (const std::string& key : value.getMemberNames()) {
        const Json::Value& v = value[key];
        std::string at = "limits." + key;
        if (key == "max_clients") ok = parse_limit(v, at, l.max_clients) && ok;
        else if (key == "max_sessions_total") ok = parse_limit(v, at, l.max_sessions_total) && ok;
        else if (key == "max_concurrent_calls_total") ok = parse_limit(v, at, l.max_concurrent_calls_total) && ok;
        else if (key == "max_shm_bytes_total") ok = parse_limit(v, at, l.max_shm_bytes_total) && ok;
        else {
            error(v, "unknown key " + quoted(key) + " in " + path +
                         " (expected max_clients, max_sessions_total, max_concurrent_calls_total or"
                         " max_shm_bytes_total; per-client limits belong in a rule)");
            ok = false;
        }
    }
    return ok;
}

// getpwnam_r/getgrnam_r want a caller buffer; sysconf gives a hint that may be -1 or too small.
template <typename Entry, typename Lookup>
bool lookup_entry(const std::string& name, Lookup lookup, Entry& ret_entry) {
    std::vector<char> buffer(16384);
    for (;;) {
        Entry* found = nullptr;
        int err = lookup(name.c_str(), &ret_entry, buffer.data(), buffer.size(), &found);
        if (err == ERANGE && buffer.size() < (1u << 20)) {
            buffer.resize(buffer.size() * 4);
            continue;
        }
        return err == 0 && found != nullptr;
    }
}

}  // namespace

std::string PolicyProblem::to_string() const {
    if (line <= 0) return file + ": " + reason;
    return file + ":" + std::to_string(line) + ": " + reason;
}

NameResolver NameResolver::system() {
    return NameResolver{
        .user = [](const std::string& name) -> std::optional<uid_t> {
            struct passwd entry {};
            if (!lookup_entry(name, getpwnam_r, entry)) return std::nullopt;
            return entry.pw_uid;
        },
        .group = [](const std::string& name) -> std::optional<gid_t> {
            struct group entry {};
            if (!lookup_entry(name, getgrnam_r, entry)) return std::nullopt;
            return entry.gr_gid;
        },
    };
}

PolicyFileResult parse_policy_text(const std::string& text, const std::string& file,
                                   const NameResolver& resolver) {
    return FileParser(text, file, resolver).parse();
}

}  // namespace teed
