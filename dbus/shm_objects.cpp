#include "dbus/shm_objects.h"

#include <cstring>
#include <memory>
#include <stdexcept>

#include <systemd/sd-bus.h>

#include "daemon/manager.h"
#include "dbus/errors.h"
#include "dbus/owned_objects.h"
#include "dbus/session_objects.h"

namespace teed {
namespace {

std::shared_ptr<SharedMemoryObject> object_for(ShmObjects& objects, sd_bus_message* m) {
    return objects.manager().find_shared_memory(
        sender_of(m), object_id_of(kSharedMemoryPath, sd_bus_message_get_path(m)));
}

int method_release(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto& objects = *static_cast<ShmObjects*>(userdata);
    auto object = object_for(objects, m);
    if (!object) return reply_unknown_object(m);
    auto call = std::make_shared<CallRef>(m);
    objects.manager().release_shared_memory(sender_of(m), object->id(), [call](Result<void> done) {
        if (done.ok())
            sd_bus_reply_method_return(call->message, "");
        else
            reply_error(call->message, "Release", done.error());
    });
    return 1;
}

int guarded_release(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    try {
        return method_release(m, userdata, error);
    } catch (const std::exception& e) {
        reply_error(m, "Release", Error(ErrorKind::Internal) << e.what());
        return 1;
    }
}

int property_get(sd_bus* bus, const char*, const char*, const char* property,
                 sd_bus_message* reply, void* userdata, sd_bus_error* error) {
    try {
        auto object = object_for(*static_cast<ShmObjects*>(userdata), sd_bus_get_current_message(bus));
        if (!object) return sd_bus_error_set(error, kUnknownObjectError, "Unknown object.");
        std::string name = property;
        const auto& memory = *object->memory();
        if (name == "Size") return sd_bus_message_append(reply, "t", memory.size());
        if (name == "Flags") return sd_bus_message_append(reply, "u", memory.flags());
        if (name == "ZeroCopy") return sd_bus_message_append(reply, "b", memory.zero_copy() ? 1 : 0);
        if (name == "Device")
            return sd_bus_message_append(reply, "o", device_object_path(object->device_name()).c_str());
        return sd_bus_error_setf(error, SD_BUS_ERROR_UNKNOWN_PROPERTY, "Unknown property '%s'.", property);
    } catch (const std::exception& e) {
        return sd_bus_error_set(error, dbus_error_name(ErrorKind::Internal).c_str(), e.what());
    }
}

int find_object(sd_bus* bus, const char* path, const char*, void* userdata, void** ret_found,
                sd_bus_error*) {
    try {
        auto& objects = *static_cast<ShmObjects*>(userdata);
        sd_bus_message* current = sd_bus_get_current_message(bus);
        if (current == nullptr) return 0;
        std::string id = object_id_of(kSharedMemoryPath, path);
        if (id.empty() || !objects.manager().find_shared_memory(sender_of(current), id)) return 0;
        *ret_found = userdata;
        return 1;
    } catch (const std::exception&) {
        return 0;
    }
}

const sd_bus_vtable kShmVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Release", "", "", guarded_release, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_PROPERTY("Size", "t", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Flags", "u", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("ZeroCopy", "b", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Device", "o", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_VTABLE_END,
};

}  // namespace

std::string shm_object_path(const std::string& id) { return std::string(kSharedMemoryPath) + "/" + id; }

ShmObjects::ShmObjects(sd_bus* bus, Manager& manager) : manager_(manager) {
    int r = sd_bus_add_fallback_vtable(bus, &slot_, kSharedMemoryPath, "org.teed.Teed1.SharedMemory",
                                       kShmVtable, find_object, this);
    if (r < 0) throw std::runtime_error("cannot register the shared-memory objects: " + std::string(strerror(-r)));
}

ShmObjects::~ShmObjects() { sd_bus_slot_unref(slot_); }

}  // namespace teed
