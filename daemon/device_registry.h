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
    // A supplicant node (/dev/teeprivN), recorded but never opened: only one process may hold it,
    // and opening and closing it would fail the secure world's pending requests.
    void add_supplicant_node(std::string path) { supplicant_nodes_.push_back(std::move(path)); }

    const std::vector<std::unique_ptr<PublishedDevice>>& devices() const { return devices_; }
    PublishedDevice* find(const std::string& name) const;
    // What a person should know about the devices, e.g. "2 devices (1 simulated)".
    std::string status() const;
private:
    std::vector<std::unique_ptr<PublishedDevice>> devices_;
    std::vector<std::string> supplicant_nodes_;
};

}  // namespace teed
