#include "dbus/errors.h"

namespace teed {

std::string dbus_error_name(ErrorKind kind) { return kErrorPrefix + std::string(to_string(kind)); }

sdbus::Error to_dbus_error(const Error& error) {
    return sdbus::Error(dbus_error_name(error.kind()), error.message());
}

std::string unknown_object_message(const std::string& path) {
    return "Unknown object '" + path + "'.";
}

}  // namespace teed
