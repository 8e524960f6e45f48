#include "backends/optee/gp_client.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "backends/kernel/gp.h"
#include "common/log.h"

namespace teed {

// A device shm and its mapping: allocated from the device's pool, or teed's own memory
// registered with the device.
class MappedShm {
public:
    MappedShm() = default;
    MappedShm(const MappedShm&) = delete;
    MappedShm& operator=(const MappedShm&) = delete;
    ~MappedShm() {
        fd_.reset();  // a registration ends before its pages are given back
        if (map_ != nullptr) munmap(map_, size_);
    }

    Result<void> allocate(Device& device, uint64_t size) {
        tee_ioctl_shm_alloc_data data{};
        data.size = size;
        fd_ = TEED_TRY(device.shm_alloc(data));
        void* map = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
        if (map == MAP_FAILED) return ErrnoError() << "mapping " << size << " bytes of TEE shm";
        map_ = static_cast<uint8_t*>(map);
        size_ = size;
        id_ = data.id;
        return {};
    }

    // `size` must be page-aligned. The kernel pins the pages page by page, so unlike the pool
    // this needs no physically contiguous memory.
    Result<void> register_anonymous(Device& device, uint64_t size) {
        void* map = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map == MAP_FAILED) return ErrnoError() << "mapping " << size << " bytes for TEE shm";
        map_ = static_cast<uint8_t*>(map);
        size_ = size;
        tee_ioctl_shm_register_data data{};
        data.addr = reinterpret_cast<uint64_t>(map);
        data.length = size;
        fd_ = TEED_TRY(device.shm_register(data));
        id_ = data.id;
        return {};
    }
    uint8_t* at(uint64_t offset) const { return map_ + offset; }
    uint64_t size() const { return size_; }
    int32_t id() const { return id_; }
    int fd() const { return fd_.get(); }

private:
    UniqueFd fd_;
    uint8_t* map_ = nullptr;
    uint64_t size_ = 0;
    int32_t id_ = 0;
};

namespace {

constexpr uint64_t kAlign = 8;
constexpr uint64_t kSmallestShm = 4096;
constexpr uint64_t kIdleShmBudget = 4u << 20;  // bytes kept mapped per context between calls
constexpr size_t kMaxIdleShms = 4;

uint64_t round_up_to_power_of_two(uint64_t n) {
    uint64_t size = kSmallestShm;
    while (size < n) size <<= 1;
    return size;
}

uint64_t round_up_to_page(uint64_t n) {
    const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    return (n + page - 1) / page * page;
}

// The shm behind one call: taken from the cache, given back when the call is over.
class TempMemory {
public:
    explicit TempMemory(ShmCache& cache) : cache_(cache) {}
    TempMemory(const TempMemory&) = delete;
    TempMemory& operator=(const TempMemory&) = delete;
    ~TempMemory() {
        if (shm_) cache_.give_back(std::move(shm_));
    }

    Result<void> allocate(Device& device, uint64_t size) {
        shm_ = TEED_TRY(cache_.take(device, size));
        return {};
    }
    bool allocated() const { return shm_ != nullptr; }
    uint8_t* at(uint64_t offset) const { return shm_->at(offset); }
    int32_t id() const { return shm_->id(); }

private:
    ShmCache& cache_;
    std::unique_ptr<MappedShm> shm_;
};

uint64_t align_up(uint64_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }

// A tee_ioctl_*_arg header followed by its params, 8-byte aligned as the kernel expects.
template <typename Header>
class ArgBuffer {
public:
    explicit ArgBuffer(size_t num_params)
        : words_((sizeof(Header) + num_params * sizeof(tee_ioctl_param) + 7) / 8, 0),
          num_params_(num_params) {}

