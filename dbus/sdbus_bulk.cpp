#include "dbus/sdbus_bulk.h"

#include <cstring>

#include <systemd/sd-bus.h>
#include <sdbus-c++/Error.h>

namespace teed::dbus_raw {
namespace {

struct MessageAccess : sdbus::Message {
    static void* sdbus::Message::*message_member() { return &MessageAccess::msg_; }
    static bool sdbus::Message::*ok_member() { return &MessageAccess::ok_; }
};

}  // namespace

sd_bus_message* raw_message(const sdbus::Message& message) {
    return static_cast<sd_bus_message*>(message.*MessageAccess::message_member());
}

void mark_message_exhausted(sdbus::Message& message) {
    message.*MessageAccess::ok_member() = false;
}

}  // namespace teed::dbus_raw

namespace sdbus {

Message& operator<<(Message& message, const std::vector<uint8_t>& bytes) {
    int r = sd_bus_message_append_array(teed::dbus_raw::raw_message(message), 'y', bytes.data(),
                                        bytes.size());
    if (r < 0) throw sdbus::Error("org.freedesktop.DBus.Error.NoMemory",
                                  "Failed to serialize a byte array: " + std::string(strerror(-r)));
    return message;
}

Message& operator>>(Message& message, std::vector<uint8_t>& bytes) {
    const void* data = nullptr;
    size_t size = 0;
    int r = sd_bus_message_read_array(teed::dbus_raw::raw_message(message), 'y', &data, &size);
    if (r < 0) throw sdbus::Error("org.freedesktop.DBus.Error.InvalidArgs",
                                  "Failed to deserialize a byte array: " + std::string(strerror(-r)));
    if (r == 0) {
        // End of the enclosing container, as sdbus-c++ signals it for basic types.
        teed::dbus_raw::mark_message_exhausted(message);
        return message;
    }
    const auto* begin = static_cast<const uint8_t*>(data);
    bytes.assign(begin, begin + size);
    return message;
}

}  // namespace sdbus
