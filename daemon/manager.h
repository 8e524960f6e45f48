#pragma once
// The manager: opens, invokes, cancels and closes GlobalPlatform sessions for bus clients, under
// the limits, on worker threads, and cleans up after clients that leave.
//
// Every method runs on the loop thread and returns at once; `done` callbacks run later on the loop
// thread. The D-Bus adaptors (dbus/) call in here; nothing here knows about D-Bus.
//
//   manager.open_session(sender, request, [](Result<OpenSessionOutcome> r) { ... reply ... });

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "backends/optee/gp_client.h"
#include "daemon/audit.h"
#include "daemon/client_registry.h"
#include "daemon/config.h"
#include "daemon/device_registry.h"
#include "daemon/policy_loader.h"

namespace teed {

class EventLoop;
class WorkerPool;

// Where the bus-attested identity of a connection comes from (the bus driver, in production).
class CredentialsSource {
public:
    virtual ~CredentialsSource() = default;
    virtual void lookup(const std::string& unique_name,
                        std::function<void(Result<Credentials>)> done) = 0;
    // Completes what lookup() found with what only the client's process can tell (its primary
    // gid, unit and executable). Runs on a worker: it reads files and may act as the client. An
    // error refuses the client.
    virtual Result<Credentials> complete(Credentials creds) = 0;
};

struct OpenSessionRequest {
    std::string device;  // empty: any device that can serve the TA
    std::string uuid;
    uint32_t login = 0;
    uint32_t connection_data = 0;
    GpParams params;
    std::optional<uint32_t> cancel_id;
};

struct OpenSessionOutcome {
    std::shared_ptr<Session> session;  // null when the TEE or TA refused
    GpReply reply;
};

struct SharedMemoryRequest {
    std::string device;  // empty: the first device with GP sessions
    uint64_t size = 0;
    uint32_t flags = 0;  // TEEC_MEM_INPUT | TEEC_MEM_OUTPUT
};

// What Manager.GetClientInfo tells a client about itself.
struct ClientInfo {
    Credentials credentials;
    Uuid application_identity;        // teed's own, for the APPLICATION logins (nil if unknown)
    bool application_logins = false;  // whether the policy enables them
    Limits limits;                    // its effective limits
    std::vector<std::string> rules;   // the policy rules that match it
    uint32_t sessions = 0;
    uint32_t shared_memory = 0;
    uint64_t shared_memory_bytes = 0;
    uint32_t calls_in_flight = 0;
};

struct ManagerStatistics {
    size_t clients = 0;
    size_t sessions = 0;          // published sessions
    size_t live_sessions = 0;     // Session objects still alive, closing ones included
    size_t device_contexts = 0;   // open per-client device contexts
    size_t shared_memory = 0;     // published shared-memory objects
    size_t workers_busy = 0;
    size_t work_queued = 0;
    size_t calls_in_flight = 0;     // opens and invokes of all clients
    uint64_t shared_memory_bytes = 0;
    uint64_t audit_suppressed = 0;  // denial entries dropped by the audit rate limit
};

class Manager {
public:
    using OpenDone = std::function<void(Result<OpenSessionOutcome>)>;
    using InvokeDone = std::function<void(Result<GpReply>)>;
    using Done = std::function<void(Result<void>)>;

    // `policy` decides every request (docs/policy.md); it must outlive the manager.
    Manager(const Config& config, DeviceRegistry& devices, EventLoop& loop, WorkerPool& workers,
            CredentialsSource& credentials, PolicyStore& policy);
    ~Manager();

    void open_session(const std::string& caller, OpenSessionRequest request, OpenDone done);
    // The session `id` if `caller` owns it; null otherwise, as if it did not exist.
    std::shared_ptr<Session> find_session(const std::string& caller, const std::string& id);
    void invoke(const std::string& caller, const std::shared_ptr<Session>& session,
                uint32_t command, GpParams params, std::optional<uint32_t> cancel_id,
                InvokeDone done);
    void request_cancellation(const std::string& caller, const std::shared_ptr<Session>& session,
                              uint32_t cancel_id, Done done);
    void close_session(const std::string& caller, const std::string& id, Done done);
    using ShmDone = std::function<void(Result<std::shared_ptr<SharedMemoryObject>>)>;
    using AllocateDone =
        std::function<void(Result<std::pair<std::shared_ptr<SharedMemoryObject>, std::shared_ptr<UniqueFd>>>)>;
    // `memfd` must be a memfd sealed with F_SEAL_SHRINK holding at least request.size bytes.
    void register_shared_memory(const std::string& caller, std::shared_ptr<UniqueFd> memfd,
                                SharedMemoryRequest request, ShmDone done);
    void allocate_shared_memory(const std::string& caller, SharedMemoryRequest request,
                                AllocateDone done);
    std::shared_ptr<SharedMemoryObject> find_shared_memory(const std::string& caller,
                                                           const std::string& id);
    // Busy while a call uses it.
    void release_shared_memory(const std::string& caller, const std::string& id, Done done);
    // Points every registered-memory param at the caller's object named by the last element of
    // its `shm` path, which must live on `device`. NotFound for anything the caller does not own.
    Result<void> resolve_shared_memory(const std::string& caller, GpParams& params,
                                       const std::string& device);
    // The device of the first of the caller's objects the params name, or "".
    std::string device_of_shared_memory(const std::string& caller, const GpParams& params);

