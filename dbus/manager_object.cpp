#include "dbus/manager_object.h"

#include <unistd.h>

#include "common/build_config.h"
#include "common/log.h"
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
        manager_.check_privileged(sender, "GetStatistics", [this, reply, sender](Result<void> allowed) {
            complete("GetStatistics", sender, *reply, [&] {
                if (!allowed.ok()) throw to_dbus_error(allowed.error());
                ManagerStatistics s = manager_.statistics();
                ChannelStatistics c = channels_.statistics();
                reply->returnResults(std::map<std::string, uint64_t>{
                    {"clients", s.clients},
                    {"sessions", s.sessions},
                    {"shared_memory", s.shared_memory},
                    {"shared_memory_bytes", s.shared_memory_bytes},
                    {"live_sessions", s.live_sessions},
                    {"device_contexts", s.device_contexts},
                    {"workers_busy", s.workers_busy},
                    {"work_queued", s.work_queued},
                    {"calls_in_flight", s.calls_in_flight},
                    {"audit_suppressed", s.audit_suppressed},
                    {"channels", c.channels},
                    {"channel_buffered_bytes", c.buffered_bytes},
                });
            });
        });
    });
}

namespace {

std::string describe_rejection(const PolicyLoadReport& report) {
    std::string text = "the policy was not changed: " + std::to_string(report.errors.size()) +
                       " error(s) in the policy files:";
    for (const auto& e : report.errors) text += "\n" + e.to_string();
    return text;
}

std::map<std::string, uint64_t> limits_dict(const Limits& l) {
    return {
        {"max_memref_bytes", l.max_memref_bytes},
        {"max_call_memref_bytes", l.max_call_memref_bytes},
        {"max_sessions_per_client", l.max_sessions_per_client},
        {"max_concurrent_calls_per_client", l.max_concurrent_calls_per_client},
        {"max_shm_bytes", l.max_shm_bytes},
        {"max_shm_per_client", l.max_shm_per_client},
        {"max_shm_bytes_per_client", l.max_shm_bytes_per_client},
        {"max_channels_per_session", l.max_channels_per_session},
        {"max_clients", l.max_clients},
        {"max_sessions_total", l.max_sessions_total},
        {"max_concurrent_calls_total", l.max_concurrent_calls_total},
        {"max_shm_bytes_total", l.max_shm_bytes_total},
    };
}

std::map<std::string, sdbus::Variant> info_dict(const ClientInfo& info) {
    const Credentials& c = info.credentials;
    std::vector<uint32_t> groups(c.groups.begin(), c.groups.end());
    return {
        {"uid", sdbus::Variant(static_cast<uint32_t>(c.uid))},
        {"gid", sdbus::Variant(static_cast<uint32_t>(c.gid))},
        {"groups", sdbus::Variant(groups)},
        {"pid", sdbus::Variant(static_cast<uint32_t>(c.pid))},
        {"unit", sdbus::Variant(c.unit)},
        {"executable", sdbus::Variant(c.executable)},
        {"application_identity", sdbus::Variant(info.application_identity.to_string())},
        {"application_logins", sdbus::Variant(info.application_logins)},
        {"rules", sdbus::Variant(info.rules)},
        {"limits", sdbus::Variant(limits_dict(info.limits))},
        {"usage", sdbus::Variant(std::map<std::string, uint64_t>{
                      {"sessions", info.sessions},
                      {"shared_memory", info.shared_memory},
                      {"shared_memory_bytes", info.shared_memory_bytes},
                      {"calls_in_flight", info.calls_in_flight},
                  })},
    };
}

}  // namespace

void ManagerObject::ReloadPolicy(sdbus::Result<uint32_t, uint32_t, std::vector<std::string>>&& result) {
    std::string sender = caller();
    dbus_guard("ReloadPolicy", sender, [&] {
        auto reply = std::make_shared<std::decay_t<decltype(result)>>(std::move(result));
        manager_.check_privileged(sender, "ReloadPolicy", [this, reply, sender](Result<void> allowed) {
            if (!allowed.ok())
                return complete("ReloadPolicy", sender, *reply,
                                [&] { throw to_dbus_error(allowed.error()); });
            log_info("policy reload requested over D-Bus", {{"TEED_CLIENT", sender}});
            manager_.reload_policy([reply, sender](const PolicyLoadReport& report) {
                complete("ReloadPolicy", sender, *reply, [&] {
                    if (!report.ok())
                        throw sdbus::Error(dbus_error_name(ErrorKind::InvalidArgument),
                                           describe_rejection(report));
                    std::vector<std::string> warnings;
                    for (const auto& w : report.warnings) warnings.push_back(w.to_string());
                    reply->returnResults(static_cast<uint32_t>(report.files.size()),
                                         static_cast<uint32_t>(report.rules), warnings);
                });
            });
        });
    });
}

void ManagerObject::GetClientInfo(sdbus::Result<std::map<std::string, sdbus::Variant>>&& result) {
    std::string sender = caller();
    dbus_guard("GetClientInfo", sender, [&] {
        auto reply = std::make_shared<std::decay_t<decltype(result)>>(std::move(result));
        manager_.client_info(sender, [reply, sender](Result<ClientInfo> info) {
            complete("GetClientInfo", sender, *reply, [&] {
                if (!info.ok()) throw to_dbus_error(info.error());
                reply->returnResults(info_dict(info.value()));
            });
        });
    });
}

std::string ManagerObject::Version() { return TEED_VERSION; }

std::string ManagerObject::Status() {
    return dbus_guard("Status", caller(), [&] { return manager_.devices().status(); });
}

}  // namespace teed
