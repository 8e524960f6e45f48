// The Manager's shared-memory objects (GP's registered memory): creation on workers, lookup for
// registered-memory memrefs, release.

#include <fcntl.h>
#include <sys/stat.h>

#include "backends/kernel/gp.h"
#include "common/object_path.h"
#include "common/log.h"
#include "daemon/event_loop.h"
#include "daemon/manager.h"
#include "daemon/worker_pool.h"

namespace teed {
namespace {

// A client's memfd must not shrink under the TEE (the pages would vanish mid-call): it must
// carry F_SEAL_SHRINK, as fwupd requires of the fds it maps. teed maps it read-write (the TEE
// writes outputs into it), so it must be open read-write and not sealed against writing; those
// are the client's mistakes, named here rather than surfacing as mmap's EACCES or EPERM.
Result<void> check_client_memfd(int fd, uint64_t size) {
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0)
        return Error(ErrorKind::InvalidArgument)
               << "the fd is not a memfd (F_GET_SEALS failed: " << strerror(errno)
               << "); create it with memfd_create(MFD_ALLOW_SEALING)";
    if (!(seals & F_SEAL_SHRINK))
        return Error(ErrorKind::InvalidArgument)
               << "the memfd is not sealed against shrinking; add F_SEAL_SHRINK with F_ADD_SEALS";
    if (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))
        return Error(ErrorKind::InvalidArgument)
               << "the memfd is sealed against writing; the TEE writes into shared memory, so "
                  "leave F_SEAL_WRITE and F_SEAL_FUTURE_WRITE off";
    int status = fcntl(fd, F_GETFL);
    if (status < 0 || (status & O_ACCMODE) != O_RDWR)
        return Error(ErrorKind::InvalidArgument)
               << "the memfd is not open for reading and writing; pass the fd memfd_create() "
                  "returned, not a read-only reopening";
    struct stat st {};
    if (fstat(fd, &st) < 0) return ErrnoError() << "fstat on the memfd";
    if (static_cast<uint64_t>(st.st_size) < size)
        return Error(ErrorKind::InvalidArgument)
               << "the memfd holds " << st.st_size << " bytes, fewer than the size " << size;
    return {};
}

// The id of a path under kSharedMemoryPath; "" (never an id) for any other path, so that a
// path that merely ends in one of the caller's ids names nothing.
std::string shm_id_of(const std::string& path) { return object_id_under(kSharedMemoryPath, path); }

}  // namespace

Result<PublishedDevice*> Manager::shm_device(const std::string& name) {
    if (!name.empty()) {
        PublishedDevice* device = devices_.find(name);
        if (device == nullptr) return Error(ErrorKind::NotFound) << "no TEE device named '" << name << "'";
        if (!device->description.supports_gp_sessions())
            return Error(ErrorKind::NotSupported) << "device '" << name << "' has no GP shared memory";
        return device;
    }
    for (const auto& device : devices_.devices())
        if (device->description.supports_gp_sessions()) return device.get();
    return Error(ErrorKind::DeviceUnavailable) << "no TEE device with GlobalPlatform sessions";
}

Result<void> Manager::admit_shared_memory(Client& client, const SharedMemoryRequest& request) {
    const Limits& limits = limits_of(client);
    if (request.size == 0) return Error(ErrorKind::InvalidArgument) << "shared memory of size 0";
    if (request.flags == 0 || (request.flags & ~(gp::kMemInput | gp::kMemOutput)) != 0)
        return Error(ErrorKind::InvalidArgument)
               << "flags " << request.flags << " are not TEEC_MEM_INPUT (1), TEEC_MEM_OUTPUT (2) or both";
    if (request.size > limits.max_shm_bytes)
        return Error(ErrorKind::LimitExceeded)
               << "shared memory of " << request.size << " bytes exceeds max_shm_bytes="
               << limits.max_shm_bytes;
    if (client.shared_memory.size() + client.shm_creations_in_flight >= limits.max_shm_per_client)
        return Error(ErrorKind::LimitExceeded)
               << "the client already has " << client.shared_memory.size()
               << " shared-memory objects (max_shm_per_client=" << limits.max_shm_per_client << ")";
    if (client.shm_bytes + request.size > limits.max_shm_bytes_per_client)
        return Error(ErrorKind::LimitExceeded)
               << "the client's shared memory would grow from " << client.shm_bytes << " to "
               << client.shm_bytes + request.size
               << " bytes (max_shm_bytes_per_client=" << limits.max_shm_bytes_per_client << ")";
    if (shm_bytes_total_ + request.size > limits.max_shm_bytes_total)
        return Error(ErrorKind::LimitExceeded)
               << "teed's shared memory would grow from " << shm_bytes_total_ << " to "
               << shm_bytes_total_ + request.size
               << " bytes (max_shm_bytes_total=" << limits.max_shm_bytes_total << ")";
    return {};
}

