#pragma once
// GlobalPlatform parameters on the wire, a(uttayott): (type, a, b, data, shm, offset, size).
// Two codecs for the one signature: sdbus-c++ structs (Manager, generated adaptors) and raw
// sd-bus messages (session objects, served from a fallback vtable).

#include <cstdint>
#include <vector>

#include <sdbus-c++/Types.h>

#include "backends/optee/gp_params.h"

struct sd_bus_message;

namespace teed {

using WireParam =
    sdbus::Struct<uint32_t, uint64_t, uint64_t, std::vector<uint8_t>, sdbus::ObjectPath, uint64_t, uint64_t>;
using WireParams = std::vector<WireParam>;

inline constexpr const char* kWireParamsSignature = "a(uttayott)";

// `shm` must be a valid object path (the bus guarantees it); no other checks here.
GpParams from_wire(WireParams wire);
WireParams to_wire(GpParams params);

// Raw sd-bus: read and append a(uttayott). Reading fails with -errno on malformed messages.
int read_wire_params(sd_bus_message* message, GpParams& ret_params);
int append_wire_params(sd_bus_message* message, const GpParams& params);

}  // namespace teed
