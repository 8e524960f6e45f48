#pragma once
// The simulated node's shared memory: what the kernel's tee_shm objects and the OP-TEE driver's
// pool are for /dev/teeN. Ids are node-wide (the kernel's teedev->idr) and resolve only in the
// context that created them. A shm lives while the fd handed out for it, or a mapping of it,
// does; the sim cannot see file references the way the kernel does, so it checks (sweep()):
//   - the fd number handed out still names the same inode (fstat st_dev/st_ino), or else
//   - /proc/self/maps still holds a mapping of that inode (other than the sim's own).
// Consequently only this process's fd table and mappings count: a shm whose fd was passed to
// another process and closed here is freed (the kernel would keep it). A shm that someone else
// still holds (an ioctl in progress, the secure world's RPC buffer: the kernel's references from
// tee_shm_get_from_id()) is never freed, so its id is not handed out again meanwhile.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace teed::sim {

using ContextId = uint64_t;

// Bytes of the node's pool in use; shared by the table and every SharedMemory it made.
class ShmPool {
public:
    explicit ShmPool(uint64_t capacity) : capacity_(capacity) {}
    bool reserve(uint64_t bytes);
    void release(uint64_t bytes);
    uint64_t used() const;

private:
    mutable std::mutex mutex_;
    const uint64_t capacity_;
    uint64_t used_ = 0;
};

// One shm object. Holding a shared_ptr keeps its memory reachable (as tee_shm_get_from_id's
// reference does while an ioctl uses it), even if a sweep drops it from the table meanwhile.
class SharedMemory {
public:
    ~SharedMemory();
    SharedMemory(const SharedMemory&) = delete;
    SharedMemory& operator=(const SharedMemory&) = delete;

    int32_t id() const { return id_; }
    // The size memrefs are checked against: page-rounded for allocated shms (as the kernel
    // reports it), the registered length for registered ones.
    uint64_t size() const { return size_; }
    // Where the TA reads and writes: the sim's own shared mapping, or the caller's registered
    // memory (the kernel pins those pages; the sim runs in the same address space).
    uint8_t* data() const { return data_; }
    // TEE_IOC_SHM_REGISTER'ed (the caller's pinned pages) rather than TEE_IOC_SHM_ALLOC'ed from
    // the driver's pool: the driver hands the two to the secure world differently.
    bool registered() const { return registered_; }

private:
    friend class ShmTable;
    SharedMemory() = default;

    int32_t id_ = 0;
    ContextId owner_ = 0;
    uint64_t size_ = 0;
    uint8_t* data_ = nullptr;
    bool registered_ = false;
    uint64_t pool_bytes_ = 0;  // returned to the pool on destruction
    void* own_map_ = nullptr;  // the sim's mapping, for allocated shms
    size_t own_map_len_ = 0;
    UniqueFd own_fd_;     // keeps the inode the liveness check compares with
    int handed_fd_ = -1;  // the number given to the caller; never closed by the sim
    dev_t dev_ = 0;
    ino_t ino_ = 0;
    std::shared_ptr<ShmPool> pool_;
};

struct NewShm {
    int32_t id = 0;
    uint64_t size = 0;
    UniqueFd fd;  // for the caller
};

// What pinning a user range for writing gets, as register_shm_helper() pins it.
enum class Pinned {
    All,
    None,  // the first page cannot be pinned: EFAULT
    Some,  // only the leading pages: pin_user_pages_fast() returns fewer, Linux 6.1 says ENOMEM
};

class ShmTable {
public:
    // `max_alloc_bytes`: the largest single allocation the pool can give (by default, all of
    // it).
    explicit ShmTable(uint64_t pool_bytes,
                      uint64_t max_alloc_bytes = std::numeric_limits<uint64_t>::max());
    ~ShmTable();
    ShmTable(const ShmTable&) = delete;
    ShmTable& operator=(const ShmTable&) = delete;

    // TEE_IOC_SHM_ALLOC after its flag check: ENOMEM for size 0 (the pools' allocators give
    // nothing for 0 pages), for more than `max_alloc_bytes` and past the pool.
    Result<NewShm> allocate(ContextId owner, uint64_t size);
    // Whether the pages of [addr, addr + length) can be pinned for writing, as
    // register_shm_helper() pins them: writable mappings of this process, and not mappings of a
    // TEE shm (tee_shm_fop_mmap() maps them VM_PFNMAP, which pinning refuses).
    Result<Pinned> pin(uint64_t addr, uint64_t length) const;
    // TEE_IOC_SHM_REGISTER once pin() and the driver's checks passed. The returned fd only
    // names the registration: it cannot be mapped (tee_shm_fop_mmap() refuses registered
    // memory).
    Result<NewShm> register_memory(ContextId owner, uint64_t addr, uint64_t length);
    // The shm `id` of `owner`, or null if there is none (unknown, freed, or another context's).
    std::shared_ptr<SharedMemory> find(ContextId owner, int32_t id) const;

    // Frees the dead shms of `owner`, or of every context with sweep_all().
    void sweep(ContextId owner);
    void sweep_all();
    size_t count(ContextId owner) const;
    size_t count_all() const;
    uint64_t pool_used() const { return pool_->used(); }

private:
    void sweep_if(bool all, ContextId owner);
    Result<NewShm> insert(ContextId owner, std::shared_ptr<SharedMemory> shm, UniqueFd handed);

    std::shared_ptr<ShmPool> pool_;
    const uint64_t max_alloc_bytes_;
    mutable std::mutex mutex_;
    std::map<int32_t, std::shared_ptr<SharedMemory>> shms_;
};

}  // namespace teed::sim
