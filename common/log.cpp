#include "common/log.h"

#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include <systemd/sd-journal.h>

namespace teed {
namespace {

std::atomic<LogLevel> g_level{LogLevel::Info};
std::atomic<bool> g_journal{false};
std::mutex g_stderr_mutex;

std::string_view level_name(LogLevel level) {
    switch (level) {
        case LogLevel::Error: return "error";
        case LogLevel::Warning: return "warning";
        case LogLevel::Notice: return "notice";
        case LogLevel::Info: return "info";
        case LogLevel::Debug: return "debug";
    }
    return "info";
}

// Values that would break a key=value line are quoted.
std::string quoted(std::string_view value) {
    bool plain = !value.empty() && value.find_first_of(" \t\n\"=") == std::string_view::npos;
    if (plain) return std::string(value);
    std::string out = "\"";
    for (char c : value) {
        if (c == '"' || c == '\\') out += '\\';
        out += (c == '\n') ? ' ' : c;
    }
    return out + "\"";
}

void send_to_journal(LogLevel level, std::string_view message, std::span<const LogField> fields) {
    std::vector<std::string> lines;
    lines.reserve(fields.size() + 3);
    lines.push_back("MESSAGE=" + std::string(message));
    lines.push_back("PRIORITY=" + std::to_string(static_cast<int>(level)));
    lines.push_back("SYSLOG_IDENTIFIER=teed");
    for (const auto& [key, value] : fields) lines.push_back(std::string(key) + "=" + value);
    std::vector<iovec> iov;
    iov.reserve(lines.size());
    for (auto& line : lines) iov.push_back({line.data(), line.size()});
    sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
}

}  // namespace

void set_log_level(LogLevel level) { g_level = level; }
LogLevel log_level() { return g_level; }

bool log_level_from_string(std::string_view text, LogLevel& ret_level) {
    for (auto level : {LogLevel::Error, LogLevel::Warning, LogLevel::Notice, LogLevel::Info,
                       LogLevel::Debug}) {
        if (level_name(level) == text) {
            ret_level = level;
            return true;
        }
    }
    return false;
}

void set_log_to_journal(bool enabled) {
    g_journal = enabled && access("/run/systemd/journal/socket", W_OK) == 0;
}

void log_message(LogLevel level, std::string_view message, std::span<const LogField> fields) {
    if (level > g_level.load()) return;
    write_log_entry(level, message, fields);
}

void write_log_entry(LogLevel level, std::string_view message, std::span<const LogField> fields) {
    if (g_journal) {
        send_to_journal(level, message, fields);
        return;
    }
    std::string line = "teed[" + std::to_string(getpid()) + "]: level=" +
                       std::string(level_name(level)) + " message=" + quoted(message);
    for (const auto& [key, value] : fields) line += " " + std::string(key) + "=" + quoted(value);
    line += "\n";
    std::lock_guard lock(g_stderr_mutex);
    fputs(line.c_str(), stderr);
}

}  // namespace teed