    Header& header() { return *reinterpret_cast<Header*>(words_.data()); }
    tee_ioctl_param* params() {
        return reinterpret_cast<tee_ioctl_param*>(reinterpret_cast<uint8_t*>(words_.data()) +
                                                  sizeof(Header));
    }
    tee_ioctl_buf_data buf() {
        return {reinterpret_cast<uint64_t>(words_.data()),
                sizeof(Header) + num_params_ * sizeof(tee_ioctl_param)};
    }

private:
    std::vector<uint64_t> words_;
    size_t num_params_;
};

// Where each temporary memref sits in the call's shm.
struct Layout {
    std::vector<uint64_t> offsets;
    uint64_t total = 0;
    bool needs_memory = false;
};

bool is_null_memref(const GpParam& p, bool memref_null) {
    return memref_null && temp_memref_capacity(p) == 0;
}

Layout plan_layout(const GpParams& params, bool memref_null) {
    Layout layout;
    layout.offsets.resize(params.size(), 0);
    for (size_t i = 0; i < params.size(); ++i) {
        if (!gp::is_temp_memref(params[i].type) || is_null_memref(params[i], memref_null)) continue;
        layout.offsets[i] = layout.total;
        layout.total += align_up(temp_memref_capacity(params[i]));
        layout.needs_memory = true;
    }
    // A device without NULL memrefs still needs a buffer behind a zero-sized one (as libteec does).
    if (layout.needs_memory && layout.total == 0) layout.total = kAlign;
    return layout;
}

// The UAPI direction of a registered-memory memref: WHOLE takes it from the memory's flags.
uint64_t registered_attr(const GpParam& p) {
    uint32_t type = p.type;
    if (type == gp::kMemrefWhole) {
        uint32_t flags = p.memory->flags();
        if ((flags & gp::kMemInput) && (flags & gp::kMemOutput)) return TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT;
        return (flags & gp::kMemOutput) ? TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT
                                        : TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT;
    }
    return type - gp::kMemrefPartialInput + TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT;
}

uint64_t registered_offset(const GpParam& p) { return p.type == gp::kMemrefWhole ? 0 : p.offset; }
uint64_t registered_size(const GpParam& p) {
    return p.type == gp::kMemrefWhole ? p.memory->size() : p.size;
}

void marshal_registered(const GpParam& p, tee_ioctl_param& k) {
    k.attr = registered_attr(p);
    k.a = registered_offset(p);
    k.b = registered_size(p);
    k.c = static_cast<uint64_t>(p.memory->device_id());
    if (k.attr != TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT) p.memory->copy_to_device(k.a, k.b);
}

Result<void> marshal_params(Device& device, const GpParams& params, bool memref_null,
                            const Layout& layout, TempMemory& memory, tee_ioctl_param* out) {
    if (layout.needs_memory) TEED_TRY(memory.allocate(device, layout.total));
    for (size_t i = 0; i < params.size(); ++i) {
        const GpParam& p = params[i];
        tee_ioctl_param& k = out[i];
        k.attr = p.type;  // GP value and temporary-memref codes equal the UAPI attr types
        if (gp::is_value(p.type)) {
            k.a = p.a;
            k.b = p.b;
        } else if (gp::is_registered_memref(p.type)) {
            marshal_registered(p, k);
        } else if (gp::is_temp_memref(p.type)) {
            if (is_null_memref(p, memref_null)) {
                k.a = 0;
                k.b = 0;
                k.c = TEE_MEMREF_NULL;
                continue;
            }
            if (!p.data.empty())  // memcpy from an empty vector's null data() is undefined
                std::memcpy(memory.at(layout.offsets[i]), p.data.data(), p.data.size());
            k.a = layout.offsets[i];
            k.b = temp_memref_capacity(p);
            k.c = static_cast<uint64_t>(memory.id());
        }
    }
    return {};
}

GpParams unmarshal_params(const GpParams& sent, const tee_ioctl_param* returned,
                          const Layout& layout, const TempMemory& memory) {
    GpParams out;
    out.reserve(sent.size());
    for (size_t i = 0; i < sent.size(); ++i) {
        GpParam p;
        p.type = sent[i].type;
        p.a = sent[i].a;
        p.b = sent[i].b;
        if (gp::is_value(p.type) && gp::is_output(p.type)) {
            p.a = returned[i].a;
            p.b = returned[i].b;
        } else if (gp::is_registered_memref(p.type)) {
            p.shm = sent[i].shm;
            p.offset = sent[i].offset;
            p.size = sent[i].size;
            p.memory = sent[i].memory;
            if (registered_attr(sent[i]) != TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT) {
                p.size = returned[i].b;
                if (p.size <= registered_size(sent[i]))
                    p.memory->copy_from_device(registered_offset(sent[i]), p.size);
            }
        } else if (gp::is_temp_memref(p.type)) {
            uint64_t capacity = temp_memref_capacity(sent[i]);
            p.size = gp::is_output(p.type) ? returned[i].b : capacity;
            // Output bytes come back only when they fit what the client offered (GP: on
            // TEEC_ERROR_SHORT_BUFFER only the size is updated).
            if (gp::is_output(p.type) && p.size <= capacity && p.size > 0 && memory.allocated()) {
                const uint8_t* begin = memory.at(layout.offsets[i]);
                p.data.assign(begin, begin + p.size);
            }
        }
        out.push_back(std::move(p));
    }
    return out;
}

}  // namespace

