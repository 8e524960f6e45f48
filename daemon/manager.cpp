#include "daemon/manager.h"

#include "backends/kernel/gp.h"
#include "common/log.h"
#include "daemon/event_loop.h"
#include "daemon/worker_pool.h"

namespace teed {

// Everything a worker needs to open a session, decided on the loop thread.
struct Manager::OpenPlan {
    GpOpenRequest request;
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

// Runs on a worker: tries each candidate device until one has the TA.
Result<GpOpenReply> run_open(Manager::OpenPlan& plan);

}  // namespace

Result<void> validate_login(uint32_t login) {
    switch (login) {
        case gp::kLoginPublic:
        case gp::kLoginUser:
        case gp::kLoginGroup:
            return {};
        case gp::kLoginApplication:
        case gp::kLoginUserApplication:
        case gp::kLoginGroupApplication:
            return Error(ErrorKind::NotSupported)
                   << "login method " << login
                   << " (APPLICATION) is not supported: the kernel defines no application identity;"
                      " use TEEC_LOGIN_PUBLIC (0), USER (1) or GROUP (2)";
        default:
            if (is_kernel_login(login))
                return Error(ErrorKind::AccessDenied)
                       << "login method 0x" << std::hex << login
                       << " is reserved for the kernel's own clients";
            return Error(ErrorKind::InvalidArgument)
                   << "login method " << login << " is not a GlobalPlatform login method";
    }
}

Manager::Manager(const Config& config, DeviceRegistry& devices, EventLoop& loop,
                 WorkerPool& workers, CredentialsSource& credentials)
    : config_(config), devices_(devices), loop_(loop), workers_(workers), credentials_(credentials) {}

Manager::~Manager() { *alive_ = false; }

Result<void> Manager::admit_call(Client& client) {
    const Limits& limits = config_.limits;
    if (client.calls_in_flight >= limits.max_concurrent_calls_per_client)
        return Error(ErrorKind::LimitExceeded)
               << "the client already has " << client.calls_in_flight
               << " calls running (max_concurrent_calls_per_client="
               << limits.max_concurrent_calls_per_client << ")";
    return {};
}

Result<std::shared_ptr<Manager::OpenPlan>> Manager::plan_open(const OpenSessionRequest& request) {
    auto plan = std::make_shared<OpenPlan>();
    plan->request.uuid = TEED_TRY(Uuid::parse(request.uuid));
    TEED_TRY(validate_login(request.login));
    TEED_TRY(validate_gp_params(request.params,
                                {config_.limits.max_memref_bytes, config_.limits.max_call_memref_bytes}));
    plan->request.login = request.login;
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

void Manager::open_session(const std::string& caller, OpenSessionRequest request, OpenDone done) {
    // Registered memory decides the device when the caller named none.
    if (request.device.empty()) request.device = device_of_shared_memory(caller, request.params);
    if (auto resolved = resolve_shared_memory(caller, request.params, request.device); !resolved.ok())
        return done(std::move(resolved).error());
    auto plan_or = plan_open(request);
    if (!plan_or.ok()) return done(std::move(plan_or).error());
    auto plan = std::move(plan_or).value();
    auto client_or = clients_.find_or_create(caller, config_.limits.max_clients);
    if (!client_or.ok()) return done(std::move(client_or).error());
    Client& client = *client_or.value();

    const Limits& limits = config_.limits;
    if (client.sessions.size() + client.opens_in_flight >= limits.max_sessions_per_client)
        return done(Error(ErrorKind::LimitExceeded)
                    << "the client already has " << client.sessions.size()
                    << " sessions (max_sessions_per_client=" << limits.max_sessions_per_client << ")");
    size_t sessions_total = Session::live_count() + opens_in_flight_;
    if (sessions_total >= limits.max_sessions_total)
        return done(Error(ErrorKind::LimitExceeded)
                    << "teed already has " << sessions_total
                    << " sessions open or opening (max_sessions_total=" << limits.max_sessions_total
                    << ")");
    if (auto admitted = admit_call(client); !admitted.ok()) return done(std::move(admitted).error());
    attach_contexts(client, *plan);
    ++client.opens_in_flight;
    ++client.calls_in_flight;
    ++opens_in_flight_;

    if (!needs_client_identity(plan->request.login)) return start_open(caller, plan, std::move(done));
    caller_credentials(caller, [this, caller, plan, done](Result<const Credentials*> creds) mutable {
        if (!creds.ok()) return finish_open(caller, plan, std::move(creds).error(), std::move(done));
        const Credentials& c = *creds.value();
        if (plan->request.login == gp::kLoginGroup && !c.in_group(plan->request.connection_data))
            return finish_open(caller, plan,
                               Error(ErrorKind::AccessDenied)
                                   << "GROUP login: the client is not a member of group "
                                   << plan->request.connection_data,
                               std::move(done));
        plan->act_as = c;
        plan->act_as_gid = plan->request.login == gp::kLoginGroup
                               ? plan->request.connection_data
                               : (c.groups.empty() ? c.uid : c.groups.front());
        start_open(caller, plan, std::move(done));
    });
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
                                             plan->request.uuid, plan->request.login);
    if (client == nullptr) {
        // The client left while the TEE opened the session: close it again at once.
        session->mark_closing();
        submit_close(session, nullptr);
        workers_.submit([contexts = std::move(plan->candidates)]() mutable { contexts.clear(); });
        return done(Error(ErrorKind::Cancelled) << "the client disconnected during OpenSession");
    }
    client->sessions[session->id()] = session;
    log_info("session opened", {{"TEED_CLIENT", caller},
                                {"TEED_SESSION", session->id()},
                                {"TEED_DEVICE", session->device_name()},
                                {"TEED_TA_UUID", session->uuid().to_string()},
                                {"TEED_LOGIN", std::to_string(session->login())}});
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
    auto valid = validate_gp_params(params, {config_.limits.max_memref_bytes,
                                             config_.limits.max_call_memref_bytes});
    if (!valid.ok()) return done(std::move(valid).error());
    Client* client = clients_.find(caller);
    if (client == nullptr || session->closing())
        return done(Error(ErrorKind::NotFound) << "session '" << session->id() << "' is closed");
    if (auto admitted = admit_call(*client); !admitted.ok()) return done(std::move(admitted).error());

    uint32_t id = cancel_id.value_or(0);
    ++client->calls_in_flight;
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
    if (Client* client = clients_.find(session->owner())) client->sessions.erase(session->id());
    session->mark_closing();
    if (session->idle()) return submit_close(session, std::move(done));
    // Calls still running: the session closes when the last returns (end_call).
    if (done) done({});
}

void Manager::submit_close(std::shared_ptr<Session> session, Done done) {
    workers_.submit([this, alive = alive_, session = std::move(session), done]() mutable {
        auto closed = session->close_in_tee();
        log_info("session closed", {{"TEED_CLIENT", session->owner()},
                                    {"TEED_SESSION", session->id()},
                                    {"TEED_DEVICE", session->device_name()},
                                    {"TEED_TA_UUID", session->uuid().to_string()}});
        if (!closed.ok())
            log_warning("closing a session in the TEE failed, ignoring",
                        {{"TEED_SESSION", session->id()}, {"TEED_ERROR", closed.error().message()}});
        if (!done) return;
        loop_.post([alive, closed = std::move(closed), done]() mutable {
            if (*alive) done(std::move(closed));
        });
    });
}

void Manager::caller_credentials(const std::string& caller,
                                 std::function<void(Result<const Credentials*>)> done) {
    auto client_or = clients_.find_or_create(caller, config_.limits.max_clients);
    if (!client_or.ok()) return done(std::move(client_or).error());
    Client& client = *client_or.value();
    if (client.credentials) return done(&*client.credentials);
    client.credential_waiters.push_back(std::move(done));
    if (client.credentials_requested) return;
    client.credentials_requested = true;
    credentials_.lookup(caller, [this, alive = alive_, caller](Result<Credentials> creds) {
        if (!*alive) return;
        Client* c = clients_.find(caller);
        if (c == nullptr) return;  // gone meanwhile; its waiters went with it
        auto waiters = std::move(c->credential_waiters);
        c->credential_waiters.clear();
        c->credentials_requested = false;
        if (!creds.ok()) {
            for (auto& waiter : waiters) waiter(creds.error());
            return;
        }
        c->credentials = std::move(creds).value();
        for (auto& waiter : waiters) waiter(&*c->credentials);
    });
}

void Manager::client_vanished(const std::string& unique_name) {
    auto client = clients_.remove(unique_name);
    if (!client) return;
    size_t sessions = client->sessions.size();
    for (auto& [id, session] : client->sessions) {
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
    return stats;
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
