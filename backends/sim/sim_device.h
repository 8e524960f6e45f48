#pragma once
// The simulated TEE: a DeviceNode that behaves as the kernel's TEE core plus the OP-TEE driver
// plus a secure world with built-in TAs (docs/simulator.md). It is a product feature: `teed
// --simulate` publishes such nodes so people can develop against teed on any machine.
//
//   auto node = make_simulated_node({.name = "simtee0"});
//   auto ctx = TEED_TRY(node->open());
//   ... the same UAPI calls as on /dev/tee0 ...
//
// The TAs run on the calling thread: open_session() and invoke() block for as long as the TA
// runs, as the ioctls do. Any method may be called from several threads at once. A context must
// not be destroyed while one of its own calls is still running on another thread (the kernel
// keeps the file alive until the ioctl returns; a C++ object cannot do that for its caller).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "backends/kernel/device.h"

namespace teed {

struct SimOptions {
    std::string name = "simtee0";
    // What TEE_IOC_VERSION reports; gen_caps always includes TEE_GEN_CAP_GP.
    bool reg_mem = true;      // TEE_GEN_CAP_REG_MEM
    bool memref_null = true;  // TEE_GEN_CAP_MEMREF_NULL
    // The shared-memory pool of the node, as the OP-TEE driver's pool would limit it.
    uint64_t shm_pool_bytes = 256ull << 20;
};

// Returns a SimDeviceNode; its path() is "sim:" followed by the name.
std::unique_ptr<DeviceNode> make_simulated_node(const SimOptions& options);

// The identity namespace the kernel hashes USER/GROUP logins in (tee_core.c).
inline constexpr const char* kClientUuidNamespace = "58ac9ca0-2086-4683-a1b8-ec4bc08e01b6";

// What every context of a simulated node is, beyond Device: diagnostics for leak and
// concurrency tests (dynamic_cast a Device from a simulated node to reach them).
class SimDevice : public Device {
public:
    // Frees the context's shms whose fd and mappings are gone (as the kernel would have
    // already), then counts those left, allocated and registered.
    virtual size_t live_shm_count() = 0;
    virtual size_t open_session_count() const = 0;
    // open_session() and invoke() calls of this context that have reached the secure world and
    // not yet returned (queued behind another call on the same session, or inside the TA).
    virtual size_t operations_in_progress() const = 0;
};

// What make_simulated_node() returns, beyond DeviceNode: node-wide diagnostics.
class SimDeviceNode : public DeviceNode {
public:
    // Frees every dead shm of the node, including those of destroyed contexts, then counts
    // those left.
    virtual size_t live_shm_count() = 0;
    // Page-rounded bytes of the pool held by live shms (after the same sweep).
    virtual uint64_t shm_pool_used() = 0;
    // Sessions open in the secure world, across all contexts.
    virtual size_t open_session_count() const = 0;
};

}  // namespace teed
