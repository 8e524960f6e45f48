#pragma once
// The parameter handling the kernel does around a simulated OPEN_SESSION or INVOKE: tee_core.c's
// params_from_user and params_to_user, and the OP-TEE driver's translation to the secure world.
// `uparams` always points at the caller's tee_ioctl_param array (any alignment): it is read and
// written with memcpy, as copy_from_user/put_user would.

#include <cstdint>
#include <memory>
#include <vector>

#include "backends/sim/driver_flavour.h"
#include "backends/sim/shm_table.h"
#include "backends/sim/trusted_app.h"
#include "common/result.h"

namespace teed::sim {

// One parameter as the TEE core holds it after params_from_user.
struct KernelParam {
    uint64_t attr = 0;
    uint64_t a = 0;                     // values (VALUE_OUTPUT's are not read: 0); memrefs: offset
    uint64_t b = 0;                     // memrefs: size
    uint64_t c = 0;                     // memrefs: shm id
    std::shared_ptr<SharedMemory> shm;  // memrefs: null for a NULL memref; held until the call ends
};

struct ParamRules {
    const ShmTable& shms;
    ContextId context;
    bool memref_null;  // TEE_GEN_CAP_MEMREF_NULL
};

// EINVAL for attr bits outside TEE_IOCTL_PARAM_ATTR_MASK, unknown types (4, > 13), and memrefs
// naming no shm of this context, naming TEE_MEMREF_NULL without the capability, or reaching past
// their shm. The META bit and the UBUF and OBJREF types pass here, as in the core of 6.18 and
// later (6.1's params_from_user() already refuses types 8-13 as unknown: EINVAL either way).
Result<std::vector<KernelParam>> params_from_user(const uint8_t* uparams, uint32_t count,
                                                  const ParamRules& rules);

// The OP-TEE driver's optee_to_msg_param: only NONE, VALUE_* and MEMREF_* (without the META
// bit) can reach OP-TEE; anything else is EINVAL, as is a static-pool memref starting at its
// shm's end (driver_needs_offset_inside()). Returns the first four as the TA sees them: values
// truncated to 32 bits, memrefs as pointers into the shm.
Result<TaParams> to_ta_params(const std::vector<KernelParam>& params, ShmTransport transport);

// Writes back what the kernel writes back: VALUE_OUTPUT/INOUT get a and b as the TA left them and
// c as the driver sent it (OP-TEE does not touch c: 0 for OUTPUT, the caller's for INOUT);
// MEMREF_OUTPUT/INOUT get b = the size the TA set. Nothing else is written.
void params_to_user(uint8_t* uparams, const std::vector<KernelParam>& params, const TaParams& ta);

}  // namespace teed::sim
