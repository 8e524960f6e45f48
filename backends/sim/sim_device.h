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
#include <optional>
#include <string>

#include "backends/kernel/device.h"
#include "common/uuid.h"

namespace teed {

namespace sim {
class SupplicantRpc;
}

// The ABI between the simulated OP-TEE driver and its secure world. It decides how shared memory
// reaches the secure world, and so which buffers the supplicant may answer the secure world's
// OPTEE_RPC_CMD_SHM_ALLOC with (docs/simulator.md, "Driver flavours").
enum class SimAbi {
    // drivers/tee/optee/smc_abi.c as Linux 6.1 has it. With dynamic shared memory (`reg_mem`)
    // every shm reaches OP-TEE as a list of its pages, which memory allocated from the driver's
    // pool (TEE_IOC_SHM_ALLOC) does not keep: the supplicant must answer with registered memory.
    // Without it (`reg_mem` false) all memory comes from the reserved static pool.
    Smc,
    // drivers/tee/optee/ffa_abi.c: every shm is shared with the secure world through FF-A and
    // named by its handle, allocated and registered alike. TEE_GEN_CAP_REG_MEM and
    // TEE_GEN_CAP_MEMREF_NULL are always reported.
    FfA,
};

struct SimOptions {
    std::string name = "simtee0";
    // The node's supplicant device, made by make_simulated_tee().
    std::string supplicant_name = "simteepriv0";
    SimAbi abi = SimAbi::Smc;
    // What TEE_IOC_VERSION reports on the SMC ABI (the FF-A ABI reports both, whatever these
    // say); gen_caps always includes TEE_GEN_CAP_GP.
    bool reg_mem = true;      // TEE_GEN_CAP_REG_MEM: OP-TEE has dynamic shared memory
    bool memref_null = true;  // TEE_GEN_CAP_MEMREF_NULL
    // The shared-memory pool of the node, as the OP-TEE driver's pool would limit it.
    uint64_t shm_pool_bytes = 256ull << 20;
};

// Returns a SimDeviceNode; its path() is "sim:" followed by the name. The TEE has no supplicant
// device: TAs' requests to the normal world fail with TEEC_ERROR_COMMUNICATION.
std::unique_ptr<DeviceNode> make_simulated_node(const SimOptions& options);

// A simulated OP-TEE with both of its devices, as the OP-TEE driver registers them: the client
// node (`options.name`) and the supplicant node (`options.supplicant_name`, path "sim:" + name),
// through which one context at a time serves the TAs' requests (SUPPL_RECV / SUPPL_SEND).
struct SimTee {
    std::unique_ptr<DeviceNode> client;
    std::unique_ptr<DeviceNode> supplicant;
};
SimTee make_simulated_tee(const SimOptions& options);

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
    // The TAs' requests to the supplicant queued or taken and not yet answered.
    virtual size_t pending_supplicant_requests() const = 0;
    // What the secure world's threads send their requests through: lets a supplicant be tested
    // with requests of any shape, as a TA would send them.
    virtual sim::SupplicantRpc& secure_world_rpc() = 0;
    // The TA a socket request's instance id belongs to (sim/ta_instances.h), while the instance
    // lives. OP-TEE does not tell this; the simulator does, so that teed's socket rules can name
    // TAs on it.
    virtual std::optional<Uuid> ta_of_instance(uint32_t instance) const = 0;
};

}  // namespace teed
