#pragma once
// The REE file system (OPTEE_RPC_CMD_FS): the secure world's storage kept as files in the normal
// world, beneath one directory per device. OP-TEE encrypts and authenticates what it stores; teed
// keeps it confined, durable and bounded.
//
//   auto fs = TEED_TRY(ReeFs::open({.root = "/var/lib/teed/storage/teepriv0"}));
//   RpcOutcome outcome = fs->serve(request);   // request.command == kCmdFs
//
// Names from the secure world ("/dirf.db", "/<ta uuid>/<object>") are relative to the root:
// a leading '/' names the root itself, as tee-supplicant reads them. Every name is resolved with
// openat2(RESOLVE_BENEATH), so neither `..` nor a link on disk reaches outside the root.
// The secure world holds teed's own handles, never file descriptors.
//
// Answers (see docs/supplicant.md, section ree-fs):
//   malformed request, name or handle          TEEC_ERROR_BAD_PARAMETERS (refused)
//   a name resolving through a link outside    TEEC_ERROR_ACCESS_DENIED (refused)
//   past max_open_files/max_open_dirs, EMFILE  TEEC_ERROR_OUT_OF_MEMORY
//   ENOENT, end of or empty directory          TEEC_ERROR_ITEM_NOT_FOUND
//   RENAME onto an existing name, no overwrite TEEC_ERROR_ACCESS_CONFLICT
//   READDIR buffer too short                   TEEC_ERROR_SHORT_BUFFER (size needed in b)
//   ENOSPC, EDQUOT, EFBIG                      TEEC_ERROR_STORAGE_NO_SPACE
//   root directory removed                     TEEC_ERROR_STORAGE_NOT_AVAILABLE
//   any other errno, a non-regular file        TEEC_ERROR_GENERIC (reason carries strerror)
//
// Durability: an answered WRITE, TRUNCATE or CREATE is on stable storage, and so are the
// directory entries CREATE, REMOVE and RENAME changed.
//
// Thread-safe: serve() may run on several workers at once.

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "backends/optee/supplicant/rpc_service.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace teed::supplicant {

struct ReeFsOptions {
    // This device's storage directory, e.g. /var/lib/teed/storage/teepriv0; created 0700 (with
    // missing parents) when absent.
    std::string root;
    // Handles the secure world may hold at once; past them OPEN/CREATE/OPENDIR answer
    // TEEC_ERROR_OUT_OF_MEMORY (a code GlobalPlatform lets a TA receive from an object open).
    size_t max_open_files = 512;
    size_t max_open_dirs = 64;
};

class ReeFs final : public RpcService {
public:
    // Creates the root when missing and opens it. InvalidArgument for an empty or relative root,
    // NotSupported when the kernel has no openat2 (Linux 5.6), the errno's kind when the root
    // cannot be created or opened.
    static Result<std::unique_ptr<ReeFs>> open(const ReeFsOptions& options);
    // For the factory only: make_unique needs a public constructor, the key keeps it private.
    class Key {
        friend class ReeFs;
        Key() = default;
    };
    ReeFs(Key, ReeFsOptions options, UniqueFd root);
    ~ReeFs() override;
    ReeFs(const ReeFs&) = delete;
    ReeFs& operator=(const ReeFs&) = delete;

    RpcOutcome serve(RpcRequest& request) override;

    size_t open_files() const;
    size_t open_dirs() const;
    const std::string& root() const { return options_.root; }

private:
    struct Handle;
    using HandleTable = std::map<uint32_t, std::shared_ptr<Handle>>;


    Result<RpcOutcome> dispatch(uint64_t opcode, RpcRequest& request);
    Result<RpcOutcome> open_file(RpcRequest& request, bool create);
    Result<RpcOutcome> close_handle(RpcRequest& request, bool dir);
    Result<RpcOutcome> read(RpcRequest& request);
    Result<RpcOutcome> write(RpcRequest& request);
    Result<RpcOutcome> truncate(RpcRequest& request);
    Result<RpcOutcome> remove(RpcRequest& request);
    Result<RpcOutcome> rename(RpcRequest& request);
    Result<RpcOutcome> open_dir(RpcRequest& request);
    Result<RpcOutcome> read_dir(RpcRequest& request);

    // The root, reopened by path when the one held was removed (so that a restored directory is
    // picked up); DeviceUnavailable when it is gone.
    Result<std::shared_ptr<const UniqueFd>> storage_root();
    // Counts a handle of that kind before it is opened; LimitExceeded past the option's limit.
    Result<void> reserve(bool dir);
    void unreserve(bool dir);
    // Numbers a handle whose slot reserve() took.
    uint32_t insert(std::shared_ptr<Handle> handle);
    // InvalidArgument for a handle teed did not give out, or of the other kind.
    Result<std::shared_ptr<Handle>> find(uint64_t number, bool dir) const;
    // As find(), and removes it from the table.
    Result<std::shared_ptr<Handle>> take(uint64_t number, bool dir);
    HandleTable::const_iterator find_locked(uint64_t number, bool dir) const;

    const ReeFsOptions options_;
    // Serializes changes to the directory tree: a REMOVE pruning a directory it emptied must not
    // race a CREATE putting a file into it.
    std::mutex tree_mutex_;
    mutable std::mutex mutex_;
    std::shared_ptr<const UniqueFd> root_;  // guarded by mutex_
    HandleTable handles_;                   // guarded by mutex_
    size_t files_ = 0;                      // guarded by mutex_
    size_t dirs_ = 0;                       // guarded by mutex_
};

}  // namespace teed::supplicant
