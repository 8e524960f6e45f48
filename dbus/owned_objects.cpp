#include "dbus/owned_objects.h"

#include <systemd/sd-bus.h>

#include "common/log.h"
#include "common/object_path.h"
#include "dbus/errors.h"
#include "dbus/guard.h"

namespace teed {

CallRef::CallRef(sd_bus_message* m) : message(sd_bus_message_ref(m)) {}
CallRef::~CallRef() { sd_bus_message_unref(message); }

std::string sender_of(sd_bus_message* m) {
    const char* sender = sd_bus_message_get_sender(m);
    return sender != nullptr ? sender : "";
}

std::string object_id_of(const char* prefix, const char* path) {
    return object_id_under(prefix, path != nullptr ? path : "");
}

int reply_unknown_object(sd_bus_message* call) {
    return sd_bus_reply_method_errorf(call, kUnknownObjectError, "%s",
                                      unknown_object_message(sd_bus_message_get_path(call)).c_str());
}

void reply_error(sd_bus_message* call, const char* method, const Error& error) {
    std::string name = dbus_error_name(error.kind());
    std::string message = error.message();
    log_refusal(method, sender_of(call), name, message);
    sd_bus_reply_method_errorf(call, name.c_str(), "%s", message.c_str());
}

}  // namespace teed
