#pragma once
// GlobalPlatform sessions (OP-TEE, AMD-TEE) on one device context: GpParams in, the kernel's
// tee_ioctl_* argument buffers to the Device, GpParams back. Temporary memrefs travel in one
// device shm per call. Mapped shms are kept for reuse (a few, up to 4 MiB in all): allocating and
// mapping device memory costs more than most calls. They belong to this context, so a client
// never sees memory another client used.
//
//   GpClient gp(*device, /*memref_null=*/caps & TEE_GEN_CAP_MEMREF_NULL);
//   auto opened = TEED_TRY(gp.open_session({.uuid = uuid, .login = gp::kLoginPublic}));
//   auto reply = TEED_TRY(gp.invoke(opened.session_id, 0, /*cancel_id=*/0, params));
//
// Params must have passed validate_gp_params(). Errors are what the device returned (errno);
// the TEE's and TA's own results are in GpReply.

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "backends/kernel/device.h"
#include "backends/optee/gp_params.h"
#include "common/uuid.h"

namespace teed {

struct GpReply {
    uint32_t return_origin = 0;
    uint32_t return_code = 0;
    GpParams params;
};

struct GpOpenRequest {
    Uuid uuid;
    uint32_t login = 0;
    uint32_t connection_data = 0;  // the gid for GROUP logins
    uint32_t cancel_id = 0;
    GpParams params;
};

struct GpOpenReply {
    uint32_t session_id = 0;  // valid when reply.return_code is TEEC_SUCCESS
    GpReply reply;
};

class MappedShm;

// Memory shared with the TEE for registered-memory memrefs (GP's TEEC_SharedMemory):
// - registered: a client's memfd, mapped by teed and registered with TEE_IOC_SHM_REGISTER, so
//   the TEE works on the client's pages (zero copy); on a device without TEE_GEN_CAP_REG_MEM,
//   device shm is allocated instead and teed copies around each call;
// - allocated: device shm from TEE_IOC_SHM_ALLOC, whose fd the client maps (zero copy).
class GpSharedMemory {
    struct Key {};  // only GpClient creates them

public:
    GpSharedMemory(Key, uint64_t size, uint32_t flags);
    ~GpSharedMemory();
    GpSharedMemory(const GpSharedMemory&) = delete;
    GpSharedMemory& operator=(const GpSharedMemory&) = delete;

    uint64_t size() const { return size_; }
    uint32_t flags() const { return flags_; }
    bool zero_copy() const { return device_ == nullptr; }
    int32_t device_id() const;
    // Copy mode: the bytes the TEE sees are copied from the client's view before a call and
    // back after it.
    void copy_to_device(uint64_t offset, uint64_t size);
    void copy_from_device(uint64_t offset, uint64_t size);

private:
    friend class GpClient;

    uint64_t size_;
    uint32_t flags_;
    uint8_t* client_view_ = nullptr;  // teed's mapping of the client's memfd, if registered
    uint64_t client_view_length_ = 0;
    UniqueFd registration_;                // zero-copy registration: lives while this fd does
    int32_t registered_id_ = 0;
    std::unique_ptr<MappedShm> device_;    // copy mode
    std::unique_ptr<MappedShm> allocated_; // allocated memory
};

// Idle mapped shms of one context, for the next call's temporary memrefs.
//
// A call's temporary memrefs share one shm. Linux's OP-TEE driver allocates TEE_IOC_SHM_ALLOC
// memory with alloc_pages: physically contiguous, so at most 4 MiB at once (order 10 with 4 KiB
// pages); a larger request fails with ENOMEM and a kernel warning. Up to that size the pool is
// used (one contiguous range, cheap to share and reused from this cache); beyond it a device that
// can register (TEE_GEN_CAP_REG_MEM) gets teed's own memory registered page by page, as libteec
// does for all of them. A device with only a static pool allocates everything from it.
class ShmCache {
public:
    static constexpr uint64_t kPoolMaxBytes = 4u << 20;

    explicit ShmCache(bool can_register);
    ~ShmCache();
    // A mapped shm of at least `size` bytes: an idle one, or a new one from `device`.
    Result<std::unique_ptr<MappedShm>> take(Device& device, uint64_t size);
    void give_back(std::unique_ptr<MappedShm> shm);

private:
    const bool can_register_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<MappedShm>> idle_;
};

class GpClient {
public:
    // `memref_null`: the device has TEE_GEN_CAP_MEMREF_NULL; `reg_mem`: TEE_GEN_CAP_REG_MEM.
    GpClient(Device& device, bool memref_null, bool reg_mem)
        : device_(device), memref_null_(memref_null),
          shm_cache_(reg_mem) {}

    Result<GpOpenReply> open_session(const GpOpenRequest& request);
    Result<GpReply> invoke(uint32_t session_id, uint32_t command, uint32_t cancel_id,
                           const GpParams& params);
    Result<void> cancel(uint32_t session_id, uint32_t cancel_id);
    Result<void> close_session(uint32_t session_id);

    // `memfd` must hold at least `size` bytes (the caller checked its seals). `reg_mem`: the
    // device has TEE_GEN_CAP_REG_MEM.
    Result<std::unique_ptr<GpSharedMemory>> register_memory(int memfd, uint64_t size,
                                                            uint32_t flags, bool reg_mem);
    // Returns the memory and a new fd the client can mmap to reach it.
    Result<std::pair<std::unique_ptr<GpSharedMemory>, UniqueFd>> allocate_memory(uint64_t size,
                                                                               uint32_t flags);

private:
    Device& device_;
    bool memref_null_;
    ShmCache shm_cache_;
};

}  // namespace teed
