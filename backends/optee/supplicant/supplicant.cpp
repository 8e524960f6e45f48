#include "backends/optee/supplicant/supplicant.h"

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <mutex>

#include "backends/kernel/gp.h"
#include "backends/optee/supplicant/rpc_protocol.h"
#include "common/log.h"

namespace teed::supplicant {
namespace {

// Requests received and waiting for a worker. The secure world's thread count bounds how many
// can be outstanding; this cap holds even if that bound were broken: beyond it the receiver stops
// taking requests and they wait in the kernel.
constexpr size_t kMaxQueuedRequests = 256;

// The signal that interrupts the receiver's SUPPL_RECV at shutdown. Its handler does nothing; it
// is installed without SA_RESTART so that the ioctl returns EINTR.
constexpr int kInterruptSignal = SIGUSR2;

void install_interrupt_handler() {
    static std::once_flag installed;
    std::call_once(installed, [] {
        struct sigaction action {};
        action.sa_handler = [](int) {};
        sigemptyset(&action.sa_mask);
        action.sa_flags = 0;
        sigaction(kInterruptSignal, &action, nullptr);
    });
}

void unblock_interrupt_signal() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, kInterruptSignal);
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

bool is_memory_command(uint32_t command) {
    return command == kCmdShmAlloc || command == kCmdShmFree;
}

}  // namespace

Result<std::unique_ptr<Supplicant>> Supplicant::start(std::unique_ptr<Device> device,
                                                      Services services,
                                                      const SupplicantOptions& options) {
    auto version = TEED_TRY(device->version());
    if (version.impl_id != TEE_IMPL_ID_OPTEE)
        return Error(ErrorKind::NotSupported) << options.device_path << " is not an OP-TEE device";
    if ((version.gen_caps & TEE_GEN_CAP_PRIVILEGED) == 0)
        return Error(ErrorKind::InvalidArgument) << options.device_path << " is not a supplicant device";
    install_interrupt_handler();
    const RpcShmSource shm_source = rpc_shm_source_for(version);
    log_debug("supplicant: the secure world's buffers are served by " +
                  std::string(shm_source == RpcShmSource::Register ? "registering memory"
                                                                   : "allocating from the pool"),
              {{"TEED_DEVICE", options.device_path}});
    return std::make_unique<Supplicant>(StartKey{}, std::move(device), std::move(services), options,
                                        shm_source);
}

Supplicant::Supplicant(StartKey, std::unique_ptr<Device> device, Services services,
                       const SupplicantOptions& options, RpcShmSource shm_source)
    : device_(std::move(device)),
      services_(std::move(services)),
      options_(options),
      memory_(*device_, options.shm_bytes, shm_source) {
    const uint32_t workers = options.workers == 0 ? 1 : options.workers;
    for (uint32_t i = 0; i < workers; ++i) workers_.emplace_back([this] { worker_loop(); });
    receiver_running_ = true;
    receiver_ = std::jthread([this] { receive_loop(); });
}

Supplicant::~Supplicant() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    work_changed_.notify_all();
    interrupt_receiver();
    receiver_.join();
    // A request waiting on the network would hold its worker (and this stop) for its whole
    // timeout; such waits end now, answered with an error.
    for (const auto& [command, service] : services_) service->cancel_waits();
    // Workers serve what was received before they see the stop: every request the secure world
    // handed to teed gets its answer.
    for (auto& worker : workers_) worker.join();
    if (size_t held = memory_.count(); held != 0) {
        log_debug("supplicant stopping with shared memory held by the secure world",
                  {{"TEED_DEVICE", options_.device_path}, {"TEED_SHM_COUNT", std::to_string(held)}});
    }
}

void Supplicant::interrupt_receiver() {
    // The receiver may be just about to enter SUPPL_RECV when the first signal lands; repeating
    // it until the thread has left makes the stop certain.
    while (receiver_running_.load()) {
        pthread_kill(receiver_.native_handle(), kInterruptSignal);
        std::unique_lock lock(mutex_);
        work_changed_.wait_for(lock, std::chrono::milliseconds(10),
                               [this] { return !receiver_running_.load(); });
    }
}

void Supplicant::receive_loop() {
    unblock_interrupt_signal();
    RpcBuffer buffer;
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            work_changed_.wait(lock, [this] { return stopping_ || work_.size() < kMaxQueuedRequests; });
            if (stopping_) break;
        }
        if (!receive_one(buffer)) {
            // A persistent failure must not spin: wait a little (or for the stop).
            std::unique_lock lock(mutex_);
            work_changed_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_; });
        }
    }
    receiver_running_ = false;
    work_changed_.notify_all();
}

bool Supplicant::receive_one(RpcBuffer& buffer) {
    buffer.prepare_receive();
    auto received = device_->supp_recv(buffer.ioctl_arg(kRecvBufferBytes));
    if (!received.ok()) {
        if (received.error().sys_errno() == EINTR) return true;  // the stop, or a stray signal
        if (warnings_.admit() >= 0) {
            log_warning("supplicant: receiving a request failed",
                        {{"TEED_DEVICE", options_.device_path},
                         {"TEED_ERROR", received.error().message()}});
        }
        return false;
    }
    auto decoded = decode_request(buffer.received(), memory_);
    if (!decoded.ok()) {
        // Without a valid meta param there is no id to answer under.
        if (warnings_.admit() >= 0) {
            log_warning("supplicant: malformed request from the kernel, not answerable",
                        {{"TEED_DEVICE", options_.device_path},
                         {"TEED_ERROR", decoded.error().message()}});
        }
        return true;
    }
    RpcRequest& request = decoded->request;
    count(request.command, +1, false, false);
    if (decoded->param_error) {
        answer(request, RpcOutcome::refuse(gp::kErrorBadParameters,
                                           decoded->param_error->message()));
        return true;
    }
    if (is_memory_command(request.command)) {
        RpcOutcome outcome = serve_memory(request);
        answer(request, outcome);
        return true;
    }
    dispatch(std::move(request));
    return true;
}

