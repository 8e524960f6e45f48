#include "backends/sim/kernel_params.h"

#include <cinttypes>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>

#include "backends/kernel/tee_uapi.h"

namespace teed::sim {
namespace {

std::string hex(uint64_t value) {
    char text[24];
    std::snprintf(text, sizeof(text), "0x%" PRIx64, value);
    return text;
}

uint64_t type_of(uint64_t attr) {
    return attr & TEE_IOCTL_PARAM_ATTR_TYPE_MASK;
}

Result<void> resolve_memref(KernelParam& param, const ParamRules& rules) {
    if (param.c == TEE_MEMREF_NULL) {
        if (!rules.memref_null) return ErrnoError(EINVAL) << "NULL memref without MEMREF_NULL";
        return {};
    }
    // tee_shm_get_from_id() takes an int: the kernel uses the low 32 bits of c.
    const auto id = static_cast<int32_t>(static_cast<uint32_t>(param.c));
    param.shm = rules.shms.find(rules.context, id);
    if (!param.shm)
        return ErrnoError(EINVAL) << "memref names shm " << id << ", not one of this context";
    uint64_t end = 0;
    if (__builtin_add_overflow(param.a, param.b, &end) || end > param.shm->size())
        return ErrnoError(EINVAL) << "memref [" << param.a << ", +" << param.b
                                  << ") is outside shm " << id;
    return {};
}

Result<KernelParam> param_from_user(const tee_ioctl_param& ip, const ParamRules& rules) {
    if ((ip.attr & ~static_cast<uint64_t>(TEE_IOCTL_PARAM_ATTR_MASK)) != 0)
        return ErrnoError(EINVAL) << "param attr " << hex(ip.attr);
    KernelParam param;
    param.attr = ip.attr;
    const uint64_t type = type_of(ip.attr);
    switch (type) {
        case TEE_IOCTL_PARAM_ATTR_TYPE_NONE:
        case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT:
            return param;
        case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT:
        case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT:
        case TEE_IOCTL_PARAM_ATTR_TYPE_UBUF_INPUT:
        case TEE_IOCTL_PARAM_ATTR_TYPE_UBUF_OUTPUT:
        case TEE_IOCTL_PARAM_ATTR_TYPE_UBUF_INOUT:
        case TEE_IOCTL_PARAM_ATTR_TYPE_OBJREF_INPUT:
        case TEE_IOCTL_PARAM_ATTR_TYPE_OBJREF_OUTPUT:
        case TEE_IOCTL_PARAM_ATTR_TYPE_OBJREF_INOUT:
            param.a = ip.a;
            param.b = ip.b;
            param.c = ip.c;
            return param;
        case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT:
        case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT:
        case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT:
            param.a = ip.a;
            param.b = ip.b;
            param.c = ip.c;
            TEED_TRY(resolve_memref(param, rules));
            return param;
        default:
            return ErrnoError(EINVAL) << "param type " << type;
    }
}

template <typename T>
void put(uint8_t* at, T value) {
    std::memcpy(at, &value, sizeof(value));
}

}  // namespace

Result<std::vector<KernelParam>> params_from_user(const uint8_t* uparams, uint32_t count,
                                                  const ParamRules& rules) {
    std::vector<KernelParam> params;
    params.reserve(count);
    for (uint32_t n = 0; n < count; ++n) {
        tee_ioctl_param ip{};
        std::memcpy(&ip, uparams + size_t{n} * sizeof(ip), sizeof(ip));
        params.push_back(TEED_TRY(param_from_user(ip, rules)));
    }
    return params;
}

Result<TaParams> to_ta_params(const std::vector<KernelParam>& params, ShmTransport transport) {
    TaParams ta{};
    for (size_t n = 0; n < params.size(); ++n) {
        const KernelParam& p = params[n];
        // The whole attr is compared: a META bit or a UBUF/OBJREF type has no OP-TEE encoding.
        if (p.attr != TEE_IOCTL_PARAM_ATTR_TYPE_NONE && !tee_param_type_is_value(p.attr) &&
            !tee_param_type_is_memref(p.attr))
            return ErrnoError(EINVAL)
                   << "param attr " << hex(p.attr) << " cannot be passed to OP-TEE";
        if (p.shm && driver_needs_offset_inside(transport, p.shm->registered()) &&
            p.a >= p.shm->size())
            return ErrnoError(EINVAL) << "memref at offset " << p.a << " of a static-pool shm of "
                                      << p.shm->size() << " bytes";
        if (n >= ta.size()) continue;  // counted, not passed: the secure world refuses > 4
        TaParam& t = ta[n];
        t.type = static_cast<uint32_t>(p.attr);
        if (tee_param_type_is_value(p.attr)) {
            t.a = static_cast<uint32_t>(p.a);
            t.b = static_cast<uint32_t>(p.b);
        } else if (tee_param_type_is_memref(p.attr)) {
            t.buffer = p.shm ? p.shm->data() + p.a : nullptr;
            t.size = p.b;
        }
    }
    return ta;
}

void params_to_user(uint8_t* uparams, const std::vector<KernelParam>& params, const TaParams& ta) {
    for (size_t n = 0; n < params.size(); ++n) {
        const KernelParam& p = params[n];
        if (!tee_param_type_is_output(p.attr)) continue;
        uint8_t* up = uparams + n * sizeof(tee_ioctl_param);
        const bool passed = n < ta.size();
        if (tee_param_type_is_value(p.attr)) {
            put<uint64_t>(up + offsetof(tee_ioctl_param, a), passed ? ta[n].a : p.a);
            put<uint64_t>(up + offsetof(tee_ioctl_param, b), passed ? ta[n].b : p.b);
            put<uint64_t>(up + offsetof(tee_ioctl_param, c), p.c);
        } else {
            put<uint64_t>(up + offsetof(tee_ioctl_param, b), passed ? ta[n].size : p.b);
        }
    }
}

}  // namespace teed::sim