void Manager::release_shm_bytes(Client* client, uint64_t bytes) {
    shm_bytes_total_ -= bytes;
    if (client != nullptr) client->shm_bytes -= bytes;
}

Result<std::shared_ptr<DeviceContext>> Manager::start_shared_memory(
    Client& client, const SharedMemoryRequest& request) {
    PublishedDevice* device = TEED_TRY(shm_device(request.device));
    if (auto admitted = admit_shared_memory(client, request); !admitted.ok()) {
        if (admitted.error().kind() == ErrorKind::LimitExceeded)
            audit_denial(AuditEvent::RequestDenied, client, admitted.error(),
                         {.device = device->description.name});
        return std::move(admitted).error();
    }
    auto& context = client.contexts[device->description.name];
    if (!context) context = std::make_shared<DeviceContext>(*device);
    ++client.shm_creations_in_flight;
    client.shm_bytes += request.size;
    shm_bytes_total_ += request.size;
    return context;
}

void Manager::register_shared_memory(const std::string& caller, std::shared_ptr<UniqueFd> memfd,
                                     SharedMemoryRequest request, ShmDone done) {
    if (auto checked = check_client_memfd(memfd->get(), request.size); !checked.ok())
        return done(std::move(checked).error());
    with_client(caller, [this, memfd, request, done](Result<Client*> client) mutable {
        if (!client.ok()) return done(std::move(client).error());
        continue_register(*client.value(), std::move(memfd), request, std::move(done));
    });
}

void Manager::continue_register(Client& client, std::shared_ptr<UniqueFd> memfd,
                                SharedMemoryRequest request, ShmDone done) {
    const std::string caller = client.unique_name;
    auto context_or = start_shared_memory(client, request);
    if (!context_or.ok()) return done(std::move(context_or).error());
    auto context = std::move(context_or).value();
    bool reg_mem = context->description().version.gen_caps & TEE_GEN_CAP_REG_MEM;
    std::string name = context->description().name;
    workers_.submit([this, alive = alive_, caller, name, context, memfd, request, reg_mem, done] {
        Result<std::shared_ptr<GpSharedMemory>> memory = [&]() -> Result<std::shared_ptr<GpSharedMemory>> {
            GpClient* gp = TEED_TRY(context->gp_client());
            return std::shared_ptr<GpSharedMemory>(
                TEED_TRY(gp->register_memory(memfd->get(), request.size, request.flags, reg_mem)));
        }();
        loop_.post([this, alive, caller, name, size = request.size, memory = std::move(memory),
                    done]() mutable {
            if (*alive) publish_shared_memory(caller, name, size, std::move(memory), std::move(done));
        });
    });
}

void Manager::allocate_shared_memory(const std::string& caller, SharedMemoryRequest request,
                                     AllocateDone done) {
    with_client(caller, [this, request, done](Result<Client*> client) mutable {
        if (!client.ok()) return done(std::move(client).error());
        continue_allocate(*client.value(), request, std::move(done));
    });
}

