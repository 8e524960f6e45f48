#include "daemon/manager.h"

#include <unistd.h>

#include "backends/kernel/gp.h"
#include "common/log.h"
#include "daemon/event_loop.h"
#include "daemon/limits.h"
#include "daemon/peer_process.h"  // application_identity
#include "daemon/worker_pool.h"

namespace teed {

// Everything a worker needs to open a session, decided on the loop thread.
struct Manager::OpenPlan {
    GpOpenRequest request;     // request.login is what the kernel is asked for (kernel_login)
    uint32_t requested_login;  // what the client asked for
    std::vector<PublishedDevice*> targets;
    std::vector<std::shared_ptr<DeviceContext>> candidates;  // tried in order
    std::optional<Credentials> act_as;                       // USER and GROUP logins
    gid_t act_as_gid = 0;
    size_t chosen = 0;
};

namespace {

bool is_kernel_login(uint32_t login) {
    return login >= TEE_IOCTL_LOGIN_REE_KERNEL_MIN && login <= TEE_IOCTL_LOGIN_REE_KERNEL_MAX;
}

bool needs_client_identity(uint32_t login) {
    return login == gp::kLoginUser || login == gp::kLoginGroup;
}

bool is_group_login(uint32_t login) {
    return login == gp::kLoginGroup || login == gp::kLoginGroupApplication;
}

std::string login_name(uint32_t login) {
    std::string_view name = login_policy_name(login);
    return name.empty() ? std::to_string(login) : std::string(name);
}

AuditClient audit_client(const Client& client) {
    AuditClient who{.bus_name = client.unique_name};
    if (const auto& c = client.credentials) {
        who.uid = c->uid;
        who.gid = c->gid;
        who.pid = c->pid;
        who.unit = c->unit;
    }
    return who;
}

// Runs on a worker: tries each candidate device until one has the TA.
Result<GpOpenReply> run_open(Manager::OpenPlan& plan);

}  // namespace

Result<void> validate_login(uint32_t login) {
    switch (login) {
        case gp::kLoginPublic:
        case gp::kLoginUser:
        case gp::kLoginGroup:
        case gp::kLoginApplication:
        case gp::kLoginUserApplication:
        case gp::kLoginGroupApplication:
            return {};
        default:
            if (is_kernel_login(login))
                return Error(ErrorKind::AccessDenied)
                       << "login method 0x" << std::hex << login
                       << " is reserved for the kernel's own clients";
            return Error(ErrorKind::InvalidArgument)
                   << "login method " << login << " is not a GlobalPlatform login method";
    }
}

uint32_t kernel_login(uint32_t login) {
    switch (login) {
        case gp::kLoginApplication: return gp::kLoginPublic;
        case gp::kLoginUserApplication: return gp::kLoginUser;
        case gp::kLoginGroupApplication: return gp::kLoginGroup;
        default: return login;
    }
}

PolicyClient policy_client(const Credentials& creds) {
    return PolicyClient{.uid = creds.uid,
                        .gid = creds.gid,
                        .groups = creds.groups,
                        .unit = creds.unit,
                        .executable = creds.executable};
}

Manager::Manager(const Config& config, DeviceRegistry& devices, EventLoop& loop,
                 WorkerPool& workers, CredentialsSource& credentials, PolicyStore& policy)
    : config_(config),
      devices_(devices),
      loop_(loop),
      workers_(workers),
      credentials_(credentials),
      policy_(policy) {}

Manager::~Manager() { *alive_ = false; }

Limits Manager::global_limits() const { return policy_.current()->global_limits(config_.limits); }

const Limits& Manager::limits_of(Client& client) {
    std::shared_ptr<const Policy> policy = policy_.current();
    if (!client.credentials) {
        // Not known yet: the limits of everyone, not kept, so that its own come once it is.
        client.limits = policy->global_limits(config_.limits);
        client.limits_policy.reset();
    } else if (client.limits_policy != policy) {
        client.limits = policy->limits_for(policy_client(*client.credentials), config_.limits);
        client.limits_policy = policy;
    }
    return client.limits;
}

Limits Manager::limits_for(const std::string& caller) {
    Client* client = clients_.find(caller);
    return client != nullptr ? limits_of(*client) : global_limits();
}

void Manager::audit_denial(AuditEvent event, const Client& client, const Error& error,
                           AuditRecord record) {
    record.event = event;
    record.client = audit_client(client);
    record.reason = error.message();
    audit_.record(record);
}

Result<void> Manager::admit_call(Client& client) {
    const Limits& limits = limits_of(client);
    if (client.calls_in_flight >= limits.max_concurrent_calls_per_client)
        return Error(ErrorKind::LimitExceeded)
               << "the client already has " << client.calls_in_flight
               << " calls running (max_concurrent_calls_per_client="
               << limits.max_concurrent_calls_per_client << ")";
    if (calls_in_flight_total_ >= limits.max_concurrent_calls_total)
        return Error(ErrorKind::LimitExceeded)
               << "teed already runs " << calls_in_flight_total_
               << " calls (max_concurrent_calls_total=" << limits.max_concurrent_calls_total << ")";
    return {};
}

void Manager::count_call_in(Client& client) {
    ++client.calls_in_flight;
    ++calls_in_flight_total_;
}

Result<std::shared_ptr<Manager::OpenPlan>> Manager::plan_open(const OpenSessionRequest& request,
                                                              const Limits& limits) {
    auto plan = std::make_shared<OpenPlan>();
    plan->request.uuid = TEED_TRY(Uuid::parse(request.uuid));
    TEED_TRY(validate_login(request.login));
    TEED_TRY(validate_gp_params(request.params,
                                {limits.max_memref_bytes, limits.max_call_memref_bytes}));
    plan->requested_login = request.login;
    plan->request.login = kernel_login(request.login);
    plan->request.connection_data = request.connection_data;
    plan->request.cancel_id = request.cancel_id.value_or(0);
    plan->request.params = request.params;

    std::vector<PublishedDevice*> targets;
    if (!request.device.empty()) {
        PublishedDevice* device = devices_.find(request.device);
        if (device == nullptr)
            return Error(ErrorKind::NotFound) << "no TEE device named '" << request.device << "'";
        if (!device->description.supports_gp_sessions())
            return Error(ErrorKind::NotSupported)
                   << "device '" << request.device << "' ("
                   << device->description.implementation() << ") has no GlobalPlatform sessions";
        targets.push_back(device);
    } else {
        for (const auto& device : devices_.devices())
            if (device->description.supports_gp_sessions()) targets.push_back(device.get());
        if (targets.empty())
            return Error(ErrorKind::DeviceUnavailable)
                   << "no TEE device with GlobalPlatform sessions is available";
    }
    plan->targets = std::move(targets);
    return plan;
}

void Manager::attach_contexts(Client& client, OpenPlan& plan) {
    for (PublishedDevice* device : plan.targets) {
        auto& context = client.contexts[device->description.name];
        if (!context) context = std::make_shared<DeviceContext>(*device);
        plan.candidates.push_back(context);
    }
}

// Root, and teed's own user: who may call the privileged methods and keep a place in the
// administrative reserve.
bool Manager::is_administrator(uid_t uid) { return uid == 0 || uid == geteuid(); }

void Manager::with_admin_client(const std::string& caller, std::function<void(Result<Client*>)> next) {
    caller_credentials(caller, [this, caller, next = std::move(next)](Result<const Credentials*> creds) {
        if (!creds.ok()) return next(std::move(creds).error());
        Client* client = clients_.find(caller);
        if (client == nullptr) return next(Error(ErrorKind::Cancelled) << "the client disconnected");
        next(client);
    });
}

void Manager::with_client(const std::string& caller, std::function<void(Result<Client*>)> next) {
    with_admin_client(caller, [this, caller, next = std::move(next)](Result<Client*> client) {
        if (!client.ok() || !client.value()->beyond_max_clients) return next(client);
        // A regular place came free since: the client takes it.
        if (clients_.regular_count() < global_limits().max_clients) {
            client.value()->beyond_max_clients = false;
            return next(client);
        }
        Error refused = Error(ErrorKind::LimitExceeded)
                        << "teed already serves " << global_limits().max_clients
                        << " clients; this connection has a place kept for root and teed's own "
                           "user, for GetStatistics and ReloadPolicy only (max_clients="
                        << global_limits().max_clients << ")";
        audit_denial(AuditEvent::RequestDenied, *client.value(), refused);
        // Only the administrators may keep such a place; anyone else's would fill the reserve.
        if (!is_administrator(client.value()->credentials->uid)) clients_.remove(caller);
        next(std::move(refused));
    });
}

void Manager::open_session(const std::string& caller, OpenSessionRequest request, OpenDone done) {
    with_client(caller, [this, request = std::move(request), done](Result<Client*> client) mutable {
        if (!client.ok()) return done(std::move(client).error());
        continue_open(*client.value(), std::move(request), std::move(done));
    });
}

void Manager::continue_open(Client& client, OpenSessionRequest request, OpenDone done) {
    const std::string& caller = client.unique_name;
    // Registered memory decides the device when the caller named none.
    if (request.device.empty()) request.device = device_of_shared_memory(caller, request.params);
    if (auto resolved = resolve_shared_memory(caller, request.params, request.device); !resolved.ok())
        return done(std::move(resolved).error());
    auto plan_or = plan_open(request, limits_of(client));
    if (!plan_or.ok()) return done(std::move(plan_or).error());
    auto plan = std::move(plan_or).value();
    if (auto authorized = authorize_open(client, *plan); !authorized.ok())
        return done(std::move(authorized).error());
    if (auto admitted = admit_open(client); !admitted.ok()) {
        audit_denial(AuditEvent::RequestDenied, client, admitted.error(),
                     {.ta = plan->request.uuid.to_string(), .login = login_name(plan->requested_login)});
        return done(std::move(admitted).error());
    }
    attach_contexts(client, *plan);
    ++client.opens_in_flight;
    ++opens_in_flight_;
    count_call_in(client);
    start_open(caller, plan, std::move(done));
}

Result<void> Manager::admit_open(Client& client) {
    const Limits& limits = limits_of(client);
    if (client.sessions.size() + client.opens_in_flight >= limits.max_sessions_per_client)
        return Error(ErrorKind::LimitExceeded)
               << "the client already has " << client.sessions.size()
               << " sessions (max_sessions_per_client=" << limits.max_sessions_per_client << ")";
    size_t sessions_total = Session::live_count() + opens_in_flight_;
    if (sessions_total >= limits.max_sessions_total)
        return Error(ErrorKind::LimitExceeded)
               << "teed already has " << sessions_total
               << " sessions open or opening (max_sessions_total=" << limits.max_sessions_total << ")";
    return admit_call(client);
}

Result<void> Manager::authorize_open(Client& client, OpenPlan& plan) {
    const Credentials& creds = *client.credentials;
    std::shared_ptr<const Policy> policy = policy_.current();
    AuditRecord record{.ta = plan.request.uuid.to_string(), .login = login_name(plan.requested_login)};
    auto deny = [&](AuditEvent event, Error error) -> Result<void> {
        audit_denial(event, client, error, record);
        return error;
    };
    if (is_application_login(plan.requested_login) && !policy->enables_application_logins())
        return deny(AuditEvent::SessionDenied,
                    Error(ErrorKind::NotSupported)
                        << "login method " << plan.requested_login << " (" << record.login
                        << ") is not enabled: the kernel has no application identity, and teed's own"
                           " is used only when a policy rule allows an APPLICATION login"
                           " (docs/policy.md); use TEEC_LOGIN_PUBLIC (0), USER (1) or GROUP (2)");
    if (is_group_login(plan.requested_login) && !creds.in_group(plan.request.connection_data))
        return deny(AuditEvent::SessionDenied,
                    Error(ErrorKind::AccessDenied)
                        << "GROUP login: the client is not a member of group "
                        << plan.request.connection_data);

    // Of the devices that could serve the request, keep those the policy allows.
    PolicyClient who = policy_client(creds);
    std::vector<PublishedDevice*> allowed;
    std::optional<PolicyDecision> first_denial;
    for (PublishedDevice* device : plan.targets) {
        SessionRequest asked{device->description.name, plan.request.uuid, plan.requested_login};
        PolicyDecision decision = policy->decide_session(who, asked, config_.limits);
        if (decision.effect == PolicyEffect::Allow) allowed.push_back(device);
        else if (!first_denial) first_denial = std::move(decision);
    }
    if (allowed.empty()) {
        record.device = plan.targets.size() == 1 ? plan.targets.front()->description.name : "";
        record.rule = first_denial->rule;
        return deny(AuditEvent::SessionDenied,
                    Error(ErrorKind::AccessDenied)
                        << "the policy denies uid " << creds.uid << " sessions with TA "
                        << record.ta << " using login " << record.login
                        << (record.device.empty() ? "" : " on " + record.device) << " (rule '"
                        << first_denial->rule << "'"
                        << (first_denial->source.empty() ? "" : " at " + first_denial->source)
                        << "); Manager.GetClientInfo shows which rules apply to you");
    }
    plan.targets = std::move(allowed);
    if (needs_client_identity(plan.request.login)) {
        plan.act_as = creds;
        plan.act_as_gid = is_group_login(plan.requested_login)
                              ? plan.request.connection_data
                              : (creds.gid != static_cast<gid_t>(-1)
                                     ? creds.gid
                                     : (creds.groups.empty() ? creds.uid : creds.groups.front()));
    }
    return {};
}

void Manager::start_open(const std::string& caller, std::shared_ptr<OpenPlan> plan, OpenDone done) {
    workers_.submit([this, alive = alive_, caller, plan, done]() mutable {
        auto opened = run_open(*plan);
        plan->request.params.clear();  // as in invoke: release shared memory before replying
        if (opened.ok())
            for (auto& p : opened.value().reply.params) p.memory.reset();
        loop_.post([this, alive, caller, plan, opened = std::move(opened), done]() mutable {
            if (*alive) finish_open(caller, plan, std::move(opened), std::move(done));
        });
    });
}

void Manager::finish_open(const std::string& caller, const std::shared_ptr<OpenPlan>& plan,
                          Result<GpOpenReply> opened, OpenDone done) {
    --opens_in_flight_;
    --calls_in_flight_total_;
    Client* client = clients_.find(caller);
    if (client != nullptr) {
        --client->opens_in_flight;
        --client->calls_in_flight;
    }
    if (opened.ok() && opened->reply.return_code == gp::kSuccess)
        return publish_session(caller, plan, opened.value(), std::move(done));
    // The plan may hold the last references to contexts of a client that left.
    workers_.submit([contexts = std::move(plan->candidates)]() mutable { contexts.clear(); });
    if (!opened.ok()) return done(std::move(opened).error());
    done(OpenSessionOutcome{nullptr, std::move(opened->reply)});
}

void Manager::publish_session(const std::string& caller, const std::shared_ptr<OpenPlan>& plan,
                              GpOpenReply& reply, OpenDone done) {
    Client* client = clients_.find(caller);
    auto session = std::make_shared<Session>(random_object_id(), caller,
                                             plan->candidates[plan->chosen], reply.session_id,
                                             plan->request.uuid, plan->requested_login);
    if (client == nullptr) {
        // The client left while the TEE opened the session: close it again at once.
        session->mark_closing();
        submit_close(session, nullptr);
        workers_.submit([contexts = std::move(plan->candidates)]() mutable { contexts.clear(); });
        return done(Error(ErrorKind::Cancelled) << "the client disconnected during OpenSession");
    }
    client->sessions[session->id()] = session;
    audit_.record({.event = AuditEvent::SessionOpened,
                   .client = audit_client(*client),
                   .device = session->device_name(),
                   .ta = session->uuid().to_string(),
                   .session = session->id(),
                   .login = login_name(session->login())});
    done(OpenSessionOutcome{std::move(session), std::move(reply.reply)});
}

std::shared_ptr<Session> Manager::find_session(const std::string& caller, const std::string& id) {
    Client* client = clients_.find(caller);
    if (client == nullptr) return nullptr;
    auto it = client->sessions.find(id);
    return it == client->sessions.end() ? nullptr : it->second;
}

void Manager::invoke(const std::string& caller, const std::shared_ptr<Session>& session,
                     uint32_t command, GpParams params, std::optional<uint32_t> cancel_id,
                     InvokeDone done) {
    if (auto resolved = resolve_shared_memory(caller, params, session->device_name()); !resolved.ok())
        return done(std::move(resolved).error());
    Client* client = clients_.find(caller);
    if (client == nullptr || session->closing())
        return done(Error(ErrorKind::NotFound) << "session '" << session->id() << "' is closed");
    const Limits& limits = limits_of(*client);
    auto valid = validate_gp_params(params, {limits.max_memref_bytes, limits.max_call_memref_bytes});
    if (!valid.ok()) return done(std::move(valid).error());
    if (auto admitted = admit_call(*client); !admitted.ok()) {
        audit_denial(AuditEvent::RequestDenied, *client, admitted.error(),
                     {.device = session->device_name(), .ta = session->uuid().to_string(),
                      .session = session->id()});
        return done(std::move(admitted).error());
    }

    uint32_t id = cancel_id.value_or(0);
    count_call_in(*client);
    session->begin_call(id);
    workers_.submit([this, alive = alive_, caller, session, command, params = std::move(params), id,
                     done]() mutable {
        auto reply = session->invoke(command, params, id);
        // Drop the call's hold on shared memory before the reply goes out: a Release the client
        // sends right after the reply must not find the memory still in use.
        params.clear();
        if (reply.ok())
            for (auto& p : reply.value().params) p.memory.reset();
        loop_.post([this, alive, caller, session, id, reply = std::move(reply), done]() mutable {
            if (!*alive) return;
            end_call(caller, session, id);
            done(std::move(reply));
            release_off_loop(std::move(session));
        });
    });
}

void Manager::release_off_loop(std::shared_ptr<Session> session) {
    // Dropping the last reference to a closed session can close its device context, which may
    // call into the secure world: let a worker do it.
    if (session && session->closing())
        workers_.submit([s = std::move(session)]() mutable { s.reset(); });
}

void Manager::end_call(const std::string& caller, const std::shared_ptr<Session>& session,
                       uint32_t cancel_id) {
    session->end_call(cancel_id);
    --calls_in_flight_total_;
    if (Client* client = clients_.find(caller)) --client->calls_in_flight;
    if (session->closing() && session->idle()) submit_close(session, nullptr);
}

void Manager::request_cancellation(const std::string& caller,
                                   const std::shared_ptr<Session>& session, uint32_t cancel_id,
                                   Done done) {
    if (!session->has_call_with_cancel_id(cancel_id))
        return done(Error(ErrorKind::NotFound)
                    << "no call with cancel id " << cancel_id << " is running on session '"
                    << session->id() << "'");
    log_debug("cancellation requested", {{"TEED_CLIENT", caller},
                                         {"TEED_SESSION", session->id()},
                                         {"TEED_CANCEL_ID", std::to_string(cancel_id)}});
    // The one already running covers this request: no client can fill the workers with them.
    if (session->cancelling(cancel_id)) return done({});
    session->set_cancelling(cancel_id, true);
    workers_.submit_urgent([this, alive = alive_, session, cancel_id, done]() mutable {
        auto result = session->cancel(cancel_id);
        loop_.post([this, alive, session, cancel_id, result = std::move(result), done]() mutable {
            if (!*alive) return;
            session->set_cancelling(cancel_id, false);
            done(std::move(result));
            release_off_loop(std::move(session));
        });
    });
}

void Manager::close_session(const std::string& caller, const std::string& id, Done done) {
    auto session = find_session(caller, id);
    if (!session) return done(Error(ErrorKind::NotFound) << "no session '" << id << "'");
    retire_session(session, std::move(done));
}

void Manager::retire_session(const std::shared_ptr<Session>& session, Done done) {
    Client* client = clients_.find(session->owner());
    if (client != nullptr) client->sessions.erase(session->id());
    audit_close(client, *session, "closed by the client");
    session->mark_closing();
    if (session->idle()) return submit_close(session, std::move(done));
    // Calls still running: the session closes when the last returns (end_call).
    if (done) done({});
}

void Manager::submit_close(std::shared_ptr<Session> session, Done done) {
    workers_.submit([this, alive = alive_, session = std::move(session), done]() mutable {
        auto closed = session->close_in_tee();
        if (!closed.ok())
            log_warning("closing a session in the TEE failed, ignoring",
                        {{"TEED_SESSION", session->id()}, {"TEED_ERROR", closed.error().message()}});
        if (!done) return;
        loop_.post([alive, closed = std::move(closed), done]() mutable {
            if (*alive) done(std::move(closed));
        });
    });
}

void Manager::audit_close(const Client* client, const Session& session, const std::string& reason) {
    AuditRecord record{.event = AuditEvent::SessionClosed,
                       .device = session.device_name(),
                       .ta = session.uuid().to_string(),
                       .session = session.id(),
                       .login = login_name(session.login()),
                       .reason = reason};
    if (client != nullptr) record.client = audit_client(*client);
    else record.client.bus_name = session.owner();
    audit_.record(record);
}

void Manager::caller_credentials(const std::string& caller,
                                 std::function<void(Result<const Credentials*>)> done) {
    auto client_or = clients_.find_or_create(caller, global_limits().max_clients,
                                             defaults::kAdministrativeReserve);
    if (!client_or.ok()) {
        // Through the audit trail: a refused client retrying must not flood the journal.
        audit_.record({.event = AuditEvent::RequestDenied,
                       .client = {.bus_name = caller},
                       .reason = client_or.error().message()});
        return done(std::move(client_or).error());
    }
    Client& client = *client_or.value();
    if (client.credentials) return done(&*client.credentials);
    client.credential_waiters.push_back(std::move(done));
    if (client.credentials_requested) return;
    client.credentials_requested = true;
    credentials_.lookup(caller, [this, alive = alive_, caller](Result<Credentials> creds) {
        if (!*alive) return;
        if (!creds.ok()) return credentials_found(caller, std::move(creds));
        workers_.submit([this, alive, caller, creds = std::move(creds).value()]() mutable {
            auto completed = credentials_.complete(std::move(creds));
            loop_.post([this, alive, caller, completed = std::move(completed)]() mutable {
                if (*alive) credentials_found(caller, std::move(completed));
            });
        });
    });
}

void Manager::credentials_found(const std::string& caller, Result<Credentials> creds) {
    Client* c = clients_.find(caller);
    if (c == nullptr) return;  // gone meanwhile; its waiters went with it
    auto waiters = std::move(c->credential_waiters);
    c->credential_waiters.clear();
    c->credentials_requested = false;
    if (!creds.ok()) {
        log_warning("cannot identify a client", {{"TEED_CLIENT", caller},
                                                 {"TEED_ERROR", creds.error().message()}});
        for (auto& waiter : waiters) waiter(creds.error());
        return;
    }
    c->credentials = std::move(creds).value();
    for (auto& waiter : waiters) waiter(&*c->credentials);
}

void Manager::client_vanished(const std::string& unique_name) {
    auto client = clients_.remove(unique_name);
    if (!client) return;
    shm_bytes_total_ -= client->shm_bytes;
    size_t sessions = client->sessions.size();
    for (auto& [id, session] : client->sessions) {
        audit_close(client.get(), *session, "the client left the bus");
        session->mark_closing();
        if (session->idle()) submit_close(session, nullptr);
    }
    // Memory and contexts are freed on a worker: closing a TEE context may call into the secure
    // world. Memory that running calls still use goes when they return.
    workers_.submit([contexts = std::move(client->contexts),
                     memory = std::move(client->shared_memory)]() mutable {
        memory.clear();
        contexts.clear();
    });
    log_info("client left", {{"TEED_CLIENT", unique_name},
                             {"TEED_SESSIONS_CLOSED", std::to_string(sessions)}});
}

ManagerStatistics Manager::statistics() const {
    ManagerStatistics stats;
    stats.clients = clients_.size();
    stats.sessions = clients_.session_count();
    stats.shared_memory = clients_.shared_memory_count();
    stats.live_sessions = Session::live_count();
    stats.device_contexts = DeviceContext::live_count();
    stats.workers_busy = workers_.busy();
    stats.work_queued = workers_.queued();
    stats.calls_in_flight = calls_in_flight_total_;
    stats.shared_memory_bytes = shm_bytes_total_;
    stats.audit_suppressed = audit_.suppressed_total();
    return stats;
}

void Manager::check_privileged(const std::string& caller, const std::string& what, Done done) {
    with_admin_client(caller, [this, caller, what, done = std::move(done)](Result<Client*> client) {
        if (!client.ok()) return done(std::move(client).error());
        uid_t uid = client.value()->credentials->uid;
        if (is_administrator(uid)) return done({});
        Error refused = Error(ErrorKind::AccessDenied)
                        << what << " is for root and teed's own user only (the caller is uid " << uid << ")";
        audit_denial(AuditEvent::RequestDenied, *client.value(), refused);
        // A place in the reserve is not this caller's to keep: it would lock the administrators
        // out again. The client holds nothing yet (it could not call anything else).
        if (client.value()->beyond_max_clients) clients_.remove(caller);
        done(std::move(refused));
    });
}

void Manager::reload_policy(std::function<void(PolicyLoadReport)> done) {
    // Reading files and resolving names (NSS may ask a network service) must not hold the loop.
    workers_.submit([this, alive = alive_, directories = policy_.directories(), done]() mutable {
        LoadedPolicy loaded = load_policy(directories, MissingPath::Ignore);
        loop_.post([this, alive, loaded = std::move(loaded), done]() mutable {
            if (!*alive) return;
            log_policy_report(loaded.report);
            if (loaded.policy) {
                policy_.install(std::move(loaded.policy));
                audit_.record({.event = AuditEvent::PolicyReloaded,
                               .reason = std::to_string(loaded.report.files.size()) + " files, " +
                                         std::to_string(loaded.report.rules) + " rules"});
            }
            done(std::move(loaded.report));
        });
    });
}

void Manager::client_info(const std::string& caller, std::function<void(Result<ClientInfo>)> done) {
    with_client(caller, [this, done = std::move(done)](Result<Client*> client_or) {
        if (!client_or.ok()) return done(std::move(client_or).error());
        Client& client = *client_or.value();
        std::shared_ptr<const Policy> policy = policy_.current();
        ClientInfo info;
        info.credentials = *client.credentials;
        info.application_identity = application_identity(client.credentials->executable);
        info.application_logins = policy->enables_application_logins();
        info.limits = limits_of(client);
        info.rules = policy->matching_rules(policy_client(*client.credentials));
        info.sessions = static_cast<uint32_t>(client.sessions.size());
        info.shared_memory = static_cast<uint32_t>(client.shared_memory.size());
        info.shared_memory_bytes = client.shm_bytes;
        info.calls_in_flight = client.calls_in_flight;
        done(std::move(info));
    });
}

namespace {

Result<GpOpenReply> run_open(Manager::OpenPlan& plan) {
    for (size_t i = 0; i < plan.candidates.size(); ++i) {
        auto gp_or = plan.candidates[i]->gp_client();
        if (!gp_or.ok()) {
            if (i + 1 < plan.candidates.size()) {
                log_warning("cannot open a device, trying the next one",
                            {{"TEED_DEVICE", plan.candidates[i]->description().name},
                             {"TEED_ERROR", gp_or.error().message()}});
                continue;
            }
            return std::move(gp_or).error();
        }
        GpClient* gp = gp_or.value();
        std::optional<ScopedThreadCredentials> identity;
        if (plan.act_as) {
            auto scope = ScopedThreadCredentials::assume(*plan.act_as, plan.act_as_gid);
            if (!scope.ok())
                return Error(ErrorKind::NotSupported)
                       << "USER and GROUP logins need teed to act as the client: "
                       << scope.error().message();
            identity.emplace(std::move(scope).value());
        }
        auto opened = gp->open_session(plan.request);
        identity.reset();
        if (!opened.ok()) {
            const Error& e = opened.error();
            return Error(e.kind())
                   << "opening a session on '" << plan.candidates[i]->description().name
                   << "': " << e.message();
        }
        bool missing = opened->reply.return_code == gp::kErrorItemNotFound &&
                       opened->reply.return_origin == gp::kOriginTee;
        if (missing && i + 1 < plan.candidates.size()) continue;
        plan.chosen = i;
        return opened;
    }
    return Error(ErrorKind::Internal) << "no candidate device";
}

}  // namespace

}  // namespace teed
