// libFuzzer target for the decoder of the secure world's requests
// (backends/optee/supplicant/rpc_request.h).
//
// The input is what TEE_IOC_SUPPL_RECV leaves in the supplicant's buffer: the header and five
// params, any bytes at all (shorter inputs are padded with zeros). The supplicant holds two
// buffers the secure world asked for, allocated on a simulated supplicant device. A request that
// decodes must have every memref resolved inside one of those buffers (the fuzzer touches every
// byte, so ASan catches a range that leaves it), its strings must be bounded, and its answer must
// encode to the length SEND expects. Anything else must be an error, never a crash.

#include <cstdlib>
#include <cstring>

#include "backends/optee/supplicant/rpc_memory.h"
#include "backends/optee/supplicant/rpc_request.h"
#include "backends/sim/sim_device.h"

namespace {

using namespace teed;
using namespace teed::supplicant;

struct Fixture {
    Fixture() : tee(make_simulated_tee({})), device(tee.supplicant->open().value()),
                memory(*device, 1 << 20, RpcShmSource::Register) {
        // Ids 1 and 2, as the seeds expect.
        if (!memory.allocate(4096).ok() || !memory.allocate(8192).ok()) std::abort();
    }
    SimTee tee;
    std::unique_ptr<Device> device;
    RpcMemory memory;
};

void touch(const RpcMemref& memref) {
    volatile uint8_t sum = 0;
    for (uint8_t& byte : memref.bytes()) {
        sum = sum + byte;
        byte = static_cast<uint8_t>(byte + 1);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Fixture fixture;
    RpcBuffer buffer;
    std::memcpy(buffer.bytes().data(), data, std::min(size, kRecvBufferBytes));

    auto decoded = decode_request(buffer.received(), fixture.memory);
    if (!decoded.ok()) return 0;
    RpcRequest& request = decoded->request;
    if (request.params.size() + 1 > kMaxRecvParams) std::abort();
    if (!decoded->param_error) {
        for (size_t i = 0; i < request.params.size(); ++i) {
            const RpcParam& param = request.params[i];
            if (param.has_buffer()) {
                if (param.memory.size() != param.b) std::abort();
                touch(param.memory);
            }
            if (auto text = request.string_param(i); text.ok() && text->size() >= param.b) std::abort();
        }
        (void)request.expect_types({TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT,
                                    TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT});
    }
    RpcBuffer reply;
    size_t length = encode_reply(request, 0, reply.bytes());
    if (length != sizeof(tee_iocl_supp_send_arg) + (request.params.size() + 1) * sizeof(tee_ioctl_param))
        std::abort();
    return 0;
}
