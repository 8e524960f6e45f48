#include "daemon/audit.h"

#include <algorithm>
#include <span>
#include <utility>
#include <vector>

#include "common/log.h"

namespace teed {
namespace {

constexpr uid_t kUnknownUid = static_cast<uid_t>(-1);
constexpr gid_t kUnknownGid = static_cast<gid_t>(-1);

using Fields = std::map<std::string, std::string>;

bool is_denial(AuditEvent event) {
    return event == AuditEvent::SessionDenied || event == AuditEvent::RequestDenied;
}

LogLevel level_of(AuditEvent event) {
    return is_denial(event) ? LogLevel::Warning : LogLevel::Info;
}

// Empty values say "not known" and are left out rather than written as empty fields.
void put(Fields& fields, const char* key, std::string value) {
    if (!value.empty()) fields.emplace(key, std::move(value));
}

void put_client(Fields& fields, const AuditClient& client) {
    put(fields, "TEED_CLIENT", client.bus_name);
    if (client.uid != kUnknownUid) put(fields, "TEED_CLIENT_UID", std::to_string(client.uid));
    if (client.gid != kUnknownGid) put(fields, "TEED_CLIENT_GID", std::to_string(client.gid));
    if (client.pid > 0) put(fields, "TEED_CLIENT_PID", std::to_string(client.pid));
    put(fields, "TEED_CLIENT_UNIT", client.unit);
}

Fields fields_of(const AuditRecord& record) {
    Fields fields;
    put(fields, "TEED_AUDIT", "1");
    put(fields, "TEED_EVENT", std::string(to_string(record.event)));
    put_client(fields, record.client);
    put(fields, "TEED_DEVICE", record.device);
    put(fields, "TEED_TA_UUID", record.ta);
    put(fields, "TEED_SESSION", record.session);
    put(fields, "TEED_LOGIN", record.login);
    put(fields, "TEED_DECISION", is_denial(record.event) ? "deny" : "allow");
    put(fields, "TEED_RULE", record.rule);
    put(fields, "TEED_REASON", record.reason);
    return fields;
}

std::string who(const AuditClient& client) {
    if (client.uid != kUnknownUid) return "uid " + std::to_string(client.uid);
    if (!client.bus_name.empty()) return "client '" + client.bus_name + "'";
    return "an unknown client";
}

std::string rule_suffix(const std::string& rule) {
    return rule.empty() ? std::string() : " (rule '" + rule + "')";
}

// "session denied: uid 1001 may not open 8aaaf200-... on tee0 with login user (rule 'default')"
std::string session_denied_message(const AuditRecord& record) {
    std::string message = "session denied: " + who(record.client) + " may not open " +
                          (record.ta.empty() ? std::string("a session") : record.ta);
    if (!record.device.empty()) message += " on " + record.device;
    if (!record.login.empty()) message += " with login " + record.login;
    return message + rule_suffix(record.rule);
}

// "request denied: uid 1001 on session 5f0c...: not the owner of the session"
std::string request_denied_message(const AuditRecord& record) {
    std::string message = "request denied: " + who(record.client);
    if (!record.session.empty()) message += " on session " + record.session;
    if (!record.reason.empty()) message += ": " + record.reason;
    return message + rule_suffix(record.rule);
}

// The fields carry the details; opened, closed and reload messages stay short and greppable.
std::string message_of(const AuditRecord& record) {
    switch (record.event) {
        case AuditEvent::SessionOpened: return "session opened";
        case AuditEvent::SessionClosed: return "session closed";
        case AuditEvent::PolicyReloaded: return "policy reloaded";
        case AuditEvent::SessionDenied: return session_denied_message(record);
        case AuditEvent::RequestDenied: return request_denied_message(record);
    }
    return "audit event";
}

std::string suppressed_suffix(uint64_t count) {
    return " (" + std::to_string(count) + (count == 1 ? " similar entry" : " similar entries") +
           " suppressed)";
}

std::chrono::steady_clock::time_point steady_now() { return std::chrono::steady_clock::now(); }

void send_to_log(int priority, const std::string& message, const Fields& fields) {
    std::vector<LogField> log_fields;
    log_fields.reserve(fields.size());
    for (const auto& [key, value] : fields) log_fields.emplace_back(key, value);
    // Not log_message(): --log-level=warning must not silence the trail of sessions opened.
    write_log_entry(static_cast<LogLevel>(priority), message, log_fields);
}

}  // namespace

std::string_view to_string(AuditEvent event) {
    switch (event) {
        case AuditEvent::SessionOpened: return "session-opened";
        case AuditEvent::SessionClosed: return "session-closed";
        case AuditEvent::SessionDenied: return "session-denied";
        case AuditEvent::RequestDenied: return "request-denied";
        case AuditEvent::PolicyReloaded: return "policy-reloaded";
    }
    return "unknown";
}

AuditLog::AuditLog() : AuditLog(AuditRateLimit{}, steady_now, send_to_log) {}

AuditLog::AuditLog(AuditRateLimit limit, Clock clock, Sink sink)
    : limit_(limit), clock_(std::move(clock)), sink_(std::move(sink)) {}

void AuditLog::record(const AuditRecord& record) {
    std::optional<uint64_t> suppressed = 0;
    if (record.event != AuditEvent::PolicyReloaded) {
        const Kind kind = is_denial(record.event) ? Kind::Denial : Kind::Session;
        suppressed = admit({record.client.uid, kind}, clock_());
    }
    if (!suppressed) return;

    Fields fields = fields_of(record);
    std::string message = message_of(record);
    if (*suppressed > 0) {
        fields.emplace("TEED_SUPPRESSED", std::to_string(*suppressed));
        message += suppressed_suffix(*suppressed);
    }
    sink_(static_cast<int>(level_of(record.event)), message, fields);
}

std::optional<uint64_t> AuditLog::admit(WindowKey key, TimePoint now) {
    Window& window = window_for(key, now);
    if (ended(window, now)) {
        window.start = now;
        window.written = 0;
    }
    const uint32_t burst = key.kind == Kind::Denial ? limit_.burst : limit_.session_burst;
    if (window.written >= burst) {
        ++window.suppressed;
        ++suppressed_total_;
        return std::nullopt;
    }
    ++window.written;
    return std::exchange(window.suppressed, 0);
}

// A flood from many uids (a user with a range of subordinate uids can present tens of thousands)
// must not grow the map without bound. When it is full, windows that have ended and owe no
// suppressed count are forgotten: a new window for such a uid would start from nothing anyway.
// If that frees nothing, the newcomer shares one overflow window with every other uid that found
// the map full, so their denials together still reach the journal at the configured rate.
AuditLog::Window& AuditLog::window_for(WindowKey key, TimePoint now) {
    if (auto it = windows_.find(key); it != windows_.end()) return it->second;
    if (windows_.size() >= kMaxTrackedWindows) prune(now);
    if (windows_.size() >= kMaxTrackedWindows)
        return key.kind == Kind::Denial ? denial_overflow_ : session_overflow_;
    return windows_.emplace(key, Window{.start = now}).first->second;
}

// Scanning a full map on every denial from a new uid would make a flood quadratic, so a scan also
// notes the earliest time another window could become prunable and none runs before then. Windows
// created later end after now + interval, so that bounds the wait when no window is a candidate.
void AuditLog::prune(TimePoint now) {
    if (now < next_prune_) return;
    next_prune_ = now + limit_.interval;
    std::erase_if(windows_, [&](const auto& entry) {
        const Window& window = entry.second;
        if (window.suppressed > 0) return false;  // its count is due in the uid's next entry
        if (ended(window, now)) return true;
        next_prune_ = std::min(next_prune_, window.start + limit_.interval);
        return false;
    });
}

bool AuditLog::ended(const Window& window, TimePoint now) const {
    return now - window.start >= limit_.interval;
}

}  // namespace teed