    // The caller's bus-attested credentials (looked up once per connection).
    void caller_credentials(const std::string& caller,
                            std::function<void(Result<const Credentials*>)> done);
    // Privileged requests (policy reload, statistics) are for root and teed's own user: checked
    // here, not only by the bus policy. A refusal is audited and is AccessDenied naming `what`.
    void check_privileged(const std::string& caller, const std::string& what, Done done);
    // Reads the policy files again off the loop and puts them in force if they are valid; the
    // report says what was found. Sessions already open stay; new requests use the new policy.
    void reload_policy(std::function<void(PolicyLoadReport)> done);
    void client_info(const std::string& caller, std::function<void(Result<ClientInfo>)> done);
    // The caller's effective limits (the configuration's, for a caller teed does not know yet).
    Limits limits_for(const std::string& caller);
    // The bus reported that `unique_name` is gone: close everything it had.
    void client_vanished(const std::string& unique_name);

    ManagerStatistics statistics() const;
    const DeviceRegistry& devices() const { return devices_; }

    struct OpenPlan;  // what a worker needs to open a session (manager.cpp)

private:

    // Calls `next` with the caller's Client once its credentials are known (created, subject to
    // max_clients, on its first request). A client admitted into the administrative reserve gets
    // LimitExceeded here: with_admin_client() is for the privileged methods it may call.
    void with_client(const std::string& caller, std::function<void(Result<Client*>)> next);
    void with_admin_client(const std::string& caller, std::function<void(Result<Client*>)> next);
    static bool is_administrator(uid_t uid);
    const Limits& limits_of(Client& client);
    void credentials_found(const std::string& caller, Result<Credentials> creds);
    Limits global_limits() const;
    void continue_open(Client& client, OpenSessionRequest request, OpenDone done);
    // Validates the request, without side effects.
    Result<std::shared_ptr<OpenPlan>> plan_open(const OpenSessionRequest& request, const Limits& limits);
    // Policy, login and identity checks; narrows the plan to the devices the policy allows.
    Result<void> authorize_open(Client& client, OpenPlan& plan);
    Result<void> admit_open(Client& client);
    void audit_denial(AuditEvent event, const Client& client, const Error& error,
                      AuditRecord record = {});
    // Gives the plan the client's contexts on its devices, creating the missing ones.
    void attach_contexts(Client& client, OpenPlan& plan);
    void start_open(const std::string& caller, std::shared_ptr<OpenPlan> plan, OpenDone done);
    void finish_open(const std::string& caller, const std::shared_ptr<OpenPlan>& plan,
                     Result<GpOpenReply> opened, OpenDone done);
    void publish_session(const std::string& caller, const std::shared_ptr<OpenPlan>& plan,
                         GpOpenReply& reply, OpenDone done);
    void release_off_loop(std::shared_ptr<Session> session);
    Result<PublishedDevice*> shm_device(const std::string& name);
    Result<void> admit_shared_memory(Client& client, const SharedMemoryRequest& request);
    // Checks the device and the limits and counts the creation in; the context to create in.
    Result<std::shared_ptr<DeviceContext>> start_shared_memory(Client& client,
                                                               const SharedMemoryRequest& request);
    void continue_register(Client& client, std::shared_ptr<UniqueFd> memfd,
                           SharedMemoryRequest request, ShmDone done);
    void continue_allocate(Client& client, SharedMemoryRequest request, AllocateDone done);
    // `size` is what start_shared_memory counted in.
    void publish_shared_memory(const std::string& caller, const std::string& device, uint64_t size,
                               Result<std::shared_ptr<GpSharedMemory>> memory, ShmDone done);
    Result<void> admit_call(Client& client);
    void count_call_in(Client& client);
    void end_call(const std::string& caller, const std::shared_ptr<Session>& session,
                  uint32_t cancel_id);
    void retire_session(const std::shared_ptr<Session>& session, Done done);
    void submit_close(std::shared_ptr<Session> session, Done done);
    void audit_close(const Client* client, const Session& session, const std::string& reason);
    void release_shm_bytes(Client* client, uint64_t bytes);

    const Config& config_;
    DeviceRegistry& devices_;
    EventLoop& loop_;
    WorkerPool& workers_;
    CredentialsSource& credentials_;
    PolicyStore& policy_;
    AuditLog audit_;
    ClientRegistry clients_;
    size_t opens_in_flight_ = 0;
    uint32_t calls_in_flight_total_ = 0;
    uint64_t shm_bytes_total_ = 0;
    // Set on destruction: completions still queued on the loop must not touch the manager.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Checks a login method as the kernel would, before any work. The APPLICATION methods pass here;
// whether they may be used is the policy's to say.
Result<void> validate_login(uint32_t login);

// What the kernel is asked for when a client asks for `login`: the APPLICATION methods become the
// method without the application part (docs/policy.md, "Application identity").
uint32_t kernel_login(uint32_t login);

// The policy's view of a client.
PolicyClient policy_client(const Credentials& creds);

}  // namespace teed
