// The simulated node and its contexts: the kernel's TEE core (tee_core.c) and the OP-TEE client
// driver, in front of the simulated secure world. Each method follows its ioctl's checks in the
// kernel's order, so that a malformed call fails with the errno the kernel would return.

#include "backends/sim/sim_device.h"

#include <atomic>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <set>
#include <vector>

#include "backends/sim/client_identity.h"
#include "backends/sim/driver_flavour.h"
#include "backends/sim/kernel_params.h"
#include "backends/sim/secure_world.h"
#include "backends/sim/shm_table.h"
#include "backends/sim/supplicant_queue.h"
#include "backends/sim/ta_instances.h"

namespace teed {
namespace {

using sim::ContextId;

// optee_get_msg_arg() (call.c, MAX_ARG_PARAM_COUNT): an OPTEE_MSG argument carries at most 6
// params; an open session spends 2 of them on the UUIDs (meta params).
constexpr uint32_t kMaxMsgParams = 6;
constexpr uint32_t kOpenSessionMetaParams = 2;

// What all contexts of one node share: it lives as long as the node or any of its contexts.
struct NodeState {
    NodeState(const SimOptions& opts, bool has_supplicant_device)
        : options(opts),
          driver(sim::driver_flavour(opts)),
          shms(opts.shm_pool_bytes, driver.max_pool_alloc),
          supplicant(shms, has_supplicant_device, driver.transport),
          world(sim::builtin_trusted_apps(supplicant, instances),
                has_supplicant_device ? &supplicant : nullptr) {}

    const SimOptions options;
    const sim::DriverFlavour driver;
    sim::ShmTable shms;
    sim::SupplicantQueue supplicant;  // before `world`: TAs hold a reference to it
    sim::TaInstances instances;       // likewise
    sim::SecureWorld world;
    std::atomic<ContextId> next_context{1};
};

// The argument behind a tee_ioctl_buf_data, checked as tee_ioctl_open_session/invoke do before
// and after reading the header (num_params comes from the header).
Result<uint8_t*> user_arg(const tee_ioctl_buf_data& buf, size_t header_size) {
    if (buf.buf_len > TEE_MAX_ARG_SIZE || buf.buf_len < header_size)
        return ErrnoError(EINVAL) << "argument of " << buf.buf_len << " bytes";
    if (buf.buf_ptr == 0) return ErrnoError(EFAULT) << "argument at address 0";
    return reinterpret_cast<uint8_t*>(static_cast<uintptr_t>(buf.buf_ptr));
}

Result<void> check_num_params(const tee_ioctl_buf_data& buf, size_t header_size,
                              uint32_t num_params) {
    if (header_size + uint64_t{num_params} * sizeof(tee_ioctl_param) != buf.buf_len)
        return ErrnoError(EINVAL) << num_params << " params do not fill " << buf.buf_len
                                  << " bytes";
    return {};
}

template <typename T>
void put(uint8_t* base, size_t offset, T value) {
    std::memcpy(base + offset, &value, sizeof(value));
}

// Counts a call for operations_in_progress() while it is in the secure world.
class InProgress {
public:
    explicit InProgress(std::atomic<size_t>& counter) : counter_(counter) { ++counter_; }
    ~InProgress() { --counter_; }
    InProgress(const InProgress&) = delete;
    InProgress& operator=(const InProgress&) = delete;

private:
    std::atomic<size_t>& counter_;
};

class SimContext final : public SimDevice {
public:
    // `privileged`: a context of the supplicant device, already attached to the node's queue.
    SimContext(std::shared_ptr<NodeState> node, ContextId id, bool privileged)
        : node_(std::move(node)), id_(id), privileged_(privileged) {}
    ~SimContext() override;

    Result<tee_ioctl_version_data> version() override;
    Result<UniqueFd> shm_alloc(tee_ioctl_shm_alloc_data& data) override;
    Result<UniqueFd> shm_register(tee_ioctl_shm_register_data& data) override;
    Result<void> open_session(const tee_ioctl_buf_data& buf) override;
    Result<void> invoke(const tee_ioctl_buf_data& buf) override;
    Result<void> cancel(const tee_ioctl_cancel_arg& arg) override;
    Result<void> close_session(const tee_ioctl_close_session_arg& arg) override;
    Result<void> supp_recv(const tee_ioctl_buf_data& buf) override;
    Result<void> supp_send(const tee_ioctl_buf_data& buf) override;
    Result<void> object_invoke(const tee_ioctl_buf_data& buf) override;

