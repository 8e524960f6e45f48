#include "backends/optee/supplicant/ree_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "backends/kernel/tee_uapi.h"
#include "backends/optee/supplicant/rpc_protocol.h"

namespace teed::supplicant {
namespace {

constexpr mode_t kFileMode = 0600;
constexpr mode_t kDirMode = 0700;
// openat2 gives EAGAIN when a concurrent rename keeps it from proving that a `..` (of a link's
// target) stayed beneath the root; a few retries ride out such a race, a sustained one fails.
constexpr int kResolveAttempts = 8;

constexpr std::array<std::string_view, 11> kOpNames{"open",    "create",   "close",  "read",
                                                    "write",   "truncate", "remove", "rename",
                                                    "opendir", "closedir", "readdir"};

std::string op_name(uint64_t opcode) {
    if (opcode < kOpNames.size()) return std::string(kOpNames[opcode]);
    return "opcode " + std::to_string(opcode);
}

// Runs `f` when the scope ends.
template <typename F>
class Defer {
public:
    explicit Defer(F f) : f_(std::move(f)) {}
    ~Defer() { f_(); }
    Defer(const Defer&) = delete;
    Defer& operator=(const Defer&) = delete;

private:
    F f_;
};

// A name for reasons: quoted, with bytes that could forge a log line escaped, and bounded.
std::string quoted(std::string_view text) {
    constexpr size_t kShown = 120;
    std::string out = "'";
    for (size_t i = 0; i < text.size() && i < kShown; ++i) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (byte >= 0x20 && byte < 0x7f && byte != '\'' && byte != '\\') {
            out += static_cast<char>(byte);
        } else {
            std::array<char, 5> escaped{};
            std::snprintf(escaped.data(), escaped.size(), "\\x%02x", byte);
            out += escaped.data();
        }
    }
    if (text.size() > kShown) out += "...";
    return out + "'";
}

// A name of the secure world, checked: canonical components beneath the root.
struct StorageName {
    std::string text;                     // as received, for reasons
    std::vector<std::string> components;  // at least one; none empty, "." or ".."

    // The first `count` components as a path relative to the root ("." for none).
    std::string prefix(size_t count) const {
        if (count == 0) return ".";
        std::string path = components[0];
        for (size_t i = 1; i < count; ++i) path += "/" + components[i];
        return path;
    }
    std::string path() const { return prefix(components.size()); }
    std::string parent() const { return prefix(components.size() - 1); }
    const std::string& last() const { return components.back(); }
};

// OP-TEE names its files from the root ("/dirf.db", "/<ta uuid>/<object>"), tee-supplicant
// appends them to its directory; a leading '/' therefore names the root, never the host's.
Result<StorageName> parse_name(std::string text) {
    if (text.size() >= PATH_MAX) {
        return Error(ErrorKind::InvalidArgument)
               << "name of " << text.size() << " bytes exceeds PATH_MAX (" << PATH_MAX << ")";
    }
    StorageName name{.text = text, .components = {}};
    std::string_view rest = text;
    if (rest.starts_with('/')) rest.remove_prefix(1);
    if (rest.empty()) return Error(ErrorKind::InvalidArgument) << "empty name " << quoted(text);
    while (true) {
        const size_t slash = rest.find('/');
        const std::string_view component = rest.substr(0, slash);
        if (component.empty() || component == "." || component == "..") {
            return Error(ErrorKind::InvalidArgument)
                   << "name " << quoted(text) << " has "
                   << (component.empty() ? "an empty" : "a '" + std::string(component) + "'")
                   << " component";
        }
        if (component.size() > NAME_MAX) {
            return Error(ErrorKind::InvalidArgument)
                   << "name " << quoted(text) << " has a component of " << component.size()
                   << " bytes, more than NAME_MAX (" << NAME_MAX << ")";
        }
        name.components.emplace_back(component);
        if (slash == std::string_view::npos) break;
        rest.remove_prefix(slash + 1);
    }
    return name;
}

Result<StorageName> name_param(const RpcRequest& request, size_t index) {
    return parse_name(TEED_TRY(request.string_param(index)));
}

// openat2 confined to `dirfd`: neither `..` nor a link (absolute ones included) may leave it, and
// /proc's magic links are not followed.
Result<UniqueFd> open_beneath(int dirfd, const std::string& path, uint64_t flags,
                              const StorageName& name, mode_t mode = 0) {
    open_how how{};
    how.flags = flags | O_CLOEXEC | O_NOCTTY;
    how.mode = (flags & O_CREAT) != 0 ? mode : 0;  // openat2 refuses a mode it would not use
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    for (int attempt = 1;; ++attempt) {
        const long fd = ::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof(how));
        if (fd >= 0) return UniqueFd(static_cast<int>(fd));
        if (errno == EINTR || (errno == EAGAIN && attempt < kResolveAttempts)) continue;
        break;
    }
    if (errno == EXDEV || errno == ELOOP) {
        return Error(ErrorKind::AccessDenied)
               << quoted(name.text) << " resolves through a link leaving the storage directory"
               << " (or a loop of links): refusing to follow it";
    }
    if (path == name.path()) return ErrnoError() << "opening " << quoted(name.text);
    return ErrnoError() << "opening directory " << quoted(path) << " of " << quoted(name.text);
}

