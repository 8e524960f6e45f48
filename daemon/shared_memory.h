#pragma once
// A shared-memory object a client created (Manager.RegisterSharedMemory or AllocateSharedMemory),
// owned by the client's unique name, on one of its device contexts.

#include <memory>
#include <string>

#include "backends/optee/gp_client.h"
#include "daemon/session.h"

namespace teed {

class SharedMemoryObject {
public:
    SharedMemoryObject(std::string id, std::string owner, std::shared_ptr<DeviceContext> context,
                       std::shared_ptr<GpSharedMemory> memory)
        : id_(std::move(id)), owner_(std::move(owner)), context_(std::move(context)),
          memory_(std::move(memory)) {}

    const std::string& id() const { return id_; }
    const std::string& owner() const { return owner_; }
    const std::string& device_name() const { return context_->description().name; }
    const std::shared_ptr<GpSharedMemory>& memory() const { return memory_; }
    // Calls hold references to the memory while they run.
    bool in_use() const { return memory_.use_count() > 1; }

private:
    std::string id_;
    std::string owner_;
    std::shared_ptr<DeviceContext> context_;  // the memory lives in this context
    std::shared_ptr<GpSharedMemory> memory_;
};

}  // namespace teed
