#include "backends/sim/ree_ta_store.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "backends/kernel/gp.h"
#include "backends/optee/supplicant/rpc_protocol.h"
#include "backends/optee/ta_image.h"
#include "backends/sim/sim_ta_image.h"
#include "common/log.h"

namespace teed::sim {
namespace {

// The `loadable` program (docs/simulator.md): reports its version, counts the session's invokes
// and hands out the manifest's name.
class LoadableSession : public TaSession {
public:
    LoadableSession(uint32_t ta_version, std::string name)
        : ta_version_(ta_version), name_(std::move(name)) {}

    TaResult invoke(uint32_t command, TaParams& params, const CancelToken& /*cancel*/) override {
        ++invokes_;
        if (command == 0 && has_types(params, TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT)) {
            params[0].a = ta_version_;
            params[0].b = invokes_;
            return {.code = gp::kSuccess};
        }
        if (command == 1 && has_types(params, TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT))
            return {.code = write_name(params[0])};
        return {.code = gp::kErrorBadParameters};
    }

private:
    uint32_t write_name(TaParam& out) const {
        if (out.size < name_.size()) {
            out.size = name_.size();  // tells the client how much room it needs
            return gp::kErrorShortBuffer;
        }
        if (out.buffer == nullptr && !name_.empty()) return gp::kErrorBadParameters;
        std::copy(name_.begin(), name_.end(), out.buffer);
        out.size = name_.size();
        return gp::kSuccess;
    }

    const uint32_t ta_version_;
    const std::string name_;
    uint32_t invokes_ = 0;  // every invoke of this session, the current one included
};

class LoadableApp : public TrustedApp {
public:
    LoadableApp(const VerifiedSimTa& file, SimTaManifest manifest)
        : uuid_(file.uuid), ta_version_(file.ta_version), manifest_(std::move(manifest)) {}

    const Uuid& uuid() const override { return uuid_; }
    std::string_view name() const override { return manifest_.name; }
    std::unique_ptr<TaSession> open_session(const TaClient& /*client*/, TaParams& /*params*/,
                                            const CancelToken& /*cancel*/,
                                            uint32_t& /*ret_code*/) override {
        return std::make_unique<LoadableSession>(ta_version_, manifest_.name);
    }

private:
    const Uuid uuid_;
    const uint32_t ta_version_;
    const SimTaManifest manifest_;
};

using ProgramFactory = std::unique_ptr<TrustedApp> (*)(const VerifiedSimTa&, SimTaManifest);

struct Program {
    std::string_view name;
    ProgramFactory make;
};

constexpr std::array<Program, 1> kPrograms = {{
    {"loadable",
     [](const VerifiedSimTa& file, SimTaManifest manifest) -> std::unique_ptr<TrustedApp> {
         return std::make_unique<LoadableApp>(file, std::move(manifest));
     }},
}};

// teed-mkta accepts the programs of kSimTaPrograms: each must be runnable here.
constexpr bool programs_match() {
    if (kPrograms.size() != kSimTaPrograms.size()) return false;
    for (size_t i = 0; i < kPrograms.size(); ++i)
        if (kPrograms[i].name != kSimTaPrograms[i]) return false;
    return true;
}
static_assert(programs_match(), "kPrograms and kSimTaPrograms must list the same programs");

struct Fetched {
    uint32_t code = gp::kSuccess;
    std::vector<uint8_t> bytes;
};

// LOAD_TA param 0: the UUID's octets in the bytes of a then b (tee_uuid_to_octets over the
// value struct).
RpcParam uuid_param(const Uuid& uuid) {
    RpcParam param = RpcParam::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT);
    std::memcpy(&param.a, uuid.bytes.data(), sizeof(param.a));
    std::memcpy(&param.b, uuid.bytes.data() + sizeof(param.a), sizeof(param.b));
    return param;
}

// rpc_load() of ree_fs_ta.c: the size, a buffer of that size, the file into it.
Fetched fetch_ta_file(SupplicantRpc& rpc, const Uuid& uuid) {
    std::array<RpcParam, 2> params{
        uuid_param(uuid), RpcParam::memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT, nullptr, 0, 0)};
    uint32_t code = rpc.call(supplicant::kCmdLoadTa, params);
    if (code != gp::kSuccess) return {.code = code};
    const uint64_t size = params[1].size;
    // Too small for a signed header: OP-TEE's shdr_alloc_and_copy() fails the same way.
    if (size < optee::kShdrBytes) return {.code = gp::kErrorSecurity};

    std::unique_ptr<RpcSharedBuffer> buffer = rpc.allocate(size, code);
    if (!buffer) return {.code = code};
    params = {uuid_param(uuid),
              RpcParam::memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT, buffer.get(), 0, size)};
    code = rpc.call(supplicant::kCmdLoadTa, params);
    if (code != gp::kSuccess) return {.code = code};
    // OP-TEE goes on with the size of the first answer, and so does this. The bytes are copied
    // out first: the normal world can still write the shared buffer while they are checked.
    return {.code = gp::kSuccess,
            .bytes = std::vector<uint8_t>(buffer->data(), buffer->data() + size)};
}

void log_refusal(const Uuid& uuid, const Error& error) {
    log_debug("simulated REE TA store refuses the file",
              {{"TEED_TA_UUID", uuid.to_string()}, {"TEED_REASON", error.message()}});
}

}  // namespace

std::unique_ptr<TrustedApp> load_ree_trusted_app(SupplicantRpc& rpc, const Uuid& uuid,
                                                 uint32_t& ret_code) {
    Fetched fetched = fetch_ta_file(rpc, uuid);
    if (fetched.code != gp::kSuccess) {
        ret_code = fetched.code;
        return nullptr;
    }
    auto verified = verify_sim_ta_file(fetched.bytes, uuid);
    if (!verified.ok()) {
        log_refusal(uuid, verified.error());
        ret_code = gp::kErrorSecurity;
        return nullptr;
    }
    auto manifest = parse_sim_ta_manifest(verified->payload);
    if (!manifest.ok()) {
        log_refusal(uuid, manifest.error());
        ret_code = gp::kErrorBadFormat;
        return nullptr;
    }
    auto program = std::find_if(kPrograms.begin(), kPrograms.end(),
                                [&](const Program& p) { return p.name == manifest->program; });
    if (program == kPrograms.end()) {
        log_refusal(uuid, Error(ErrorKind::InvalidArgument)
                              << "the manifest names program '" << manifest->program
                              << "', which the simulator does not have");
        ret_code = gp::kErrorBadFormat;
        return nullptr;
    }
    ret_code = gp::kSuccess;
    return program->make(*verified, std::move(manifest).value());
}

}  // namespace teed::sim
