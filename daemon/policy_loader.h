#pragma once
// Policy files on disk: which files make up the policy, reading them with a size cap, and keeping
// the policy in force when a reload fails (docs/policy.md).
//
//   PolicyStore store(default_policy_directories());
//   PolicyLoadReport report = store.reload();      // at start, on SIGHUP
//   for (auto& w : report.warnings) log_warning(w.to_string());
//   PolicyDecision d = store.current()->decide_session(client, request, config.limits);

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "daemon/policy.h"
#include "daemon/policy_parser.h"

namespace teed {

// A larger policy file is refused unread: policy files are small, and teed reads them into memory.
inline constexpr size_t kMaxPolicyFileBytes = 1u << 20;

// The directories teed reads, lowest precedence first: ${datadir}/teed/policy.d (shipped by the
// package), then ${sysconfdir}/teed/policy.d (the administrator's).
std::vector<std::string> default_policy_directories();

struct PolicyLoadReport {
    std::vector<std::string> files;  // the files that make up the policy, in the order read
    std::vector<PolicyProblem> errors;
    std::vector<PolicyProblem> warnings;
    size_t rules = 0;

    bool ok() const { return errors.empty(); }
};

struct LoadedPolicy {
    std::shared_ptr<const Policy> policy;  // null when there were errors
    PolicyLoadReport report;
};

// What a path that does not exist means: nothing (teed's own directories are optional), or an
// error (a path someone named on the command line).
enum class MissingPath { Ignore, IsError };

// Reads the policy from `paths`, each a directory (its *.json files, hidden ones skipped) or a
// file. Files are taken by name: a file in a later path replaces an earlier path's file of the
// same name, and a file that is a symlink to /dev/null removes it (masks it). The remaining files
// are read in name order and their rules concatenated. Any error rejects the whole policy.
LoadedPolicy load_policy(const std::vector<std::string>& paths, MissingPath missing,
                         const NameResolver& resolver = NameResolver::system());

// Logs each problem, and whether the policy was loaded or rejected.
void log_policy_report(const PolicyLoadReport& report);

// The policy in force. Starts empty (everything denied) until a reload succeeds; a reload with
// errors leaves the previous policy in force. Not thread-safe: use it from the loop thread and
// hand workers the shared_ptr from current().
class PolicyStore {
public:
    explicit PolicyStore(std::vector<std::string> directories,
                         NameResolver resolver = NameResolver::system());

    PolicyLoadReport reload();
    std::shared_ptr<const Policy> current() const { return current_; }
    // Puts `policy` in force as a successful reload would (tests; a fixed policy).
    void install(std::shared_ptr<const Policy> policy) { current_ = std::move(policy); }
    const std::vector<std::string>& directories() const { return directories_; }

private:
    std::vector<std::string> directories_;
    NameResolver resolver_;
    std::shared_ptr<const Policy> current_ = std::make_shared<const Policy>();
};

}  // namespace teed
