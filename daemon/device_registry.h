#pragma once
// The TEE devices teed publishes: kernel nodes found by discovery and simulated ones.

#include <memory>
#include <string>
#include <vector>

#include "backends/kernel/device.h"

namespace teed {

struct DeviceDescription {
    std::string name;
    std::string path;
    bool simulated = false;
    tee_ioctl_version_data version{};

    // "optee", "amdtee", "tstee", "qtee" or "unknown".
    std::string implementation() const;
    // The gen_caps bits by name: "gp", "privileged", "reg-mem", "memref-null", "objref".
    std::vector<std::string> capabilities() const;
    bool supports_gp_sessions() const;
    bool supports_memref_null() const;
};

struct PublishedDevice {
    std::unique_ptr<DeviceNode> node;
    DeviceDescription description;
};

class DeviceRegistry {
public:
    // Opens the node once to read TEE_IOC_VERSION.
    Result<void> add(std::unique_ptr<DeviceNode> node);
    // A supplicant node (/dev/teeprivN): kept for the record and, for simulated TEEs, alive as
    // long as the registry. It is never opened here: only one process may hold it, and the
    // supplicant host does (or someone else does).
    void add_supplicant_node(std::unique_ptr<DeviceNode> node) {
        supplicant_nodes_.push_back(std::move(node));
    }

    const std::vector<std::unique_ptr<PublishedDevice>>& devices() const { return devices_; }
    PublishedDevice* find(const std::string& name) const;
    size_t supplicant_node_count() const { return supplicant_nodes_.size(); }
    // What a person should know about the devices, e.g. "2 devices (1 simulated)".
    std::string status() const;
private:
    std::vector<std::unique_ptr<PublishedDevice>> devices_;
    std::vector<std::unique_ptr<DeviceNode>> supplicant_nodes_;
};

}  // namespace teed
