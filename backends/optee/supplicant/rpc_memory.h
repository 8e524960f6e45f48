#pragma once
// The supplicant's shared memory: what the secure world asks for with OPTEE_RPC_CMD_SHM_ALLOC of
// type APPL, made a shm of the supplicant's own device context and mapped here. Memrefs of later
// requests name these buffers by id; the supplicant resolves them only against this table, so an
// id it never handed out, or a range that leaves the buffer, never reaches memory.
//
// How a buffer becomes a shm depends on the device, and the kernel does not say why it refuses
// the wrong kind: it answers the secure world TEEC_ERROR_OUT_OF_MEMORY after teed's SEND has
// succeeded. The OP-TEE SMC driver hands the secure world a page list for every dynamic shm
// (smc_abi.c, handle_rpc_func_cmd_shm_alloc); a TEE_IOC_SHM_ALLOC buffer of a device with
// dynamic shared memory is dynamic but carries no page list in Linux 6.1, so only registered
// memory (TEE_IOC_SHM_REGISTER) works there. A device without TEE_GEN_CAP_REG_MEM has only its
// static pool, whose buffers need no page list. So, as tee-supplicant does: register ordinary
// memory when the device can, allocate from the pool otherwise (rpc_shm_source_for()).
//
//   RpcMemory memory(device, 64 << 20, rpc_shm_source_for(device.version().value()));
//   int32_t id = TEED_TRY(memory.allocate(4096));
//   RpcMemref bytes = TEED_TRY(memory.resolve(id, 0, 16));
//   memory.free(id);   // `bytes` stays valid: the mapping lives until its last user lets go
//
// Thread-safe: requests are served on several workers at once.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>

#include "backends/kernel/device.h"
#include "common/result.h"

namespace teed::supplicant {

// Where the supplicant's buffers come from (see the top of this file).
enum class RpcShmSource {
    Register,  // page-aligned memory of teed's, TEE_IOC_SHM_REGISTER
    Allocate,  // the device's pool, TEE_IOC_SHM_ALLOC
};
std::string_view to_string(RpcShmSource source);
// Register when the device has TEE_GEN_CAP_REG_MEM, Allocate otherwise.
RpcShmSource rpc_shm_source_for(const tee_ioctl_version_data& version);

// A range of a supplicant buffer, keeping its mapping alive while held (the secure world may free
// the buffer while another request still uses it; the bytes stay mapped until both are done).
class RpcMemref {
public:
    RpcMemref() = default;
    RpcMemref(std::shared_ptr<const void> keepalive, uint8_t* data, size_t size)
        : keepalive_(std::move(keepalive)), data_(data), size_(size) {}
    // A range of memory the caller keeps alive itself: for tests and tools.
    static RpcMemref wrap(std::span<uint8_t> bytes) { return {nullptr, bytes.data(), bytes.size()}; }

    uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    std::span<uint8_t> bytes() const { return {data_, size_}; }

private:
    std::shared_ptr<const void> keepalive_;
    uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

class RpcMemory {
public:
    // `device` is the supplicant's context (it must outlive this table); `max_bytes` caps the
    // page-rounded bytes held at once.
    RpcMemory(Device& device, uint64_t max_bytes, RpcShmSource source);
    ~RpcMemory();
    RpcMemory(const RpcMemory&) = delete;
    RpcMemory& operator=(const RpcMemory&) = delete;

    // A buffer of at least `size` bytes, made a shm of the supplicant context the way `source`
    // says, mapped read-write. LimitExceeded past the cap (naming it), InvalidArgument for size 0,
    // the device's or mmap's error (with its errno) otherwise.
    Result<int32_t> allocate(uint64_t size);
    // NotFound for an id this table does not hold.
    Result<void> free(int32_t id);
    // [offset, offset + size) of buffer `id`. InvalidArgument when the id is unknown or the range
    // overflows or leaves the buffer.
    Result<RpcMemref> resolve(uint64_t id, uint64_t offset, uint64_t size) const;

    uint64_t bytes_in_use() const;
    size_t count() const;
    uint64_t max_bytes() const { return max_bytes_; }
    RpcShmSource source() const { return source_; }

private:
    struct Mapping;

    Result<std::shared_ptr<Mapping>> register_memory(uint64_t size, uint64_t rounded_size);
    Result<std::shared_ptr<Mapping>> allocate_from_pool(uint64_t size);

    Device& device_;
    const uint64_t max_bytes_;
    const RpcShmSource source_;
    mutable std::mutex mutex_;
    std::map<int32_t, std::shared_ptr<Mapping>> buffers_;  // guarded by mutex_
    uint64_t bytes_ = 0;                                    // guarded by mutex_
};

}  // namespace teed::supplicant
