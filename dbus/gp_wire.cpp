#include "dbus/gp_wire.h"

#include <systemd/sd-bus.h>

namespace teed {

GpParams from_wire(WireParams wire) {
    GpParams params;
    params.reserve(wire.size());
    for (auto& w : wire) {
        GpParam p;
        p.type = std::get<0>(w);
        p.a = std::get<1>(w);
        p.b = std::get<2>(w);
        p.data = std::move(std::get<3>(w));
        p.shm = std::get<4>(w);
        p.offset = std::get<5>(w);
        p.size = std::get<6>(w);
        params.push_back(std::move(p));
    }
    return params;
}

WireParams to_wire(GpParams params) {
    WireParams wire;
    wire.reserve(params.size());
    for (auto& p : params)
        wire.emplace_back(p.type, p.a, p.b, std::move(p.data), sdbus::ObjectPath(p.shm), p.offset,
                          p.size);
    return wire;
}

int read_wire_params(sd_bus_message* m, GpParams& ret_params) {
    GpParams params;
    int r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "(uttayott)");
    if (r < 0) return r;
    for (;;) {
        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_STRUCT, "uttayott");
        if (r < 0) return r;
        if (r == 0) break;
        GpParam p;
        const void* data = nullptr;
        size_t size = 0;
        const char* shm = nullptr;
        r = sd_bus_message_read(m, "utt", &p.type, &p.a, &p.b);
        if (r < 0) return r;
        r = sd_bus_message_read_array(m, 'y', &data, &size);
        if (r < 0) return r;
        r = sd_bus_message_read(m, "ott", &shm, &p.offset, &p.size);
        if (r < 0) return r;
        if (size > 0) p.data.assign(static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + size);
        p.shm = shm;
        params.push_back(std::move(p));
        r = sd_bus_message_exit_container(m);
        if (r < 0) return r;
        // More entries than GP allows are read no further: validation rejects them by count.
        if (params.size() > 64) return -E2BIG;
    }
    r = sd_bus_message_exit_container(m);
    if (r < 0) return r;
    ret_params = std::move(params);
    return 0;
}

int append_wire_params(sd_bus_message* m, const GpParams& params) {
    int r = sd_bus_message_open_container(m, SD_BUS_TYPE_ARRAY, "(uttayott)");
    if (r < 0) return r;
    for (const auto& p : params) {
        r = sd_bus_message_open_container(m, SD_BUS_TYPE_STRUCT, "uttayott");
        if (r < 0) return r;
        r = sd_bus_message_append(m, "utt", p.type, p.a, p.b);
        if (r < 0) return r;
        r = sd_bus_message_append_array(m, 'y', p.data.data(), p.data.size());
        if (r < 0) return r;
        r = sd_bus_message_append(m, "ott", p.shm.c_str(), p.offset, p.size);
        if (r < 0) return r;
        r = sd_bus_message_close_container(m);
        if (r < 0) return r;
    }
    return sd_bus_message_close_container(m);
}

}  // namespace teed