    size_t live_shm_count() override;
    size_t open_session_count() const override;
    size_t operations_in_progress() const override { return in_progress_.load(); }

private:
    // What OPEN_SESSION and INVOKE both start with: the header copied into `ret_arg`, buf_len
    // checked against num_params, the context's dead shms swept and the params translated.
    // (The UAPI headers end in flexible arrays, so the header cannot travel inside a struct.)
    struct UserCall {
        uint8_t* base;
        uint8_t* uparams;
        std::vector<sim::KernelParam> params;
    };
    template <typename Arg>
    Result<UserCall> read_user_call(const tee_ioctl_buf_data& buf, Arg& ret_arg) {
        UserCall call{};
        call.base = TEED_TRY(user_arg(buf, sizeof(Arg)));
        Arg arg{};
        std::memcpy(&arg, call.base, sizeof(Arg));
        TEED_TRY(check_num_params(buf, sizeof(Arg), arg.num_params));
        call.uparams = call.base + sizeof(Arg);
        node_->shms.sweep(id_);
        call.params = TEED_TRY(sim::params_from_user(call.uparams, arg.num_params, param_rules()));
        std::memcpy(&ret_arg, &arg, sizeof(Arg));
        return call;
    }

    bool owns_session(uint32_t session) const;
    // The supplicant device's tee_driver_ops (optee_supp_ops) have no open_session,
    // invoke_func, cancel_req or close_session: the core answers EINVAL before reading any
    // argument.
    Result<void> require_client_device(const char* ioctl) const;
    // The driver's shm_register op after pinning: optee_shm_register() on the client device,
    // optee_shm_register_supp() (SMC) or optee_ffa_shm_register() (FF-A) on the supplicant's.
    Result<void> driver_shm_register(uint64_t length) const;
    sim::ParamRules param_rules() const {
        return {.shms = node_->shms, .context = id_, .memref_null = node_->driver.memref_null};
    }

