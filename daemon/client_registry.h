#pragma once
// Per-connection state: every object a client creates is tied to its unique bus name and destroyed
// when that name leaves the bus.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/config.h"
#include "daemon/credentials.h"
#include "daemon/session.h"
#include "daemon/shared_memory.h"

namespace teed {

struct Client {
    explicit Client(std::string name) : unique_name(std::move(name)) {}

    std::string unique_name;
    std::optional<Credentials> credentials;
    bool credentials_requested = false;
    std::vector<std::function<void(Result<const Credentials*>)>> credential_waiters;
    std::map<std::string, std::shared_ptr<DeviceContext>> contexts;  // by device name
    std::map<std::string, std::shared_ptr<Session>> sessions;         // by session id
    std::map<std::string, std::shared_ptr<SharedMemoryObject>> shared_memory;  // by id
    uint32_t shm_creations_in_flight = 0;
    uint64_t shm_bytes = 0;        // of its objects, those being created included
    uint32_t calls_in_flight = 0;  // opens and invokes
    uint32_t opens_in_flight = 0;
    // Admitted past max_clients, into the administrative reserve: privileged methods only.
    bool beyond_max_clients = false;
    // Its effective limits (Manager::limits_of), and the policy they were computed under.
    Limits limits;
    std::shared_ptr<const void> limits_policy;
};

class ClientRegistry {
public:
    Client* find(const std::string& unique_name);
    // Creates the entry on a client's first call; LimitExceeded past `max_clients` plus
    // `reserve` (the places past max_clients are marked beyond_max_clients).
    Result<Client*> find_or_create(const std::string& unique_name, uint32_t max_clients,
                                   uint32_t reserve = 0);
    std::unique_ptr<Client> remove(const std::string& unique_name);

    size_t size() const { return clients_.size(); }
    // Those not in the administrative reserve: the ones max_clients counts.
    size_t regular_count() const;
    size_t session_count() const;
    size_t shared_memory_count() const;

private:
    std::map<std::string, std::unique_ptr<Client>> clients_;
};

}  // namespace teed
