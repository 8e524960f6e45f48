#include "client/wire.h"

#include <utility>

namespace teed::client::detail {

namespace {

// Stores the value of `key` in `field` when `info` has it with type T.
template <typename T>
void read_key(const std::map<std::string, sdbus::Variant>& info, const char* key, T& field) {
    auto it = info.find(key);
    if (it != info.end() && it->second.containsValueOfType<T>()) field = it->second.get<T>();
}

}  // namespace

std::vector<WireParam> to_wire(const std::vector<Param>& params) {
    std::vector<WireParam> wire;
    wire.reserve(params.size());
    for (const auto& p : params) {
        // An empty shm path would not even serialize; it means "none" like "/".
        sdbus::ObjectPath shm(p.shm.empty() ? std::string("/") : p.shm);
        wire.emplace_back(p.type, p.a, p.b, p.data, std::move(shm), p.offset, p.size);
    }
    return wire;
}

std::vector<Param> from_wire(std::vector<WireParam>&& params) {
    std::vector<Param> out;
    out.reserve(params.size());
    for (auto& w : params) {
        Param p;
        p.type = w.get<0>();
        p.a = w.get<1>();
        p.b = w.get<2>();
        p.data = std::move(w.get<3>());
        p.shm = std::move(w.get<4>());
        p.offset = w.get<5>();
        p.size = w.get<6>();
        out.push_back(std::move(p));
    }
    return out;
}

WireOptions call_options(std::optional<uint32_t> cancel_id) {
    WireOptions options;
    if (cancel_id) options.emplace("cancel_id", sdbus::Variant(*cancel_id));
    return options;
}

ClientInfo client_info_from_wire(const std::map<std::string, sdbus::Variant>& info) {
    ClientInfo out;
    read_key(info, "uid", out.uid);
    read_key(info, "gid", out.gid);
    read_key(info, "groups", out.groups);
    read_key(info, "pid", out.pid);
    read_key(info, "unit", out.unit);
    read_key(info, "executable", out.executable);
    read_key(info, "application_identity", out.application_identity);
    read_key(info, "application_logins", out.application_logins);
    read_key(info, "rules", out.rules);
    read_key(info, "limits", out.limits);
    read_key(info, "usage", out.usage);
    return out;
}

std::map<std::string, SupplicantInfo::Counters> counters_from_wire(const WireCounters& counters) {
    std::map<std::string, SupplicantInfo::Counters> out;
    for (const auto& [command, counts] : counters) {
        out[command] = {counts.get<0>(), counts.get<1>(), counts.get<2>()};
    }
    return out;
}

void read_supplicant_status(const std::map<std::string, sdbus::Variant>& status,
                            SupplicantInfo& info) {
    read_key(status, "shared_memory_bytes", info.shared_memory_bytes);
    read_key(status, "shared_memory_buffers", info.shared_memory_buffers);
    read_key(status, "shared_memory_source", info.shared_memory_source);
    read_key(status, "send_failures", info.send_failures);
    read_key(status, "sockets_open", info.sockets_open);
    read_key(status, "sockets_denied", info.sockets_denied);
}

}  // namespace teed::client::detail
