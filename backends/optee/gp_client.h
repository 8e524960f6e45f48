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

// Idle mapped shms of one context, for the next call's temporary memrefs.
class ShmCache {
public:
    ShmCache();
    ~ShmCache();
    // A mapped shm of at least `size` bytes: an idle one, or a new one from `device`.
    Result<std::unique_ptr<MappedShm>> take(Device& device, uint64_t size);
    void give_back(std::unique_ptr<MappedShm> shm);

private:
    std::mutex mutex_;
    std::vector<std::unique_ptr<MappedShm>> idle_;
};

class GpClient {
public:
    GpClient(Device& device, bool memref_null) : device_(device), memref_null_(memref_null) {}

    Result<GpOpenReply> open_session(const GpOpenRequest& request);
    Result<GpReply> invoke(uint32_t session_id, uint32_t command, uint32_t cancel_id,
                           const GpParams& params);
    Result<void> cancel(uint32_t session_id, uint32_t cancel_id);
    Result<void> close_session(uint32_t session_id);

private:
    Device& device_;
    bool memref_null_;
    ShmCache shm_cache_;
};

}  // namespace teed