ShmCache::ShmCache(bool can_register) : can_register_(can_register) {}
ShmCache::~ShmCache() = default;

Result<std::unique_ptr<MappedShm>> ShmCache::take(Device& device, uint64_t size) {
    {
        std::lock_guard lock(mutex_);
        auto best = idle_.end();
        for (auto it = idle_.begin(); it != idle_.end(); ++it)
            if ((*it)->size() >= size && (best == idle_.end() || (*it)->size() < (*best)->size()))
                best = it;
        if (best != idle_.end()) {
            auto shm = std::move(*best);
            idle_.erase(best);
            return shm;
        }
    }
    auto shm = std::make_unique<MappedShm>();
    if (can_register_ && size > kPoolMaxBytes) {
        // Registered pages are pinned, so no more than the call needs (rounded to pages).
        TEED_TRY(shm->register_anonymous(device, round_up_to_page(size)));
    } else {
        // The pool hands out powers of two anyway; asking for one lets the next call reuse it.
        TEED_TRY(shm->allocate(device, round_up_to_power_of_two(size)));
    }
    return shm;
}

void ShmCache::give_back(std::unique_ptr<MappedShm> shm) {
    std::lock_guard lock(mutex_);
    uint64_t idle_bytes = 0;
    for (const auto& idle : idle_) idle_bytes += idle->size();
    // Beyond the budget the shm is freed here: large buffers are rare, and many clients idle.
    if (idle_.size() < kMaxIdleShms && idle_bytes + shm->size() <= kIdleShmBudget)
        idle_.push_back(std::move(shm));
}

Result<GpOpenReply> GpClient::open_session(const GpOpenRequest& request) {
    Layout layout = plan_layout(request.params, memref_null_);
    TempMemory memory(shm_cache_);
    ArgBuffer<tee_ioctl_open_session_arg> arg(request.params.size());
    auto& header = arg.header();
    std::copy(request.uuid.bytes.begin(), request.uuid.bytes.end(), header.uuid);
    if (request.login == gp::kLoginGroup)
        std::memcpy(header.clnt_uuid, &request.connection_data, sizeof(request.connection_data));
    header.clnt_login = request.login;
    header.cancel_id = request.cancel_id;
    header.num_params = static_cast<uint32_t>(request.params.size());
    TEED_TRY(marshal_params(device_, request.params, memref_null_, layout, memory, arg.params()));
    TEED_TRY(device_.open_session(arg.buf()));

    GpOpenReply reply;
    reply.session_id = header.session;
    reply.reply.return_code = header.ret;
    reply.reply.return_origin = header.ret_origin;
    reply.reply.params = unmarshal_params(request.params, arg.params(), layout, memory);
    return reply;
}

