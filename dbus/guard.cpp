#include "dbus/guard.h"

#include <chrono>

#include "common/log_rate_limit.h"

namespace teed {
namespace {

// One window for all clients: refusals are what a client can make teed log at will.
LogRateLimit g_refusals(20, std::chrono::seconds(10));

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
