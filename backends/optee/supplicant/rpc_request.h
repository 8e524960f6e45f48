#pragma once
// One request of the secure world as TEE_IOC_SUPPL_RECV delivers it in asynchronous mode, and
// its answer for TEE_IOC_SUPPL_SEND (the wire format of ../docs/supplicant.md):
//
//   buffer: tee_iocl_supp_recv_arg { func, num_params } + num_params × tee_ioctl_param
//   params[0]: the meta param {attr = VALUE_INOUT | META, a = request id}
//   params[1..]: the request's own params; memrefs as {a = offset, b = size, c = shm id}, with
//                c = TEE_MEMREF_NULL (-1) for "no buffer"
//
//   RpcBuffer buffer;                                   // filled by TEE_IOC_SUPPL_RECV
//   RpcRequest request = TEED_TRY(decode_request(buffer.received(), memory));
//   ... serve: write outputs into request.params ...
//   size_t length = encode_reply(request, code, buffer.bytes());   // then TEE_IOC_SUPPL_SEND
//
// Nothing here trusts the secure world: decode checks the frame and resolves every memref
// against the supplicant's own buffers before a service sees it.

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "backends/kernel/tee_uapi.h"
#include "backends/optee/supplicant/rpc_memory.h"
#include "common/result.h"

namespace teed::supplicant {

// The most params a request can carry, the meta param included: tee-supplicant's RPC_NUM_PARAMS.
// OP-TEE's RPCs use at most 4 of their own.
constexpr uint32_t kMaxRecvParams = 5;
constexpr size_t kRecvBufferBytes =
    sizeof(tee_iocl_supp_recv_arg) + kMaxRecvParams * sizeof(tee_ioctl_param);

// The buffer RECV fills and SEND sends, 8-byte aligned as the kernel structs want.
class RpcBuffer {
public:
    // Prepares a RECV: num_params = 5, params[0] = META (asynchronous mode), the rest NONE.
    void prepare_receive();
    std::span<uint8_t> bytes() { return {reinterpret_cast<uint8_t*>(words_.data()), kRecvBufferBytes}; }
    std::span<const uint8_t> received() const {
        return {reinterpret_cast<const uint8_t*>(words_.data()), kRecvBufferBytes};
    }
    tee_ioctl_buf_data ioctl_arg(size_t length);

private:
    std::array<uint64_t, kRecvBufferBytes / sizeof(uint64_t)> words_{};
};

// The param types by short names, for services' expect_types() lists.
inline constexpr uint32_t kValueIn = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT;
inline constexpr uint32_t kValueOut = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT;
inline constexpr uint32_t kValueInout = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT;
inline constexpr uint32_t kMemrefIn = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT;
inline constexpr uint32_t kMemrefOut = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT;
inline constexpr uint32_t kMemrefInout = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT;

struct RpcParam {
    uint32_t type = TEE_IOCTL_PARAM_ATTR_TYPE_NONE;  // TEE_IOCTL_PARAM_ATTR_TYPE_*
    // As received. Services write their outputs here: a, b, c of VALUE_OUTPUT/INOUT, and b (the
    // size) of MEMREF_OUTPUT/INOUT; only those reach the secure world.
    uint64_t a = 0;
    uint64_t b = 0;
    uint64_t c = 0;
    // Memrefs with a buffer: the bytes [a, a + b) of supplicant buffer c. Empty for "no buffer"
    // (c = TEE_MEMREF_NULL), as LOAD_TA's size query sends.
    RpcMemref memory;

    bool is_value() const;
    bool is_memref() const;
    bool has_buffer() const { return is_memref() && c != TEE_MEMREF_NULL; }
};

struct RpcRequest {
    uint32_t command = 0;
    uint64_t id = 0;               // the meta param's a: what SEND names the answer by
    std::vector<RpcParam> params;  // the request's own params, without the meta param

    // InvalidArgument naming the first param whose type differs, or the count, unless the params
    // are exactly `types` (TEE_IOCTL_PARAM_ATTR_TYPE_*), in order.
    Result<void> expect_types(std::initializer_list<uint32_t> types) const;
    // The bytes of memref `index` as a string: up to its first NUL, which must be present
    // (InvalidArgument otherwise, or when the param has no buffer).
    Result<std::string> string_param(size_t index) const;
};

// The frame of a RECV answer. InvalidArgument when the meta param is missing or malformed, or
// num_params exceeds the buffer; such a request cannot be answered (SEND would name no request).
// Memrefs are then resolved against `memory`; a memref naming a buffer the supplicant never
// allocated, or leaving it, is reported in `param_error` with the rest of the request intact,
// so that the caller can answer TEEC_ERROR_BAD_PARAMETERS under the right id.
struct DecodedRequest {
    RpcRequest request;
    std::optional<Error> param_error;
};
Result<DecodedRequest> decode_request(std::span<const uint8_t> received, const RpcMemory& memory);

// Writes the answer for SEND into `buffer` (which must hold kRecvBufferBytes): ret, the meta
// param naming request.id, and each param with its type as received and its outputs. Returns the
// length to send: 8 + 32 × (1 + params).
size_t encode_reply(const RpcRequest& request, uint32_t ret, std::span<uint8_t> buffer);

}  // namespace teed::supplicant