Result<GpReply> GpClient::invoke(uint32_t session_id, uint32_t command, uint32_t cancel_id,
                                 const GpParams& params) {
    Layout layout = plan_layout(params, memref_null_);
    TempMemory memory(shm_cache_);
    ArgBuffer<tee_ioctl_invoke_arg> arg(params.size());
    auto& header = arg.header();
    header.func = command;
    header.session = session_id;
    header.cancel_id = cancel_id;
    header.num_params = static_cast<uint32_t>(params.size());
    TEED_TRY(marshal_params(device_, params, memref_null_, layout, memory, arg.params()));
    TEED_TRY(device_.invoke(arg.buf()));

    GpReply reply;
    reply.return_code = header.ret;
    reply.return_origin = header.ret_origin;
    reply.params = unmarshal_params(params, arg.params(), layout, memory);
    return reply;
}

Result<void> GpClient::cancel(uint32_t session_id, uint32_t cancel_id) {
    return device_.cancel({cancel_id, session_id});
}

Result<void> GpClient::close_session(uint32_t session_id) {
    return device_.close_session({session_id});
}

GpSharedMemory::GpSharedMemory(Key, uint64_t size, uint32_t flags) : size_(size), flags_(flags) {}

GpSharedMemory::~GpSharedMemory() {
    registration_.reset();  // unregister before the pages go away
    if (client_view_ != nullptr) munmap(client_view_, client_view_length_);
}

int32_t GpSharedMemory::device_id() const {
    if (device_) return device_->id();
    if (allocated_) return allocated_->id();
    return registered_id_;
}

void GpSharedMemory::copy_to_device(uint64_t offset, uint64_t size) {
    if (device_ && size > 0) std::memcpy(device_->at(offset), client_view_ + offset, size);
}

void GpSharedMemory::copy_from_device(uint64_t offset, uint64_t size) {
    if (device_ && size > 0) std::memcpy(client_view_ + offset, device_->at(offset), size);
}

Result<std::unique_ptr<GpSharedMemory>> GpClient::register_memory(int memfd, uint64_t size,
                                                                  uint32_t flags, bool reg_mem) {
    auto memory = std::make_unique<GpSharedMemory>(GpSharedMemory::Key{}, size, flags);
    void* view = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (view == MAP_FAILED) {
        const int err = errno;
        // What the fd does not allow (access mode, seals, no mmap at all) is the client's to fix;
        // only a lack of memory is teed's.
        if (err == EACCES || err == EPERM || err == ENODEV || err == EINVAL)
            return Error(ErrorKind::InvalidArgument)
                   << "the client's fd cannot be mapped read-write: " << std::strerror(err);
        return ErrnoError(err) << "mapping the client's memory";
    }
    memory->client_view_ = static_cast<uint8_t*>(view);
    memory->client_view_length_ = size;
    if (reg_mem) {
        tee_ioctl_shm_register_data data{};
        data.addr = reinterpret_cast<uint64_t>(view);
        data.length = size;
        auto registration = device_.shm_register(data);
        if (registration.ok()) {
            memory->registration_ = std::move(registration).value();
            memory->registered_id_ = data.id;
            return memory;
        }
        // The driver may refuse what it could take another day (Linux 7.3's FF-A sharing of a
        // memfd's scattered pages fails now and then with ENXIO: docs/real-optee.md). Zero copy
        // is an optimisation; memory the pool can give is shared by copying instead.
        if (size > ShmCache::kPoolMaxBytes) return std::move(registration).error();
        log_debug("registering a client's memory failed; sharing it by copying",
                  {{"TEED_ERROR", registration.error().message()}});
    }
    memory->device_ = std::make_unique<MappedShm>();
    TEED_TRY(memory->device_->allocate(device_, size));
    return memory;
}

Result<std::pair<std::unique_ptr<GpSharedMemory>, UniqueFd>> GpClient::allocate_memory(
    uint64_t size, uint32_t flags) {
    auto memory = std::make_unique<GpSharedMemory>(GpSharedMemory::Key{}, size, flags);
    memory->allocated_ = std::make_unique<MappedShm>();
    TEED_TRY(memory->allocated_->allocate(device_, size));
    UniqueFd client_fd(fcntl(memory->allocated_->fd(), F_DUPFD_CLOEXEC, 0));
    if (!client_fd.valid()) return ErrnoError() << "duplicating the shm fd";
    return std::make_pair(std::move(memory), std::move(client_fd));
}

}  // namespace teed
