// The plugin TA: forwards a client's call to a supplicant plugin through the RPC that OP-TEE's
// tee_invoke_supp_plugin_rpc() sends (the layout is in backends/optee/supplicant/plugins.h).

#include "backends/sim/plugin_ta.h"

#include <array>
#include <cstring>

#include "backends/kernel/gp.h"
#include "backends/kernel/tee_uapi.h"
#include "backends/sim/rpc.h"
#include "backends/sim/trusted_app.h"
#include "common/uuid.h"

namespace teed::sim {
namespace {

constexpr uint32_t kCmdSuppPlugin = 12;   // OPTEE_RPC_CMD_SUPP_PLUGIN
constexpr uint64_t kSuppPluginInvoke = 0;  // OPTEE_RPC_SUPP_PLUGIN_INVOKE

class PluginSession : public TaSession {
public:
    explicit PluginSession(SupplicantRpc& rpc) : rpc_(rpc) {}

    TaResult invoke(uint32_t command, TaParams& params, const CancelToken& /*cancel*/) override {
        if (command != kPluginTaInvoke || !has_types(params, kMemrefInput, kValueInput, kMemrefInout))
            return code(gp::kErrorBadParameters);
        const TaParam& uuid = params[0];
        TaParam& data = params[2];
        if (uuid.buffer == nullptr || uuid.size != sizeof(Uuid::bytes))
            return code(gp::kErrorBadParameters);
        if (data.buffer == nullptr && data.size != 0) return code(gp::kErrorBadParameters);

        // The octets copied into four words, as optee_os does before it sends them as values.
        std::array<uint32_t, 4> words{};
        std::memcpy(words.data(), uuid.buffer, sizeof(words));

        std::unique_ptr<RpcSharedBuffer> buffer;
        if (data.size != 0) {
            uint32_t ret_code = gp::kSuccess;
            buffer = rpc_.allocate(data.size, ret_code);
            if (!buffer) return code(ret_code);
            std::memcpy(buffer->data(), data.buffer, data.size);
        }
        std::array<RpcParam, 4> rpc_params{
            RpcParam::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, kSuppPluginInvoke, words[0],
                            words[1]),
            RpcParam::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, words[2], words[3], params[1].a),
            RpcParam::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT, params[1].b),
            RpcParam::memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT, buffer.get(), 0, data.size),
        };
        uint32_t result = rpc_.call(kCmdSuppPlugin, rpc_params);
        const uint64_t out_len = rpc_params[2].b;
        if (out_len > data.size) {
            // Nothing past the client's buffer is copied; the client learns the size claimed.
            data.size = out_len;
            return code(result == gp::kSuccess ? gp::kErrorShortBuffer : result);
        }
        if (out_len != 0) std::memcpy(data.buffer, buffer->data(), out_len);
        data.size = out_len;
        return code(result);
    }

private:
    SupplicantRpc& rpc_;
};

class PluginApp : public TrustedApp {
public:
    explicit PluginApp(SupplicantRpc& rpc) : uuid_(Uuid::parse(kPluginTaUuid).value()), rpc_(rpc) {}
    const Uuid& uuid() const override { return uuid_; }
    std::string_view name() const override { return "plugin"; }
    std::unique_ptr<TaSession> open_session(const TaClient& /*client*/, TaParams& /*params*/,
                                            const CancelToken& /*cancel*/,
                                            uint32_t& /*ret_code*/) override {
        return std::make_unique<PluginSession>(rpc_);
    }

private:
    Uuid uuid_;
    SupplicantRpc& rpc_;
};

}  // namespace

std::unique_ptr<TrustedApp> make_plugin_ta(SupplicantRpc& rpc) {
    return std::make_unique<PluginApp>(rpc);
}

}  // namespace teed::sim
