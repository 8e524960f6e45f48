#pragma once
// Which TA each instance id of the simulated secure world belongs to. OP-TEE's socket requests
// name only a TA instance (optee_os core/pta/socket.c sends the calling context's instance id);
// the simulator, unlike OP-TEE, also tells the normal world whose instance it is, so that teed
// can apply socket rules per TA (docs/supplicant.md, section sockets).
//
//   uint32_t instance = instances.add(uuid);   // when the TA instance starts
//   instances.find(instance);                  // -> uuid
//   instances.remove(instance);                // when it ends

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>

#include "common/uuid.h"

namespace teed::sim {

class TaInstances {
public:
    uint32_t add(const Uuid& ta) {
        std::lock_guard lock(mutex_);
        while (next_ == 0 || instances_.contains(next_)) ++next_;
        const uint32_t id = next_++;
        instances_.emplace(id, ta);
        return id;
    }
    void remove(uint32_t id) {
        std::lock_guard lock(mutex_);
        instances_.erase(id);
    }
    std::optional<Uuid> find(uint32_t id) const {
        std::lock_guard lock(mutex_);
        auto found = instances_.find(id);
        if (found == instances_.end()) return std::nullopt;
        return found->second;
    }

private:
    mutable std::mutex mutex_;
    std::map<uint32_t, Uuid> instances_;
    uint32_t next_ = 1;
};

}  // namespace teed::sim
