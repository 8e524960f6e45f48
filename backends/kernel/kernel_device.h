#pragma once
// The kernel implementation of the device layer: real open(2)/ioctl(2) on /dev/teeN.

#include <memory>
#include <string>

#include "backends/kernel/device.h"

namespace teed {

// A /dev/teeN or /dev/teeprivN node; `name` is the node's file name ("tee0").
std::unique_ptr<DeviceNode> make_kernel_node(std::string name, std::string path);

}  // namespace teed
