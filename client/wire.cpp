#include "client/wire.h"

#include <utility>

namespace teed::client::detail {

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

}  // namespace teed::client::detail
