#pragma once
// The audit trail (docs/policy.md, "Audit"): every denied request and every session opened and
// closed becomes one structured log entry, to the journal (sd_journal_send) or, without a journal,
// to stderr as key=value fields. A client that floods teed with denied requests cannot flood the
// journal: denials are rate limited per client uid, and what was dropped is counted in the next
// entry that gets through.
//
//   AuditLog audit;  // owned by the manager; used on the loop thread only
//   audit.record({.event = AuditEvent::SessionDenied, .client = who, .device = "tee0",
//                 .ta = uuid, .login = "user", .rule = "default", .reason = message});

#include <sys/types.h>

#include <chrono>
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

// Rate limiting of denials per uid: at most `burst` entries per `interval`. A window is fixed: it
// starts at the uid's first denial after its previous window ended. A burst of 0 writes no denial
// at all (they are still counted in suppressed_total()).
struct AuditRateLimit {
    std::chrono::steady_clock::duration interval = std::chrono::seconds(10);
    uint32_t burst = 20;
};

class AuditLog {
public:
    using Clock = std::function<std::chrono::steady_clock::time_point()>;
    // An entry as it would be sent: MESSAGE first, then the TEED_* fields.
    using Sink = std::function<void(int priority, const std::string& message,
                                    const std::map<std::string, std::string>& fields)>;

    AuditLog();  // the real clock; sends through common/log.h
    AuditLog(AuditRateLimit limit, Clock clock, Sink sink);

    // Opened, closed and reload entries are never dropped. Denials past the uid's rate are
    // dropped and counted; the next denial entry of that uid that is written carries
    // TEED_SUPPRESSED=<count> and says so in its message.
    void record(const AuditRecord& record);

    uint64_t suppressed_total() const { return suppressed_total_; }

    // At most this many uids have a window of their own; the others share one (window_for() in
    // audit.cpp says why).
    static constexpr size_t kMaxTrackedUids = 1024;
    size_t tracked_uids() const { return windows_.size(); }

private:
    using TimePoint = std::chrono::steady_clock::time_point;
    struct Window {
        TimePoint start;
        uint32_t written = 0;
        uint64_t suppressed = 0;
    };

    // The count of entries suppressed before this one, or nothing when this one is dropped.
    std::optional<uint64_t> admit(uid_t uid, TimePoint now);
    Window& window_for(uid_t uid, TimePoint now);
    void prune(TimePoint now);
    bool ended(const Window& window, TimePoint now) const;

    AuditRateLimit limit_;
    Clock clock_;
    Sink sink_;
    std::map<uid_t, Window> windows_;
    Window overflow_;       // shared by the uids that found the map full
    TimePoint next_prune_;  // no window can be pruned before this
    uint64_t suppressed_total_ = 0;
};

std::string_view to_string(AuditEvent event);  // "session-opened", "session-denied", ...

}  // namespace teed
