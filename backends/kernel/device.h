#pragma once
// The device layer: one interface mirroring the kernel TEE ioctls, with two implementations, the
// kernel's (real ioctl(2) on /dev/teeN) and the simulator's (backends/sim). Backends cannot tell
// them apart: both take the same UAPI structures, and for OPEN_SESSION, INVOKE, SUPPL_RECV,
// SUPPL_SEND and OBJECT_INVOKE a tee_ioctl_buf_data that points at the argument and its params.
//
//   auto node = ...;                       // a DeviceNode from discovery or the simulator
//   auto ctx = TEED_TRY(node->open());     // one context, as open("/dev/tee0") gives
//   tee_ioctl_version_data v = TEED_TRY(ctx->version());
//
// Errors carry the errno the kernel would return (EINVAL, EPERM, ENODEV, ...). Every method may be
// called from several threads at once, as ioctls on one fd may.

#include <memory>
#include <string>

#include "backends/kernel/tee_uapi.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace teed {

// One open TEE context (what one open() of /dev/teeN or /dev/teeprivN gives). Destroying it
// closes every session and frees every shm of the context, as closing the fd does.
class Device {
public:
    virtual ~Device() = default;

    virtual Result<tee_ioctl_version_data> version() = 0;
    // Returns the shm's fd: mmap it to reach the memory; the shm lives while the fd or a
    // mapping of it does.
    virtual Result<UniqueFd> shm_alloc(tee_ioctl_shm_alloc_data& data) = 0;
    virtual Result<UniqueFd> shm_register(tee_ioctl_shm_register_data& data) = 0;
    virtual Result<void> open_session(const tee_ioctl_buf_data& buf) = 0;
    virtual Result<void> invoke(const tee_ioctl_buf_data& buf) = 0;
    virtual Result<void> cancel(const tee_ioctl_cancel_arg& arg) = 0;
    virtual Result<void> close_session(const tee_ioctl_close_session_arg& arg) = 0;
    virtual Result<void> supp_recv(const tee_ioctl_buf_data& buf) = 0;
    virtual Result<void> supp_send(const tee_ioctl_buf_data& buf) = 0;
    virtual Result<void> object_invoke(const tee_ioctl_buf_data& buf) = 0;
};

// A device node: something that can be opened into contexts.
class DeviceNode {
public:
    virtual ~DeviceNode() = default;
    // "tee0", "teepriv0", "simtee0": unique among nodes, usable as a D-Bus path element.
    virtual const std::string& name() const = 0;
    // "/dev/tee0", or "sim:simtee0" for simulated nodes.
    virtual const std::string& path() const = 0;
    virtual bool simulated() const = 0;
    virtual Result<std::unique_ptr<Device>> open() = 0;
};

}  // namespace teed