    const std::shared_ptr<NodeState> node_;
    const ContextId id_;
    const bool privileged_;
    mutable std::mutex mutex_;
    std::set<uint32_t> sessions_;  // guarded by mutex_: the driver's per-context session list
    std::atomic<size_t> in_progress_{0};
};

SimContext::~SimContext() {
    // optee_supp_release(): the secure world's requests fail with TEEC_ERROR_COMMUNICATION.
    if (privileged_) node_->supplicant.detach(id_);
    // As optee_release(): every session of the context is closed. Its shms stay until their fd
    // and mappings are gone, as each tee_shm holds a reference on its context.
    std::set<uint32_t> sessions;
    {
        std::lock_guard lock(mutex_);
        sessions.swap(sessions_);
    }
    for (uint32_t session : sessions) node_->world.close_session(session);
    node_->shms.sweep(id_);
}

Result<tee_ioctl_version_data> SimContext::version() {
    // optee_get_version() / optee_ffa_get_version(); tee_ioctl_version() adds PRIVILEGED for
    // the supplicant device (TEE_DESC_PRIVILEGED).
    const sim::DriverFlavour& driver = node_->driver;
    tee_ioctl_version_data version{
        .impl_id = TEE_IMPL_ID_OPTEE, .impl_caps = TEE_OPTEE_CAP_TZ, .gen_caps = TEE_GEN_CAP_GP};
    if (driver.reg_mem) version.gen_caps |= TEE_GEN_CAP_REG_MEM;
    if (driver.memref_null) version.gen_caps |= TEE_GEN_CAP_MEMREF_NULL;
    if (privileged_) version.gen_caps |= TEE_GEN_CAP_PRIVILEGED;
    return version;
}

Result<UniqueFd> SimContext::shm_alloc(tee_ioctl_shm_alloc_data& data) {
    // tee_ioctl_shm_alloc(): "Currently no input flags are supported".
    if (data.flags != 0) return ErrnoError(EINVAL) << "shm alloc flags " << data.flags;
    sim::NewShm shm = TEED_TRY(node_->shms.allocate(id_, data.size));
    data.id = shm.id;
    data.size = shm.size;  // page-rounded, as the kernel reports shm->size
    return std::move(shm.fd);
}

Result<UniqueFd> SimContext::shm_register(tee_ioctl_shm_register_data& data) {
    // tee_ioctl_shm_register(), then register_shm_helper() pins the pages, then the driver.
    if (data.flags != 0) return ErrnoError(EINVAL) << "shm register flags " << data.flags;
    switch (TEED_TRY(node_->shms.pin(data.addr, data.length))) {
        case sim::Pinned::All:
            break;
        case sim::Pinned::None:
            return ErrnoError(EFAULT) << "registered range is not writable memory of this process";
        case sim::Pinned::Some:
            return ErrnoError(ENOMEM) << "registered range is writable memory only in part";
    }
    TEED_TRY(driver_shm_register(data.length));
    sim::NewShm shm = TEED_TRY(node_->shms.register_memory(id_, data.addr, data.length));
    data.id = shm.id;
    return std::move(shm.fd);
}

Result<void> SimContext::driver_shm_register(uint64_t length) const {
    // optee_shm_register() refuses 0 pages with EINVAL. (6.1 pins no page for an aligned
    // length 0 and the supplicant device's optee_shm_register_supp() would then accept it;
    // from 6.8 register_shm_helper() refuses it first with ENOMEM. The stricter holds here.)
    if (length == 0) return ErrnoError(EINVAL) << "registered shm of length 0";
    // Without dynamic shared memory OP-TEE answers OPTEE_MSG_CMD_REGISTER_SHM with an error
    // and optee_shm_register() returns EINVAL. The supplicant device's op does not ask OP-TEE.
    if (!node_->driver.reg_mem && !privileged_)
        return ErrnoError(EINVAL) << "OP-TEE without dynamic shared memory registers nothing";
    return {};
}

Result<void> SimContext::require_client_device(const char* ioctl) const {
    if (privileged_) return ErrnoError(EINVAL) << ioctl << " on the supplicant device";
    return {};
}

Result<void> SimContext::open_session(const tee_ioctl_buf_data& buf) {
    TEED_TRY(require_client_device("OPEN_SESSION"));
    tee_ioctl_open_session_arg arg{};
    auto call = TEED_TRY(read_user_call(buf, arg));
    auto& [base, uparams, params] = call;
    if (arg.clnt_login >= TEE_IOCTL_LOGIN_REE_KERNEL_MIN &&
        arg.clnt_login <= TEE_IOCTL_LOGIN_REE_KERNEL_MAX)
        return ErrnoError(EPERM) << "login method " << arg.clnt_login << " is for the kernel";
    // optee_open_session(): the message argument, the client identity, the translation.
    if (arg.num_params > kMaxMsgParams - kOpenSessionMetaParams)
        return ErrnoError(EINVAL) << arg.num_params << " params do not fit an OP-TEE message";
    const sim::TaClient client{
        .login = arg.clnt_login,
        .identity = TEED_TRY(sim::client_identity(arg.clnt_login, arg.clnt_uuid))};
    sim::TaParams ta_params = TEED_TRY(sim::to_ta_params(params, node_->driver.transport));

    Uuid uuid;
    std::memcpy(uuid.bytes.data(), arg.uuid, uuid.bytes.size());
    sim::Operation op(arg.cancel_id);
    sim::SwResult result;
    {
        InProgress counted(in_progress_);
        result = node_->world.open_session(uuid, client, arg.num_params, ta_params, op);
    }
    if (result.session != 0) {
        std::lock_guard lock(mutex_);
        sessions_.insert(result.session);
    }
    put(base, offsetof(tee_ioctl_open_session_arg, session), result.session);
    put(base, offsetof(tee_ioctl_open_session_arg, ret), result.ret);
    put(base, offsetof(tee_ioctl_open_session_arg, ret_origin), result.origin);
    sim::params_to_user(uparams, params, ta_params);
    return {};
}

Result<void> SimContext::invoke(const tee_ioctl_buf_data& buf) {
    TEED_TRY(require_client_device("INVOKE"));
    tee_ioctl_invoke_arg arg{};
    auto call = TEED_TRY(read_user_call(buf, arg));
    auto& [base, uparams, params] = call;
    // optee_invoke_func(): the session, the message argument, the translation.
    if (!owns_session(arg.session))
        return ErrnoError(EINVAL) << "session " << arg.session << " is not open in this context";
    if (arg.num_params > kMaxMsgParams)
        return ErrnoError(EINVAL) << arg.num_params << " params do not fit an OP-TEE message";
    sim::TaParams ta_params = TEED_TRY(sim::to_ta_params(params, node_->driver.transport));

    sim::Operation op(arg.cancel_id);
    sim::SwResult result;
    {
        InProgress counted(in_progress_);
        result = node_->world.invoke(arg.session, arg.func, arg.num_params, ta_params, op);
    }
    put(base, offsetof(tee_ioctl_invoke_arg, ret), result.ret);
    put(base, offsetof(tee_ioctl_invoke_arg, ret_origin), result.origin);
    sim::params_to_user(uparams, params, ta_params);
    return {};
}

Result<void> SimContext::cancel(const tee_ioctl_cancel_arg& arg) {
    TEED_TRY(require_client_device("CANCEL"));
    // optee_cancel_req() looks the session up in the context's list; a pending open (session 0)
    // is never found there, so it cannot be cancelled through the OP-TEE driver.
    if (!owns_session(arg.session))
        return ErrnoError(EINVAL) << "session " << arg.session << " is not open in this context";
    node_->world.cancel(arg.session, arg.cancel_id);
    return {};
}

Result<void> SimContext::close_session(const tee_ioctl_close_session_arg& arg) {
    TEED_TRY(require_client_device("CLOSE_SESSION"));
    // optee_close_session(): a session not in the context's list is EINVAL.
    {
        std::lock_guard lock(mutex_);
        if (sessions_.erase(arg.session) == 0)
            return ErrnoError(EINVAL)
                   << "session " << arg.session << " is not open in this context";
    }
    node_->world.close_session(arg.session);
    return {};
}

// The OP-TEE client device has no supplicant operations: optee_supp_recv/send answer EINVAL
// unless the context is the supplicant's.
Result<void> SimContext::supp_recv(const tee_ioctl_buf_data& buf) {
    if (!privileged_) return ErrnoError(EINVAL) << "SUPPL_RECV on a client device";
    return node_->supplicant.receive(buf);
}

Result<void> SimContext::supp_send(const tee_ioctl_buf_data& buf) {
    if (!privileged_) return ErrnoError(EINVAL) << "SUPPL_SEND on a client device";
    return node_->supplicant.send(buf);
}

Result<void> SimContext::object_invoke(const tee_ioctl_buf_data& /*buf*/) {
    return ErrnoError(EINVAL) << "OBJECT_INVOKE on an OP-TEE device";
}

size_t SimContext::live_shm_count() {
    node_->shms.sweep(id_);
    return node_->shms.count(id_);
}

size_t SimContext::open_session_count() const {
    std::lock_guard lock(mutex_);
    return sessions_.size();
}

bool SimContext::owns_session(uint32_t session) const {
    std::lock_guard lock(mutex_);
    return sessions_.count(session) != 0;
}

class SimNode final : public SimDeviceNode {
public:
    SimNode(std::string name, std::shared_ptr<NodeState> state, bool privileged)
        : name_(std::move(name)), path_("sim:" + name_), state_(std::move(state)),
          privileged_(privileged) {}

