#pragma once
// A client's identity as the bus attested it when the client connected (GetConnectionCredentials:
// SO_PEERCRED and SO_PEERGROUPS), never as the client claims it, completed with what /proc says of
// the process the bus named (daemon/peer_process.h): its primary gid, unit and executable.

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/result.h"

namespace teed {

struct Credentials {
    uid_t uid = static_cast<uid_t>(-1);
    std::vector<gid_t> groups;  // every group the bus reports for the connection
    pid_t pid = 0;              // for logs, and to read the fields below
    gid_t gid = static_cast<gid_t>(-1);  // effective (primary) gid, from /proc; -1 if unknown
    std::string unit;                    // systemd unit of its cgroup, or ""
    std::string executable;              // its executable's path, or "" if unreadable

    // Its primary group or a supplementary one, as the kernel's in_egroup_p().
    bool in_group(gid_t g) const;
};

// Makes the calling thread, and only it, act as `creds` (effective uid, effective gid and
// supplementary groups) until destroyed, so that the kernel computes TEE login identities from
// the client and not from teed. Uses the raw per-thread syscalls: glibc's wrappers would change
// every thread of the process. Needs CAP_SETUID and CAP_SETGID (or root).
class ScopedThreadCredentials {
public:
    // `egid` is the group the thread acts as: the client's GROUP login gid, or its first group.
    static Result<ScopedThreadCredentials> assume(const Credentials& creds, gid_t egid);
    ScopedThreadCredentials(ScopedThreadCredentials&& other) noexcept;
    ScopedThreadCredentials& operator=(ScopedThreadCredentials&&) = delete;
    ~ScopedThreadCredentials();

private:
    ScopedThreadCredentials() = default;
    bool active_ = false;
    uid_t saved_euid_ = 0;
    gid_t saved_egid_ = 0;
    std::vector<gid_t> saved_groups_;
};

}  // namespace teed