Result<void> sync_fd(int fd, const StorageName& name, std::string_view what) {
    if (::fsync(fd) != 0) return ErrnoError() << "syncing " << what << " of " << quoted(name.text);
    return {};
}

Result<void> sync_data(int fd, const StorageName* name) {
    if (::fdatasync(fd) != 0) {
        return ErrnoError() << "syncing " << (name ? quoted(name->text) : std::string("the file"));
    }
    return {};
}

const char* file_type_name(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

// Storage holds regular files only: a FIFO, device or directory planted there is not opened as
// one (O_NONBLOCK kept the open of a FIFO from waiting for a writer).
Result<void> expect_regular_file(UniqueFd& fd, const StorageName& name) {
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return ErrnoError() << "inspecting " << quoted(name.text);
    if (!S_ISREG(st.st_mode)) {
        return Error(ErrorKind::NotSupported)
               << quoted(name.text) << " is " << file_type_name(st.st_mode) << ", not a file";
    }
    const int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0)
        return ErrnoError() << "setting flags of " << quoted(name.text);
    return {};
}

// The directory holding `name`'s last component.
Result<UniqueFd> open_parent(int root, const StorageName& name) {
    return open_beneath(root, name.parent(), O_RDONLY | O_DIRECTORY, name);
}

// The directory holding `name`'s last component, creating the missing ones (0700) from the root
// down and syncing each directory that gained an entry.
Result<UniqueFd> make_parent(int root, const StorageName& name) {
    auto existing = open_parent(root, name);
    if (existing.ok() || existing.error().sys_errno() != ENOENT) return existing;
    UniqueFd dir = TEED_TRY(open_beneath(root, ".", O_RDONLY | O_DIRECTORY, name));
    for (size_t i = 0; i + 1 < name.components.size(); ++i) {
        const std::string& component = name.components[i];
        if (::mkdirat(dir.get(), component.c_str(), kDirMode) == 0) {
            TEED_TRY(sync_fd(dir.get(), name, "the directory of a new one"));
        } else if (errno != EEXIST) {
            return ErrnoError() << "creating directory " << quoted(component) << " for "
                                << quoted(name.text);
        }
        dir = TEED_TRY(open_beneath(dir.get(), component, O_RDONLY | O_DIRECTORY, name));
    }
    return dir;
}

Result<UniqueFd> create_file(int root, const StorageName& name) {
    UniqueFd parent = TEED_TRY(make_parent(root, name));
    UniqueFd fd = TEED_TRY(open_beneath(parent.get(), name.last(),
                                        O_RDWR | O_CREAT | O_TRUNC | O_NONBLOCK, name, kFileMode));
    TEED_TRY(expect_regular_file(fd, name));
    TEED_TRY(sync_data(fd.get(), &name));  // the truncation of a file that existed
    TEED_TRY(sync_fd(parent.get(), name, "the directory"));
    return fd;
}

