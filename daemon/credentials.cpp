#include "daemon/credentials.h"

#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "common/log.h"

namespace teed {
namespace {

long set_thread_euid(uid_t euid) { return syscall(SYS_setresuid, -1, euid, -1); }
long set_thread_egid(gid_t egid) { return syscall(SYS_setresgid, -1, egid, -1); }
long set_thread_groups(const std::vector<gid_t>& groups) {
    return syscall(SYS_setgroups, groups.size(), groups.data());
}

}  // namespace

bool Credentials::in_group(gid_t g) const {
    return gid == g || std::find(groups.begin(), groups.end(), g) != groups.end();
}

Result<ScopedThreadCredentials> ScopedThreadCredentials::assume(const Credentials& creds,
                                                                gid_t egid) {
    // A non-root teed that acts as root and back has its capabilities dropped by the kernel's
    // setuid fixup (every uid nonzero again), and could not restore its groups afterwards.
    // teed.service sets SecureBits=no-setuid-fixup for this; without it, refuse up front.
    if (geteuid() != 0 && creds.uid == 0 &&
        !(prctl(PR_GET_SECUREBITS) & (1 << SECURE_NO_SETUID_FIXUP)))
        return Error(ErrorKind::NotSupported)
               << "acting as root needs teed to run as root or with SecureBits=no-setuid-fixup";
    ScopedThreadCredentials scope;
    scope.saved_euid_ = geteuid();
    scope.saved_egid_ = getegid();
    int count = getgroups(0, nullptr);
    if (count < 0) return ErrnoError() << "reading teed's groups";
    scope.saved_groups_.resize(static_cast<size_t>(count));
    if (getgroups(count, scope.saved_groups_.data()) < 0) return ErrnoError() << "reading teed's groups";

    // Groups first, while the thread still has its own privileges; the uid last.
    if (set_thread_groups(creds.groups) < 0)
        return ErrnoError() << "taking the client's groups (teed needs CAP_SETGID)";
    scope.active_ = true;  // from here on the destructor restores
    if (set_thread_egid(egid) < 0) return ErrnoError() << "taking gid " << egid << " (teed needs CAP_SETGID)";
    if (set_thread_euid(creds.uid) < 0)
        return ErrnoError() << "taking uid " << creds.uid << " (teed needs CAP_SETUID)";
    return scope;
}

ScopedThreadCredentials::ScopedThreadCredentials(ScopedThreadCredentials&& other) noexcept
    : active_(other.active_),
      saved_euid_(other.saved_euid_),
      saved_egid_(other.saved_egid_),
      saved_groups_(std::move(other.saved_groups_)) {
    other.active_ = false;
}

ScopedThreadCredentials::~ScopedThreadCredentials() {
    if (!active_) return;
    // The uid first: getting back to teed's own uid (its real and saved uid) is always allowed and
    // restores the capabilities needed for the rest.
    bool restored = set_thread_euid(saved_euid_) == 0 && set_thread_egid(saved_egid_) == 0 &&
                    set_thread_groups(saved_groups_) == 0;
    if (!restored) {
        // A worker left with a client's identity would act for the wrong principal from now on.
        log_error("cannot restore teed's credentials on a worker thread; aborting",
                  {{"ERRNO", std::to_string(errno)}});
        std::abort();
    }
}

}  // namespace teed
