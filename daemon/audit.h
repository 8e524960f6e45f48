#pragma once
// The audit trail (docs/policy.md, "Audit"): every denied request and every session opened and
// closed becomes one structured log entry, to the journal (sd_journal_send) or, without a journal,
// to stderr as key=value fields. A client cannot flood the journal (and so push other users'
// entries past journald's per-unit limit): denials, and sessions opened and closed, are rate
// limited per client uid, each kind in a window of its own, and what was dropped is counted in
// the next entry of that kind that gets through. Policy reloads (root only) are never dropped.
//
//   AuditLog audit;  // owned by the manager; used on the loop thread only
//   audit.record({.event = AuditEvent::SessionDenied, .client = who, .device = "tee0",
//                 .ta = uuid, .login = "user", .rule = "default", .reason = message});

#include <sys/types.h>

#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace teed {

enum class AuditEvent {
    SessionOpened,
    SessionClosed,
    SessionDenied,
    RequestDenied,
    PolicyReloaded
};

// Who the entry is about, as teed resolved it.
struct AuditClient {
    std::string bus_name;  // unique name, ":1.42"
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    pid_t pid = 0;
    std::string unit;
};

struct AuditRecord {
    AuditEvent event = AuditEvent::RequestDenied;
    AuditClient client;
    std::string device;   // TEED_DEVICE
    std::string ta;       // TEED_TA_UUID
    std::string session;  // TEED_SESSION
    std::string login;    // TEED_LOGIN: policy name of the login method ("user")
    std::string rule;     // TEED_RULE: the policy rule that decided, when one did
    std::string reason;   // TEED_REASON: the error message the client got, for denials
};

// Rate limiting per uid: at most `burst` denials and `session_burst` session entries (opened and
// closed together) per `interval`. A window is fixed: it starts at the uid's first entry of its
// kind after its previous window ended. A burst of 0 writes no entry of that kind at all (they
// are still counted in suppressed_total()).
struct AuditRateLimit {
    std::chrono::steady_clock::duration interval = std::chrono::seconds(10);
    uint32_t burst = 20;
    uint32_t session_burst = 60;
};

class AuditLog {
public:
    using Clock = std::function<std::chrono::steady_clock::time_point()>;
    // An entry as it would be sent: MESSAGE first, then the TEED_* fields.
    using Sink = std::function<void(int priority, const std::string& message,
                                    const std::map<std::string, std::string>& fields)>;

    AuditLog();  // the real clock; sends through common/log.h
    AuditLog(AuditRateLimit limit, Clock clock, Sink sink);

    // Reload entries are never dropped. Denials and session entries past the uid's rate for
    // their kind are dropped and counted; the next entry of that uid and kind that is written
    // carries TEED_SUPPRESSED=<count> and says so in its message.
    void record(const AuditRecord& record);

    uint64_t suppressed_total() const { return suppressed_total_; }

    // At most this many (uid, kind) windows exist; the others share one per kind (window_for()
    // in audit.cpp says why).
    static constexpr size_t kMaxTrackedWindows = 1024;
    size_t tracked_windows() const { return windows_.size(); }

private:
    using TimePoint = std::chrono::steady_clock::time_point;
    enum class Kind { Denial, Session };
    struct WindowKey {
        uid_t uid;
        Kind kind;
        auto operator<=>(const WindowKey&) const = default;
    };
    struct Window {
        TimePoint start;
        uint32_t written = 0;
        uint64_t suppressed = 0;
    };

    // The count of entries suppressed before this one, or nothing when this one is dropped.
    std::optional<uint64_t> admit(WindowKey key, TimePoint now);
    Window& window_for(WindowKey key, TimePoint now);
    void prune(TimePoint now);
    bool ended(const Window& window, TimePoint now) const;

    AuditRateLimit limit_;
    Clock clock_;
    Sink sink_;
    std::map<WindowKey, Window> windows_;
    Window denial_overflow_;   // shared by the uids that found the map full
    Window session_overflow_;
    TimePoint next_prune_;  // no window can be pruned before this
    uint64_t suppressed_total_ = 0;
};

std::string_view to_string(AuditEvent event);  // "session-opened", "session-denied", ...

}  // namespace teed