// Read-write, or read-only where the file or its file system does not allow writing (the
// secure world then only reads it).
Result<UniqueFd> open_file_rw(int root, const StorageName& name) {
    auto fd = open_beneath(root, name.path(), O_RDWR | O_NONBLOCK, name);
    const int err = fd.ok() ? 0 : fd.error().sys_errno();
    if (err == EROFS || err == EACCES)
        fd = open_beneath(root, name.path(), O_RDONLY | O_NONBLOCK, name);
    if (fd.ok()) TEED_TRY(expect_regular_file(*fd, name));
    return fd;
}

// Removes the directories of `name` that its removal left empty, deepest first, never the root.
// Best effort: a directory left behind is harmless (OPENDIR reports it as not found).
void prune_empty_parents(int root, const StorageName& name) {
    for (size_t depth = name.components.size() - 1; depth > 0; --depth) {
        auto parent = open_beneath(root, name.prefix(depth - 1), O_RDONLY | O_DIRECTORY, name);
        if (!parent.ok()) return;
        const std::string& dir = name.components[depth - 1];
        if (::unlinkat(parent->get(), dir.c_str(), AT_REMOVEDIR) != 0) return;  // not empty
        if (!sync_fd(parent->get(), name, "the directory of an emptied one").ok()) {
            log_debug("fs: could not sync after removing an emptied directory, ignoring",
                      {{"TEED_FS_NAME", name.text}});
            return;
        }
    }
}

bool same_inode(int a, int b) {
    struct stat sa {};
    struct stat sb {};
    return ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

// renameat2 with RENAME_NOREPLACE unless `overwrite`. File systems without RENAME_NOREPLACE
// (EINVAL: NFS, some FUSE) get a check before the rename, which the caller's lock on the tree
// keeps from racing other requests.
Result<void> rename_entry(int old_dir, const std::string& old_last, int new_dir,
                          const std::string& new_last, bool overwrite) {
    const unsigned flags = overwrite ? 0 : RENAME_NOREPLACE;
    if (::renameat2(old_dir, old_last.c_str(), new_dir, new_last.c_str(), flags) == 0) return {};
    if (errno != EINVAL || overwrite) return ErrnoError();
    struct stat st {};
    if (::fstatat(new_dir, new_last.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
        return ErrnoError(EEXIST);
    if (::renameat(old_dir, old_last.c_str(), new_dir, new_last.c_str()) != 0) return ErrnoError();
    return {};
}

// A file offset from the secure world: the range [offset, offset + size) must be addressable.
Result<off_t> file_offset(uint64_t offset, uint64_t size) {
    constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<off_t>::max());
    if (offset > kMax || size > kMax - offset) {
        return Error(ErrorKind::InvalidArgument)
               << "range of " << size << " bytes at offset " << offset << " exceeds a file";
    }
    return static_cast<off_t>(offset);
}

Result<size_t> read_at(int fd, std::span<uint8_t> bytes, off_t offset) {
    size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::pread(fd, bytes.data() + done, bytes.size() - done,
                                  offset + static_cast<off_t>(done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return ErrnoError() << "reading " << bytes.size() << " bytes at " << offset;
        }
        if (n == 0) break;  // end of file: the bytes read so far are the answer
        done += static_cast<size_t>(n);
    }
    return done;
}

Result<void> write_at(int fd, std::span<const uint8_t> bytes, off_t offset) {
    size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done,
                                   offset + static_cast<off_t>(done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return ErrnoError() << "writing " << bytes.size() << " bytes at " << offset << " ("
                                << done << " written)";
        }
        // A write that makes no progress would loop forever; the file cannot take more.
        if (n == 0) return ErrnoError(ENOSPC) << "writing at " << offset + static_cast<off_t>(done);
        done += static_cast<size_t>(n);
    }
    return {};
}

// The answer for an error of an operation: what the secure world acts on.
RpcOutcome outcome_for(const Error& error) {
    const std::string reason = error.message();
    switch (error.sys_errno()) {
        case 0:
            break;
        case ENOENT:
            return RpcOutcome::answer(gp::kErrorItemNotFound, reason);
        case EEXIST:
            return RpcOutcome::answer(gp::kErrorAccessConflict, reason);
        case ENOSPC:
        case EDQUOT:
        case EFBIG:  // RLIMIT_FSIZE, or the file system's own maximum
            return RpcOutcome::fail(gp::kErrorStorageNoSpace, reason);
        case EMFILE:
        case ENFILE:
        case ENOMEM:
            return RpcOutcome::fail(gp::kErrorOutOfMemory, reason);
        default:
            return RpcOutcome::fail(gp::kErrorGeneric, reason);
    }
    switch (error.kind()) {
        case ErrorKind::InvalidArgument:
            return RpcOutcome::refuse(gp::kErrorBadParameters, reason);
        case ErrorKind::AccessDenied:
            return RpcOutcome::refuse(gp::kErrorAccessDenied, reason);
        case ErrorKind::LimitExceeded:
            return RpcOutcome::refuse(gp::kErrorOutOfMemory, reason);
        case ErrorKind::DeviceUnavailable:
            return RpcOutcome::fail(gp::kErrorStorageNotAvailable, reason);
        default:
            return RpcOutcome::fail(gp::kErrorGeneric, reason);
    }
}

Error not_open(uint64_t number, bool dir) {
    return Error(ErrorKind::InvalidArgument)
           << (dir ? "directory" : "file") << " handle " << number << " is not open";
}

struct DirCloser {
    void operator()(DIR* dir) const { ::closedir(dir); }
};
using DirStream = std::unique_ptr<DIR, DirCloser>;

// The next name of `dir` the secure world sees, or none at its end. Names starting with '.' are
// skipped as tee-supplicant skips them: "." and "..", and the .nfsXXXX stand-ins NFS keeps for
// removed files still open, which must not make an emptied directory look used (xtest 6009/6010).
Result<std::optional<std::string>> next_name(DIR* dir) {
    while (true) {
        errno = 0;
        const dirent* entry = ::readdir(dir);
        if (entry == nullptr) {
            if (errno != 0) return ErrnoError() << "reading a directory";
            return std::optional<std::string>();
        }
        if (entry->d_name[0] != '.') return std::optional<std::string>(entry->d_name);
    }
}

// The directory tree the secure world's names start from, created 0700 with missing parents.
Result<void> make_directories(const std::string& path) {
    for (size_t slash = path.find('/', 1); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
        const std::string prefix = path.substr(0, slash);
        if (::mkdir(prefix.c_str(), kDirMode) != 0 && errno != EEXIST)
            return ErrnoError() << "creating '" << prefix << "'";
    }
    if (::mkdir(path.c_str(), kDirMode) != 0 && errno != EEXIST)
        return ErrnoError() << "creating storage directory '" << path << "'";
    return {};
}

}  // namespace

