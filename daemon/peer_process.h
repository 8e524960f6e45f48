#pragma once
// What /proc says about a bus client's process, beyond what the bus attests: its effective
// (primary) gid, its systemd unit and its executable. D-Bus in Debian bookworm (1.14) reports only
// uid, groups and pid, so these are read through the pid the bus reported, and are only as
// trustworthy as that pid (docs/policy.md, "What teed knows about a client"):
//
//   PeerProcess peer = TEED_TRY(read_peer_process(creds.pid, creds.uid));
//   Uuid app = application_identity(peer.executable);
//
// A pid can be reused once its process has exited. read_peer_process() therefore refuses a process
// whose effective uid is not the one the bus attested, and reads the process's start time before
// and after everything else, refusing if it changed. A client that exits and whose pid is taken by
// another process of the same user between connecting and its first call can still be mistaken
// for that process: the unit and executable are those of a process of the same user.

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/result.h"
#include "common/uuid.h"

namespace teed {

struct PeerProcess {
    gid_t gid = static_cast<gid_t>(-1);  // effective gid ("Gid:" line, second field)
    // Its service or scope, as sd_pid_get_unit() names it; "" when it is in neither.
    std::string unit;
    // The target of /proc/PID/exe without a " (deleted)" suffix; "" when teed may not read it.
    std::string executable;
    uint64_t start_time = 0;  // field 22 of /proc/PID/stat, clock ticks since boot
};

// NotFound when the process is gone; AccessDenied when its effective uid is not `expected_uid` or
// it changed while being read (the pid was reused); InvalidArgument for a pid of 0 (none known).
// `proc_root` is for tests, which lay out a fake /proc/PID with stat, status, cgroup and exe.
Result<PeerProcess> read_peer_process(pid_t pid, uid_t expected_uid,
                                      const std::string& proc_root = "/proc");

// teed's own application identity for the APPLICATION login methods: UUIDv5 of "path=<executable>"
// in the kernel's client-identity namespace (58ac9ca0-2086-4683-a1b8-ec4bc08e01b6), the form
// proposed for the kernel's own LOGIN_APPLICATION. Nil for an empty path.
Uuid application_identity(const std::string& executable);

}  // namespace teed
