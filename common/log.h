#pragma once
// Structured logging to the journal, or to stderr as key=value lines when there is no journal.
//
//   log_info("session opened", {{"TEED_SESSION", id}, {"TEED_TA_UUID", uuid}});
//
// Backends and helpers log only at debug level and return errors; the layer that handles an error
// logs it once.

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace teed {

enum class LogLevel { Error = 3, Warning = 4, Notice = 5, Info = 6, Debug = 7 };

using LogField = std::pair<std::string_view, std::string>;

void set_log_level(LogLevel level);
LogLevel log_level();
bool log_level_from_string(std::string_view text, LogLevel& ret_level);
// Sends to the journal when stderr is not a terminal and the journal socket exists.
void set_log_to_journal(bool enabled);

// One code path for both: the list form is for call sites that name their fields, the span form
// for entries whose set of fields is only known at run time (the audit trail).
void log_message(LogLevel level, std::string_view message, std::span<const LogField> fields);
inline void log_message(LogLevel level, std::string_view message,
                        std::initializer_list<LogField> fields) {
    log_message(level, message, std::span<const LogField>(fields.begin(), fields.size()));
}
// Writes whatever the log level: for the audit trail, which --log-level must not silence (it has
// its own rate limit).
void write_log_entry(LogLevel level, std::string_view message, std::span<const LogField> fields);

inline void log_error(std::string_view m, std::initializer_list<LogField> f = {}) {
    log_message(LogLevel::Error, m, f);
}
inline void log_warning(std::string_view m, std::initializer_list<LogField> f = {}) {
    log_message(LogLevel::Warning, m, f);
}
inline void log_notice(std::string_view m, std::initializer_list<LogField> f = {}) {
    log_message(LogLevel::Notice, m, f);
}
inline void log_info(std::string_view m, std::initializer_list<LogField> f = {}) {
    log_message(LogLevel::Info, m, f);
}
inline void log_debug(std::string_view m, std::initializer_list<LogField> f = {}) {
    if (log_level() >= LogLevel::Debug) log_message(LogLevel::Debug, m, f);
}

}  // namespace teed
