#pragma once
// The simulated secure world's REE TA store: what OP-TEE's core/kernel/ree_fs_ta.c does when a
// UUID is none of its own TAs. It asks the supplicant for the file (LOAD_TA without a buffer for
// the size, SHM_ALLOC, LOAD_TA again to fetch it), verifies it as sim_ta_image.h describes, and
// runs the program its manifest names (docs/simulator.md, "TAs loaded from files").
//
//   uint32_t code = 0;
//   std::unique_ptr<TrustedApp> app = load_ree_trusted_app(rpc, uuid, code);
//   if (!app) return {.ret = code, .origin = gp::kOriginTee};

#include <cstdint>
#include <memory>

#include "backends/sim/rpc.h"
#include "backends/sim/trusted_app.h"
#include "common/uuid.h"

namespace teed::sim {

// The loaded TA with `ret_code` TEEC_SUCCESS, or null with `ret_code` set: ITEM_NOT_FOUND when the
// supplicant has no file, TEEC_ERROR_SECURITY when the header, hash or signature do not verify or
// the UUID inside differs, TEEC_ERROR_BAD_FORMAT for a manifest that does not parse or names no
// known program, the RPC's code otherwise (SHORT_BUFFER, OUT_OF_MEMORY from SHM_ALLOC,
// COMMUNICATION when the node has no supplicant device; with one but no supplicant running, the
// call waits for one, as the kernel's queue does). The TA keeps no reference to `rpc`; its sessions
// keep none to the TA.
std::unique_ptr<TrustedApp> load_ree_trusted_app(SupplicantRpc& rpc, const Uuid& uuid,
                                                 uint32_t& ret_code);

}  // namespace teed::sim
