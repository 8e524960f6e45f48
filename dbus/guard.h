#pragma once
// Every D-Bus handler body runs inside dbus_guard(): sdbus-c++ 1.2 catches only sdbus::Error around
// handlers and aborts the process on anything else, so every other exception becomes an
// org.teed.Teed1.Error.Internal reply here, and every refusal is logged once (log_refusal()).
//
//   void ManagerObject::CloseSession(sdbus::Result<>&& result, sdbus::ObjectPath path) {
//       dbus_guard("CloseSession", caller(), [&] { ... });
//   }

#include <exception>
#include <optional>
#include <string>
#include <utility>

#include <sdbus-c++/Error.h>

#include "common/log.h"
#include "common/result.h"
#include "dbus/errors.h"

namespace teed {

// Logs a refused call: what, who, and why. teed's own failures (Internal) are always warnings.
// A refusal the client caused is a notice, and these are rate limited across all clients (20 per
// 10 s, the dropped ones counted in the next line as TEED_SUPPRESSED): a client looping on a bad
// request must not flood the journal. The denials an operator needs are also in the audit trail
// (daemon/audit.h), rate limited per uid.
void log_refusal(const char* method, const std::string& caller, const std::string& name,
                 const std::string& message);

inline void log_refusal(const char* method, const std::string& caller, const sdbus::Error& error) {
    log_refusal(method, caller, error.getName(), error.getMessage());
}

// Turns anything `body` throws into an sdbus::Error (rethrown for sdbus-c++ to reply with).
template <typename Body>
decltype(auto) dbus_guard(const char* method, const std::string& caller, Body&& body) {
    try {
        return std::forward<Body>(body)();
    } catch (const sdbus::Error& e) {
        log_refusal(method, caller, e);
        throw;
    } catch (const std::exception& e) {
        sdbus::Error error(dbus_error_name(ErrorKind::Internal), e.what());
        log_refusal(method, caller, error);
        throw error;
    } catch (...) {
        sdbus::Error error(dbus_error_name(ErrorKind::Internal), "unknown failure");
        log_refusal(method, caller, error);
        throw error;
    }
}

// For code that must not throw at all (async completions): returns the error to reply with
// instead, or nothing when `body` succeeded.
template <typename Body>
std::optional<sdbus::Error> dbus_guard_noexcept(const char* method, const std::string& caller,
                                                Body&& body) {
    std::optional<sdbus::Error> error;
    try {
        std::forward<Body>(body)();
        return error;
    } catch (const sdbus::Error& e) {
        error = e;
    } catch (const std::exception& e) {
        error = sdbus::Error(dbus_error_name(ErrorKind::Internal), e.what());
    } catch (...) {
        error = sdbus::Error(dbus_error_name(ErrorKind::Internal), "unknown failure");
    }
    log_refusal(method, caller, *error);
    return error;
}

}  // namespace teed
