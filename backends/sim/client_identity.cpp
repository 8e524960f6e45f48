#include "backends/sim/client_identity.h"

#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include "backends/kernel/tee_uapi.h"
#include "backends/sim/sim_device.h"

// Credentials are per thread in the kernel, and the daemon switches them per thread with raw
// syscalls; glibc's getters would return the same values, but the raw calls make it explicit
// that the calling thread's credentials are what the kernel hashes. 32-bit ABIs name the
// 32-bit-id versions differently.
#if defined(SYS_getresuid32)
#define TEED_SYS_GETRESUID SYS_getresuid32
#define TEED_SYS_GETRESGID SYS_getresgid32
#define TEED_SYS_GETGROUPS SYS_getgroups32
#else
#define TEED_SYS_GETRESUID SYS_getresuid
#define TEED_SYS_GETRESGID SYS_getresgid
#define TEED_SYS_GETGROUPS SYS_getgroups
#endif

namespace teed::sim {
namespace {

const Uuid& client_namespace() {
    static const Uuid ns = Uuid::parse(kClientUuidNamespace).value();
    return ns;
}

Uuid hashed(const char* key, unsigned value) {
    char name[32];
    int n = std::snprintf(name, sizeof(name), "%s=%x", key, value);
    return Uuid::v5(client_namespace(), std::string_view(name, static_cast<size_t>(n)));
}

Result<uid_t> thread_euid() {
    uid_t ruid = 0, euid = 0, suid = 0;
    if (::syscall(TEED_SYS_GETRESUID, &ruid, &euid, &suid) != 0) return ErrnoError() << "getresuid";
    return euid;
}

// in_egroup_p(): the thread's egid or one of its supplementary groups.
Result<bool> thread_in_group(gid_t gid) {
    gid_t rgid = 0, egid = 0, sgid = 0;
    if (::syscall(TEED_SYS_GETRESGID, &rgid, &egid, &sgid) != 0) return ErrnoError() << "getresgid";
    if (egid == gid) return true;
    long count = ::syscall(TEED_SYS_GETGROUPS, 0, nullptr);
    if (count < 0) return ErrnoError() << "getgroups";
    std::vector<gid_t> groups(static_cast<size_t>(count));
    count = ::syscall(TEED_SYS_GETGROUPS, count, groups.data());
    if (count < 0) return ErrnoError() << "getgroups";
    groups.resize(static_cast<size_t>(count));
    return std::find(groups.begin(), groups.end(), gid) != groups.end();
}

}  // namespace

Result<Uuid> client_identity(uint32_t login, const uint8_t (&clnt_uuid)[16]) {
    switch (login) {
        case TEE_IOCTL_LOGIN_PUBLIC:
        case TEE_IOCTL_LOGIN_REE_KERNEL:
            return Uuid{};
        case TEE_IOCTL_LOGIN_USER:
            return hashed("uid", TEED_TRY(thread_euid()));
        case TEE_IOCTL_LOGIN_GROUP: {
            gid_t gid = 0;
            std::memcpy(&gid, clnt_uuid, sizeof(gid));
            if (gid == static_cast<gid_t>(-1) || !TEED_TRY(thread_in_group(gid)))
                return ErrnoError(EPERM) << "GROUP login with gid " << gid
                                         << " the calling thread is not a member of";
            return hashed("gid", gid);
        }
        default:
            return ErrnoError(EINVAL) << "login method " << login << " is not supported";
    }
}

}  // namespace teed::sim
