#include "daemon/client_registry.h"

namespace teed {

Client* ClientRegistry::find(const std::string& unique_name) {
    auto it = clients_.find(unique_name);
    return it == clients_.end() ? nullptr : it->second.get();
}

Result<Client*> ClientRegistry::find_or_create(const std::string& unique_name, uint32_t max_clients,
                                               uint32_t reserve) {
    if (Client* client = find(unique_name)) return client;
    if (clients_.size() >= max_clients + reserve)
        return Error(ErrorKind::LimitExceeded)
               << "teed already serves " << clients_.size() << " clients (max_clients=" << max_clients
               << ")";
    const bool beyond = regular_count() >= max_clients;
    auto [it, inserted] = clients_.emplace(unique_name, std::make_unique<Client>(unique_name));
    it->second->beyond_max_clients = beyond;
    return it->second.get();
}

std::unique_ptr<Client> ClientRegistry::remove(const std::string& unique_name) {
    auto it = clients_.find(unique_name);
    if (it == clients_.end()) return nullptr;
    auto client = std::move(it->second);
    clients_.erase(it);
    return client;
}

size_t ClientRegistry::regular_count() const {
    size_t count = 0;
    for (const auto& [name, client] : clients_) count += client->beyond_max_clients ? 0 : 1;
    return count;
}

size_t ClientRegistry::session_count() const {
    size_t count = 0;
    for (const auto& [name, client] : clients_) count += client->sessions.size();
    return count;
}

size_t ClientRegistry::shared_memory_count() const {
    size_t count = 0;
    for (const auto& [name, client] : clients_) count += client->shared_memory.size();
    return count;
}

}  // namespace teed
