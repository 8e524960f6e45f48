#include "backends/sim/secure_world.h"

#include <algorithm>

#include "backends/kernel/gp.h"
#include "backends/sim/ree_ta_store.h"

namespace teed::sim {

void Operation::request_cancel() {
    {
        std::lock_guard lock(mutex_);
        cancelled_ = true;
    }
    changed_.notify_all();
}

bool Operation::cancelled() const {
    std::lock_guard lock(mutex_);
    return cancelled_;
}

bool Operation::wait_for(std::chrono::milliseconds duration) const {
    std::unique_lock lock(mutex_);
    return !changed_.wait_for(lock, duration, [this] { return cancelled_; });
}

struct SecureWorld::Session {
    explicit Session(std::unique_ptr<TaSession> ta_in) : ta(std::move(ta_in)) {}

    // Held while the TA runs, so that calls on one session run one at a time.
    std::mutex call_mutex;
    std::unique_ptr<TaSession> ta;  // guarded by call_mutex; null once the TA panicked

    std::mutex ops_mutex;
    std::vector<Operation*> ops;  // guarded by ops_mutex: calls queued or running
    bool closed = false;          // guarded by ops_mutex
};

namespace {

// Keeps an operation visible to cancel() for as long as the call is queued or running.
class OperationEntry {
public:
    OperationEntry(std::mutex& mutex, std::vector<Operation*>& ops, Operation& op)
        : mutex_(mutex), ops_(ops), op_(op) {
        std::lock_guard lock(mutex_);
        ops_.push_back(&op_);
    }
    ~OperationEntry() {
        std::lock_guard lock(mutex_);
        std::erase(ops_, &op_);
    }
    OperationEntry(const OperationEntry&) = delete;
    OperationEntry& operator=(const OperationEntry&) = delete;

private:
    std::mutex& mutex_;
    std::vector<Operation*>& ops_;
    Operation& op_;
};

SwResult from_tee(uint32_t ret) {
    return {.ret = ret, .origin = gp::kOriginTee};
}

}  // namespace

SecureWorld::SecureWorld(std::vector<std::unique_ptr<TrustedApp>> apps, SupplicantRpc* supplicant)
    : apps_(std::move(apps)), supplicant_(supplicant) {}

SecureWorld::~SecureWorld() = default;

SwResult SecureWorld::open_session(const Uuid& uuid, const TaClient& client, uint32_t num_params,
                                   TaParams& params, Operation& op) {
    if (num_params > gp::kMaxParams) return from_tee(gp::kErrorBadParameters);
    auto builtin = std::find_if(apps_.begin(), apps_.end(),
                                [&](const auto& candidate) { return candidate->uuid() == uuid; });
    // Not built in: OP-TEE's last TA store asks the supplicant for the file. The loaded TA is
    // needed only to open the session (its sessions keep no reference to it).
    std::unique_ptr<TrustedApp> loaded;
    if (builtin == apps_.end()) {
        if (supplicant_ == nullptr) return from_tee(gp::kErrorItemNotFound);
        uint32_t load_code = gp::kErrorItemNotFound;
        loaded = load_ree_trusted_app(*supplicant_, uuid, load_code);
        if (!loaded) return from_tee(load_code);
    }
    TrustedApp& app = loaded ? *loaded : **builtin;

    uint32_t code = gp::kErrorGeneric;
    std::unique_ptr<TaSession> ta = app.open_session(client, params, op, code);
    if (!ta) {
        // A TA that fails without saying why still failed.
        return {.ret = code == gp::kSuccess ? gp::kErrorGeneric : code,
                .origin = gp::kOriginTrustedApp};
    }
    auto session = std::make_shared<Session>(std::move(ta));
    std::lock_guard lock(mutex_);
    uint32_t id = allocate_id_locked();
    sessions_.emplace(id, std::move(session));
    return {.ret = gp::kSuccess, .origin = gp::kOriginTrustedApp, .session = id};
}

SwResult SecureWorld::invoke(uint32_t id, uint32_t command, uint32_t num_params, TaParams& params,
                             Operation& op) {
    if (num_params > gp::kMaxParams) return from_tee(gp::kErrorBadParameters);
    std::shared_ptr<Session> session = find(id);  // keeps the TA session alive until we return
    if (!session) return from_tee(gp::kErrorBadParameters);  // closed meanwhile

    OperationEntry entry(session->ops_mutex, session->ops, op);
    std::lock_guard call(session->call_mutex);
    {
        std::lock_guard lock(session->ops_mutex);
        if (session->closed) return from_tee(gp::kErrorBadParameters);  // closed while queued
    }
    if (!session->ta) return from_tee(gp::kErrorTargetDead);

    const TaParams sent = params;
    TaResult result = session->ta->invoke(command, params, op);
    if (result.panicked) {
        // A panicked TA writes nothing back, and is never entered again.
        params = sent;
        session->ta.reset();
        return from_tee(gp::kErrorTargetDead);
    }
    return {.ret = result.code, .origin = gp::kOriginTrustedApp};
}

void SecureWorld::cancel(uint32_t id, uint32_t cancel_id) {
    std::shared_ptr<Session> session = find(id);
    if (!session) return;
    std::lock_guard lock(session->ops_mutex);
    for (Operation* op : session->ops)
        if (op->cancel_id() == cancel_id) op->request_cancel();
}

void SecureWorld::close_session(uint32_t id) {
    std::shared_ptr<Session> session;
    {
        std::lock_guard lock(mutex_);
        auto it = sessions_.find(id);
        if (it == sessions_.end()) return;
        session = std::move(it->second);
        sessions_.erase(it);
    }
    std::lock_guard lock(session->ops_mutex);
    session->closed = true;
    // If no call holds `session`, the TA session is destroyed as this function returns.
}

size_t SecureWorld::session_count() const {
    std::lock_guard lock(mutex_);
    return sessions_.size();
}

std::shared_ptr<SecureWorld::Session> SecureWorld::find(uint32_t id) const {
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(id);
    return it == sessions_.end() ? nullptr : it->second;
}

uint32_t SecureWorld::allocate_id_locked() {
    // Session ids are never 0 (the UAPI's "no session") and never one still open.
    while (next_id_ == 0 || sessions_.count(next_id_) != 0) ++next_id_;
    return next_id_++;
}

}  // namespace teed::sim
