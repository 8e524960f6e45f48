#pragma once
// A GlobalPlatform session a client opened, and the device context it lives in.
//
// Threads: the bookkeeping methods (calls in flight, closing) run on the loop thread only; the
// TEE operations (invoke, cancel, close_in_tee) run on workers.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "backends/optee/gp_client.h"
#include "daemon/device_registry.h"

namespace teed {

// One client's context on one device: the equivalent of that client opening /dev/teeN itself.
// Opened lazily on a worker (open() may block); destroying it closes the context in the TEE.
class DeviceContext {
public:
    explicit DeviceContext(const PublishedDevice& device);
    ~DeviceContext();
    DeviceContext(const DeviceContext&) = delete;
    DeviceContext& operator=(const DeviceContext&) = delete;

    const DeviceDescription& description() const { return device_.description; }
    // Opens the context on first use. Safe from several workers at once.
    Result<GpClient*> gp_client();

    static size_t live_count() { return live_count_; }

private:
    const PublishedDevice& device_;
    std::mutex mutex_;
    std::unique_ptr<Device> context_;
    std::unique_ptr<GpClient> gp_;
    static inline std::atomic<size_t> live_count_{0};
};

class Session {
public:
    Session(std::string id, std::string owner, std::shared_ptr<DeviceContext> context,
            uint32_t tee_session, Uuid uuid, uint32_t login);

    const std::string& id() const { return id_; }
    const std::string& owner() const { return owner_; }
    const std::string& device_name() const { return context_->description().name; }
    const Uuid& uuid() const { return uuid_; }
    uint32_t login() const { return login_; }

    // Loop thread.
    void begin_call(uint32_t cancel_id);
    void end_call(uint32_t cancel_id);
    bool has_call_with_cancel_id(uint32_t cancel_id) const;
    // One cancellation at a time per cancel id: repeated requests while one runs add nothing.
    bool cancelling(uint32_t cancel_id) const { return cancelling_.count(cancel_id) != 0; }
    void set_cancelling(uint32_t cancel_id, bool on);
    bool idle() const { return calls_by_cancel_id_.empty(); }
    bool closing() const { return closing_; }
    // Runs the closing hooks once (a session channel closes itself in one).
    void mark_closing();
    // Runs `hook` when the session starts closing, or at once if it already has.
    void on_closing(std::function<void()> hook);

    // Workers.
    Result<GpReply> invoke(uint32_t command, const GpParams& params, uint32_t cancel_id);
    // Cancels the calls under `cancel_id`: one that has not reached the TEE yet is answered
    // TEEC_ERROR_CANCEL (origin API) without being sent; for calls in the TEE the cancellation is
    // sent, and sent again for up to a second while they stay there, because one that reaches
    // the TEE a moment before its call does is lost (as with libteec on OP-TEE).
    Result<void> cancel(uint32_t cancel_id);
    // Closes the session in the TEE once; later calls do nothing.
    Result<void> close_in_tee();

    static size_t live_count() { return live_count_; }
    ~Session();

private:
    std::string id_;
    std::string owner_;
    std::shared_ptr<DeviceContext> context_;
    uint32_t tee_session_;
    Uuid uuid_;
    uint32_t login_;
    std::map<uint32_t, uint32_t> calls_by_cancel_id_;
    bool closing_ = false;
    std::vector<std::function<void()>> closing_hooks_;
    std::set<uint32_t> cancelling_;
    // Shared with workers: per cancel id, calls accepted but not yet in the TEE, calls in the
    // TEE, and how many of the waiting ones were cancelled before they got there.
    std::mutex cancel_mutex_;
    std::condition_variable left_tee_;
    std::map<uint32_t, uint32_t> waiting_by_cancel_id_;
    std::map<uint32_t, uint32_t> in_tee_by_cancel_id_;
    std::map<uint32_t, uint32_t> cancelled_before_start_;
    std::atomic<bool> closed_in_tee_{false};
    static inline std::atomic<size_t> live_count_{0};
};

// 128 random bits as 32 hex digits: session ids must not be guessable.
std::string random_object_id();

}  // namespace teed
