#include "backends/optee/supplicant/rpc_memory.h"

#include <sys/mman.h>

namespace teed::supplicant {

// One buffer: the device shm's fd and this process's mapping of it, released together when the
// table and every RpcMemref of it have let go.
struct RpcMemory::Mapping {
    Mapping(UniqueFd fd_in, void* address_in, size_t length_in)
        : fd(std::move(fd_in)), address(address_in), length(length_in) {}
    ~Mapping() { ::munmap(address, length); }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;

    UniqueFd fd;
    void* address;
    size_t length;
};

RpcMemory::RpcMemory(Device& device, uint64_t max_bytes) : device_(device), max_bytes_(max_bytes) {}

RpcMemory::~RpcMemory() = default;

Result<int32_t> RpcMemory::allocate(uint64_t size) {
    if (size == 0) return Error(ErrorKind::InvalidArgument) << "shared memory of 0 bytes";
    const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    if (size > max_bytes_) {
        return Error(ErrorKind::LimitExceeded)
               << "buffer of " << size << " bytes exceeds supplicant_shm_bytes=" << max_bytes_;
    }
    const uint64_t rounded = (size + page - 1) / page * page;
    {
        std::lock_guard lock(mutex_);
        if (bytes_ + rounded > max_bytes_) {
            return Error(ErrorKind::LimitExceeded)
                   << "buffer of " << size << " bytes with " << bytes_
                   << " bytes held exceeds supplicant_shm_bytes=" << max_bytes_;
        }
        bytes_ += rounded;  // reserved now, so that concurrent allocations cannot overshoot
    }
    auto release_reservation = [&] {
        std::lock_guard lock(mutex_);
        bytes_ -= rounded;
    };

    tee_ioctl_shm_alloc_data data{.size = size, .flags = 0, .id = 0};
    auto fd = device_.shm_alloc(data);
    if (!fd.ok()) {
        release_reservation();
        return std::move(fd).error();
    }
    void* address = ::mmap(nullptr, data.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd->get(), 0);
    if (address == MAP_FAILED) {
        int err = errno;
        release_reservation();
        return ErrnoError(err) << "mapping supplicant shared memory " << data.id;
    }
    auto mapping = std::make_shared<Mapping>(std::move(fd).value(), address, data.size);
    std::lock_guard lock(mutex_);
    buffers_[data.id] = std::move(mapping);
    // The kernel may round up further than a page; count what it gave.
    bytes_ += data.size - rounded;
    return data.id;
}

Result<void> RpcMemory::free(int32_t id) {
    std::shared_ptr<Mapping> mapping;
    {
        std::lock_guard lock(mutex_);
        auto it = buffers_.find(id);
        if (it == buffers_.end())
            return Error(ErrorKind::NotFound) << "no supplicant buffer with id " << id;
        mapping = std::move(it->second);
        buffers_.erase(it);
        bytes_ -= mapping->length;
    }
    return {};  // the mapping goes when `mapping` and every RpcMemref of it do
}

Result<RpcMemref> RpcMemory::resolve(uint64_t id, uint64_t offset, uint64_t size) const {
    std::shared_ptr<Mapping> mapping;
    {
        std::lock_guard lock(mutex_);
        auto it = id <= INT32_MAX ? buffers_.find(static_cast<int32_t>(id)) : buffers_.end();
        if (it == buffers_.end())
            return Error(ErrorKind::InvalidArgument) << "memref names shm " << static_cast<int64_t>(id)
                                                     << ", which the supplicant never allocated";
        mapping = it->second;
    }
    if (offset > mapping->length || size > mapping->length - offset) {
        return Error(ErrorKind::InvalidArgument)
               << "memref [" << offset << ", +" << size << ") leaves shm " << id << " of "
               << mapping->length << " bytes";
    }
    uint8_t* data = static_cast<uint8_t*>(mapping->address) + offset;
    return RpcMemref(std::move(mapping), data, size);
}

uint64_t RpcMemory::bytes_in_use() const {
    std::lock_guard lock(mutex_);
    return bytes_;
}

size_t RpcMemory::count() const {
    std::lock_guard lock(mutex_);
    return buffers_.size();
}

}  // namespace teed::supplicant
