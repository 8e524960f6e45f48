#pragma once
// Supplicant plugins (OPTEE_RPC_CMD_SUPP_PLUGIN): shared objects in one directory, loaded into
// teed at start, that serve requests Trusted Applications address to a plugin UUID. The ABI is
// tee-supplicant's (plugin_abi.h); docs/supplicant.md, section plugins, has the contract.
//
//   auto plugins = TEED_TRY(PluginService::load("/usr/lib/teed/plugins"));
//   RpcOutcome outcome = plugins->serve(request);   // request.command == kCmdPlugin
//
// A plugin runs as teed, so only files root (or teed's own user) controls are loaded: the
// directory and each `*.so` must be owned by root or teed's uid and writable by no group or other
// user; each file must be regular, is opened without following a link, checked on that open fd,
// and loaded through /proc/self/fd/N, so the file checked is the file loaded. Refused files are
// logged as warnings with the reason; the others load.
//
// Request (params after the meta param):
//   [0] VALUE_INPUT  {a = 0 (invoke), b = UUID word 0, c = UUID word 1}
//   [1] VALUE_INPUT  {a = UUID word 2, b = UUID word 3, c = cmd}
//   [2] VALUE_INOUT  {a = sub_cmd, b <- out_len}
//   [3] MEMREF_INOUT the data, in and out (may have no buffer when empty)
// The UUID words are the 16 octets of the plugin's UUID, in RFC 4122 order, read as four 32-bit
// words in the machine's byte order (the secure world copies the octets into a uint32_t[4]).
//
// Answers:
//   wrong types, opcode, or a word above 32 bits   TEEC_ERROR_BAD_PARAMETERS (refused)
//   no plugin with that UUID                        TEEC_ERROR_ITEM_NOT_FOUND
//   out_len larger than the buffer                  TEEC_ERROR_SHORT_BUFFER with b = out_len
//                                                   (warning: the plugin overstated it)
//   anything else                                   the plugin's own result, b = out_len
//
// Thread-safe. Calls to one plugin are serialised (tee-supplicant does not serialise them, but
// plugins are usually written for its default single thread and rarely lock); calls to
// different plugins run at once.

#include <memory>
#include <string>
#include <vector>

#include "backends/optee/supplicant/plugin_abi.h"
#include "backends/optee/supplicant/rpc_service.h"
#include "backends/optee/supplicant/teec_uuid.h"
#include "common/result.h"
#include "common/uuid.h"

namespace teed::supplicant {

class PluginService final : public RpcService {
public:
    // Loads every acceptable `*.so` in `directory` and calls its init(). A missing directory
    // means no plugins. AccessDenied when the directory itself fails the ownership or mode
    // check (nothing in it is loaded), the errno's kind when it cannot be opened or read.
    static Result<std::unique_ptr<PluginService>> load(const std::string& directory);
    // For the factory only: make_unique needs a public constructor, the key keeps it private.
    class Key {
        friend class PluginService;
        Key() = default;
    };
    explicit PluginService(Key);
    ~PluginService() override;
    PluginService(const PluginService&) = delete;
    PluginService& operator=(const PluginService&) = delete;

    RpcOutcome serve(RpcRequest& request) override;

    struct LoadedPlugin {
        std::string file;  // the file name within the directory
        std::string name;  // plugin_method.name
        Uuid uuid;
    };
    std::vector<LoadedPlugin> plugins() const;

private:
    struct Plugin;

    // Opens, checks and loads one plugin file; init() is left to load(), which first checks
    // that the UUID is not taken.
    static Result<std::unique_ptr<Plugin>> open_plugin(int dir_fd, const std::string& file);
    Plugin* find(const Uuid& uuid) const;

    std::vector<std::unique_ptr<Plugin>> plugins_;  // fixed after load()
};

}  // namespace teed::supplicant
