#pragma once
// The a{sv} options of OpenSession and Invoke. Known keys: "cancel_id" (u). An unknown key or a
// value of the wrong type is InvalidArgument, so a client learns at once that teed does not do
// what it asked.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <sdbus-c++/Types.h>

#include "common/result.h"

struct sd_bus_message;

namespace teed {

struct CallOptions {
    std::optional<uint32_t> cancel_id;
};

Result<CallOptions> parse_call_options(const std::map<std::string, sdbus::Variant>& options);

// RegisterSharedMemory and AllocateSharedMemory: "device" (s).
struct SharedMemoryOptions {
    std::string device;
};
Result<SharedMemoryOptions> parse_shared_memory_options(
    const std::map<std::string, sdbus::Variant>& options);
// Raw sd-bus: reads the a{sv} at the message's current position.
Result<CallOptions> read_call_options(sd_bus_message* message);
// Raw sd-bus: reads an a{sv} that must be empty (OpenChannel has no options yet).
Result<void> read_no_options(sd_bus_message* message);

}  // namespace teed
