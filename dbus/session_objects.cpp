#include "dbus/session_objects.h"

#include <memory>
#include <stdexcept>

#include <systemd/sd-bus.h>

#include "common/log.h"
#include "daemon/manager.h"
#include "dbus/call_options.h"
#include "dbus/errors.h"
#include "dbus/gp_wire.h"
#include "dbus/session_channel.h"
#include "dbus/owned_objects.h"

namespace teed {
namespace {

std::shared_ptr<Session> session_for(SessionObjects& objects, sd_bus_message* m) {
    return objects.manager().find_session(sender_of(m),
                                          object_id_of(kSessionsPath, sd_bus_message_get_path(m)));
}

void reply_invoke(sd_bus_message* call, const GpReply& reply) {
    sd_bus_message* out = nullptr;
    int r = sd_bus_message_new_method_return(call, &out);
    if (r >= 0) r = sd_bus_message_append(out, "uu", reply.return_origin, reply.return_code);
    if (r >= 0) r = append_wire_params(out, reply.params);
    if (r >= 0) r = sd_bus_send(nullptr, out, nullptr);
    sd_bus_message_unref(out);
    if (r < 0) log_warning("sending an Invoke reply failed, ignoring", {{"ERRNO", std::to_string(-r)}});
}

int method_invoke(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto& objects = *static_cast<SessionObjects*>(userdata);
    auto session = session_for(objects, m);
    if (!session) return reply_unknown_object(m);
    uint32_t command = 0;
    GpParams params;
    int r = sd_bus_message_read(m, "u", &command);
    if (r >= 0) r = read_wire_params(m, params);
    if (r < 0) {
        reply_error(m, "Invoke", ErrnoError(-r) << "malformed parameters");
        return 1;
    }
    auto options = read_call_options(m);
    if (!options.ok()) {
        reply_error(m, "Invoke", options.error());
        return 1;
    }
    auto call = std::make_shared<CallRef>(m);
    objects.manager().invoke(sender_of(m), session, command, std::move(params),
                             options->cancel_id, [call](Result<GpReply> reply) {
                                 if (reply.ok())
                                     reply_invoke(call->message, reply.value());
                                 else
                                     reply_error(call->message, "Invoke", reply.error());
                             });
    return 1;
}

int method_request_cancellation(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto& objects = *static_cast<SessionObjects*>(userdata);
    auto session = session_for(objects, m);
    if (!session) return reply_unknown_object(m);
    uint32_t cancel_id = 0;
    int r = sd_bus_message_read(m, "u", &cancel_id);
    if (r < 0) {
        reply_error(m, "RequestCancellation", ErrnoError(-r) << "malformed arguments");
        return 1;
    }
    auto call = std::make_shared<CallRef>(m);
    objects.manager().request_cancellation(sender_of(m), session, cancel_id, [call](Result<void> done) {
        if (done.ok())
            sd_bus_reply_method_return(call->message, "");
        else
            reply_error(call->message, "RequestCancellation", done.error());
    });
    return 1;
}

int method_open_channel(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto& objects = *static_cast<SessionObjects*>(userdata);
    auto session = session_for(objects, m);
    if (!session) return reply_unknown_object(m);
    if (auto options = read_no_options(m); !options.ok()) {
        reply_error(m, "OpenChannel", options.error());
        return 1;
    }
    auto socket = objects.channels().open(sender_of(m), session);
    if (!socket.ok()) {
        reply_error(m, "OpenChannel", socket.error());
        return 1;
    }
    // sd-bus duplicates the fd into the message; ours closes when `socket` goes.
    int r = sd_bus_reply_method_return(m, "h", socket.value().get());
    if (r < 0) log_warning("sending an OpenChannel reply failed, ignoring", {{"ERRNO", std::to_string(-r)}});
    return 1;
}

int method_close(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto& objects = *static_cast<SessionObjects*>(userdata);
    auto session = session_for(objects, m);
    if (!session) return reply_unknown_object(m);
    auto call = std::make_shared<CallRef>(m);
    objects.manager().close_session(sender_of(m), session->id(), [call](Result<void> done) {
        if (done.ok())
            sd_bus_reply_method_return(call->message, "");
        else
            reply_error(call->message, "Close", done.error());
    });
    return 1;
}

int property_get(sd_bus* bus, const char*, const char*, const char* property,
                 sd_bus_message* reply, void* userdata, sd_bus_error* error) {
    auto& objects = *static_cast<SessionObjects*>(userdata);
    auto session = session_for(objects, sd_bus_get_current_message(bus));
    if (!session) return sd_bus_error_set(error, kUnknownObjectError, "Unknown object.");
    std::string name = property;
    if (name == "TrustedApplication")
        return sd_bus_message_append(reply, "s", session->uuid().to_string().c_str());
    if (name == "Device")
        return sd_bus_message_append(reply, "o", device_object_path(session->device_name()).c_str());
    if (name == "Login") return sd_bus_message_append(reply, "u", session->login());
    return sd_bus_error_setf(error, SD_BUS_ERROR_UNKNOWN_PROPERTY, "Unknown property '%s'.", property);
}

// sd-bus calls handlers from C: nothing may escape them.
template <int (*Handler)(sd_bus_message*, void*, sd_bus_error*)>
int guarded(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    try {
        return Handler(m, userdata, error);
    } catch (const std::exception& e) {
        reply_error(m, sd_bus_message_get_member(m), Error(ErrorKind::Internal) << e.what());
        return 1;
    }
}

int guarded_property_get(sd_bus* bus, const char* path, const char* interface,
                         const char* property, sd_bus_message* reply, void* userdata,
                         sd_bus_error* error) {
    try {
        return property_get(bus, path, interface, property, reply, userdata, error);
    } catch (const std::exception& e) {
        return sd_bus_error_set(error, dbus_error_name(ErrorKind::Internal).c_str(), e.what());
    }
}

int find_session(sd_bus* bus, const char* path, const char*, void* userdata, void** ret_found,
                 sd_bus_error*) {
    try {
        auto& objects = *static_cast<SessionObjects*>(userdata);
        sd_bus_message* current = sd_bus_get_current_message(bus);
        if (current == nullptr) return 0;
        std::string id = object_id_of(kSessionsPath, path);
        if (id.empty() || !objects.manager().find_session(sender_of(current), id)) return 0;
        *ret_found = userdata;
        return 1;
    } catch (const std::exception&) {
        return 0;
    }
}

const sd_bus_vtable kSessionVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_NAMES("Invoke", "ua(uttayott)a{sv}",
                             SD_BUS_PARAM(command) SD_BUS_PARAM(params) SD_BUS_PARAM(options),
                             "uua(uttayott)",
                             SD_BUS_PARAM(return_origin) SD_BUS_PARAM(return_code) SD_BUS_PARAM(params_out),
                             guarded<method_invoke>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("RequestCancellation", "u", SD_BUS_PARAM(cancel_id), "", ,
                             guarded<method_request_cancellation>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("OpenChannel", "a{sv}", SD_BUS_PARAM(options), "h", SD_BUS_PARAM(socket),
                             guarded<method_open_channel>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Close", "", "", guarded<method_close>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_PROPERTY("TrustedApplication", "s", guarded_property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Device", "o", guarded_property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Login", "u", guarded_property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_VTABLE_END,
};

}  // namespace

std::string session_object_path(const std::string& id) { return std::string(kSessionsPath) + "/" + id; }

std::string device_object_path(const std::string& device_name) {
    return "/org/teed/Teed1/devices/" + device_name;
}

SessionObjects::SessionObjects(sd_bus* bus, Manager& manager, ChannelHub& channels)
    : manager_(manager), channels_(channels) {
    int r = sd_bus_add_fallback_vtable(bus, &slot_, kSessionsPath, "org.teed.Teed1.Session",
                                       kSessionVtable, find_session, this);
    if (r < 0) throw std::runtime_error("cannot register the session objects: " + std::string(strerror(-r)));
}

SessionObjects::~SessionObjects() { sd_bus_slot_unref(slot_); }

}  // namespace teed
