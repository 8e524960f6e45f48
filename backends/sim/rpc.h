#pragma once
// The simulated secure world's requests to the normal world: what OP-TEE's thread_rpc_cmd() does
// from inside a TA call. A TA that needs the supplicant (secure storage, TA loading, RPMB,
// sockets, plugins) is given a SupplicantRpc when it is created; each call() queues the request
// on the node's supplicant device, where TEE_IOC_SUPPL_RECV picks it up, and blocks the calling
// thread until TEE_IOC_SUPPL_SEND answers it, exactly as the kernel's optee_supp_thrd_req() does.
//
//   auto buffer = rpc.allocate(4096, code);             // OPTEE_RPC_CMD_SHM_ALLOC, type APPL
//   std::memcpy(buffer->data(), name, len);
//   std::array<RpcParam, 3> params{RpcParam::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, 0),
//                                  RpcParam::memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT,
//                                                   *buffer, 0, len),
//                                  RpcParam::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT)};
//   uint32_t ret = rpc.call(2 /* OPTEE_RPC_CMD_FS */, params);
//   uint64_t fd = params[2].a;
//
// The supplicant sees value params as given and memrefs as {a = offset, b = size, c = shm id};
// it answers a, b, c of VALUE_OUTPUT/INOUT and the size of MEMREF_OUTPUT/INOUT, which call()
// copies back into `params` (into `size` for memrefs). Nothing else comes back.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "backends/kernel/tee_uapi.h"
#include "backends/sim/shm_table.h"

namespace teed::sim {

class SupplicantRpc;

// A buffer in memory the supplicant allocated for the secure world. Freed (SHM_FREE) when
// destroyed; its bytes stay reachable until then even if the supplicant misbehaves.
class RpcSharedBuffer {
public:
    RpcSharedBuffer(SupplicantRpc& rpc, std::shared_ptr<SharedMemory> shm)
        : rpc_(rpc), shm_(std::move(shm)) {}
    ~RpcSharedBuffer();
    RpcSharedBuffer(const RpcSharedBuffer&) = delete;
    RpcSharedBuffer& operator=(const RpcSharedBuffer&) = delete;

    uint8_t* data() const { return shm_->data(); }
    size_t size() const { return shm_->size(); }
    int32_t id() const { return shm_->id(); }

private:
    SupplicantRpc& rpc_;
    std::shared_ptr<SharedMemory> shm_;
};

struct RpcParam {
    uint32_t type = TEE_IOCTL_PARAM_ATTR_TYPE_NONE;  // TEE_IOCTL_PARAM_ATTR_TYPE_*
    uint64_t a = 0;  // values
    uint64_t b = 0;
    uint64_t c = 0;
    // Memrefs: the buffer (null: "no buffer", which the supplicant sees as c = -1) and the range
    // offered; `size` gets the size the supplicant answered for MEMREF_OUTPUT/INOUT.
    const RpcSharedBuffer* buffer = nullptr;
    uint64_t offset = 0;
    uint64_t size = 0;
    // Memrefs without `buffer`: a shm id the supplicant sees as is (-1: no buffer). The driver
    // forwards memory the supplicant did not allocate this way (the kernel's own buffers), and a
    // faulty secure world may name anything.
    int64_t shm_id = -1;

    static RpcParam value(uint32_t type, uint64_t a = 0, uint64_t b = 0, uint64_t c = 0) {
        return {.type = type, .a = a, .b = b, .c = c};
    }
    static RpcParam memref(uint32_t type, const RpcSharedBuffer* buffer, uint64_t offset,
                           uint64_t size) {
        return {.type = type, .buffer = buffer, .offset = offset, .size = size};
    }
    static RpcParam memref_by_id(uint32_t type, int64_t shm_id, uint64_t offset, uint64_t size) {
        return {.type = type, .offset = offset, .size = size, .shm_id = shm_id};
    }
};

class SupplicantRpc {
public:
    virtual ~SupplicantRpc() = default;
    // Sends one request and waits for its answer; returns the supplicant's TEEC code, or
    // TEEC_ERROR_COMMUNICATION when the supplicant closed its device before answering, or
    // when the node has no supplicant device at all.
    virtual uint32_t call(uint32_t command, std::span<RpcParam> params) = 0;
    // OPTEE_RPC_CMD_SHM_ALLOC of type APPL: null with `ret_code` set (OUT_OF_MEMORY) when the
    // supplicant refused, answered an id that is not a buffer of its own context of at least
    // `size` bytes, or a buffer the driver flavour cannot hand to OP-TEE (driver_flavour.h).
    virtual std::unique_ptr<RpcSharedBuffer> allocate(size_t size, uint32_t& ret_code) = 0;
    // OPTEE_RPC_CMD_SHM_FREE; RpcSharedBuffer's destructor calls it.
    virtual void free(int32_t shm_id) = 0;
};

inline RpcSharedBuffer::~RpcSharedBuffer() {
    // optee_rpc_cmd_free_suppl() drops the driver's reference before it asks the supplicant to
    // free the buffer, so that the supplicant's own close is the last one.
    const int32_t id = shm_->id();
    shm_.reset();
    rpc_.free(id);
}

}  // namespace teed::sim
