#pragma once
// The OP-TEE driver's supplicant queue (drivers/tee/optee/supp.c) for one simulated node: TAs'
// requests wait here until the process holding the supplicant device takes them with
// TEE_IOC_SUPPL_RECV and answers them with TEE_IOC_SUPPL_SEND.
//
// Kernel behaviour it reproduces (docs/simulator.md, "The supplicant device"):
//   - one supplicant context at a time; a second open of the device is EBUSY;
//   - RECV accepts only NONE params, the first optionally META; a leading META selects the
//     asynchronous mode (the reply's params[0] carries the request id), none the synchronous one
//     (one request outstanding); mixing them is EINVAL;
//   - RECV blocks until a request is queued and is interrupted by a signal (EINTR), as
//     wait_for_completion_interruptible() is;
//   - SEND needs a param (EINVAL), finds the request by id (ENOENT if unknown), needs the same
//     param count (EINVAL), and copies back values and memref sizes according to the request's
//     own param types, from the words the answer's types fill;
//   - closing the supplicant context completes every taken and queued request with
//     TEEC_ERROR_COMMUNICATION;
//   - the secure world's OPTEE_RPC_CMD_SHM_ALLOC takes only a buffer of the supplicant's own
//     context that the driver flavour can pass (driver_flavour.h), else the TA is answered
//     TEEC_ERROR_OUT_OF_MEMORY.

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "backends/kernel/tee_uapi.h"
#include "backends/sim/driver_flavour.h"
#include "backends/sim/rpc.h"
#include "backends/sim/shm_table.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace teed::sim {

class SupplicantQueue final : public SupplicantRpc {
public:
    // `has_device`: whether the node has a supplicant device at all; without one every RPC fails
    // at once with TEEC_ERROR_COMMUNICATION (there is nobody who could ever answer).
    // `transport`: how the driver hands the supplicant's buffers to the secure world.
    SupplicantQueue(ShmTable& shms, bool has_device, ShmTransport transport);
    ~SupplicantQueue() override;
    SupplicantQueue(const SupplicantQueue&) = delete;
    SupplicantQueue& operator=(const SupplicantQueue&) = delete;

    // What TAs use (SupplicantRpc).
    uint32_t call(uint32_t command, std::span<RpcParam> params) override;
    std::unique_ptr<RpcSharedBuffer> allocate(size_t size, uint32_t& ret_code) override;
    void free(int32_t shm_id) override;

    // What the supplicant device's contexts use.
    Result<void> attach(ContextId context);  // EBUSY while another context holds the device
    void detach(ContextId context);          // optee_supp_release()
    Result<void> receive(const tee_ioctl_buf_data& buf);
    Result<void> send(const tee_ioctl_buf_data& buf);

    // Requests queued or taken and not yet answered.
    size_t pending() const;

private:
    struct Request;
    std::shared_ptr<Request> pop_for(uint32_t room, bool asynchronous, uint32_t& ret_id,
                                     Result<void>& ret_error);
    void wake_one_receiver();
    Result<void> wait_for_request();
    // tee_shm_get_from_id() on the supplicant's context, as optee_rpc_cmd_alloc_suppl() does.
    std::shared_ptr<SharedMemory> supplicant_shm(uint64_t id) const;

    ShmTable& shms_;
    const bool has_device_;
    const ShmTransport transport_;
    UniqueFd wakeups_;  // an eventfd counting queued requests (the kernel's reqs_c completion)

    mutable std::mutex mutex_;
    std::optional<ContextId> supplicant_;                  // guarded by mutex_
    std::vector<std::shared_ptr<Request>> queue_;          // guarded by mutex_: not yet received
    std::map<uint32_t, std::shared_ptr<Request>> taken_;   // guarded by mutex_: received, by id
    std::optional<uint32_t> synchronous_id_;               // guarded by mutex_: supp->req_id
};

}  // namespace teed::sim
