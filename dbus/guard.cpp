#include "dbus/guard.h"

#include <chrono>
#include <mutex>

namespace teed {
namespace {

constexpr auto kRefusalWindow = std::chrono::seconds(10);
constexpr uint32_t kRefusalBurst = 20;

// One fixed window for all clients; the loop thread is the only caller today, the mutex keeps it
// correct if that changes.
struct RefusalWindow {
    std::mutex mutex;
    std::chrono::steady_clock::time_point start;
    uint32_t written = 0;
    uint64_t suppressed = 0;

    // How many were dropped before this one, or -1 when this one is dropped too.
    int64_t admit() {
        std::lock_guard lock(mutex);
        auto now = std::chrono::steady_clock::now();
        if (written == 0 || now - start >= kRefusalWindow) {
            start = now;
            written = 0;
        }
        if (written >= kRefusalBurst) {
            ++suppressed;
            return -1;
        }
        ++written;
        auto dropped = static_cast<int64_t>(suppressed);
        suppressed = 0;
        return dropped;
    }
};

RefusalWindow g_refusals;

}  // namespace

void log_refusal(const char* method, const std::string& caller, const std::string& name,
                 const std::string& message) {
    std::initializer_list<LogField> fields = {{"TEED_METHOD", method},
                                              {"TEED_CLIENT", caller},
                                              {"TEED_ERROR_NAME", name},
                                              {"TEED_ERROR", message}};
    if (name == dbus_error_name(ErrorKind::Internal))
        return log_message(LogLevel::Warning, "call refused", fields);
    if (log_level() < LogLevel::Notice) return;
    int64_t dropped = g_refusals.admit();
    if (dropped < 0) return;
    if (dropped == 0) return log_message(LogLevel::Notice, "call refused", fields);
    log_message(LogLevel::Notice, "call refused (" + std::to_string(dropped) + " more refusals not logged)",
                {{"TEED_METHOD", method},
                 {"TEED_CLIENT", caller},
                 {"TEED_ERROR_NAME", name},
                 {"TEED_ERROR", message},
                 {"TEED_SUPPRESSED", std::to_string(dropped)}});
}

}  // namespace teed
