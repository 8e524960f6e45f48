#pragma once
// teed's OP-TEE supplicant for one supplicant device (/dev/teeprivN or a simulated one): it
// receives the secure world's requests with TEE_IOC_SUPPL_RECV in asynchronous mode, serves them
// and answers with TEE_IOC_SUPPL_SEND (docs/supplicant.md).
//
//   std::map<uint32_t, std::shared_ptr<RpcService>> services{{kCmdFs, ree_fs}, ...};
//   auto supplicant = TEED_TRY(Supplicant::start(std::move(context), services, {.workers = 4}));
//   ... supplicant->counters() ...
//   supplicant.reset();   // answers what it has received, then closes the device
//
// Threads: one receiver, always back in RECV as soon as it has handed a request on, and a fixed
// number of workers that serve requests. Memory requests (SHM_ALLOC/SHM_FREE) are served by the
// receiver itself: they never wait behind slow file or network requests, so a secure-world
// thread that needs a buffer to make progress always gets one. When every worker is busy the
// receiver stops taking requests and they wait in the kernel's queue, which the secure world's
// thread count bounds: nothing queues without bound in teed.
//
// A failed SEND (the requesting client was killed meanwhile, or the kernel refused the answer) is
// logged and counted for that request only; the supplicant keeps serving.

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backends/kernel/device.h"
#include "backends/optee/supplicant/rpc_memory.h"
#include "backends/optee/supplicant/rpc_request.h"
#include "backends/optee/supplicant/rpc_service.h"
#include "common/log_rate_limit.h"

namespace teed::supplicant {

struct SupplicantOptions {
    std::string device_path;     // for logs: "/dev/teepriv0", "sim:simteepriv0"
    uint32_t workers = 4;        // requests served at once (at least 1)
    uint64_t shm_bytes = 64ull << 20;  // cap on the buffers the secure world may hold
};

// Per command: answered with success, answered with an error (or the answer failed), and
// received but not yet answered.
struct CommandCounters {
    uint64_t served = 0;
    uint64_t failed = 0;
    uint64_t in_flight = 0;
};

class Supplicant {
public:
    using Services = std::map<uint32_t, std::shared_ptr<RpcService>>;

    // Takes the supplicant device's context and starts serving. Commands without a service are
    // answered TEEC_ERROR_NOT_SUPPORTED, as tee-supplicant answers them.
    static Result<std::unique_ptr<Supplicant>> start(std::unique_ptr<Device> device,
                                                     Services services,
                                                     const SupplicantOptions& options);
    // Stops receiving, answers every request already received, then closes the device (the
    // kernel fails what is still queued with TEEC_ERROR_COMMUNICATION).
    ~Supplicant();
    Supplicant(const Supplicant&) = delete;
    Supplicant& operator=(const Supplicant&) = delete;

    // Counters by command number, for every command seen so far.
    std::map<uint32_t, CommandCounters> counters() const;
    uint64_t send_failures() const { return send_failures_.load(); }
    uint64_t shm_bytes() const { return memory_.bytes_in_use(); }
    size_t shm_count() const { return memory_.count(); }
    RpcShmSource shm_source() const { return memory_.source(); }
    const SupplicantOptions& options() const { return options_; }

    // For start() only (make_unique needs a public constructor; the key keeps it start()'s).
    class StartKey {
        friend class Supplicant;
        StartKey() = default;
    };
    Supplicant(StartKey, std::unique_ptr<Device> device, Services services,
               const SupplicantOptions& options, RpcShmSource shm_source);

private:

    void receive_loop();
    void worker_loop();
    bool receive_one(RpcBuffer& buffer);
    void dispatch(RpcRequest request);
    RpcOutcome serve(RpcRequest& request);
    RpcOutcome serve_memory(RpcRequest& request);
    void answer(RpcRequest& request, const RpcOutcome& outcome);
    void count(uint32_t command, int64_t in_flight_delta, bool served, bool failed);
    void recount_as_failed(uint32_t command, bool counted_as_served);
    void interrupt_receiver();

    const std::unique_ptr<Device> device_;
    const Services services_;
    const SupplicantOptions options_;
    RpcMemory memory_;

    mutable std::mutex mutex_;
    std::condition_variable work_changed_;
    std::deque<RpcRequest> work_;                        // guarded by mutex_
    bool stopping_ = false;                              // guarded by mutex_
    std::map<uint32_t, CommandCounters> counters_;       // guarded by mutex_
    std::atomic<uint64_t> send_failures_{0};
    std::atomic<bool> receiver_running_{false};
    LogRateLimit warnings_{20, std::chrono::seconds(10)};

    // Declared last: the threads are joined (by the destructor, after it has told them to stop)
    // before anything they use is destroyed.
    std::vector<std::jthread> workers_;
    std::jthread receiver_;
};

}  // namespace teed::supplicant
