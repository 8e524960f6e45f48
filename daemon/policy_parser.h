#pragma once
// One policy file's JSON turned into rules, strictly: broken JSON, a wrong type, an unknown key or
// a bad value is an error naming the file and line; a user or group that does not exist is a
// warning and that entry never matches. The format is in docs/policy.md.
//
//   PolicyFileResult r = parse_policy_text(text, "/etc/teed/policy.d/10-x.json", resolver);
//   for (auto& e : r.errors) fprintf(stderr, "%s\n", e.to_string().c_str());

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "daemon/policy.h"

namespace teed {

// The newest schema version this teed reads.
inline constexpr uint32_t kPolicyVersion = 1;

struct PolicyProblem {
    std::string file;
    int line = 0;  // 1-based; 0 when the problem is with the whole file
    std::string reason;

    // "file:line: reason", or "file: reason" without a line.
    std::string to_string() const;
};

// Looks up user and group names; nullopt when there is no such name.
struct NameResolver {
    std::function<std::optional<uid_t>(const std::string&)> user;
    std::function<std::optional<gid_t>(const std::string&)> group;

    // getpwnam_r and getgrnam_r: the system's databases (NSS) at load time.
    static NameResolver system();
};

struct PolicyFileResult {
    std::vector<PolicyRule> rules;
    GlobalLimitOverrides global_limits;  // the file's top-level "limits"
    std::vector<PolicyProblem> errors;
    std::vector<PolicyProblem> warnings;
};

// `file` names the origin in problems and in each rule's source.
PolicyFileResult parse_policy_text(const std::string& text, const std::string& file,
                                   const NameResolver& resolver);

}  // namespace teed
