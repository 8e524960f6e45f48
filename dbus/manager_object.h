#pragma once
// /org/teed/Teed1: org.teed.Teed1.Manager and org.freedesktop.DBus.ObjectManager.
// Adaptor only: checks arguments, maps errors, and calls the Manager.
//
// The ObjectManager is sd-bus's own: it lists the objects it can enumerate below the root, which
// are the devices. Sessions are served from a fallback vtable without an enumerator
// (session_objects.h), so it never lists them.

#include <memory>
#include <vector>

#include <sdbus-c++/sdbus-c++.h>

#include "dbus/gp_wire.h"
#include "org.teed.Teed1.Device_adaptor.h"
#include "org.teed.Teed1.Manager_adaptor.h"

namespace teed {

class ChannelHub;
class Manager;
struct DeviceDescription;

inline constexpr const char* kBusName = "org.teed.Teed1";
inline constexpr const char* kRootPath = "/org/teed/Teed1";

class DeviceObject final : public sdbus::AdaptorInterfaces<org::teed::Teed1::Device_adaptor> {
public:
    DeviceObject(sdbus::IConnection& connection, const DeviceDescription& description);
    ~DeviceObject();

    const DeviceDescription& description() const { return description_; }

private:
    std::string Name() override;
    uint32_t ImplementationId() override;
    std::string Implementation() override;
    std::vector<std::string> Capabilities() override;
    bool Simulated() override;
    std::string DevicePath() override;
    uint32_t ImplementationCaps() override;

    const DeviceDescription& description_;
};

class ManagerObject final
    : public sdbus::AdaptorInterfaces<org::teed::Teed1::Manager_adaptor,
                                      sdbus::ObjectManager_adaptor> {
public:
    ManagerObject(sdbus::IConnection& connection, Manager& manager, ChannelHub& channels);
    ~ManagerObject();

private:
    void OpenSession(sdbus::Result<sdbus::ObjectPath, uint32_t, uint32_t, WireParams>&& result,
                     std::string device, std::string uuid, uint32_t login,
                     uint32_t connection_data, WireParams params,
                     std::map<std::string, sdbus::Variant> options) override;
    void CloseSession(sdbus::Result<>&& result, sdbus::ObjectPath session) override;
    void RegisterSharedMemory(sdbus::Result<sdbus::ObjectPath>&& result, sdbus::UnixFd fd,
                              uint64_t size, uint32_t flags,
                              std::map<std::string, sdbus::Variant> options) override;
    void AllocateSharedMemory(sdbus::Result<sdbus::ObjectPath, sdbus::UnixFd>&& result,
                              uint64_t size, uint32_t flags,
                              std::map<std::string, sdbus::Variant> options) override;
    void GetStatistics(sdbus::Result<std::map<std::string, uint64_t>>&& result) override;
    void ReloadPolicy(sdbus::Result<uint32_t, uint32_t, std::vector<std::string>>&& result) override;
    void GetClientInfo(sdbus::Result<std::map<std::string, sdbus::Variant>>&& result) override;
    std::string Version() override;
    std::string Status() override;

    std::string caller() const;

    Manager& manager_;
    ChannelHub& channels_;
};

}  // namespace teed
