#include "dbus/supplicant_object.h"

#include "backends/optee/supplicant/rpc_protocol.h"
#include "daemon/supplicant_host.h"
#include "dbus/errors.h"
#include "dbus/session_objects.h"

namespace teed {

SupplicantObject::SupplicantObject(sdbus::IConnection& connection, const ServedSupplicant& served)
    : AdaptorInterfaces(connection, device_object_path(served.client_device)), served_(served) {
    registerAdaptor();
}

SupplicantObject::~SupplicantObject() { unregisterAdaptor(); }

// sdbus-c++ 1.2 aborts when a handler throws anything but sdbus::Error: every other failure
// (allocation, in practice) becomes an Internal error reply.
template <typename F>
auto guarded(F&& body) -> decltype(body()) {
    try {
        return body();
    } catch (const sdbus::Error&) {
        throw;
    } catch (const std::exception& e) {
        throw sdbus::Error(dbus_error_name(ErrorKind::Internal), e.what());
    } catch (...) {
        throw sdbus::Error(dbus_error_name(ErrorKind::Internal), "unknown failure");
    }
}

std::string SupplicantObject::DevicePath() {
    return guarded([&] { return served_.device_path; });
}

uint32_t SupplicantObject::Workers() {
    return served_.supplicant->options().workers;
}

std::vector<std::string> SupplicantObject::TaPath() {
    return guarded([&] { return served_.paths.ta_path; });
}

std::string SupplicantObject::StorageDirectory() {
    return guarded([&] { return served_.paths.storage_directory; });
}

std::string SupplicantObject::Rpmb() {
    return guarded([&] { return served_.paths.rpmb; });
}

std::map<std::string, sdbus::Struct<uint64_t, uint64_t, uint64_t>> SupplicantObject::GetCounters() {
    return guarded([&] {
        std::map<std::string, sdbus::Struct<uint64_t, uint64_t, uint64_t>> out;
        for (const auto& [command, counters] : served_.supplicant->counters()) {
            std::string name(supplicant::command_name(command));
            if (name == "unknown") name = "command-" + std::to_string(command);
            out[name] = {counters.served, counters.failed, counters.in_flight};
        }
        return out;
    });
}

std::map<std::string, sdbus::Variant> SupplicantObject::GetStatus() {
    return guarded([&] {
        const auto& supplicant = *served_.supplicant;
        return std::map<std::string, sdbus::Variant>{
            {"shared_memory_bytes", sdbus::Variant(supplicant.shm_bytes())},
            {"shared_memory_buffers", sdbus::Variant(static_cast<uint64_t>(supplicant.shm_count()))},
            {"shared_memory_source",
             sdbus::Variant(std::string(supplicant::to_string(supplicant.shm_source())))},
            {"send_failures", sdbus::Variant(supplicant.send_failures())},
            {"sockets_open", sdbus::Variant(static_cast<uint64_t>(served_.sockets->open_count()))},
            {"sockets_denied", sdbus::Variant(served_.sockets->denied_count())}};
    });
}

}  // namespace teed
