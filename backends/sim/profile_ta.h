#pragma once
// A TA that hands profiling data to the normal world, as an OP-TEE TA built with
// CFG_TA_GPROF_SUPPORT (OPTEE_RPC_CMD_GPROF) or CFG_FTRACE_SUPPORT (OPTEE_RPC_CMD_FTRACE) does
// when it ends; here the client gives the data and says when (docs/simulator.md, "profile";
// docs/supplicant.md, section profiling-dumps).
//
//   apps.push_back(make_profile_ta(rpc));   // in builtin_trusted_apps()

#include <cstdint>
#include <memory>

namespace teed::sim {

class SupplicantRpc;
class TrustedApp;

inline constexpr const char* kProfileTaUuid = "4d56c724-8a1c-41cc-9a59-0f1a82a0c328";

// DUMP: VALUE_INPUT {a = 0 gprof, 1 ftrace; b = file id: 0 for a new dump, else the id to append
// to}, MEMREF_INPUT data, VALUE_OUTPUT {a = the file id the supplicant answered}. The request
// names this TA's own UUID. The supplicant's answer is the result (TEEC_ERROR_STORAGE_NO_SPACE
// past teed's bound, TEEC_ERROR_ITEM_NOT_FOUND for an id with no file, ...).
inline constexpr uint32_t kProfileTaDump = 0;
inline constexpr uint32_t kProfileTaGprof = 0;
inline constexpr uint32_t kProfileTaFtrace = 1;

std::unique_ptr<TrustedApp> make_profile_ta(SupplicantRpc& rpc);

}  // namespace teed::sim