void Manager::continue_allocate(Client& client, SharedMemoryRequest request, AllocateDone done) {
    const std::string caller = client.unique_name;
    auto context_or = start_shared_memory(client, request);
    if (!context_or.ok()) return done(std::move(context_or).error());
    auto context = std::move(context_or).value();
    std::string name = context->description().name;
    workers_.submit([this, alive = alive_, caller, name, context, request, done] {
        auto fd = std::make_shared<UniqueFd>();
        Result<std::shared_ptr<GpSharedMemory>> memory = [&]() -> Result<std::shared_ptr<GpSharedMemory>> {
            GpClient* gp = TEED_TRY(context->gp_client());
            auto allocated = TEED_TRY(gp->allocate_memory(request.size, request.flags));
            *fd = std::move(allocated.second);
            return std::shared_ptr<GpSharedMemory>(std::move(allocated.first));
        }();
        loop_.post([this, alive, caller, name, fd, size = request.size, memory = std::move(memory),
                    done]() mutable {
            if (!*alive) return;
            publish_shared_memory(caller, name, size, std::move(memory),
                                  [fd, done](Result<std::shared_ptr<SharedMemoryObject>> object) {
                                      if (!object.ok()) return done(std::move(object).error());
                                      done(std::make_pair(std::move(object).value(), fd));
                                  });
        });
    });
}

void Manager::publish_shared_memory(const std::string& caller, const std::string& device,
                                    uint64_t size, Result<std::shared_ptr<GpSharedMemory>> memory,
                                    ShmDone done) {
    Client* client = clients_.find(caller);
    if (client != nullptr) --client->shm_creations_in_flight;
    // A client that left had its bytes taken off the totals with it.
    if (!memory.ok()) {
        if (client != nullptr) release_shm_bytes(client, size);
        return done(std::move(memory).error());
    }
    if (client == nullptr) {
        // The client left meanwhile: free the memory off the loop (unregistering may block).
        workers_.submit([m = std::move(memory).value()]() mutable { m.reset(); });
        return done(Error(ErrorKind::Cancelled) << "the client disconnected");
    }
    auto object = std::make_shared<SharedMemoryObject>(random_object_id(), caller,
                                                       client->contexts.at(device),
                                                       std::move(memory).value());
    client->shared_memory[object->id()] = object;
    log_info("shared memory created", {{"TEED_CLIENT", caller},
                                       {"TEED_SHM", object->id()},
                                       {"TEED_DEVICE", device},
                                       {"TEED_SHM_SIZE", std::to_string(object->memory()->size())},
                                       {"TEED_SHM_ZERO_COPY", object->memory()->zero_copy() ? "1" : "0"}});
    done(std::move(object));
}

std::shared_ptr<SharedMemoryObject> Manager::find_shared_memory(const std::string& caller,
                                                                const std::string& id) {
    Client* client = clients_.find(caller);
    if (client == nullptr) return nullptr;
    auto it = client->shared_memory.find(id);
    return it == client->shared_memory.end() ? nullptr : it->second;
}

void Manager::release_shared_memory(const std::string& caller, const std::string& id, Done done) {
    Client* client = clients_.find(caller);
    auto object = find_shared_memory(caller, id);
    if (client == nullptr || !object)
        return done(Error(ErrorKind::NotFound) << "no shared memory '" << id << "'");
    if (object->in_use())
        return done(Error(ErrorKind::Busy) << "shared memory '" << id
                                           << "' is in use by a running call; release it after");
    client->shared_memory.erase(id);
    release_shm_bytes(client, object->memory()->size());
    workers_.submit([object = std::move(object)]() mutable { object.reset(); });
    done({});
}

std::string Manager::device_of_shared_memory(const std::string& caller, const GpParams& params) {
    for (const auto& p : params) {
        if (p.shm == "/") continue;
        if (auto object = find_shared_memory(caller, shm_id_of(p.shm))) return object->device_name();
    }
    return "";
}

Result<void> Manager::resolve_shared_memory(const std::string& caller, GpParams& params,
                                            const std::string& device) {
    for (size_t i = 0; i < params.size(); ++i) {
        GpParam& p = params[i];
        if (p.shm == "/") continue;
        auto object = find_shared_memory(caller, shm_id_of(p.shm));
        if (!object)
            return Error(ErrorKind::NotFound)
                   << "param " << i << ": no shared memory object '" << p.shm << "'";
        if (object->device_name() != device)
            return Error(ErrorKind::InvalidArgument)
                   << "param " << i << ": shared memory '" << p.shm << "' is on device '"
                   << object->device_name() << "', the session on '" << device << "'";
        p.memory = object->memory();
    }
    return {};
}

}  // namespace teed
