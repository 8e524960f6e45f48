#pragma once
// Finds the kernel's TEE devices with sd-device (subsystem "tee"): /dev/teeN and /dev/teeprivN.

#include <string>
#include <vector>

#include "common/result.h"

namespace teed {

struct DiscoveredNode {
    std::string name;  // "tee0"
    std::string path;  // "/dev/tee0"
    bool privileged = false;
};

Result<std::vector<DiscoveredNode>> discover_tee_nodes();

// "tee0" and "teepriv0" are TEE nodes; anything else is not.
bool is_tee_node_name(const std::string& name, bool& ret_privileged);

}  // namespace teed
