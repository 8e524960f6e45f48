// The profile TA: what optee_os's gprof and ftrace support send at the end of a TA, on a client's
// request.

#include "backends/sim/profile_ta.h"

#include <array>
#include <cstring>

#include "backends/kernel/gp.h"
#include "backends/kernel/tee_uapi.h"
#include "backends/sim/rpc.h"
#include "backends/sim/trusted_app.h"
#include "common/uuid.h"

namespace teed::sim {
namespace {

constexpr uint32_t kCmdGprof = 9;    // OPTEE_RPC_CMD_GPROF
constexpr uint32_t kCmdFtrace = 11;  // OPTEE_RPC_CMD_FTRACE

// The TA's UUID as OP-TEE's TEE_UUID struct, as the secure world copies it: numbers in the
// machine's byte order, then the 8 clock-sequence-and-node octets.
std::array<uint8_t, 16> tee_uuid_struct(const Uuid& uuid) {
    const auto& o = uuid.bytes;
    const uint32_t time_low = uint32_t{o[0]} << 24 | uint32_t{o[1]} << 16 | uint32_t{o[2]} << 8 | o[3];
    const auto time_mid = static_cast<uint16_t>(o[4] << 8 | o[5]);
    const auto time_hi = static_cast<uint16_t>(o[6] << 8 | o[7]);
    std::array<uint8_t, 16> out{};
    std::memcpy(out.data(), &time_low, 4);
    std::memcpy(out.data() + 4, &time_mid, 2);
    std::memcpy(out.data() + 6, &time_hi, 2);
    std::memcpy(out.data() + 8, o.data() + 8, 8);
    return out;
}

class ProfileSession : public TaSession {
public:
    ProfileSession(SupplicantRpc& rpc, const Uuid& uuid) : rpc_(rpc), uuid_(uuid) {}

    TaResult invoke(uint32_t command, TaParams& params, const CancelToken& /*cancel*/) override {
        if (command != kProfileTaDump || !has_types(params, kValueInput, kMemrefInput, kValueOutput))
            return code(gp::kErrorBadParameters);
        if (params[0].a != kProfileTaGprof && params[0].a != kProfileTaFtrace)
            return code(gp::kErrorBadParameters);
        const TaParam& data = params[1];
        if (data.buffer == nullptr && data.size != 0) return code(gp::kErrorBadParameters);

        uint32_t ret = gp::kSuccess;
        auto uuid = rpc_.allocate(16, ret);
        if (!uuid) return code(ret);
        std::memcpy(uuid->data(), tee_uuid_struct(uuid_).data(), 16);
        auto bytes = rpc_.allocate(std::max<size_t>(data.size, 1), ret);
        if (!bytes) return code(ret);
        if (data.size != 0) std::memcpy(bytes->data(), data.buffer, data.size);

        std::array<RpcParam, 3> rpc_params{
            RpcParam::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT, params[0].b),
            RpcParam::memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT, uuid.get(), 0, 16),
            RpcParam::memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT, bytes.get(), 0, data.size),
        };
        ret = rpc_.call(params[0].a == kProfileTaGprof ? kCmdGprof : kCmdFtrace, rpc_params);
        if (ret == gp::kSuccess) params[2].a = static_cast<uint32_t>(rpc_params[0].a);
        return code(ret);
    }

private:
    SupplicantRpc& rpc_;
    const Uuid uuid_;
};

class ProfileApp : public TrustedApp {
public:
    explicit ProfileApp(SupplicantRpc& rpc) : uuid_(Uuid::parse(kProfileTaUuid).value()), rpc_(rpc) {}
    const Uuid& uuid() const override { return uuid_; }
    std::string_view name() const override { return "profile"; }
    std::unique_ptr<TaSession> open_session(const TaClient& /*client*/, TaParams& /*params*/,
                                            const CancelToken& /*cancel*/,
                                            uint32_t& /*ret_code*/) override {
        return std::make_unique<ProfileSession>(rpc_, uuid_);
    }

private:
    Uuid uuid_;
    SupplicantRpc& rpc_;
};

}  // namespace

std::unique_ptr<TrustedApp> make_profile_ta(SupplicantRpc& rpc) {
    return std::make_unique<ProfileApp>(rpc);
}

}  // namespace teed::sim
