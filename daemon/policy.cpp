#include "daemon/policy.h"

#include <algorithm>
#include <array>

#include "backends/kernel/gp.h"

namespace teed {
namespace {

struct LoginName {
    std::string_view name;
    uint32_t code;
};

constexpr LoginName kLoginNames[] = {
    {"public", gp::kLoginPublic},
    {"user", gp::kLoginUser},
    {"group", gp::kLoginGroup},
    {"application", gp::kLoginApplication},
    {"user_application", gp::kLoginUserApplication},
    {"group_application", gp::kLoginGroupApplication},
};

template <typename T>
bool contains(const std::vector<T>& list, const T& value) {
    return std::find(list.begin(), list.end(), value) != list.end();
}

// An absent list is "*" and covers everything.
template <typename T>
bool covers(const std::optional<std::vector<T>>& list, const T& value) {
    return !list || contains(*list, value);
}

// How precisely a rule fits a request, compared lexicographically: who it names, then whether it
// names the TA, the device and the login method rather than "*".
using Rank = std::array<int, 4>;

Rank rank_of(const PolicyRule& rule, const SessionScope& scope) {
    return {rule.match.specificity(), scope.tas ? 1 : 0, scope.devices ? 1 : 0,
            scope.logins ? 1 : 0};
}

struct Candidate {
    Rank rank;
    PolicyEffect effect;
    const PolicyRule* rule;
};

// Higher rank wins; at equal rank deny wins; at equal rank and effect the earlier rule stays.
bool beats(const Candidate& challenger, const Candidate& holder) {
    if (challenger.rank != holder.rank) return challenger.rank > holder.rank;
    return challenger.effect == PolicyEffect::Deny && holder.effect == PolicyEffect::Allow;
}

template <typename T>
void apply_limit(const std::optional<T>& value, int specificity, T& ret_value, int& ret_specificity) {
    if (!value) return;
    if (specificity > ret_specificity || (specificity == ret_specificity && *value < ret_value)) {
        ret_value = *value;
        ret_specificity = specificity;
    }
}

}  // namespace

std::string_view to_string(PolicyEffect effect) {
    return effect == PolicyEffect::Allow ? "allow" : "deny";
}

std::optional<uint32_t> login_from_policy_name(std::string_view name) {
    for (const auto& entry : kLoginNames)
        if (entry.name == name) return entry.code;
    return std::nullopt;
}

std::string_view login_policy_name(uint32_t login) {
    for (const auto& entry : kLoginNames)
        if (entry.code == login) return entry.name;
    return "";
}

bool PolicyClient::in_group(gid_t g) const { return gid == g || contains(groups, g); }

bool ClientMatch::matches(const PolicyClient& client) const {
    if (uids && !contains(*uids, client.uid)) return false;
    if (gids && std::none_of(gids->begin(), gids->end(),
                             [&](gid_t g) { return client.in_group(g); }))
        return false;
    if (units && (client.unit.empty() || !contains(*units, client.unit))) return false;
    if (executables && (client.executable.empty() || !contains(*executables, client.executable)))
        return false;
    return true;
}

int ClientMatch::specificity() const {
    return (executables ? 8 : 0) + (units ? 4 : 0) + (uids ? 2 : 0) + (gids ? 1 : 0);
}

bool SessionScope::covers(const SessionRequest& request) const {
    return teed::covers(devices, request.device) && teed::covers(tas, request.ta) &&
           teed::covers(logins, request.login);
}

bool LimitOverrides::empty() const {
    return !max_memref_bytes && !max_call_memref_bytes && !max_sessions_per_client &&
           !max_concurrent_calls_per_client && !max_shm_bytes && !max_shm_per_client &&
           !max_shm_bytes_per_client && !max_channels_per_session;
}

namespace {

template <typename T>
void keep_lower(std::optional<T>& mine, const std::optional<T>& other) {
    if (other && (!mine || *other < *mine)) mine = other;
}

template <typename T, typename U>
void replace_if_set(const std::optional<T>& value, U& ret_limit) {
    if (value) ret_limit = *value;
}

}  // namespace

bool is_application_login(uint32_t login) {
    return login == gp::kLoginApplication || login == gp::kLoginUserApplication ||
           login == gp::kLoginGroupApplication;
}

void GlobalLimitOverrides::merge(const GlobalLimitOverrides& other) {
    keep_lower(max_clients, other.max_clients);
    keep_lower(max_sessions_total, other.max_sessions_total);
    keep_lower(max_concurrent_calls_total, other.max_concurrent_calls_total);
    keep_lower(max_shm_bytes_total, other.max_shm_bytes_total);
}

Limits Policy::global_limits(const Limits& configured) const {
    Limits limits = configured;
    replace_if_set(global_.max_clients, limits.max_clients);
    replace_if_set(global_.max_sessions_total, limits.max_sessions_total);
    replace_if_set(global_.max_concurrent_calls_total, limits.max_concurrent_calls_total);
    replace_if_set(global_.max_shm_bytes_total, limits.max_shm_bytes_total);
    return limits;
}

bool Policy::enables_application_logins() const {
    for (const PolicyRule& rule : rules_) {
        if (!rule.allow_sessions || !rule.allow_sessions->logins) continue;
        const auto& logins = *rule.allow_sessions->logins;
        if (std::any_of(logins.begin(), logins.end(), is_application_login)) return true;
    }
    return false;
}

std::vector<std::string> Policy::matching_rules(const PolicyClient& client) const {
    std::vector<std::string> names;
    for (const PolicyRule& rule : rules_)
        if (rule.match.matches(client)) names.push_back(rule.name);
    return names;
}

PolicyDecision Policy::decide_session(const PolicyClient& client, const SessionRequest& request,
                                      const Limits& configured) const {
    std::optional<Candidate> best;
    auto consider = [&](const PolicyRule& rule, const std::optional<SessionScope>& scope,
                        PolicyEffect effect) {
        if (!scope || !scope->covers(request)) return;
        Candidate candidate{rank_of(rule, *scope), effect, &rule};
        if (!best || beats(candidate, *best)) best = candidate;
    };
    for (const PolicyRule& rule : rules_) {
        if (!rule.match.matches(client)) continue;
        consider(rule, rule.allow_sessions, PolicyEffect::Allow);
        consider(rule, rule.deny_sessions, PolicyEffect::Deny);
    }
    PolicyDecision decision;
    decision.limits = limits_for(client, configured);
    if (best) {
        decision.effect = best->effect;
        decision.rule = best->rule->name;
        decision.source = best->rule->source;
    }
    return decision;
}

Limits Policy::limits_for(const PolicyClient& client, const Limits& configured) const {
    Limits limits = global_limits(configured);
    // Which specificity set each limit so far; -1: the configuration's value, which any rule's
    // value replaces.
    struct {
        int memref = -1, call_memref = -1, sessions = -1, calls = -1, shm_bytes = -1, shm = -1,
            shm_total = -1, channels = -1;
    } set_by;
    for (const PolicyRule& rule : rules_) {
        if (rule.limits.empty() || !rule.match.matches(client)) continue;
        const LimitOverrides& o = rule.limits;
        int s = rule.match.specificity();
        apply_limit(o.max_memref_bytes, s, limits.max_memref_bytes, set_by.memref);
        apply_limit(o.max_call_memref_bytes, s, limits.max_call_memref_bytes, set_by.call_memref);
        apply_limit(o.max_sessions_per_client, s, limits.max_sessions_per_client, set_by.sessions);
        apply_limit(o.max_concurrent_calls_per_client, s, limits.max_concurrent_calls_per_client,
                    set_by.calls);
        apply_limit(o.max_shm_bytes, s, limits.max_shm_bytes, set_by.shm_bytes);
        apply_limit(o.max_shm_per_client, s, limits.max_shm_per_client, set_by.shm);
        apply_limit(o.max_shm_bytes_per_client, s, limits.max_shm_bytes_per_client, set_by.shm_total);
        apply_limit(o.max_channels_per_session, s, limits.max_channels_per_session, set_by.channels);
    }
    return limits;
}

}  // namespace teed
