#include "backends/sim/shm_table.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <limits>
#include <set>
#include <string>
#include <utility>

namespace teed::sim {
namespace {

struct Mapping {
    uintptr_t start = 0;
    uintptr_t end = 0;
    bool writable = false;
    unsigned dev_major = 0;
    unsigned dev_minor = 0;
    uint64_t inode = 0;
};

uint64_t page_size() {
    static const uint64_t size = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    return size;
}

Result<std::string> read_whole_file(const char* path) {
    UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError() << "open '" << path << "'";
    std::string text;
    char chunk[16384];
    for (;;) {
        ssize_t n = ::read(fd.get(), chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return ErrnoError() << "read '" << path << "'";
        if (n == 0) return text;
        text.append(chunk, static_cast<size_t>(n));
    }
}

// This process's mappings, in address order.
Result<std::vector<Mapping>> read_mappings() {
    std::string text = TEED_TRY(read_whole_file("/proc/self/maps"));
    std::vector<Mapping> maps;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t eol = text.find('\n', pos);
        if (eol == std::string::npos) eol = text.size();
        std::string line = text.substr(pos, eol - pos);
        pos = eol + 1;
        Mapping m;
        char perms[5] = {};
        unsigned long long offset = 0;
        unsigned long long inode = 0;
        uintmax_t start = 0;
        uintmax_t end = 0;
        if (std::sscanf(line.c_str(), "%jx-%jx %4s %llx %x:%x %llu", &start, &end, perms, &offset,
                        &m.dev_major, &m.dev_minor, &inode) != 7)
            continue;
        m.start = static_cast<uintptr_t>(start);
        m.end = static_cast<uintptr_t>(end);
        m.writable = perms[1] == 'w';
        m.inode = inode;
        maps.push_back(m);
    }
    return maps;
}

bool fd_names_inode(int fd, dev_t dev, ino_t ino) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return false;  // EBADF: closed
    return st.st_dev == dev && st.st_ino == ino;
}

struct Created {
    UniqueFd own;
    UniqueFd handed;
    dev_t dev = 0;
    ino_t ino = 0;
};

// A memfd of `size` bytes, and a second fd of it for the caller.
Result<Created> create_memfd(const char* name, uint64_t size) {
    Created out;
    out.own = UniqueFd(::memfd_create(name, MFD_CLOEXEC));
    if (!out.own.valid()) return ErrnoError() << "memfd_create";
    if (::ftruncate(out.own.get(), static_cast<off_t>(size)) != 0)
        return ErrnoError() << "ftruncate shm to " << size << " bytes";
    out.handed = UniqueFd(::fcntl(out.own.get(), F_DUPFD_CLOEXEC, 0));
    if (!out.handed.valid()) return ErrnoError() << "dup shm fd";
    struct stat st {};
    if (::fstat(out.own.get(), &st) != 0) return ErrnoError() << "fstat shm fd";
    out.dev = st.st_dev;
    out.ino = st.st_ino;
    return out;
}

// Two fds of one pipe: an inode of the registration's own for the liveness check, which
// mmap() refuses as tee_shm_fop_mmap() refuses registered memory (ENODEV here, EINVAL there).
Result<Created> create_pipe() {
    int fds[2] = {-1, -1};
    if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoError() << "pipe2";
    Created out;
    out.own = UniqueFd(fds[0]);
    out.handed = UniqueFd(fds[1]);
    struct stat st {};
    if (::fstat(out.own.get(), &st) != 0) return ErrnoError() << "fstat registration fd";
    out.dev = st.st_dev;
    out.ino = st.st_ino;
    return out;
}

}  // namespace

bool ShmPool::reserve(uint64_t bytes) {
    std::lock_guard lock(mutex_);
    if (bytes > capacity_ - used_) return false;
    used_ += bytes;
    return true;
}

void ShmPool::release(uint64_t bytes) {
    std::lock_guard lock(mutex_);
    used_ -= bytes;
}

uint64_t ShmPool::used() const {
    std::lock_guard lock(mutex_);
    return used_;
}

SharedMemory::~SharedMemory() {
    if (own_map_ != nullptr) ::munmap(own_map_, own_map_len_);
    if (pool_ && pool_bytes_ != 0) pool_->release(pool_bytes_);
}

ShmTable::ShmTable(uint64_t pool_bytes, uint64_t max_alloc_bytes)
    : pool_(std::make_shared<ShmPool>(pool_bytes)), max_alloc_bytes_(max_alloc_bytes) {}

ShmTable::~ShmTable() = default;

Result<NewShm> ShmTable::allocate(ContextId owner, uint64_t size) {
    // tee_shm_alloc_user_buf() does not check the size; the pools fail 0 pages with -ENOMEM
    // (alloc_pages() of get_order(0), gen_pool_alloc() of 0 bytes).
    if (size == 0) return ErrnoError(ENOMEM) << "shm of 0 bytes";
    const uint64_t page = page_size();
    if (size > std::numeric_limits<uint64_t>::max() - (page - 1) || size > max_alloc_bytes_)
        return ErrnoError(ENOMEM) << "shm of " << size
                                  << " bytes, more than the pool gives at once ("
                                  << max_alloc_bytes_ << ")";
    const uint64_t rounded = (size + page - 1) & ~(page - 1);

    sweep(owner);
    if (!pool_->reserve(rounded)) {
        sweep_all();  // dead shms of other contexts still hold pool bytes until swept
        if (!pool_->reserve(rounded))
            return ErrnoError(ENOMEM) << "shm pool cannot hold " << size << " more bytes";
    }
    auto shm = std::shared_ptr<SharedMemory>(new SharedMemory());
    shm->pool_ = pool_;
    shm->pool_bytes_ = rounded;  // from here on the destructor gives the bytes back

    Created files = TEED_TRY(create_memfd("teed-sim-shm", rounded));
    void* map = ::mmap(nullptr, rounded, PROT_READ | PROT_WRITE, MAP_SHARED, files.own.get(), 0);
    if (map == MAP_FAILED) return ErrnoError() << "mmap shm of " << rounded << " bytes";
    shm->own_map_ = map;
    shm->own_map_len_ = rounded;
    shm->data_ = static_cast<uint8_t*>(map);
    shm->size_ = rounded;
    shm->own_fd_ = std::move(files.own);
    shm->dev_ = files.dev;
    shm->ino_ = files.ino;
    return insert(owner, std::move(shm), std::move(files.handed));
}

