#pragma once
// The D-Bus error names teed answers with (org.teed.Teed1.Error.*), one per condition a client can
// act on, and the one mapping from internal errors to them.

#include <string>

#include <sdbus-c++/Error.h>

#include "common/result.h"

namespace teed {

inline constexpr const char* kErrorPrefix = "org.teed.Teed1.Error.";
// The answer for an object that does not exist, or that belongs to another client (sd-bus's own
// text for unknown paths, so both look the same).
inline constexpr const char* kUnknownObjectError = "org.freedesktop.DBus.Error.UnknownObject";

// "org.teed.Teed1.Error.NotFound" for ErrorKind::NotFound, and so on.
std::string dbus_error_name(ErrorKind kind);
sdbus::Error to_dbus_error(const Error& error);
std::string unknown_object_message(const std::string& path);

}  // namespace teed
