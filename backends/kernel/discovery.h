#pragma once
// Finds the kernel's TEE devices: /dev/teeN and /dev/teeprivN.
//
// udev's database is not a precondition: an initramfs, a container, or teed started before udev
// has processed the nodes has no entry for them, and a supplicant device teed misses leaves every
// TA that needs the normal world blocked in the kernel. So sd-device enumerates subsystem "tee"
// in sysfs including devices udev has not initialized, and when sysfs shows none (no /sys, or a
// container given only the nodes), the character devices named tee* in /dev are taken.
//
//   for (const auto& node : TEED_TRY(discover_tee_nodes()))
//       log_info("found", {{"TEED_DEVICE", node.path}, {"TEED_FOUND_BY", to_string(node.found_by)}});

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace teed {

enum class DiscoveryMethod {
    Udev,       // sysfs, with udev's database entry: udev has processed the node
    Sysfs,      // sysfs, with no entry in udev's database
    DevScan,    // a character device in /dev, not in sysfs
};
std::string_view to_string(DiscoveryMethod method);

struct DiscoveredNode {
    std::string name;  // "tee0"
    std::string path;  // "/dev/tee0"
    bool privileged = false;
    DiscoveryMethod found_by = DiscoveryMethod::Udev;
};

// Sorted by name. An error only when sd-device cannot enumerate at all and /dev cannot be read.
Result<std::vector<DiscoveredNode>> discover_tee_nodes();

// The character devices named like TEE nodes in `directory` (not recursive), sorted by name.
Result<std::vector<DiscoveredNode>> scan_tee_nodes_in(const std::string& directory);

// "tee0" and "teepriv0" are TEE nodes; anything else is not.
bool is_tee_node_name(const std::string& name, bool& ret_privileged);

}  // namespace teed
