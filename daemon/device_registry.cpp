#include "daemon/device_registry.h"

#include <array>

namespace teed {
namespace {

struct CapabilityName {
    uint32_t bit;
    const char* name;
};
constexpr std::array kCapabilityNames{
    CapabilityName{TEE_GEN_CAP_GP, "gp"},
    CapabilityName{TEE_GEN_CAP_PRIVILEGED, "privileged"},
    CapabilityName{TEE_GEN_CAP_REG_MEM, "reg-mem"},
    CapabilityName{TEE_GEN_CAP_MEMREF_NULL, "memref-null"},
    CapabilityName{TEE_GEN_CAP_OBJREF, "objref"},
};

}  // namespace

std::string DeviceDescription::implementation() const {
    switch (version.impl_id) {
        case TEE_IMPL_ID_OPTEE: return "optee";
        case TEE_IMPL_ID_AMDTEE: return "amdtee";
        case TEE_IMPL_ID_TSTEE: return "tstee";
        case TEE_IMPL_ID_QTEE: return "qtee";
        default: return "unknown";
    }
}

std::vector<std::string> DeviceDescription::capabilities() const {
    std::vector<std::string> names;
    for (const auto& cap : kCapabilityNames)
        if (version.gen_caps & cap.bit) names.emplace_back(cap.name);
    return names;
}

bool DeviceDescription::supports_gp_sessions() const {
    return (version.gen_caps & TEE_GEN_CAP_GP) && !(version.gen_caps & TEE_GEN_CAP_PRIVILEGED);
}

bool DeviceDescription::supports_memref_null() const {
    return version.gen_caps & TEE_GEN_CAP_MEMREF_NULL;
}

Result<void> DeviceRegistry::add(std::unique_ptr<DeviceNode> node) {
    if (find(node->name()) != nullptr)
        return Error(ErrorKind::InvalidArgument) << "a device named '" << node->name() << "' exists";
    auto context = TEED_TRY(node->open());
    auto published = std::make_unique<PublishedDevice>();
    published->description.version = TEED_TRY(context->version());
    published->description.name = node->name();
    published->description.path = node->path();
    published->description.simulated = node->simulated();
    published->node = std::move(node);
    if (published->description.version.gen_caps & TEE_GEN_CAP_PRIVILEGED)
        return Error(ErrorKind::NotSupported)
               << "'" << published->description.path << "' is a supplicant device";
    devices_.push_back(std::move(published));
    return {};
}

PublishedDevice* DeviceRegistry::find(const std::string& name) const {
    for (const auto& device : devices_)
        if (device->description.name == name) return device.get();
    return nullptr;
}

std::string DeviceRegistry::status() const {
    std::string text;
    if (devices_.empty()) {
        text = "no TEE devices: none found and simulation is off";
    } else {
        size_t simulated = 0;
        for (const auto& device : devices_) simulated += device->description.simulated ? 1 : 0;
        text = std::to_string(devices_.size()) + (devices_.size() == 1 ? " device" : " devices");
        if (simulated > 0) text += " (" + std::to_string(simulated) + " simulated)";
    }
    return text;
}

}  // namespace teed