void Supplicant::dispatch(RpcRequest request) {
    {
        std::lock_guard lock(mutex_);
        work_.push_back(std::move(request));
    }
    work_changed_.notify_all();
}

void Supplicant::worker_loop() {
    for (;;) {
        RpcRequest request;
        {
            std::unique_lock lock(mutex_);
            work_changed_.wait(lock, [this] {
                return !work_.empty() || (stopping_ && !receiver_running_.load());
            });
            if (work_.empty()) return;  // stopped, and nothing more can arrive
            request = std::move(work_.front());
            work_.pop_front();
        }
        work_changed_.notify_all();  // the receiver may be waiting for room
        RpcOutcome outcome = serve(request);
        answer(request, outcome);
    }
}

RpcOutcome Supplicant::serve(RpcRequest& request) {
    auto service = services_.find(request.command);
    if (service == services_.end()) {
        return RpcOutcome::refuse(gp::kErrorNotSupported,
                                  "no service for command " + std::to_string(request.command));
    }
    try {
        return service->second->serve(request);
    } catch (const std::exception& e) {
        // A service bug must cost one request, not the supplicant.
        return RpcOutcome::fail(gp::kErrorGeneric, std::string("service failed: ") + e.what());
    } catch (...) {
        return RpcOutcome::fail(gp::kErrorGeneric, "service failed with an unknown exception");
    }
}

RpcOutcome Supplicant::serve_memory(RpcRequest& request) {
    if (auto types = request.expect_types({TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT}); !types.ok())
        return RpcOutcome::refuse(gp::kErrorBadParameters, types.error().message());
    RpcParam& param = request.params[0];
    if (param.a != kShmTypeAppl) {
        return RpcOutcome::refuse(gp::kErrorBadParameters,
                                  "shared memory of type " + std::to_string(param.a) +
                                      " is the kernel's to serve");
    }
    if (request.command == kCmdShmAlloc) {
        auto id = memory_.allocate(param.b);
        if (!id.ok()) {
            return RpcOutcome::refuse(id.error().kind() == ErrorKind::InvalidArgument
                                          ? gp::kErrorBadParameters
                                          : gp::kErrorOutOfMemory,
                                      id.error().message());
        }
        param.c = static_cast<uint64_t>(*id);
        return RpcOutcome::success();
    }
    if (param.b > INT32_MAX)
        return RpcOutcome::refuse(gp::kErrorBadParameters, "shm id " + std::to_string(param.b));
    auto freed = memory_.free(static_cast<int32_t>(param.b));
    if (!freed.ok()) return RpcOutcome::refuse(gp::kErrorBadParameters, freed.error().message());
    return RpcOutcome::success();
}

void Supplicant::answer(RpcRequest& request, const RpcOutcome& outcome) {
    const bool success = outcome.code == gp::kSuccess;
    const bool noteworthy = !success || !outcome.reason.empty();
    if (noteworthy && (outcome.level == LogLevel::Debug ? log_level() >= LogLevel::Debug
                                                        : warnings_.admit() >= 0)) {
        log_message(outcome.level,
                    success ? "supplicant: request served with a note"
                            : "supplicant: request answered with an error",
                    {{"TEED_DEVICE", options_.device_path},
                     {"TEED_RPC_COMMAND", std::string(command_name(request.command))},
                     {"TEED_TEEC_RESULT", gp::result_name(outcome.code)},
                     {"TEED_REASON", outcome.reason}});
    }
    // Counted before the answer leaves: whoever sees the answer (the TA, then its client) also
    // sees it in the counters. A failed send moves it from served to failed.
    count(request.command, -1, success, !success);
    RpcBuffer reply;
    size_t length = encode_reply(request, outcome.code, reply.bytes());
    auto sent = device_->supp_send(reply.ioctl_arg(length));
    if (!sent.ok()) {
        ++send_failures_;
        recount_as_failed(request.command, success);
        if (warnings_.admit() >= 0) {
            log_warning("supplicant: the answer could not be delivered; the requester is gone or "
                        "the kernel refused it",
                        {{"TEED_DEVICE", options_.device_path},
                         {"TEED_RPC_COMMAND", std::string(command_name(request.command))},
                         {"TEED_ERROR", sent.error().message()}});
        }
    }
}

void Supplicant::recount_as_failed(uint32_t command, bool counted_as_served) {
    std::lock_guard lock(mutex_);
    CommandCounters& counters = counters_[command];
    if (counted_as_served) {
        --counters.served;
        ++counters.failed;
    }
}

void Supplicant::count(uint32_t command, int64_t in_flight_delta, bool served, bool failed) {
    std::lock_guard lock(mutex_);
    CommandCounters& counters = counters_[command];
    counters.in_flight = static_cast<uint64_t>(static_cast<int64_t>(counters.in_flight) + in_flight_delta);
    if (served) ++counters.served;
    if (failed) ++counters.failed;
}

std::map<uint32_t, CommandCounters> Supplicant::counters() const {
    std::lock_guard lock(mutex_);
    return counters_;
}

}  // namespace teed::supplicant
