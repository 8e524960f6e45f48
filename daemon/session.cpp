#include "daemon/session.h"

#include <sys/random.h>

#include <array>

#include "backends/kernel/gp.h"
#include "common/log.h"

namespace teed {

DeviceContext::DeviceContext(const PublishedDevice& device) : device_(device) { ++live_count_; }

DeviceContext::~DeviceContext() { --live_count_; }

Result<GpClient*> DeviceContext::gp_client() {
    std::lock_guard lock(mutex_);
    if (!gp_) {
        auto context = device_.node->open();
        if (!context.ok())
            return Error(ErrorKind::DeviceUnavailable)
                   << "cannot open device '" << description().name << "': " << context.error().message();
        context_ = std::move(context).value();
        const bool reg_mem = (description().version.gen_caps & TEE_GEN_CAP_REG_MEM) != 0;
        gp_ = std::make_unique<GpClient>(*context_, description().supports_memref_null(), reg_mem);
    }
    return gp_.get();
}

Session::Session(std::string id, std::string owner, std::shared_ptr<DeviceContext> context,
                 uint32_t tee_session, Uuid uuid, uint32_t login)
    : id_(std::move(id)),
      owner_(std::move(owner)),
      context_(std::move(context)),
      tee_session_(tee_session),
      uuid_(uuid),
      login_(login) {
    ++live_count_;
}

void Session::mark_closing() {
    if (closing_) return;
    closing_ = true;
    auto hooks = std::move(closing_hooks_);
    for (auto& hook : hooks) hook();
}

void Session::on_closing(std::function<void()> hook) {
    if (closing_) return hook();
    closing_hooks_.push_back(std::move(hook));
}

Session::~Session() {
    if (!closed_in_tee_) {
        // Only reached if a session is dropped without its close job; the context's close will
        // still close it in the TEE.
        log_debug("session dropped before closing", {{"TEED_SESSION", id_}});
    }
    --live_count_;
}

void Session::begin_call(uint32_t cancel_id) {
    ++calls_by_cancel_id_[cancel_id];
    std::lock_guard lock(cancel_mutex_);
    ++waiting_by_cancel_id_[cancel_id];
}

void Session::end_call(uint32_t cancel_id) {
    auto it = calls_by_cancel_id_.find(cancel_id);
    if (it == calls_by_cancel_id_.end()) return;
    if (--it->second == 0) calls_by_cancel_id_.erase(it);
}

void Session::set_cancelling(uint32_t cancel_id, bool on) {
    if (on)
        cancelling_.insert(cancel_id);
    else
        cancelling_.erase(cancel_id);
}

bool Session::has_call_with_cancel_id(uint32_t cancel_id) const {
    return calls_by_cancel_id_.count(cancel_id) != 0;
}

namespace {

// The parameters of a call that never reached the TEE: nothing was written.
GpParams without_data(GpParams params) {
    for (auto& p : params) p.data.clear();
    return params;
}

}  // namespace

Result<GpReply> Session::invoke(uint32_t command, const GpParams& params, uint32_t cancel_id) {
    GpClient* gp = TEED_TRY(context_->gp_client());
    {
        std::lock_guard lock(cancel_mutex_);
        if (--waiting_by_cancel_id_[cancel_id] == 0) waiting_by_cancel_id_.erase(cancel_id);
        auto cancelled = cancelled_before_start_.find(cancel_id);
        if (cancelled != cancelled_before_start_.end()) {
            if (--cancelled->second == 0) cancelled_before_start_.erase(cancelled);
            return GpReply{gp::kOriginApi, gp::kErrorCancel, without_data(params)};
        }
        ++in_tee_by_cancel_id_[cancel_id];
    }
    auto reply = gp->invoke(tee_session_, command, cancel_id, params);
    {
        std::lock_guard lock(cancel_mutex_);
        if (--in_tee_by_cancel_id_[cancel_id] == 0) in_tee_by_cancel_id_.erase(cancel_id);
    }
    left_tee_.notify_all();
    return reply;
}

Result<void> Session::cancel(uint32_t cancel_id) {
    constexpr int kAttempts = 20;
    constexpr auto kWaitPerAttempt = std::chrono::milliseconds(50);
    GpClient* gp = TEED_TRY(context_->gp_client());
    auto in_tee = [&] { return in_tee_by_cancel_id_.count(cancel_id) != 0; };
    {
        // Calls still waiting for a worker never reach the TEE; each takes one of these.
        // Only waiting calls get one, so nothing is left over for a later call with the id.
        std::lock_guard lock(cancel_mutex_);
        auto waiting = waiting_by_cancel_id_.find(cancel_id);
        if (waiting != waiting_by_cancel_id_.end())
            cancelled_before_start_[cancel_id] = waiting->second;
    }
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
        {
            std::lock_guard lock(cancel_mutex_);
            if (!in_tee()) return {};
        }
        TEED_TRY(gp->cancel(tee_session_, cancel_id));
        std::unique_lock lock(cancel_mutex_);
        if (left_tee_.wait_for(lock, kWaitPerAttempt, [&] { return !in_tee(); })) return {};
    }
    return {};  // the TA does not honour cancellation: the call runs to its end
}

Result<void> Session::close_in_tee() {
    if (closed_in_tee_.exchange(true)) return {};
    GpClient* gp = TEED_TRY(context_->gp_client());
    return gp->close_session(tee_session_);
}

std::string random_object_id() {
    std::array<uint8_t, 16> bytes{};
    size_t filled = 0;
    while (filled < bytes.size()) {
        ssize_t n = getrandom(bytes.data() + filled, bytes.size() - filled, 0);
        if (n > 0) filled += static_cast<size_t>(n);
    }
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string id;
    for (uint8_t b : bytes) {
        id += kDigits[b >> 4];
        id += kDigits[b & 0xf];
    }
    return id;
}

}  // namespace teed
