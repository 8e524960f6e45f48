#pragma once
// The org.teed.Teed1.SharedMemory objects under /org/teed/Teed1/shm/<id>, served like the
// sessions (session_objects.h): only the creating connection sees them. Their signatures are
// those of dbus/org.teed.Teed1.SharedMemory.xml, which a test compares with the introspection.

#include <string>

#include "common/object_path.h"

struct sd_bus;
struct sd_bus_slot;

namespace teed {

class Manager;

// kSharedMemoryPath: common/object_path.h (the daemon resolves GP params' paths with it too).

std::string shm_object_path(const std::string& id);

class ShmObjects {
public:
    ShmObjects(sd_bus* bus, Manager& manager);
    ~ShmObjects();
    ShmObjects(const ShmObjects&) = delete;
    ShmObjects& operator=(const ShmObjects&) = delete;

    Manager& manager() { return manager_; }

private:
    Manager& manager_;
    sd_bus_slot* slot_ = nullptr;
};

}  // namespace teed
