#pragma once
// The supplicant's shared memory: what the secure world asks for with OPTEE_RPC_CMD_SHM_ALLOC of
// type APPL, allocated on the supplicant's own device context and mapped here. Memrefs of later
// requests name these buffers by id; the supplicant resolves them only against this table, so an
// id it never handed out, or a range that leaves the buffer, never reaches memory.
//
//   RpcMemory memory(device, 64 << 20);
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

#include "backends/kernel/device.h"
#include "common/result.h"

namespace teed::supplicant {

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
    RpcMemory(Device& device, uint64_t max_bytes);
    ~RpcMemory();
    RpcMemory(const RpcMemory&) = delete;
    RpcMemory& operator=(const RpcMemory&) = delete;

    // TEE_IOC_SHM_ALLOC on the supplicant context, mapped read-write. LimitExceeded past the cap
    // (naming it), InvalidArgument for size 0, the device's error otherwise.
    Result<int32_t> allocate(uint64_t size);
    // NotFound for an id this table does not hold.
    Result<void> free(int32_t id);
    // [offset, offset + size) of buffer `id`. InvalidArgument when the id is unknown or the range
    // overflows or leaves the buffer.
    Result<RpcMemref> resolve(uint64_t id, uint64_t offset, uint64_t size) const;

    uint64_t bytes_in_use() const;
    size_t count() const;
    uint64_t max_bytes() const { return max_bytes_; }

private:
    struct Mapping;

    Device& device_;
    const uint64_t max_bytes_;
    mutable std::mutex mutex_;
    std::map<int32_t, std::shared_ptr<Mapping>> buffers_;  // guarded by mutex_
    uint64_t bytes_ = 0;                                    // guarded by mutex_
};

}  // namespace teed::supplicant