// One handle of the secure world: a file, or a directory being listed.
struct ReeFs::Handle {
    explicit Handle(UniqueFd file) : fd(std::move(file)) {}
    explicit Handle(DirStream stream) : dir(std::move(stream)) {}
    bool is_dir() const { return dir != nullptr; }

    UniqueFd fd;
    DirStream dir;
    std::mutex dir_mutex;  // one stream reads one entry at a time
    // The entry a READDIR buffer was too short for, handed out by the next READDIR.
    std::optional<std::string> pending;  // guarded by dir_mutex
};

ReeFs::ReeFs(Key, ReeFsOptions options, UniqueFd root)
    : options_(std::move(options)), root_(std::make_shared<const UniqueFd>(std::move(root))) {}

ReeFs::~ReeFs() = default;

Result<std::unique_ptr<ReeFs>> ReeFs::open(const ReeFsOptions& options) {
    if (!options.root.starts_with('/')) {
        return Error(ErrorKind::InvalidArgument)
               << "storage directory '" << options.root << "' is not an absolute path";
    }
    TEED_TRY(make_directories(options.root));
    UniqueFd root(::open(options.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root.valid()) return ErrnoError() << "opening storage directory '" << options.root << "'";
    // Confinement rests on openat2 (Linux 5.6): without it no name could be served safely.
    open_how how{
        .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC, .mode = 0, .resolve = RESOLVE_BENEATH};
    UniqueFd probe(static_cast<int>(::syscall(SYS_openat2, root.get(), ".", &how, sizeof(how))));
    if (!probe.valid())
        return ErrnoError() << "openat2(RESOLVE_BENEATH), needed to confine storage";
    return std::make_unique<ReeFs>(Key{}, options, std::move(root));
}

size_t ReeFs::open_files() const {
    std::lock_guard lock(mutex_);
    return files_;
}

size_t ReeFs::open_dirs() const {
    std::lock_guard lock(mutex_);
    return dirs_;
}

RpcOutcome ReeFs::serve(RpcRequest& request) {
    if (request.command != kCmdFs) {
        return RpcOutcome::refuse(gp::kErrorBadParameters,
                                  "command " + std::to_string(request.command) + " is not fs");
    }
    if (request.params.empty() || request.params[0].type != kValueIn) {
        return RpcOutcome::refuse(gp::kErrorBadParameters,
                                  "request without its opcode (a value input as param 0)");
    }
    const uint64_t opcode = request.params[0].a;
    auto result = dispatch(opcode, request);
    RpcOutcome outcome = result.ok() ? std::move(result).value() : outcome_for(result.error());
    if (outcome.code != gp::kSuccess) outcome.reason = op_name(opcode) + ": " + outcome.reason;
    return outcome;
}

Result<RpcOutcome> ReeFs::dispatch(uint64_t opcode, RpcRequest& request) {
    // Releasing a handle needs no storage; everything else does.
    if (opcode == kFsClose) return close_handle(request, /*dir=*/false);
    if (opcode == kFsClosedir) return close_handle(request, /*dir=*/true);
    switch (opcode) {
        case kFsOpen:
            return open_file(request, /*create=*/false);
        case kFsCreate:
            return open_file(request, /*create=*/true);
        case kFsRead:
            return read(request);
        case kFsWrite:
            return write(request);
        case kFsTruncate:
            return truncate(request);
        case kFsRemove:
            return remove(request);
        case kFsRename:
            return rename(request);
        case kFsOpendir:
            return open_dir(request);
        case kFsReaddir:
            return read_dir(request);
        default:
            return Error(ErrorKind::InvalidArgument) << "unknown file system opcode";
    }
}

Result<std::shared_ptr<const UniqueFd>> ReeFs::storage_root() {
    std::lock_guard lock(mutex_);
    struct stat st {};
    if (::fstat(root_->get(), &st) == 0 && st.st_nlink > 0) return root_;
    // Removed under teed: a directory put back at the path (restored, or created anew) serves.
    UniqueFd reopened(::open(options_.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!reopened.valid()) {
        return Error(ErrorKind::DeviceUnavailable)
               << "storage directory '" << options_.root << "' was removed ("
               << std::strerror(errno)
               << "); create it (mode 0700, owned by teed) to make storage available again";
    }
    root_ = std::make_shared<const UniqueFd>(std::move(reopened));
    return root_;
}

Result<void> ReeFs::reserve(bool dir) {
    std::lock_guard lock(mutex_);
    size_t& count = dir ? dirs_ : files_;
    const size_t limit = dir ? options_.max_open_dirs : options_.max_open_files;
    if (count >= limit) {
        return Error(ErrorKind::LimitExceeded)
               << count << " " << (dir ? "directories" : "files") << " open, the most allowed ("
               << (dir ? "max_open_dirs" : "max_open_files") << "=" << limit << ")";
    }
    ++count;
    return {};
}

void ReeFs::unreserve(bool dir) {
    std::lock_guard lock(mutex_);
    --(dir ? dirs_ : files_);
}

uint32_t ReeFs::insert(std::shared_ptr<Handle> handle) {
    std::lock_guard lock(mutex_);
    // The smallest number not in use, from 1: as small as tee-supplicant's, and never a number a
    // file descriptor would have meant to anyone.
    uint32_t number = 1;
    for (const auto& [used, unused] : handles_) {
        if (used != number) break;
        ++number;
    }
    handles_.emplace(number, std::move(handle));
    return number;
}

ReeFs::HandleTable::const_iterator ReeFs::find_locked(uint64_t number, bool dir) const {
    if (number > UINT32_MAX) return handles_.end();
    auto it = handles_.find(static_cast<uint32_t>(number));
    return it != handles_.end() && it->second->is_dir() == dir ? it : handles_.end();
}

Result<std::shared_ptr<ReeFs::Handle>> ReeFs::find(uint64_t number, bool dir) const {
    std::lock_guard lock(mutex_);
    auto it = find_locked(number, dir);
    if (it == handles_.end()) return not_open(number, dir);
    return it->second;
}

Result<std::shared_ptr<ReeFs::Handle>> ReeFs::take(uint64_t number, bool dir) {
    std::lock_guard lock(mutex_);
    auto it = find_locked(number, dir);
    if (it == handles_.end()) return not_open(number, dir);
    std::shared_ptr<Handle> handle = it->second;
    handles_.erase(it);
    --(dir ? dirs_ : files_);
    return handle;
}

Result<RpcOutcome> ReeFs::open_file(RpcRequest& request, bool create) {
    TEED_TRY(request.expect_types({kValueIn, kMemrefIn, kValueOut}));
    const StorageName name = TEED_TRY(name_param(request, 1));
    auto root = TEED_TRY(storage_root());
    // The slot is taken before the file is touched: past the limit, CREATE truncates nothing.
    TEED_TRY(reserve(/*dir=*/false));
    bool kept = false;
    Defer release([&] {
        if (!kept) unreserve(/*dir=*/false);
    });
    UniqueFd fd;
    if (create) {
        std::lock_guard tree(tree_mutex_);
        fd = TEED_TRY(create_file(root->get(), name));
    } else {
        fd = TEED_TRY(open_file_rw(root->get(), name));
    }
    request.params[2].a = insert(std::make_shared<Handle>(std::move(fd)));
    kept = true;
    return RpcOutcome::success();
}

Result<RpcOutcome> ReeFs::close_handle(RpcRequest& request, bool dir) {
    TEED_TRY(request.expect_types({kValueIn}));
    // The descriptor closes with the last user: here, or when a READ still using it returns.
    TEED_TRY(take(request.params[0].b, dir));
    return RpcOutcome::success();
}

Result<RpcOutcome> ReeFs::read(RpcRequest& request) {
    TEED_TRY(request.expect_types({kValueIn, kMemrefOut}));
    std::shared_ptr<Handle> file = TEED_TRY(find(request.params[0].b, /*dir=*/false));
    RpcParam& out = request.params[1];
    if (!out.has_buffer()) return Error(ErrorKind::InvalidArgument) << "no buffer to read into";
    const off_t offset = TEED_TRY(file_offset(request.params[0].c, out.memory.size()));
    TEED_TRY(storage_root());
    out.b = TEED_TRY(read_at(file->fd.get(), out.memory.bytes(), offset));
    return RpcOutcome::success();
}

Result<RpcOutcome> ReeFs::write(RpcRequest& request) {
    TEED_TRY(request.expect_types({kValueIn, kMemrefIn}));
    std::shared_ptr<Handle> file = TEED_TRY(find(request.params[0].b, /*dir=*/false));
    const RpcParam& in = request.params[1];
    if (!in.has_buffer()) return Error(ErrorKind::InvalidArgument) << "no buffer to write from";
    const off_t offset = TEED_TRY(file_offset(request.params[0].c, in.memory.size()));
    TEED_TRY(storage_root());
    TEED_TRY(write_at(file->fd.get(), in.memory.bytes(), offset));
    TEED_TRY(sync_data(file->fd.get(), nullptr));  // answered means stored
    return RpcOutcome::success();
}

Result<RpcOutcome> ReeFs::truncate(RpcRequest& request) {
    TEED_TRY(request.expect_types({kValueIn}));
    std::shared_ptr<Handle> file = TEED_TRY(find(request.params[0].b, /*dir=*/false));
    const off_t length = TEED_TRY(file_offset(request.params[0].c, 0));
    TEED_TRY(storage_root());
    while (::ftruncate(file->fd.get(), length) != 0) {
        if (errno != EINTR) return ErrnoError() << "truncating to " << length << " bytes";
    }
    TEED_TRY(sync_data(file->fd.get(), nullptr));
    return RpcOutcome::success();
}

Result<RpcOutcome> ReeFs::remove(RpcRequest& request) {
    TEED_TRY(request.expect_types({kValueIn, kMemrefIn}));
    const StorageName name = TEED_TRY(name_param(request, 1));
    auto root = TEED_TRY(storage_root());
    std::lock_guard tree(tree_mutex_);
    UniqueFd parent = TEED_TRY(open_parent(root->get(), name));
    if (::unlinkat(parent.get(), name.last().c_str(), 0) != 0)
        return ErrnoError() << "removing " << quoted(name.text);
    TEED_TRY(sync_fd(parent.get(), name, "the directory"));
    prune_empty_parents(root->get(), name);
    return RpcOutcome::success();
}

Result<RpcOutcome> ReeFs::rename(RpcRequest& request) {
    TEED_TRY(request.expect_types({kValueIn, kMemrefIn, kMemrefIn}));
    const bool overwrite = request.params[0].b != 0;
    const StorageName from = TEED_TRY(name_param(request, 1));
    const StorageName to = TEED_TRY(name_param(request, 2));
    auto root = TEED_TRY(storage_root());
    std::lock_guard tree(tree_mutex_);
    UniqueFd from_dir = TEED_TRY(open_parent(root->get(), from));
    UniqueFd to_dir = TEED_TRY(open_parent(root->get(), to));
    auto renamed = rename_entry(from_dir.get(), from.last(), to_dir.get(), to.last(), overwrite);
    if (!renamed.ok()) {
        return std::move(renamed).error()
               << "renaming " << quoted(from.text) << " to " << quoted(to.text)
               << (overwrite ? "" : " (no overwrite)");
    }
    TEED_TRY(sync_fd(to_dir.get(), to, "the directory"));
    if (!same_inode(from_dir.get(), to_dir.get()))
        TEED_TRY(sync_fd(from_dir.get(), from, "the directory"));
    return RpcOutcome::success();
}

Result<RpcOutcome> ReeFs::open_dir(RpcRequest& request) {
    TEED_TRY(request.expect_types({kValueIn, kMemrefIn, kValueOut}));
    const StorageName name = TEED_TRY(name_param(request, 1));
    auto root = TEED_TRY(storage_root());
    TEED_TRY(reserve(/*dir=*/true));
    bool kept = false;
    Defer release([&] {
        if (!kept) unreserve(/*dir=*/true);
    });
    UniqueFd fd = TEED_TRY(open_beneath(root->get(), name.path(), O_RDONLY | O_DIRECTORY, name));
    DirStream stream(::fdopendir(fd.get()));
    if (!stream) return ErrnoError() << "listing " << quoted(name.text);
    static_cast<void>(fd.release());  // the stream owns it now
    auto handle = std::make_shared<Handle>(std::move(stream));
    // OP-TEE takes a directory without entries for one that does not exist (an enumeration of a
    // TA's objects finds none); the first entry is kept for the first READDIR.
    handle->pending = TEED_TRY(next_name(handle->dir.get()));
    if (!handle->pending)
        return RpcOutcome::answer(gp::kErrorItemNotFound, quoted(name.text) + " is empty");
    request.params[2].a = insert(std::move(handle));
    kept = true;
    return RpcOutcome::success();
}

Result<RpcOutcome> ReeFs::read_dir(RpcRequest& request) {
    TEED_TRY(request.expect_types({kValueIn, kMemrefOut}));
    std::shared_ptr<Handle> dir = TEED_TRY(find(request.params[0].b, /*dir=*/true));
    TEED_TRY(storage_root());
    std::lock_guard lock(dir->dir_mutex);
    if (!dir->pending) dir->pending = TEED_TRY(next_name(dir->dir.get()));
    if (!dir->pending) return RpcOutcome::answer(gp::kErrorItemNotFound, "end of the directory");
    RpcParam& out = request.params[1];
    const std::string& name = *dir->pending;
    out.b = name.size() + 1;  // with its NUL: what a short buffer must grow to
    if (!out.has_buffer() || out.memory.size() < name.size() + 1) {
        return RpcOutcome::answer(gp::kErrorShortBuffer,
                                  "a name of " + std::to_string(name.size() + 1) +
                                      " bytes does not fit " +
                                      std::to_string(out.has_buffer() ? out.memory.size() : 0));
    }
    std::memcpy(out.memory.data(), name.c_str(), name.size() + 1);
    dir->pending.reset();
    return RpcOutcome::success();
}

}  // namespace teed::supplicant