    const std::string& name() const override { return name_; }
    const std::string& path() const override { return path_; }
    bool simulated() const override { return true; }
    Result<std::unique_ptr<Device>> open() override {
        ContextId id = state_->next_context.fetch_add(1);
        // optee_open(): only one context may hold the supplicant device.
        if (privileged_) TEED_TRY(state_->supplicant.attach(id));
        return std::unique_ptr<Device>(std::make_unique<SimContext>(state_, id, privileged_));
    }

    size_t live_shm_count() override {
        state_->shms.sweep_all();
        return state_->shms.count_all();
    }
    uint64_t shm_pool_used() override {
        state_->shms.sweep_all();
        return state_->shms.pool_used();
    }
    size_t open_session_count() const override { return state_->world.session_count(); }
    size_t pending_supplicant_requests() const override { return state_->supplicant.pending(); }
    sim::SupplicantRpc& secure_world_rpc() override { return state_->supplicant; }
    std::optional<Uuid> ta_of_instance(uint32_t instance) const override {
        return state_->instances.find(instance);
    }

private:
    const std::string name_;
    const std::string path_;
    const std::shared_ptr<NodeState> state_;
    const bool privileged_;
};

}  // namespace

std::unique_ptr<DeviceNode> make_simulated_node(const SimOptions& options) {
    auto state = std::make_shared<NodeState>(options, /*has_supplicant_device=*/false);
    return std::make_unique<SimNode>(options.name, std::move(state), false);
}

SimTee make_simulated_tee(const SimOptions& options) {
    auto state = std::make_shared<NodeState>(options, /*has_supplicant_device=*/true);
    return {.client = std::make_unique<SimNode>(options.name, state, false),
            .supplicant = std::make_unique<SimNode>(options.supplicant_name, state, true)};
}

}  // namespace teed
