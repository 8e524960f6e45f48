#include "backends/optee/supplicant/profile_dump.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "backends/kernel/tee_uapi.h"
#include "backends/optee/supplicant/rpc_protocol.h"
#include "backends/optee/supplicant/teec_uuid.h"

namespace teed::supplicant {
namespace {

constexpr mode_t kFileMode = 0600;
constexpr mode_t kDirMode = 0700;
// tee-supplicant's range of file ids: 1 names the file without a number, n the file ".n-1".
constexpr uint64_t kMaxFileId = 100;

struct DirCloser {
    void operator()(DIR* dir) const { ::closedir(dir); }
};

Result<void> make_directories(const std::string& path) {
    for (size_t slash = path.find('/', 1); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
        std::string prefix = path.substr(0, slash);
        if (::mkdir(prefix.c_str(), kDirMode) != 0 && errno != EEXIST)
            return ErrnoError() << "create '" << prefix << "'";
    }
    if (::mkdir(path.c_str(), kDirMode) != 0 && errno != EEXIST)
        return ErrnoError() << "create '" << path << "'";
    return {};
}

// The bytes the regular files directly in `dir_fd` hold.
Result<uint64_t> bytes_in(int dir_fd) {
    UniqueFd listing(::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0));
    if (!listing.valid()) return ErrnoError() << "dup the dump directory";
    std::unique_ptr<DIR, DirCloser> dir(::fdopendir(listing.get()));
    if (!dir) return ErrnoError() << "read the dump directory";
    (void)listing.release();  // the DIR owns it now
    uint64_t total = 0;
    errno = 0;
    while (const dirent* entry = ::readdir(dir.get())) {
        struct stat st {};
        if (::fstatat(dir_fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            total += static_cast<uint64_t>(st.st_size);
        errno = 0;
    }
    if (errno != 0) return ErrnoError() << "read the dump directory";
    return total;
}

std::string file_name(const std::string& prefix, const Uuid& uuid, uint64_t id) {
    std::string name = prefix + uuid.to_string();
    if (id > 1) name += "." + std::to_string(id - 1);
    return name + ".out";
}

uint32_t code_for_errno(int err) {
    return err == ENOSPC || err == EDQUOT || err == EFBIG ? gp::kErrorStorageNoSpace
                                                          : gp::kErrorGeneric;
}

Result<void> write_all(int fd, std::span<const uint8_t> bytes, uint64_t& ret_written) {
    while (!bytes.empty()) {
        ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return ErrnoError() << "write";
        ret_written += static_cast<uint64_t>(n);
        bytes = bytes.subspan(static_cast<size_t>(n));
    }
    return {};
}

}  // namespace

Result<std::unique_ptr<ProfileDumps>> ProfileDumps::open(const ProfileDumpOptions& options) {
    if (options.directory.empty() || options.directory[0] != '/')
        return Error(ErrorKind::InvalidArgument)
               << "the dump directory '" << options.directory << "' is not an absolute path";
    TEED_TRY(make_directories(options.directory));
    UniqueFd dir(::open(options.directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid()) return ErrnoError() << "open '" << options.directory << "'";
    uint64_t used = TEED_TRY(bytes_in(dir.get()));
    return std::make_unique<ProfileDumps>(Key{}, options, std::move(dir), used);
}

uint64_t ProfileDumps::bytes_used() const {
    std::lock_guard lock(mutex_);
    return used_;
}

RpcOutcome ProfileDumps::serve(RpcRequest& request) {
    if (request.command == kCmdGprof) return write_dump("gmon-", request);
    if (request.command == kCmdFtrace) return write_dump("ftrace-", request);
    return RpcOutcome::refuse(gp::kErrorBadParameters,
                              "profiling dumps: command " + std::to_string(request.command));
}

RpcOutcome ProfileDumps::write_dump(const std::string& prefix, RpcRequest& request) {
    const std::string what = prefix == "gmon-" ? "gprof dump: " : "ftrace dump: ";
    if (auto typed = request.expect_types({kValueInout, kMemrefIn, kMemrefIn}); !typed)
        return RpcOutcome::refuse(gp::kErrorBadParameters, what + typed.error().message());
    RpcParam& id_param = request.params[0];
    const RpcParam& uuid_param = request.params[1];
    const RpcParam& data = request.params[2];
    if (!uuid_param.has_buffer() || uuid_param.memory.size() != sizeof(TEEC_UUID))
        return RpcOutcome::refuse(gp::kErrorBadParameters,
                                  what + "the TA UUID must be " +
                                      std::to_string(sizeof(TEEC_UUID)) + " bytes");
    if (!data.has_buffer())
        return RpcOutcome::refuse(gp::kErrorBadParameters, what + "no data buffer");
    const uint64_t id = id_param.a;
    if (id > kMaxFileId)
        return RpcOutcome::refuse(gp::kErrorBadParameters,
                                  what + "file id " + std::to_string(id) + " is above " +
                                      std::to_string(kMaxFileId));
    TEEC_UUID raw{};
    std::memcpy(&raw, uuid_param.memory.data(), sizeof(raw));  // once: the memory is shared
    const Uuid uuid = uuid_of(raw);
    const uint64_t size = data.memory.size();

    std::lock_guard lock(mutex_);
    if (size > options_.max_bytes || used_ > options_.max_bytes - size)
        return RpcOutcome::refuse(
            gp::kErrorStorageNoSpace,
            what + std::to_string(size) + " bytes would pass the bound of " +
                std::to_string(options_.max_bytes) + " bytes for '" + options_.directory +
                "' (" + std::to_string(used_) + " used); remove old dumps");

    UniqueFd file;
    int open_errno = 0;
    uint64_t file_id = id;
    if (id == 0) {
        for (file_id = 1; file_id <= kMaxFileId; ++file_id) {
            file.reset(::openat(directory_.get(), file_name(prefix, uuid, file_id).c_str(),
                                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, kFileMode));
            open_errno = errno;
            if (file.valid() || open_errno != EEXIST) break;
        }
        if (file_id > kMaxFileId)
            return RpcOutcome::refuse(gp::kErrorStorageNoSpace,
                                      what + "all " + std::to_string(kMaxFileId) + " files of " +
                                          uuid.to_string() + " exist in '" + options_.directory +
                                          "'; remove old dumps");
    } else {
        file.reset(::openat(directory_.get(), file_name(prefix, uuid, id).c_str(),
                            O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
        open_errno = errno;
        if (!file.valid() && open_errno == ENOENT)
            return RpcOutcome::answer(gp::kErrorItemNotFound,
                                      what + file_name(prefix, uuid, id) + " does not exist");
    }
    const std::string name = file_name(prefix, uuid, file_id);
    if (!file.valid())
        return RpcOutcome::fail(code_for_errno(open_errno),
                                what + "open " + name + ": " + std::strerror(open_errno));
    struct stat st {};
    if (::fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode))
        return RpcOutcome::refuse(gp::kErrorGeneric, what + name + " is not a regular file");

    uint64_t written = 0;
    auto wrote = write_all(file.get(), data.memory.bytes(), written);
    used_ += written;
    if (!wrote)
        return RpcOutcome::fail(code_for_errno(wrote.error().sys_errno()),
                                what + name + ": " + wrote.error().message());
    id_param.a = file_id;
    return RpcOutcome::success();
}

}  // namespace teed::supplicant
