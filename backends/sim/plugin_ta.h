#pragma once
// A TA that calls supplicant plugins, as a TA calls tee_invoke_supp_plugin() on OP-TEE: it sends
// OPTEE_RPC_CMD_SUPP_PLUGIN with the client's data in a buffer of the supplicant's and gives the
// client what the plugin left there (docs/simulator.md, "plugin"; docs/supplicant.md, section
// plugins).
//
//   apps.push_back(make_plugin_ta(rpc));   // in builtin_trusted_apps()

#include <cstdint>
#include <memory>

namespace teed::sim {

class SupplicantRpc;
class TrustedApp;

inline constexpr const char* kPluginTaUuid = "e47c194f-bfd4-438f-b38d-695aa12b4e5a";

// MEMREF_INPUT the plugin's UUID (16 octets), VALUE_INPUT {a = cmd, b = sub_cmd},
// MEMREF_INOUT data: in, then the plugin's out_len bytes out (its size set to out_len).
// Answers the plugin's result, or the supplicant's (TEEC_ERROR_ITEM_NOT_FOUND for no such
// plugin, TEEC_ERROR_SHORT_BUFFER with the size the plugin claimed).
inline constexpr uint32_t kPluginTaInvoke = 0;

std::unique_ptr<TrustedApp> make_plugin_ta(SupplicantRpc& rpc);

}  // namespace teed::sim
