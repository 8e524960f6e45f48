#include "dbus/service.h"

#include "common/log.h"
#include "daemon/device_registry.h"
#include "daemon/manager.h"
#include "daemon/supplicant_host.h"
#include "dbus/bus_connection.h"
#include "dbus/manager_object.h"
#include "dbus/session_channel.h"
#include "dbus/session_objects.h"
#include "dbus/shm_objects.h"
#include "dbus/supplicant_object.h"

namespace teed {

DbusService::DbusService(BusConnection& bus, Manager& manager, const DeviceRegistry& devices,
                         const SupplicantHost& supplicants, const Config& config, EventLoop& loop)
    : bus_(bus), channels_(std::make_unique<ChannelHub>(config, manager, loop)) {
    // Watch disconnects before anyone can call: a client's calls always arrive before its
    // NameOwnerChanged, so nothing it creates can outlive it.
    bus.watch_disconnects([&manager](const std::string& name) { manager.client_vanished(name); });
    manager_object_ = std::make_unique<ManagerObject>(bus.connection(), manager, *channels_);
    for (const auto& device : devices.devices())
        devices_.push_back(std::make_unique<DeviceObject>(bus.connection(), device->description));
    for (const auto& served : supplicants.served())
        supplicants_.push_back(std::make_unique<SupplicantObject>(bus.connection(), *served));
    sessions_ = std::make_unique<SessionObjects>(bus.raw_bus(), manager, *channels_);
    shared_memory_ = std::make_unique<ShmObjects>(bus.raw_bus(), manager);
}

DbusService::~DbusService() = default;

Result<void> DbusService::request_name() {
    try {
        bus_.connection().requestName(kBusName);
    } catch (const sdbus::Error& e) {
        return Error(ErrorKind::AccessDenied)
               << "cannot own the bus name '" << kBusName << "': " << e.getName() << ": "
               << e.getMessage()
               << " (is another teed running, and does the bus policy let this user own it?)";
    }
    return {};
}

}  // namespace teed
