#pragma once
// Conversions between the public client types and their D-Bus form.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <sdbus-c++/Types.h>

#include "teed/client.h"

namespace teed::client::detail {

// (type, a, b, data, shm, offset, size): one element of a(uttayott).
using WireParam = sdbus::Struct<uint32_t, uint64_t, uint64_t, std::vector<uint8_t>,
                                sdbus::ObjectPath, uint64_t, uint64_t>;
using WireOptions = std::map<std::string, sdbus::Variant>;

std::vector<WireParam> to_wire(const std::vector<Param>& params);
std::vector<Param> from_wire(std::vector<WireParam>&& params);

// The a{sv} options of OpenSession and Invoke: "cancel_id" (u) when set.
WireOptions call_options(std::optional<uint32_t> cancel_id);

// The a{sv} of Manager.GetClientInfo. A key that is missing, or that carries another type than
// the documented one, leaves the field's default; unknown keys are ignored, so that a newer teed
// may add some.
ClientInfo client_info_from_wire(const std::map<std::string, sdbus::Variant>& info);

// GetCounters' a{s(ttt)}: per command, (served, failed, in flight).
using WireCounters = std::map<std::string, sdbus::Struct<uint64_t, uint64_t, uint64_t>>;
std::map<std::string, SupplicantInfo::Counters> counters_from_wire(const WireCounters& counters);

// The a{sv} of Supplicant.GetStatus into `info`'s shared_memory_bytes, shared_memory_buffers and
// send_failures, with the same rules as client_info_from_wire: a missing or mistyped key leaves
// the field as it was, unknown keys are ignored.
void read_supplicant_status(const std::map<std::string, sdbus::Variant>& status,
                            SupplicantInfo& info);

using PropertyMap = std::map<std::string, sdbus::Variant>;

// The property `name` from `properties` (one interface's entry in GetManagedObjects), or, when it
// is missing or of another type, `fetch()`: reading it from the object itself.
template <typename T, typename Fetch>
T property_or(const PropertyMap& properties, const std::string& name, Fetch&& fetch) {
    auto it = properties.find(name);
    if (it != properties.end() && it->second.containsValueOfType<T>()) return it->second.get<T>();
    return fetch();
}

}  // namespace teed::client::detail
