// The audit trail: which fields an entry carries, and how denials are rate limited per uid.
#include "daemon/audit.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "common/log.h"

namespace teed {
namespace {

using namespace std::chrono_literals;

constexpr const char* kTa = "8aaaf200-2450-11e4-abe2-0002a5d5c51b";

struct Entry {
    int priority;
    std::string message;
    std::map<std::string, std::string> fields;
};

class AnAuditLog : public testing::Test {
protected:
    static constexpr AuditRateLimit kLimit{.interval = 10s, .burst = 3, .session_burst = 4};

    AuditLog make(AuditRateLimit limit = kLimit) {
        return AuditLog(
            limit, [this] { return now_; },
            [this](int priority, const std::string& message,
                   const std::map<std::string, std::string>& fields) {
                entries_.push_back({priority, message, fields});
            });
    }

    static AuditClient client(uid_t uid) {
        return {.bus_name = ":1.42", .uid = uid, .gid = uid, .pid = 4242, .unit = "app.service"};
    }
    static AuditRecord denial(uid_t uid = 1001) {
        return {.event = AuditEvent::SessionDenied,
                .client = client(uid),
                .device = "tee0",
                .ta = kTa,
                .login = "user",
                .rule = "default",
                .reason = "not allowed"};
    }

    std::chrono::steady_clock::time_point now_{};
    std::vector<Entry> entries_;
};

TEST_F(AnAuditLog, NamesEveryEvent) {
    EXPECT_EQ(to_string(AuditEvent::SessionOpened), "session-opened");
    EXPECT_EQ(to_string(AuditEvent::SessionClosed), "session-closed");
    EXPECT_EQ(to_string(AuditEvent::SessionDenied), "session-denied");
    EXPECT_EQ(to_string(AuditEvent::RequestDenied), "request-denied");
    EXPECT_EQ(to_string(AuditEvent::PolicyReloaded), "policy-reloaded");
}

TEST_F(AnAuditLog, WritesADenialWithEveryKnownField) {
    auto audit = make();
    audit.record(denial());
    ASSERT_EQ(entries_.size(), 1u);
    const Entry& e = entries_[0];
    EXPECT_EQ(e.priority, static_cast<int>(LogLevel::Warning));
    EXPECT_EQ(e.message, std::string("session denied: uid 1001 may not open ") + kTa +
                             " on tee0 with login user (rule 'default')");
    const std::map<std::string, std::string> expected{{"TEED_AUDIT", "1"},
                                                      {"TEED_EVENT", "session-denied"},
                                                      {"TEED_CLIENT", ":1.42"},
                                                      {"TEED_CLIENT_UID", "1001"},
                                                      {"TEED_CLIENT_GID", "1001"},
                                                      {"TEED_CLIENT_PID", "4242"},
                                                      {"TEED_CLIENT_UNIT", "app.service"},
                                                      {"TEED_DEVICE", "tee0"},
                                                      {"TEED_TA_UUID", kTa},
                                                      {"TEED_LOGIN", "user"},
                                                      {"TEED_DECISION", "deny"},
                                                      {"TEED_RULE", "default"},
                                                      {"TEED_REASON", "not allowed"}};
    EXPECT_EQ(e.fields, expected);
}

TEST_F(AnAuditLog, LeavesOutWhatIsNotKnown) {
    auto audit = make();
    audit.record(
        {.event = AuditEvent::SessionOpened, .client = {.bus_name = ":1.7"}, .session = "s1"});
    ASSERT_EQ(entries_.size(), 1u);
    const Entry& e = entries_[0];
    EXPECT_EQ(e.priority, static_cast<int>(LogLevel::Info));
    EXPECT_EQ(e.message, "session opened");
    const std::map<std::string, std::string> expected{{"TEED_AUDIT", "1"},
                                                      {"TEED_EVENT", "session-opened"},
                                                      {"TEED_CLIENT", ":1.7"},
                                                      {"TEED_SESSION", "s1"},
                                                      {"TEED_DECISION", "allow"}};
    EXPECT_EQ(e.fields, expected);
}

TEST_F(AnAuditLog, AllowsClosedAndReloadAtInfo) {
    auto audit = make();
    audit.record({.event = AuditEvent::SessionClosed, .client = client(1001), .session = "s1"});
    audit.record({.event = AuditEvent::PolicyReloaded});
    ASSERT_EQ(entries_.size(), 2u);
    EXPECT_EQ(entries_[0].message, "session closed");
    EXPECT_EQ(entries_[0].fields.at("TEED_DECISION"), "allow");
    EXPECT_EQ(entries_[1].message, "policy reloaded");
    EXPECT_EQ(entries_[1].priority, static_cast<int>(LogLevel::Info));
    EXPECT_EQ(entries_[1].fields.count("TEED_CLIENT_UID"), 0u);
}

TEST_F(AnAuditLog, DescribesARequestDenial) {
    auto audit = make();
    audit.record({.event = AuditEvent::RequestDenied,
                  .client = client(1002),
                  .session = "s9",
                  .reason = "not the owner of session 's9'"});
    ASSERT_EQ(entries_.size(), 1u);
    EXPECT_EQ(entries_[0].message,
              "request denied: uid 1002 on session s9: not the owner of session 's9'");
    EXPECT_EQ(entries_[0].fields.at("TEED_EVENT"), "request-denied");
    EXPECT_EQ(entries_[0].fields.at("TEED_DECISION"), "deny");
}

TEST_F(AnAuditLog, NeverDropsAReload) {
    auto audit = make();
    for (int i = 0; i < 100; ++i)
        audit.record({.event = AuditEvent::PolicyReloaded, .client = client(0)});
    EXPECT_EQ(entries_.size(), 100u);
    EXPECT_EQ(audit.suppressed_total(), 0u);
}

// A client opening and closing sessions in a loop cannot flood the journal either: sessions have
// a window per uid of their own, so the flood does not silence that uid's denials (or the
// reverse), and the next session entry says how many were dropped.
TEST_F(AnAuditLog, RateLimitsSessionsPerUidApartFromDenials) {
    auto audit = make();
    for (int i = 0; i < 10; ++i) {
        audit.record({.event = AuditEvent::SessionOpened, .client = client(1001)});
        audit.record({.event = AuditEvent::SessionClosed, .client = client(1001)});
    }
    EXPECT_EQ(entries_.size(), kLimit.session_burst);
    EXPECT_EQ(audit.suppressed_total(), 20u - kLimit.session_burst);
    audit.record(denial(1001));
    EXPECT_EQ(entries_.size(), kLimit.session_burst + 1) << "denials are counted apart";
    audit.record({.event = AuditEvent::SessionOpened, .client = client(1002)});
    EXPECT_EQ(entries_.size(), kLimit.session_burst + 2) << "another uid has its own window";

    now_ += kLimit.interval;
    audit.record({.event = AuditEvent::SessionOpened, .client = client(1001)});
    EXPECT_EQ(entries_.back().fields.at("TEED_SUPPRESSED"), "16");
    EXPECT_EQ(entries_.back().fields.at("TEED_EVENT"), "session-opened");
}

TEST_F(AnAuditLog, DropsTheDenialOnePastTheBurst) {
    auto audit = make();
    for (uint32_t i = 0; i < kLimit.burst; ++i) audit.record(denial());
    EXPECT_EQ(entries_.size(), kLimit.burst);
    audit.record(denial());
    EXPECT_EQ(entries_.size(), kLimit.burst);
    EXPECT_EQ(audit.suppressed_total(), 1u);
}

TEST_F(AnAuditLog, CountsTheDroppedInTheNextDenialAfterTheInterval) {
    auto audit = make();
    for (uint32_t i = 0; i < kLimit.burst + 5; ++i) audit.record(denial());
    now_ += kLimit.interval - 1ms;
    audit.record(denial());  // the window is still open
    EXPECT_EQ(entries_.size(), kLimit.burst);
    now_ += 1ms;
    audit.record(denial());
    ASSERT_EQ(entries_.size(), kLimit.burst + 1);
    const Entry& e = entries_.back();
    EXPECT_EQ(e.fields.at("TEED_SUPPRESSED"), "6");
    EXPECT_TRUE(e.message.ends_with(" (6 similar entries suppressed)")) << e.message;
    EXPECT_EQ(audit.suppressed_total(), 6u);

    audit.record(denial());  // the count was reported once
    EXPECT_EQ(entries_.back().fields.count("TEED_SUPPRESSED"), 0u);
}

TEST_F(AnAuditLog, SaysEntryForASingleDroppedDenial) {
    auto audit = make();
    for (uint32_t i = 0; i < kLimit.burst + 1; ++i) audit.record(denial());
    now_ += kLimit.interval;
    audit.record(denial());
    EXPECT_TRUE(entries_.back().message.ends_with(" (1 similar entry suppressed)"));
}

TEST_F(AnAuditLog, KeepsAWindowPerUid) {
    auto audit = make();
    for (uint32_t i = 0; i < kLimit.burst + 2; ++i) audit.record(denial(1001));
    for (uint32_t i = 0; i < kLimit.burst; ++i) audit.record(denial(1002));
    EXPECT_EQ(entries_.size(), 2 * kLimit.burst);
    EXPECT_EQ(entries_.back().fields.at("TEED_CLIENT_UID"), "1002");
    EXPECT_EQ(entries_.back().fields.count("TEED_SUPPRESSED"), 0u);
    EXPECT_EQ(audit.suppressed_total(), 2u);
}

TEST_F(AnAuditLog, StaysBoundedUnderAFloodFromManyUids) {
    auto audit = make();
    constexpr uid_t kUids = 100'000;
    for (uid_t uid = 10'000; uid < 10'000 + kUids; ++uid) {
        audit.record(denial(uid));
        ASSERT_LE(audit.tracked_windows(), AuditLog::kMaxTrackedWindows);
    }
    // One entry for each uid with a window, then the shared overflow window's burst.
    EXPECT_EQ(entries_.size(), AuditLog::kMaxTrackedWindows + kLimit.burst);
    EXPECT_EQ(audit.suppressed_total(), kUids - entries_.size());
}

TEST_F(AnAuditLog, ForgetsEndedWindowsToMakeRoom) {
    auto audit = make();
    for (uid_t uid = 0; uid < AuditLog::kMaxTrackedWindows; ++uid) audit.record(denial(20'000 + uid));
    now_ += kLimit.interval;
    for (uid_t uid = 0; uid < 5'000; ++uid) {
        audit.record(denial(40'000 + uid));
        if (uid % 500 == 0) now_ += kLimit.interval;
    }
    EXPECT_LE(audit.tracked_windows(), AuditLog::kMaxTrackedWindows);
    // Each ended window made room again, so no new uid had to share the overflow window.
    EXPECT_EQ(audit.suppressed_total(), 0u);
}

TEST_F(AnAuditLog, KeepsAWindowThatStillOwesACount) {
    auto audit = make();
    for (uint32_t i = 0; i < kLimit.burst + 4; ++i) audit.record(denial(1001));
    for (uid_t uid = 0; uid < AuditLog::kMaxTrackedWindows; ++uid) audit.record(denial(50'000 + uid));
    now_ += kLimit.interval;
    for (uid_t uid = 0; uid < 2 * AuditLog::kMaxTrackedWindows; ++uid)
        audit.record(denial(60'000 + uid));
    audit.record(denial(1001));
    EXPECT_EQ(entries_.back().fields.at("TEED_CLIENT_UID"), "1001");
    EXPECT_EQ(entries_.back().fields.at("TEED_SUPPRESSED"), "4");
}

TEST_F(AnAuditLog, SendsThroughTheLogByDefault) {
    set_log_to_journal(false);
    AuditLog audit;
    testing::internal::CaptureStderr();
    audit.record(denial());
    std::string out = testing::internal::GetCapturedStderr();
    EXPECT_NE(out.find("level=warning"), std::string::npos) << out;
    EXPECT_NE(out.find(" TEED_AUDIT=1"), std::string::npos) << out;
    EXPECT_NE(out.find(" TEED_EVENT=session-denied"), std::string::npos) << out;
    EXPECT_NE(out.find(" TEED_REASON=\"not allowed\""), std::string::npos) << out;
}

}  // namespace
}  // namespace teed
