#pragma once
// The simulated secure world: what OP-TEE OS does with the messages the driver sends it
// (OPTEE_MSG_CMD_OPEN_SESSION, INVOKE_COMMAND, CANCEL, CLOSE_SESSION). It owns the TA sessions,
// node-wide, and knows nothing of contexts: the driver layer (sim_device.cpp) checks which
// context may name which session, as the OP-TEE driver does.
//
// TAs run on the calling thread with no lock of the secure world held, only the session's own
// call lock: calls on one session run one at a time (OP-TEE serializes them), calls on
// different sessions run in parallel.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "backends/sim/trusted_app.h"
#include "common/uuid.h"

namespace teed::sim {

// One open-session or invoke in progress: its cancellation flag, as TEE_GetCancellationFlag()
// and TEE_Wait() see it. This per-call state is also where a channel for the TA's requests to
// a supplicant (RPCs, which block the calling thread the same way) would belong.
class Operation final : public CancelToken {
public:
    explicit Operation(uint32_t cancel_id) : cancel_id_(cancel_id) {}

    uint32_t cancel_id() const { return cancel_id_; }
    void request_cancel();
    bool cancelled() const override;
    bool wait_for(std::chrono::milliseconds duration) const override;

private:
    const uint32_t cancel_id_;
    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    bool cancelled_ = false;
};

// What the secure world answers: the TEEC result, its origin, and for a successful open the new
// session id.
struct SwResult {
    uint32_t ret = 0;
    uint32_t origin = 0;
    uint32_t session = 0;
};

class SupplicantRpc;

class SecureWorld {
public:
    // `apps` are the TAs built in; a UUID that is none of them is loaded from the normal world
    // through `supplicant` (the REE TA store, ree_ta_store.h), as OP-TEE does. Without a
    // supplicant device (null) there is no REE TA store: such a UUID is not found.
    SecureWorld(std::vector<std::unique_ptr<TrustedApp>> apps, SupplicantRpc* supplicant);
    ~SecureWorld();
    SecureWorld(const SecureWorld&) = delete;
    SecureWorld& operator=(const SecureWorld&) = delete;

    // `num_params` counts the parameters the driver passed; more than 4 is BAD_PARAMETERS from
    // the TEE, as OP-TEE's copy_in_params answers. `params` carries the first four and gets the
    // TA's outputs (unchanged when the TA is not reached or panics).
    SwResult open_session(const Uuid& ta, const TaClient& client, uint32_t num_params,
                          TaParams& params, Operation& op);
    SwResult invoke(uint32_t session, uint32_t command, uint32_t num_params, TaParams& params,
                    Operation& op);
    // Flags every operation in progress on `session` whose cancel id matches.
    void cancel(uint32_t session, uint32_t cancel_id);
    // The id stops resolving at once; the TA session is destroyed when the last call still
    // running in it returns.
    void close_session(uint32_t session);
    size_t session_count() const;

private:
    struct Session;
    std::shared_ptr<Session> find(uint32_t id) const;
    uint32_t allocate_id_locked();

    const std::vector<std::unique_ptr<TrustedApp>> apps_;
    SupplicantRpc* const supplicant_;
    mutable std::mutex mutex_;
    std::map<uint32_t, std::shared_ptr<Session>> sessions_;
    uint32_t next_id_ = 1;
};

}  // namespace teed::sim
