#include "backends/optee/supplicant/rpc_memory.h"

#include <sys/mman.h>
#include <unistd.h>

namespace teed::supplicant {
namespace {

// What the supplicant was doing, then the device's error (its ioctl and errno text, once).
Error in_context(const Error& error, const std::string& context) {
    return Error(error.kind()) << context << ": " << error.message();
}

}  // namespace

std::string_view to_string(RpcShmSource source) {
    switch (source) {
    case RpcShmSource::Register: return "register";
    case RpcShmSource::Allocate: return "allocate";
    }
    return "unknown";
}

RpcShmSource rpc_shm_source_for(const tee_ioctl_version_data& version) {
    return (version.gen_caps & TEE_GEN_CAP_REG_MEM) != 0 ? RpcShmSource::Register
                                                         : RpcShmSource::Allocate;
}

// One buffer: the device shm's fd and this process's mapping of it. The fd is closed before the
// memory is unmapped, so the kernel never holds a registration of memory teed has given back.
struct RpcMemory::Mapping {
    Mapping(int32_t id_in, UniqueFd fd_in, void* address_in, uint64_t size_in, size_t map_length_in)
        : id(id_in), fd(std::move(fd_in)), address(address_in), size(size_in),
          map_length(map_length_in) {}
    ~Mapping() {
        fd.reset();
        ::munmap(address, map_length);
    }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;

    const int32_t id;
    UniqueFd fd;
    void* const address;
    const uint64_t size;       // the shm's size as the kernel knows it: memrefs stay inside
    const size_t map_length;   // page-rounded; what the bytes-held count and the cap see
};

RpcMemory::RpcMemory(Device& device, uint64_t max_bytes, RpcShmSource source)
    : device_(device), max_bytes_(max_bytes), source_(source) {}

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
    auto made = source_ == RpcShmSource::Register ? register_memory(size, rounded)
                                                  : allocate_from_pool(size);
    std::lock_guard lock(mutex_);
    if (!made.ok()) {
        bytes_ -= rounded;
        return std::move(made).error();
    }
    std::shared_ptr<Mapping> mapping = std::move(made).value();
    // The kernel's pool may round up further than a page; count what it gave.
    bytes_ += mapping->map_length - rounded;
    const int32_t id = mapping->id;
    buffers_[id] = std::move(mapping);
    return id;
}

Result<std::shared_ptr<RpcMemory::Mapping>> RpcMemory::register_memory(uint64_t size,
                                                                        uint64_t rounded_size) {
    void* address = ::mmap(nullptr, rounded_size, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (address == MAP_FAILED)
        return ErrnoError(errno) << "mapping " << rounded_size << " bytes for a supplicant buffer";
    tee_ioctl_shm_register_data data{
        .addr = reinterpret_cast<uintptr_t>(address), .length = size, .flags = 0, .id = 0};
    auto fd = device_.shm_register(data);
    if (!fd.ok()) {
        ::munmap(address, rounded_size);
        return in_context(fd.error(), "registering a supplicant buffer of " +
                                              std::to_string(size) + " bytes");
    }
    return std::make_shared<Mapping>(data.id, std::move(fd).value(), address, data.length,
                                     rounded_size);
}

Result<std::shared_ptr<RpcMemory::Mapping>> RpcMemory::allocate_from_pool(uint64_t size) {
    tee_ioctl_shm_alloc_data data{.size = size, .flags = 0, .id = 0};
    auto fd = device_.shm_alloc(data);
    if (!fd.ok())
        return in_context(fd.error(),
                          "allocating a supplicant buffer of " + std::to_string(size) + " bytes");
    void* address = ::mmap(nullptr, data.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd->get(), 0);
    if (address == MAP_FAILED)
        return ErrnoError(errno) << "mapping supplicant shared memory " << data.id;
    return std::make_shared<Mapping>(data.id, std::move(fd).value(), address, data.size, data.size);
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
        bytes_ -= mapping->map_length;
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
    if (offset > mapping->size || size > mapping->size - offset) {
        return Error(ErrorKind::InvalidArgument)
               << "memref [" << offset << ", +" << size << ") leaves shm " << id << " of "
               << mapping->size << " bytes";
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
