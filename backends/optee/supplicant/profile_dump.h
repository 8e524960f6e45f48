#pragma once
// Profiling dumps of Trusted Applications: gprof data (OPTEE_RPC_CMD_GPROF) and function traces
// (OPTEE_RPC_CMD_FTRACE) that a TA built with CFG_TA_GPROF_SUPPORT or CFG_FTRACE_SUPPORT sends
// when it ends. tee-supplicant writes them to /tmp; teed writes them beneath one directory per
// device, bounded in total size (docs/supplicant.md, section profiling-dumps).
//
//   auto dumps = TEED_TRY(ProfileDumps::open({.directory = "/var/lib/teed/dumps/teepriv0"}));
//   services[kCmdGprof] = dumps;   // one instance for both: they share the bound
//   services[kCmdFtrace] = dumps;
//
// Request (params after the meta param):
//   [0] VALUE_INOUT  a: file id; 0 = start a new dump, answered with its id; 1-100 = append
//   [1] MEMREF_INPUT the TA's UUID as a TEEC_UUID struct (16 bytes, fields in machine order)
//   [2] MEMREF_INPUT the data
// Files: gmon-<uuid>.out for id 1, gmon-<uuid>.<id-1>.out for the others (ftrace-<uuid>... for
// FTRACE), as tee-supplicant names them. The UUID is formatted by teed; nothing the secure world
// sends becomes part of a path otherwise. New files are created O_EXCL, mode 0600.
//
// Answers:
//   wrong types, a UUID not 16 bytes, no data buffer, id > 100   TEEC_ERROR_BAD_PARAMETERS
//   append to an id whose file does not exist                      TEEC_ERROR_ITEM_NOT_FOUND
//   past max_bytes, all 100 names taken, ENOSPC, EDQUOT           TEEC_ERROR_STORAGE_NO_SPACE
//   any other failure                                              TEEC_ERROR_GENERIC
//
// Thread-safe: requests are served one at a time (dumps are rare and small next to the lock).

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "backends/optee/supplicant/rpc_service.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace teed::supplicant {

struct ProfileDumpOptions {
    // This device's dump directory, e.g. /var/lib/teed/dumps/teepriv0; created 0700 (with
    // missing parents) when absent.
    std::string directory;
    // The most bytes the directory's files may hold together, those of earlier runs included.
    uint64_t max_bytes = 64ull << 20;
};

class ProfileDumps final : public RpcService {
public:
    // Creates the directory when missing, opens it and counts the bytes already in it.
    // InvalidArgument for an empty or relative directory, the errno's kind otherwise.
    static Result<std::unique_ptr<ProfileDumps>> open(const ProfileDumpOptions& options);
    // For the factory only: make_unique needs a public constructor, the key keeps it private.
    class Key {
        friend class ProfileDumps;
        Key() = default;
    };
    ProfileDumps(Key, ProfileDumpOptions options, UniqueFd directory, uint64_t used)
        : options_(std::move(options)), directory_(std::move(directory)), used_(used) {}

    // Serves kCmdGprof and kCmdFtrace; other commands are refused with BAD_PARAMETERS.
    RpcOutcome serve(RpcRequest& request) override;

    uint64_t bytes_used() const;
    const std::string& directory() const { return options_.directory; }

private:

    RpcOutcome write_dump(const std::string& prefix, RpcRequest& request);

    const ProfileDumpOptions options_;
    const UniqueFd directory_;
    mutable std::mutex mutex_;
    uint64_t used_ = 0;  // guarded by mutex_
};

}  // namespace teed::supplicant
