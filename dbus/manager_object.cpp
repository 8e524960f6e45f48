#include "dbus/manager_object.h"

#include <unistd.h>

#include "common/build_config.h"
#include "daemon/manager.h"
#include "dbus/call_options.h"
#include "dbus/errors.h"
#include "dbus/session_channel.h"
#include "dbus/guard.h"
#include "dbus/session_objects.h"
#include "dbus/shm_objects.h"

namespace teed {
namespace {

// Replies on the loop thread after the manager finished; never throws.
template <typename Reply, typename Body>
void complete(const char* method, const std::string& caller, Reply& reply, Body&& body) {
    if (auto error = dbus_guard_noexcept(method, caller, std::forward<Body>(body)))
        reply.returnError(*error);
}

}  // namespace

// --- Device objects --------------------------------------------------------------------------

DeviceObject::DeviceObject(sdbus::IConnection& connection, const DeviceDescription& description)
    : AdaptorInterfaces(connection, device_object_path(description.name)), description_(description) {
    registerAdaptor();
}

DeviceObject::~DeviceObject() { unregisterAdaptor(); }

std::string DeviceObject::Name() { return description_.name; }
uint32_t DeviceObject::ImplementationId() { return description_.version.impl_id; }
std::string DeviceObject::Implementation() { return description_.implementation(); }
std::vector<std::string> DeviceObject::Capabilities() { return description_.capabilities(); }
bool DeviceObject::Simulated() { return description_.simulated; }
std::string DeviceObject::DevicePath() { return description_.path; }
uint32_t DeviceObject::ImplementationCaps() { return description_.version.impl_caps; }

// --- The manager ------------------------------------------------------------------------------

ManagerObject::ManagerObject(sdbus::IConnection& connection, Manager& manager,
                             ChannelHub& channels)
    : AdaptorInterfaces(connection, kRootPath), manager_(manager), channels_(channels) {
    registerAdaptor();
}

ManagerObject::~ManagerObject() { unregisterAdaptor(); }

std::string ManagerObject::caller() const {
    const sdbus::Message* message = getObject().getCurrentlyProcessedMessage();
    return message != nullptr ? message->getSender() : "";
}

void ManagerObject::OpenSession(
    sdbus::Result<sdbus::ObjectPath, uint32_t, uint32_t, WireParams>&& result, std::string device,
    std::string uuid, uint32_t login, uint32_t connection_data, WireParams params,
    std::map<std::string, sdbus::Variant> options) {
    std::string sender = caller();
    dbus_guard("OpenSession", sender, [&] {
        auto parsed = parse_call_options(options);
        if (!parsed.ok()) throw to_dbus_error(parsed.error());
        OpenSessionRequest request{std::move(device), std::move(uuid), login, connection_data,
                                   from_wire(std::move(params)), parsed->cancel_id};
        // sdbus::Result is move-only and the manager's callbacks must be copyable.
        auto reply = std::make_shared<std::decay_t<decltype(result)>>(std::move(result));
        manager_.open_session(sender, std::move(request), [reply, sender](Result<OpenSessionOutcome> outcome) {
            complete("OpenSession", sender, *reply, [&] {
                if (!outcome.ok()) throw to_dbus_error(outcome.error());
                OpenSessionOutcome& o = outcome.value();
                std::string path = o.session ? session_object_path(o.session->id()) : "/";
                reply->returnResults(sdbus::ObjectPath(path), o.reply.return_origin,
                                     o.reply.return_code, to_wire(std::move(o.reply.params)));
            });
        });
    });
}

void ManagerObject::CloseSession(sdbus::Result<>&& result, sdbus::ObjectPath session) {
    std::string sender = caller();
    dbus_guard("CloseSession", sender, [&] {
        std::string prefix = std::string(kSessionsPath) + "/";
        std::string id = session.compare(0, prefix.size(), prefix) == 0 ? session.substr(prefix.size()) : "";
        auto reply = std::make_shared<sdbus::Result<>>(std::move(result));
        manager_.close_session(sender, id, [reply, sender, session](Result<void> done) {
            complete("CloseSession", sender, *reply, [&] {
                // Someone else's session gets the answer a path that never existed gets.
                if (!done.ok() && done.error().kind() == ErrorKind::NotFound)
                    throw sdbus::Error(dbus_error_name(ErrorKind::NotFound),
                                       "no session '" + std::string(session) + "'");
                if (!done.ok()) throw to_dbus_error(done.error());
                reply->returnResults();
            });
        });
    });
}

void ManagerObject::RegisterSharedMemory(sdbus::Result<sdbus::ObjectPath>&& result, sdbus::UnixFd fd,
                                         uint64_t size, uint32_t flags,
                                         std::map<std::string, sdbus::Variant> options) {
    std::string sender = caller();
    dbus_guard("RegisterSharedMemory", sender, [&] {
        auto parsed = parse_shared_memory_options(options);
        if (!parsed.ok()) throw to_dbus_error(parsed.error());
        // sdbus::UnixFd closes on destruction; the manager wants the fd for the worker.
        auto memfd = std::make_shared<UniqueFd>(fd.release());
        auto reply = std::make_shared<sdbus::Result<sdbus::ObjectPath>>(std::move(result));
        manager_.register_shared_memory(
            sender, memfd, {parsed->device, size, flags},
            [reply, sender](Result<std::shared_ptr<SharedMemoryObject>> object) {
                complete("RegisterSharedMemory", sender, *reply, [&] {
                    if (!object.ok()) throw to_dbus_error(object.error());
                    reply->returnResults(sdbus::ObjectPath(shm_object_path(object.value()->id())));
                });
            });
    });
}

void ManagerObject::AllocateSharedMemory(sdbus::Result<sdbus::ObjectPath, sdbus::UnixFd>&& result,
                                         uint64_t size, uint32_t flags,
                                         std::map<std::string, sdbus::Variant> options) {
    std::string sender = caller();
    dbus_guard("AllocateSharedMemory", sender, [&] {
        auto parsed = parse_shared_memory_options(options);
        if (!parsed.ok()) throw to_dbus_error(parsed.error());
        auto reply = std::make_shared<sdbus::Result<sdbus::ObjectPath, sdbus::UnixFd>>(std::move(result));
        manager_.allocate_shared_memory(
            sender, {parsed->device, size, flags},
            [reply, sender](auto allocated) {
                complete("AllocateSharedMemory", sender, *reply, [&] {
                    if (!allocated.ok()) throw to_dbus_error(allocated.error());
                    auto& [object, fd] = allocated.value();
                    reply->returnResults(sdbus::ObjectPath(shm_object_path(object->id())),
                                         sdbus::UnixFd(fd->release(), sdbus::adopt_fd));
                });
            });
    });
}

void ManagerObject::GetStatistics(sdbus::Result<std::map<std::string, uint64_t>>&& result) {
    std::string sender = caller();
    dbus_guard("GetStatistics", sender, [&] {
        auto reply = std::make_shared<std::decay_t<decltype(result)>>(std::move(result));
        manager_.caller_credentials(sender, [this, reply, sender](Result<const Credentials*> creds) {
            complete("GetStatistics", sender, *reply, [&] {
                if (!creds.ok()) throw to_dbus_error(creds.error());
                uid_t uid = creds.value()->uid;
                if (uid != 0 && uid != geteuid())
                    throw sdbus::Error(dbus_error_name(ErrorKind::AccessDenied),
                                       "GetStatistics is for root and teed's own user only");
                ManagerStatistics s = manager_.statistics();
                ChannelStatistics c = channels_.statistics();
                reply->returnResults(std::map<std::string, uint64_t>{
                    {"clients", s.clients},
                    {"sessions", s.sessions},
                    {"shared_memory", s.shared_memory},
                    {"live_sessions", s.live_sessions},
                    {"device_contexts", s.device_contexts},
                    {"workers_busy", s.workers_busy},
                    {"work_queued", s.work_queued},
                    {"channels", c.channels},
                    {"channel_buffered_bytes", c.buffered_bytes},
                });
            });
        });
    });
}

std::string ManagerObject::Version() { return TEED_VERSION; }

std::string ManagerObject::Status() {
    return dbus_guard("Status", caller(), [&] { return manager_.devices().status(); });
}

}  // namespace teed
