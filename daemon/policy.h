#pragma once
// teed's own access policy (docs/policy.md): rules that match a client by uid, group or systemd
// unit and allow or deny what it may do, plus per-client limits. A Policy is immutable once built
// (daemon/policy_loader.h builds it from files); deciding is pure and needs no system calls.
//
//   PolicyClient client{.uid = creds.uid, .gid = gid, .groups = creds.groups, .unit = unit};
//   PolicyDecision d = policy.decide_session(client, {.device = "tee0", .ta = uuid,
//                                                      .login = gp::kLoginPublic}, config.limits);
//   if (d.effect == PolicyEffect::Deny) ... AccessDenied naming d.rule ...

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/uuid.h"
#include "daemon/config.h"

namespace teed {

enum class PolicyEffect { Allow, Deny };

std::string_view to_string(PolicyEffect effect);

// A GlobalPlatform login method by its policy name ("public", "user", "group", "application",
// "user_application", "group_application"), and back. Codes are TEEC_LOGIN_*.
std::optional<uint32_t> login_from_policy_name(std::string_view name);
std::string_view login_policy_name(uint32_t login);  // "" for a code that has no name
bool is_application_login(uint32_t login);           // APPLICATION, USER_ or GROUP_APPLICATION

// Who asks, as the bus attested it.
struct PolicyClient {
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);  // primary group
    std::vector<gid_t> groups;           // supplementary groups (may repeat the primary one)
    std::string unit;                    // systemd unit from the peer's cgroup, or empty
    std::string executable;              // its executable's path, or empty when unknown

    bool in_group(gid_t g) const;
};

// What the client asks for: a GlobalPlatform session.
struct SessionRequest {
    std::string device;  // the device that will serve it, e.g. "tee0"
    Uuid ta;
    uint32_t login = 0;  // TEEC_LOGIN_*
};

// Who a rule applies to. Each present kind must match (AND); within a kind, any entry (OR).
// A kind given with names that all failed to resolve is present and empty: it matches no one.
struct ClientMatch {
    std::optional<std::vector<uid_t>> uids;
    std::optional<std::vector<gid_t>> gids;
    std::optional<std::vector<std::string>> units;
    std::optional<std::vector<std::string>> executables;  // absolute paths

    bool matches(const PolicyClient& client) const;
    // executables (8) + units (4) + users (2) + groups (1): a rule naming a program beats any that
    // does not, a rule naming a unit beats any rule naming neither, a rule naming users beats rules
    // naming only groups, and a rule naming no one (everyone) is 0.
    int specificity() const;
};

// A set of sessions: devices x TAs x login methods. nullopt is "*" (any).
struct SessionScope {
    std::optional<std::vector<std::string>> devices;
    std::optional<std::vector<Uuid>> tas;
    std::optional<std::vector<uint32_t>> logins;

    bool covers(const SessionRequest& request) const;
};

// Per-client limit overrides, each optional; the rest come from the configuration.
struct LimitOverrides {
    std::optional<uint64_t> max_memref_bytes;
    std::optional<uint64_t> max_call_memref_bytes;
    std::optional<uint32_t> max_sessions_per_client;
    std::optional<uint32_t> max_concurrent_calls_per_client;
    std::optional<uint64_t> max_shm_bytes;
    std::optional<uint32_t> max_shm_per_client;
    std::optional<uint64_t> max_shm_bytes_per_client;
    std::optional<uint32_t> max_channels_per_session;

    bool empty() const;
};

// Limits on all clients together, from a file's top-level "limits". When several files set one,
// the lowest value wins (files cannot loosen each other's caps); a value set here replaces
// teed.conf's.
struct GlobalLimitOverrides {
    std::optional<uint32_t> max_clients;
    std::optional<uint32_t> max_sessions_total;
    std::optional<uint32_t> max_concurrent_calls_total;
    std::optional<uint64_t> max_shm_bytes_total;

    void merge(const GlobalLimitOverrides& other);  // keeps the lower of each pair
};

struct PolicyRule {
    std::string name;
    std::string source;  // file:line of the rule, for logs
    ClientMatch match;
    std::optional<SessionScope> allow_sessions;
    std::optional<SessionScope> deny_sessions;
    LimitOverrides limits;
};

struct PolicyDecision {
    PolicyEffect effect = PolicyEffect::Deny;
    std::string rule = "default";  // the rule that decided, or "default" when none applied
    std::string source;            // where that rule is, empty for "default"
    Limits limits;                 // the client's effective limits
};

class Policy {
public:
    Policy() = default;  // no rules: everything is denied
    explicit Policy(std::vector<PolicyRule> rules, GlobalLimitOverrides global = {})
        : rules_(std::move(rules)), global_(global) {}

    // Allow or deny opening `request` for `client`. Among the rules that match the client and
    // whose allow or deny scope covers the request, the most specific wins: first by
    // ClientMatch::specificity(), then an exact TA over "*", an exact device over "*", an exact
    // login method over "*". Deny wins a tie. No such rule: deny, by "default".
    PolicyDecision decide_session(const PolicyClient& client, const SessionRequest& request,
                                  const Limits& configured) const;

    // `configured` with the matching rules' limits applied: a more specific rule's value replaces
    // a less specific one's; between rules of equal specificity the lower value wins.
    // Also applies the global limits (global_limits()).
    Limits limits_for(const PolicyClient& client, const Limits& configured) const;

    // `configured` with the files' limits on all clients together applied.
    Limits global_limits(const Limits& configured) const;

    // Whether any rule names an APPLICATION login method in an allow ("*" does not count): only
    // then does teed compute its own application identity (docs/policy.md).
    bool enables_application_logins() const;

    // The names of the rules whose `match` matches `client`, in file order.
    std::vector<std::string> matching_rules(const PolicyClient& client) const;

    const std::vector<PolicyRule>& rules() const { return rules_; }
    const GlobalLimitOverrides& global_overrides() const { return global_; }

private:
    std::vector<PolicyRule> rules_;
    GlobalLimitOverrides global_;
};

}  // namespace teed
