#pragma once
// Bulk marshaling of byte arrays for sdbus-c++ 1.2.
//
// sdbus-c++ 1.2 serializes std::vector<uint8_t> one element at a time (22 MB/s measured for `ay`,
// against 595 MB/s for sd-bus's array calls on the same bus). These non-template overloads win
// overload resolution against its templates, so every `ay` the project sends or reads, including
// those inside structs such as a(uttayott), goes through sd_bus_message_append_array() and
// sd_bus_message_read_array(). The build force-includes this header into every translation unit
// (CMake `-include`), so no unit instantiates the per-byte templates: mixing both would break the
// one-definition rule.
//
// It also reads into the vector instead of appending to it (1.2 appends when the target is not
// empty).

#include <cstdint>
#include <vector>

#include <sdbus-c++/Message.h>

struct sd_bus_message;

namespace teed::dbus_raw {

// The sd_bus_message behind an sdbus::Message. 1.2 keeps it in a protected member; reaching it
// through a derived class's member pointer is well-defined.
sd_bus_message* raw_message(const sdbus::Message& message);
void mark_message_exhausted(sdbus::Message& message);

}  // namespace teed::dbus_raw

namespace sdbus {

Message& operator<<(Message& message, const std::vector<uint8_t>& bytes);
Message& operator>>(Message& message, std::vector<uint8_t>& bytes);

}  // namespace sdbus
