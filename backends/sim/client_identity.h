#pragma once
// The client identity the kernel gives a TA at open session (tee_core.c,
// tee_session_calc_client_uuid): computed from the *calling thread's* credentials, never taken
// from the caller.

#include <cstdint>

#include "common/result.h"
#include "common/uuid.h"

namespace teed::sim {

// PUBLIC → nil; USER → UUIDv5(ns, "uid=%x" of the thread's euid); GROUP → UUIDv5(ns, "gid=%x")
// of the gid in the first sizeof(gid_t) octets of `clnt_uuid`, EPERM unless the thread has it as
// egid or supplementary group. Other methods (APPLICATION and friends) → EINVAL, as mainline
// defines no identity for them. REE-kernel logins are refused with EPERM before this is reached.
Result<Uuid> client_identity(uint32_t login, const uint8_t (&clnt_uuid)[16]);

}  // namespace teed::sim
