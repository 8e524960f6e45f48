#pragma once
// A simulated TA that uses RPMB the way OP-TEE's core does for its RPMB secure storage
// (core/tee/tee_rpmb_fs.c, built with CFG_RPMB_FS and CFG_RPMB_WRITE_KEY): every exchange goes
// through the supplicant as OPTEE_RPC_CMD_RPMB, the key is derived from a hardware unique key and
// the card's CID, programmed on first use, and every answer of the device is verified (result,
// message type, address, nonce, write counter, MAC) before it is believed (docs/simulator.md).
//
//   std::unique_ptr<TrustedApp> ta = make_rpmb_ta(rpc);
//   // command 0 WRITE  VALUE_INPUT a = block, MEMREF_INPUT 256 bytes
//   // command 1 READ   VALUE_INPUT a = block, MEMREF_OUTPUT 256 bytes
//   // command 2 COUNTER VALUE_OUTPUT a = the device's write counter

#include <array>
#include <cstdint>
#include <memory>

#include "backends/sim/rpc.h"
#include "backends/sim/trusted_app.h"

namespace teed::sim {

inline constexpr const char* kRpmbTaUuid = "be35c395-ebf5-4b97-9c59-290cc1126b34";

// The simulated secure world's hardware unique key: 16 zero bytes, what OP-TEE's default
// tee_otp_get_hw_unique_key() returns on a platform that provides none.
inline constexpr std::array<uint8_t, 16> kSimulatedHardwareUniqueKey{};

// `rpc` must outlive the TA and its sessions. All sessions share one view of the device (as
// OP-TEE's rpmb_ctx), and their RPMB exchanges are serialised.
std::unique_ptr<TrustedApp> make_rpmb_ta(SupplicantRpc& rpc);

}  // namespace teed::sim
