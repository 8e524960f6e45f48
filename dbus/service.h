#pragma once
// Puts teed on the bus: the manager, the devices, the sessions; follows clients' disconnects;
// owns the name last, once every object a caller could need exists.

#include <memory>
#include <vector>

#include "common/result.h"

namespace teed {

class BusConnection;
class ChannelHub;
class EventLoop;
struct Config;
class DeviceObject;
class DeviceRegistry;
class Manager;
class ManagerObject;
class SessionObjects;
class ShmObjects;
class SupplicantHost;
class SupplicantObject;

class DbusService {
public:
    DbusService(BusConnection& bus, Manager& manager, const DeviceRegistry& devices,
                const SupplicantHost& supplicants, const Config& config, EventLoop& loop);
    ~DbusService();

    Result<void> request_name();

private:
    BusConnection& bus_;
    std::unique_ptr<ChannelHub> channels_;  // first in, last out: the objects below use it
    std::unique_ptr<ManagerObject> manager_object_;  // before the devices: it manages them
    std::vector<std::unique_ptr<DeviceObject>> devices_;
    std::vector<std::unique_ptr<SupplicantObject>> supplicants_;
    std::unique_ptr<SessionObjects> sessions_;
    std::unique_ptr<ShmObjects> shared_memory_;
};

}  // namespace teed
