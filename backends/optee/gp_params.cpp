#include "backends/optee/gp_params.h"

#include "backends/kernel/gp.h"
#include "backends/optee/gp_client.h"

namespace teed {

GpParam GpParam::value_inout(uint64_t a, uint64_t b) {
    GpParam p;
    p.type = gp::kValueInout;
    p.a = a;
    p.b = b;
    return p;
}

GpParam GpParam::temp_input(std::vector<uint8_t> bytes) {
    GpParam p;
    p.type = gp::kMemrefTempInput;
    p.size = bytes.size();
    p.data = std::move(bytes);
    return p;
}

GpParam GpParam::temp_output(uint64_t capacity) {
    GpParam p;
    p.type = gp::kMemrefTempOutput;
    p.size = capacity;
    return p;
}

uint64_t temp_memref_capacity(const GpParam& param) {
    if (param.type == gp::kMemrefTempInput) return param.data.size();
    return param.size;
}

namespace {

Result<void> validate_temp_memref(size_t index, const GpParam& p, const GpLimits& limits) {
    if (p.type == gp::kMemrefTempOutput && !p.data.empty())
        return Error(ErrorKind::InvalidArgument)
               << "param " << index << ": an output memref carries no input bytes (data must be empty)";
    if (p.type == gp::kMemrefTempInput && p.size != 0 && p.size != p.data.size())
        return Error(ErrorKind::InvalidArgument)
               << "param " << index << ": input memref size " << p.size << " differs from its "
               << p.data.size() << " data bytes";
    if (p.type == gp::kMemrefTempInout && p.data.size() > p.size)
        return Error(ErrorKind::InvalidArgument)
               << "param " << index << ": " << p.data.size()
               << " input bytes do not fit the memref size " << p.size;
    uint64_t capacity = temp_memref_capacity(p);
    if (capacity > limits.max_memref_bytes)
        return Error(ErrorKind::LimitExceeded)
               << "param " << index << ": memref of " << capacity
               << " bytes exceeds the limit max_memref_bytes=" << limits.max_memref_bytes;
    return {};
}

Result<void> validate_registered_memref(size_t index, const GpParam& p) {
    if (!p.memory)
        return Error(ErrorKind::InvalidArgument)
               << "param " << index << ": type 0x" << std::hex << p.type
               << " needs a shared memory object in 'shm'";
    if (!p.data.empty())
        return Error(ErrorKind::InvalidArgument)
               << "param " << index << ": registered-memory memrefs carry no data bytes";
    uint32_t flags = p.memory->flags();
    bool reads = p.type == gp::kMemrefPartialInput || p.type == gp::kMemrefPartialInout;
    bool writes = p.type == gp::kMemrefPartialOutput || p.type == gp::kMemrefPartialInout;
    if ((reads && !(flags & gp::kMemInput)) || (writes && !(flags & gp::kMemOutput)))
        return Error(ErrorKind::InvalidArgument)
               << "param " << index << ": shm '" << p.shm << "' has flags " << flags
               << ", which do not allow type 0x" << std::hex << p.type;
    if (p.type == gp::kMemrefWhole) return {};
    uint64_t end = 0;
    if (__builtin_add_overflow(p.offset, p.size, &end) || end > p.memory->size())
        return Error(ErrorKind::InvalidArgument)
               << "param " << index << ": offset " << p.offset << " + size " << p.size
               << " is outside shm '" << p.shm << "' of " << p.memory->size() << " bytes";
    return {};
}

}  // namespace

Result<void> validate_gp_params(const GpParams& params, const GpLimits& limits) {
    if (params.size() > gp::kMaxParams)
        return Error(ErrorKind::InvalidArgument)
               << params.size() << " parameters given; GlobalPlatform allows at most "
               << gp::kMaxParams;
    uint64_t total = 0;
    for (size_t i = 0; i < params.size(); ++i) {
        const GpParam& p = params[i];
        if (!gp::is_known_type(p.type))
            return Error(ErrorKind::InvalidArgument)
                   << "param " << i << ": type 0x" << std::hex << p.type
                   << " is not a GlobalPlatform parameter type";
        if (gp::is_registered_memref(p.type)) {
            TEED_TRY(validate_registered_memref(i, p));
            continue;
        }
        if (p.shm != "/")
            return Error(ErrorKind::InvalidArgument)
                   << "param " << i << ": only registered-memory memrefs (types 0xC-0xF) name shm '"
                   << p.shm << "'";
        if (!gp::is_temp_memref(p.type)) {
            if (!p.data.empty())
                return Error(ErrorKind::InvalidArgument)
                       << "param " << i << ": only memrefs carry data bytes";
            continue;
        }
        TEED_TRY(validate_temp_memref(i, p, limits));
        total += temp_memref_capacity(p);
    }
    if (total > limits.max_total_bytes)
        return Error(ErrorKind::LimitExceeded)
               << "memrefs of one call total " << total << " bytes, above max_total_bytes="
               << limits.max_total_bytes;
    return {};
}

}  // namespace teed