Result<Pinned> ShmTable::pin(uint64_t addr, uint64_t length) const {
    uint64_t end = 0;
    if (__builtin_add_overflow(addr, length, &end)) return Pinned::None;  // access_ok()
    std::set<std::pair<uint64_t, uint64_t>> tee_shms;  // (dev, inode) of allocated shms
    {
        std::lock_guard lock(mutex_);
        for (const auto& [id, shm] : shms_)
            if (!shm->registered_) tee_shms.emplace(shm->dev_, shm->ino_);
    }
    std::vector<Mapping> maps = TEED_TRY(read_mappings());
    const uint64_t start = addr & ~(page_size() - 1);
    uint64_t cursor = start;
    for (const Mapping& m : maps) {
        if (cursor >= end) break;
        if (m.end <= cursor) continue;
        const bool tee_shm = tee_shms.count({makedev(m.dev_major, m.dev_minor), m.inode}) != 0;
        if (m.start > cursor || !m.writable || tee_shm) break;
        cursor = m.end;
    }
    if (cursor >= end) return Pinned::All;
    return cursor == start ? Pinned::None : Pinned::Some;
}

Result<NewShm> ShmTable::register_memory(ContextId owner, uint64_t addr, uint64_t length) {
    sweep(owner);
    auto shm = std::shared_ptr<SharedMemory>(new SharedMemory());
    Created files = TEED_TRY(create_pipe());
    shm->data_ = reinterpret_cast<uint8_t*>(static_cast<uintptr_t>(addr));
    shm->size_ = length;
    shm->registered_ = true;
    shm->own_fd_ = std::move(files.own);
    shm->dev_ = files.dev;
    shm->ino_ = files.ino;
    return insert(owner, std::move(shm), std::move(files.handed));
}

Result<NewShm> ShmTable::insert(ContextId owner, std::shared_ptr<SharedMemory> shm,
                                UniqueFd handed) {
    std::lock_guard lock(mutex_);
    // The kernel's idr_alloc(…, 1, 0) hands out the lowest free id.
    int32_t id = 1;
    for (const auto& [used, unused] : shms_) {
        if (used != id) break;
        if (id == std::numeric_limits<int32_t>::max()) return ErrnoError(ENOSPC) << "shm ids";
        ++id;
    }
    shm->id_ = id;
    shm->owner_ = owner;
    shm->handed_fd_ = handed.get();
    NewShm out{.id = id, .size = shm->size_, .fd = std::move(handed)};
    shms_.emplace(id, std::move(shm));
    return out;
}

std::shared_ptr<SharedMemory> ShmTable::find(ContextId owner, int32_t id) const {
    std::lock_guard lock(mutex_);
    auto it = shms_.find(id);
    if (it == shms_.end() || it->second->owner_ != owner) return nullptr;
    return it->second;
}

void ShmTable::sweep(ContextId owner) {
    sweep_if(/*all=*/false, owner);
}

void ShmTable::sweep_all() {
    sweep_if(/*all=*/true, 0);
}

void ShmTable::sweep_if(bool all, ContextId owner) {
    std::vector<std::shared_ptr<SharedMemory>> suspects;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [id, shm] : shms_)
            if (all || shm->owner_ == owner) suspects.push_back(shm);
    }
    // Checked without the lock: the files and maps are the caller's, not the table's.
    std::erase_if(suspects, [](const auto& shm) {
        return fd_names_inode(shm->handed_fd_, shm->dev_, shm->ino_);
    });
    if (suspects.empty()) return;
    auto maps = read_mappings();
    if (!maps.ok()) return;  // cannot tell: keep them, a later sweep retries
    std::erase_if(suspects, [&](const auto& shm) {
        const auto own_start = reinterpret_cast<uintptr_t>(shm->own_map_);
        for (const Mapping& m : *maps) {
            if (m.inode != shm->ino_ || makedev(m.dev_major, m.dev_minor) != shm->dev_) continue;
            if (m.start == own_start && m.end == own_start + shm->own_map_len_) continue;
            return true;  // the caller still maps it
        }
        return false;
    });
    std::vector<std::shared_ptr<SharedMemory>> dead;
    {
        std::lock_guard lock(mutex_);
        for (auto& shm : suspects) {
            auto it = shms_.find(shm->id_);
            // Held by the table and `suspects` only: nobody else can reach it while the lock
            // is held. Any further holder is a reference the kernel would count too.
            if (it != shms_.end() && it->second == shm && shm.use_count() == 2) {
                dead.push_back(std::move(it->second));
                shms_.erase(it);
            }
        }
    }
    // `dead` unmaps outside the lock when it goes out of scope, unless an ioctl still uses it.
}

size_t ShmTable::count(ContextId owner) const {
    std::lock_guard lock(mutex_);
    size_t n = 0;
    for (const auto& [id, shm] : shms_)
        if (shm->owner_ == owner) ++n;
    return n;
}

size_t ShmTable::count_all() const {
    std::lock_guard lock(mutex_);
    return shms_.size();
}

}  // namespace teed::sim
