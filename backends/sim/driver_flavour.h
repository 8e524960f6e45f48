#pragma once
// What the simulated OP-TEE driver is, as SimOptions choose it: which of the kernel's ways of
// handing shared memory to the secure world it follows. The rules that differ between them
// live here, each naming the kernel or OP-TEE function it reproduces (docs/simulator.md,
// "Driver flavours").

#include <unistd.h>

#include <cstdint>

#include "backends/sim/sim_device.h"

namespace teed::sim {

enum class ShmTransport {
    // smc_abi.c with dynamic shared memory, Linux 6.1: every user shm is TEE_SHM_DYNAMIC and
    // reaches OP-TEE as a list of its pages. A shm from the driver's pool keeps no page list.
    SmcPageLists,
    // smc_abi.c with the reserved static pool only (no OPTEE_SMC_SEC_CAP_DYNAMIC_SHM): pool
    // memory is physically contiguous and passed by address; OP-TEE cannot take page lists.
    SmcStaticPool,
    // ffa_abi.c: every shm, allocated or registered, is shared through FF-A and named by its
    // global handle.
    FfaHandles,
};

struct DriverFlavour {
    ShmTransport transport = ShmTransport::SmcPageLists;
    bool reg_mem = true;      // TEE_GEN_CAP_REG_MEM
    bool memref_null = true;  // TEE_GEN_CAP_MEMREF_NULL
    // The largest TEE_IOC_SHM_ALLOC the pool can satisfy.
    uint64_t max_pool_alloc = 0;
};

// Linux's largest physically contiguous allocation, 2^MAX_ORDER pages (MAX_ORDER 10 in the
// inclusive sense of 6.4+, 11 exclusive before): 4 MiB with 4 KiB pages.
inline uint64_t max_contiguous_pages_bytes() {
    static const uint64_t bytes = static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) << 10;
    return bytes;
}

inline DriverFlavour driver_flavour(const SimOptions& options) {
    // optee_pool_op_alloc_helper() takes physically contiguous pages for each pool shm, on both
    // ABIs (alloc_pages() in 6.1, alloc_pages_exact() from 6.8); the static pool
    // (tee_shm_pool_alloc_res_mem()) is bounded by its own size only.
    if (options.abi == SimAbi::FfA) {
        // optee_ffa_get_version() reports both capabilities; optee_ffa_open() sets
        // cap_memref_null.
        return {.transport = ShmTransport::FfaHandles,
                .reg_mem = true,
                .memref_null = true,
                .max_pool_alloc = max_contiguous_pages_bytes()};
    }
    // optee_get_version() reports REG_MEM exactly when OP-TEE has dynamic shared memory, and
    // optee_probe() then uses the page-based pool (optee_shm_pool_alloc_pages()).
    if (options.reg_mem) {
        return {.transport = ShmTransport::SmcPageLists,
                .reg_mem = true,
                .memref_null = options.memref_null,
                .max_pool_alloc = max_contiguous_pages_bytes()};
    }
    return {.transport = ShmTransport::SmcStaticPool,
            .reg_mem = false,
            .memref_null = options.memref_null,
            .max_pool_alloc = options.shm_pool_bytes};
}

// handle_rpc_func_cmd_shm_alloc() (smc_abi.c, Linux 6.1 to 6.7): a TEE_SHM_DYNAMIC shm must
// come with pages (tee_shm_get_pages()) or the secure world is answered
// TEEC_ERROR_OUT_OF_MEMORY. A shm from the dynamic pool has none: optee_pool_op_alloc_helper()
// gave its page array to optee_shm_register() and freed it. 6.8 ("optee: add page list to
// kernel private shared memory") keeps the pages, so newer kernels pass such a buffer too; this
// follows 6.1, the stricter. The FF-A ABI passes every shm by its handle; the static pool's
// buffers are not TEE_SHM_DYNAMIC (pool_op_gen_alloc() clears the flag) and go by address.
inline bool driver_passes_rpc_buffer(ShmTransport transport, bool registered) {
    return transport != ShmTransport::SmcPageLists || registered;
}

// OP-TEE's get_rpc_alloc_res(): a registered buffer arrives as a page list
// (OPTEE_MSG_ATTR_NONCONTIG), which msg_param_mobj_from_noncontig() cannot map in an OP-TEE
// built without CFG_CORE_DYN_SHM, the one a static-pool driver talks to. OP-TEE then frees the
// buffer again (thread_rpc_free(): OPTEE_RPC_CMD_SHM_FREE) and the allocation fails.
inline bool secure_world_maps_rpc_buffer(ShmTransport transport, bool registered) {
    return transport != ShmTransport::SmcStaticPool || !registered;
}

// to_msg_param_tmp_mem() (smc_abi.c): a memref of a shm that is not TEE_SHM_DYNAMIC, i.e. a
// static-pool shm, is passed by physical address, and tee_shm_get_pa() refuses an offset at or
// past the shm's end with EINVAL, even for a memref of size 0 there. Dynamic shms go as
// registered memory (to_msg_param_reg_mem()) and FF-A ones by handle, without that check.
inline bool driver_needs_offset_inside(ShmTransport transport, bool registered) {
    return transport == ShmTransport::SmcStaticPool && !registered;
}

}  // namespace teed::sim
