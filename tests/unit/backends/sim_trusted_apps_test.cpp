// The built-in TAs of the simulated secure world, and the client identities they are given,
// driven through a simulated device with real UAPI buffers.

#include <grp.h>
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/backends/sim_test_support.h"

namespace teed::simtest {
namespace {

// Identities computed outside this code base, with Python's uuid.uuid5 in the kernel's namespace
// 58ac9ca0-2086-4683-a1b8-ec4bc08e01b6.
constexpr const char* kUid0 = "ef0180a3-13f3-5d1c-b7f5-888c0e21059a";      // "uid=0"
constexpr const char* kUid65534 = "38a74241-5cff-5d47-aadb-674ee89bf466";  // "uid=fffe"
constexpr const char* kGid0 = "d93bc168-f863-58d3-a1fe-bb2039421b99";      // "gid=0"
constexpr const char* kGid777 = "0d6d2414-b720-5832-88b9-2d8d83d6f468";    // "gid=309"

class ATrustedApp : public SimulatedDeviceTest {
protected:
    // Runs hello_world's `command` on `value`; the argument shows what was written back.
    InvokeArg hello(uint32_t session, uint32_t command, uint64_t value) {
        InvokeArg arg = invoke_arg(session, command, 4);
        arg.param(0) = {.attr = kValueInout, .a = value, .b = 0, .c = 0};
        EXPECT_EQ(err(ctx_->invoke(arg.buf())), 0);
        return arg;
    }
};

struct Whoami {
    int err = -1;
    uint32_t ret = 0;
    uint64_t login = 0;
    std::string identity;
};

// Opens whoami with `login` (and `gid` in clnt_uuid) and asks it who the session is.
Whoami whoami(Device& device, uint32_t login, gid_t gid = 0) {
    Whoami out;
    OpenArg open = open_arg(kWhoami, 0, login);
    std::memcpy(open.header().clnt_uuid, &gid, sizeof(gid));
    out.err = err(device.open_session(open.buf()));
    if (out.err != 0) return out;
    MappedShm shm(device, 16);
    InvokeArg invoke = invoke_arg(open.header().session, 0, 2);
    invoke.param(0) = {.attr = kValueOut, .a = 0, .b = 0, .c = 0};
    invoke.param(1) = memref(kMemrefOut, shm, 0, 16);
    out.err = err(device.invoke(invoke.buf()));
    out.ret = invoke.header().ret;
    out.login = invoke.param(0).a;
    Uuid identity;
    std::memcpy(identity.bytes.data(), shm.data(), 16);
    out.identity = identity.to_string();
    EXPECT_EQ(err(device.close_session({.session = open.header().session})), 0);
    return out;
}

TEST_F(ATrustedApp, HelloWorldIncrementsAndDecrements) {
    uint32_t session = open_ok(*ctx_, kHelloWorld);
    InvokeArg inc = hello(session, 0, 41);
    EXPECT_EQ(inc.header().ret, gp::kSuccess);
    EXPECT_EQ(inc.header().ret_origin, gp::kOriginTrustedApp);
    EXPECT_EQ(inc.param(0).a, 42u);
    EXPECT_EQ(hello(session, 1, 42).param(0).a, 41u);
}

TEST_F(ATrustedApp, SeesValuesAs32BitsAndKeepsTheCallersC) {
    uint32_t session = open_ok(*ctx_, kHelloWorld);
    InvokeArg arg = invoke_arg(session, 0, 1);
    arg.param(0) = {.attr = kValueInout, .a = 0x100000005ull, .b = 0x200000007ull, .c = 99};
    ASSERT_EQ(err(ctx_->invoke(arg.buf())), 0);
    EXPECT_EQ(arg.param(0).a, 6u);  // the TA saw 5
    EXPECT_EQ(arg.param(0).b, 7u);
    EXPECT_EQ(arg.param(0).c, 99u);                              // OP-TEE returns a and b only
    EXPECT_EQ(hello(session, 0, 0xffffffffull).param(0).a, 0u);  // wraps in 32 bits
}

TEST_F(ATrustedApp, HelloWorldRefusesOpenSessionParameters) {
    OpenArg open = open_arg(kHelloWorld, 1);
    open.param(0) = {.attr = kValueIn, .a = 1, .b = 2, .c = 3};
    ASSERT_EQ(err(ctx_->open_session(open.buf())), 0);
    EXPECT_EQ(open.header().ret, gp::kErrorBadParameters);
    EXPECT_EQ(open.header().ret_origin, gp::kOriginTrustedApp);
    EXPECT_EQ(open.header().session, 0u);
    EXPECT_EQ(sim().open_session_count(), 0u);
}

TEST_F(ATrustedApp, HelloWorldRefusesWrongTypesAndUnknownCommands) {
    uint32_t session = open_ok(*ctx_, kHelloWorld);
    InvokeArg wrong = invoke_arg(session, 0, 1);
    wrong.param(0) = {.attr = kValueIn, .a = 1, .b = 0, .c = 0};
    ASSERT_EQ(err(ctx_->invoke(wrong.buf())), 0);
    EXPECT_EQ(wrong.header().ret, gp::kErrorBadParameters);
    EXPECT_EQ(wrong.header().ret_origin, gp::kOriginTrustedApp);
    InvokeArg unknown = hello(session, 2, 5);
    EXPECT_EQ(unknown.header().ret, gp::kErrorBadParameters);
    EXPECT_EQ(unknown.header().ret_origin, gp::kOriginTrustedApp);
    EXPECT_EQ(unknown.param(0).a, 5u);
}

TEST_F(ATrustedApp, EchoReportsTheSizeItNeedsOnAShortBuffer) {
    MappedShm shm(*ctx_, 64);
    std::memcpy(shm.data(), "0123456789", 10);
    std::memset(shm.data() + 32, '.', 8);
    uint32_t session = open_ok(*ctx_, kEcho);
    InvokeArg invoke = invoke_arg(session, 0, 2);
    invoke.param(0) = memref(kMemrefIn, shm, 0, 10);
    invoke.param(1) = memref(kMemrefOut, shm, 32, 4);
    ASSERT_EQ(err(ctx_->invoke(invoke.buf())), 0);
    EXPECT_EQ(invoke.header().ret, gp::kErrorShortBuffer);
    EXPECT_EQ(invoke.header().ret_origin, gp::kOriginTrustedApp);
    EXPECT_EQ(invoke.param(1).b, 10u);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(shm.data() + 32), 8), "........");
    // The input memref is written back in nothing.
    EXPECT_EQ(invoke.param(0).a, 0u);
    EXPECT_EQ(invoke.param(0).b, 10u);
    EXPECT_EQ(invoke.param(0).c, static_cast<uint64_t>(shm.id()));
}

TEST_F(ATrustedApp, EchoOfANullMemrefIsEmpty) {
    uint32_t session = open_ok(*ctx_, kEcho);
    MappedShm shm(*ctx_, 16);
    InvokeArg invoke = invoke_arg(session, 0, 2);
    invoke.param(0) = {.attr = kMemrefIn, .a = 0, .b = 0, .c = TEE_MEMREF_NULL};
    invoke.param(1) = memref(kMemrefOut, shm, 0, 16);
    ASSERT_EQ(err(ctx_->invoke(invoke.buf())), 0);
    EXPECT_EQ(invoke.header().ret, gp::kSuccess);
    EXPECT_EQ(invoke.param(1).b, 0u);
}

TEST_F(ATrustedApp, EchoRefusesOtherTypesAndCommands) {
    MappedShm shm(*ctx_, 16);
    uint32_t session = open_ok(*ctx_, kEcho);
    InvokeArg inout = invoke_arg(session, 0, 2);
    inout.param(0) = memref(kMemrefIn, shm, 0, 4);
    inout.param(1) = memref(kMemrefInout, shm, 8, 4);
    ASSERT_EQ(err(ctx_->invoke(inout.buf())), 0);
    EXPECT_EQ(inout.header().ret, gp::kErrorBadParameters);
    InvokeArg other = invoke_arg(session, 1, 0);
    ASSERT_EQ(err(ctx_->invoke(other.buf())), 0);
    EXPECT_EQ(other.header().ret, gp::kErrorBadParameters);
}

TEST_F(ATrustedApp, CopyCopiesItsInputIntoItsOutput) {
    MappedShm shm(*ctx_, 64);
    std::memcpy(shm.data(), "0123456789", 10);
    std::memset(shm.data() + 32, '.', 16);
    uint32_t session = open_ok(*ctx_, kCopy);
    InvokeArg invoke = invoke_arg(session, 0, 2);
    invoke.param(0) = memref(kMemrefIn, shm, 0, 10);
    invoke.param(1) = memref(kMemrefOut, shm, 32, 16);
    ASSERT_EQ(err(ctx_->invoke(invoke.buf())), 0);
    EXPECT_EQ(invoke.header().ret, gp::kSuccess);
    EXPECT_EQ(invoke.header().ret_origin, gp::kOriginTrustedApp);
    EXPECT_EQ(invoke.param(1).b, 10u);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(shm.data() + 32), 16), "0123456789......");
}

TEST_F(ATrustedApp, CopyTakesInoutMemrefsThatOverlap) {
    MappedShm shm(*ctx_, 16);
    std::memcpy(shm.data(), "abcdefgh", 8);
    uint32_t session = open_ok(*ctx_, kCopy);
    InvokeArg invoke = invoke_arg(session, 0, 2);
    invoke.param(0) = memref(kMemrefInout, shm, 0, 6);
    invoke.param(1) = memref(kMemrefInout, shm, 2, 6);
    ASSERT_EQ(err(ctx_->invoke(invoke.buf())), 0);
    EXPECT_EQ(invoke.header().ret, gp::kSuccess);
    EXPECT_EQ(invoke.param(1).b, 6u);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(shm.data()), 8), "ababcdef");
}

TEST_F(ATrustedApp, CopyReportsTheSizeItNeedsOnAShortBuffer) {
    MappedShm shm(*ctx_, 64);
    std::memset(shm.data() + 32, '.', 8);
    uint32_t session = open_ok(*ctx_, kCopy);
    InvokeArg invoke = invoke_arg(session, 0, 2);
    invoke.param(0) = memref(kMemrefIn, shm, 0, 10);
    invoke.param(1) = memref(kMemrefOut, shm, 32, 9);
    ASSERT_EQ(err(ctx_->invoke(invoke.buf())), 0);
    EXPECT_EQ(invoke.header().ret, gp::kErrorShortBuffer);
    EXPECT_EQ(invoke.header().ret_origin, gp::kOriginTrustedApp);
    EXPECT_EQ(invoke.param(1).b, 10u);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(shm.data() + 32), 8), "........");
}

TEST_F(ATrustedApp, CopyOfANullMemrefIsEmpty) {
    uint32_t session = open_ok(*ctx_, kCopy);
    InvokeArg invoke = invoke_arg(session, 0, 2);
    invoke.param(0) = {.attr = kMemrefIn, .a = 0, .b = 0, .c = TEE_MEMREF_NULL};
    invoke.param(1) = {.attr = kMemrefOut, .a = 0, .b = 0, .c = TEE_MEMREF_NULL};
    ASSERT_EQ(err(ctx_->invoke(invoke.buf())), 0);
    EXPECT_EQ(invoke.header().ret, gp::kSuccess);
    EXPECT_EQ(invoke.param(1).b, 0u);
}

TEST_F(ATrustedApp, CopyRefusesOtherTypesAndCommands) {
    MappedShm shm(*ctx_, 16);
    uint32_t session = open_ok(*ctx_, kCopy);
    auto outcome = [&](uint32_t command, std::vector<tee_ioctl_param> params) {
        InvokeArg invoke = invoke_arg(session, command, static_cast<uint32_t>(params.size()));
        for (size_t i = 0; i < params.size(); ++i) invoke.param(i) = params[i];
        EXPECT_EQ(err(ctx_->invoke(invoke.buf())), 0);
        return invoke.header().ret;
    };
    const tee_ioctl_param in = memref(kMemrefIn, shm, 0, 4);
    const tee_ioctl_param out = memref(kMemrefOut, shm, 8, 4);
    const tee_ioctl_param value = {.attr = kValueIn, .a = 1, .b = 0, .c = 0};
    EXPECT_EQ(outcome(0, {in, out}), gp::kSuccess);
    EXPECT_EQ(outcome(1, {in, out}), gp::kErrorBadParameters);
    EXPECT_EQ(outcome(0, {out, out}), gp::kErrorBadParameters);
    EXPECT_EQ(outcome(0, {in, in}), gp::kErrorBadParameters);
    EXPECT_EQ(outcome(0, {value, out}), gp::kErrorBadParameters);
    EXPECT_EQ(outcome(0, {in}), gp::kErrorBadParameters);
    EXPECT_EQ(outcome(0, {in, out, value}), gp::kErrorBadParameters);
}

TEST_F(ATrustedApp, SleepReturnsWhenItsTimeIsUp) {
    uint32_t session = open_ok(*ctx_, kSleep);
    Outcome outcome = sleep_async(*ctx_, session, 1).get();
    EXPECT_EQ(outcome.err, 0);
    EXPECT_EQ(outcome.ret, gp::kSuccess);
    EXPECT_EQ(outcome.origin, gp::kOriginTrustedApp);
    InvokeArg wrong = invoke_arg(session, 0, 1);
    wrong.param(0) = {.attr = kValueInout, .a = 1, .b = 0, .c = 0};
    ASSERT_EQ(err(ctx_->invoke(wrong.buf())), 0);
    EXPECT_EQ(wrong.header().ret, gp::kErrorBadParameters);
}

TEST_F(ATrustedApp, PanicKillsItsSession) {
    uint32_t session = open_ok(*ctx_, kPanic);
    InvokeArg other = invoke_arg(session, 1, 0);
    ASSERT_EQ(err(ctx_->invoke(other.buf())), 0);
    EXPECT_EQ(other.header().ret, gp::kErrorBadParameters);
    EXPECT_EQ(other.header().ret_origin, gp::kOriginTrustedApp);

    for (int attempt = 0; attempt < 2; ++attempt) {
        InvokeArg panic = invoke_arg(session, 0, 1);
        panic.param(0) = {.attr = kValueOut, .a = 5, .b = 6, .c = 7};
        ASSERT_EQ(err(ctx_->invoke(panic.buf())), 0);
        EXPECT_EQ(panic.header().ret, gp::kErrorTargetDead) << "attempt " << attempt;
        EXPECT_EQ(panic.header().ret_origin, gp::kOriginTee) << "attempt " << attempt;
    }
    InvokeArg after = invoke_arg(session, 1, 0);  // not even reaching the TA any more
    ASSERT_EQ(err(ctx_->invoke(after.buf())), 0);
    EXPECT_EQ(after.header().ret, gp::kErrorTargetDead);
    EXPECT_EQ(err(ctx_->close_session({.session = session})), 0);
    EXPECT_EQ(sim_node().open_session_count(), 0u);
}

TEST_F(ATrustedApp, PanicLeavesOtherSessionsOfTheTaAlive) {
    uint32_t doomed = open_ok(*ctx_, kPanic);
    uint32_t alive = open_ok(*ctx_, kPanic);
    InvokeArg panic = invoke_arg(doomed, 0, 0);
    ASSERT_EQ(err(ctx_->invoke(panic.buf())), 0);
    EXPECT_EQ(panic.header().ret, gp::kErrorTargetDead);
    InvokeArg other = invoke_arg(alive, 1, 0);
    ASSERT_EQ(err(ctx_->invoke(other.buf())), 0);
    EXPECT_EQ(other.header().ret, gp::kErrorBadParameters);
}

TEST_F(ATrustedApp, WhoamiReportsANilIdentityForPublicLogins) {
    Whoami who = whoami(*ctx_, TEE_IOCTL_LOGIN_PUBLIC);
    ASSERT_EQ(who.err, 0);
    EXPECT_EQ(who.ret, gp::kSuccess);
    EXPECT_EQ(who.login, 0u);
    EXPECT_EQ(who.identity, "00000000-0000-0000-0000-000000000000");
}

TEST_F(ATrustedApp, WhoamiAsksForSixteenOctetsOnAShortBuffer) {
    uint32_t session = open_ok(*ctx_, kWhoami, TEE_IOCTL_LOGIN_USER);
    MappedShm shm(*ctx_, 16);
    InvokeArg invoke = invoke_arg(session, 0, 4);
    invoke.param(0) = {.attr = kValueOut, .a = 0xdead, .b = 0xbeef, .c = 0xf00d};
    invoke.param(1) = memref(kMemrefOut, shm, 0, 8);
    invoke.param(2) = {.attr = kNone, .a = 1, .b = 2, .c = 3};
    ASSERT_EQ(err(ctx_->invoke(invoke.buf())), 0);
    EXPECT_EQ(invoke.header().ret, gp::kErrorShortBuffer);
    EXPECT_EQ(invoke.param(1).b, 16u);
    EXPECT_EQ(invoke.param(0).a, static_cast<uint64_t>(TEE_IOCTL_LOGIN_USER));
    EXPECT_EQ(invoke.param(0).b, 0u);
    EXPECT_EQ(invoke.param(0).c, 0u);  // VALUE_OUTPUT's c is never read in, so 0 comes back
    // A NONE parameter is left exactly as the caller wrote it.
    EXPECT_EQ(invoke.param(2).a, 1u);
    EXPECT_EQ(invoke.param(2).b, 2u);
    EXPECT_EQ(invoke.param(2).c, 3u);
}

TEST_F(ATrustedApp, SeesTheCallingThreadsEuidHashedForUserLogins) {
    if (::geteuid() != 0) GTEST_SKIP() << "expects to run as root (uid 0)";
    Whoami who = whoami(*ctx_, TEE_IOCTL_LOGIN_USER);
    ASSERT_EQ(who.err, 0);
    EXPECT_EQ(who.login, static_cast<uint64_t>(TEE_IOCTL_LOGIN_USER));
    EXPECT_EQ(who.identity, kUid0);
}

TEST_F(ATrustedApp, SeesTheEuidOfTheThreadThatOpenedTheSession) {
    if (::geteuid() != 0) GTEST_SKIP() << "switching a thread's euid needs root";
    Whoami switched;
    Whoami restored;
    std::thread([&] {
        // The raw syscall changes this thread's credentials only, as the daemon does per call.
        ASSERT_EQ(::syscall(SYS_setresuid, -1L, 65534L, -1L), 0);
        switched = whoami(*ctx_, TEE_IOCTL_LOGIN_USER);
        ASSERT_EQ(::syscall(SYS_setresuid, -1L, 0L, -1L), 0);
        restored = whoami(*ctx_, TEE_IOCTL_LOGIN_USER);
    }).join();
    ASSERT_EQ(switched.err, 0);
    EXPECT_EQ(switched.identity, kUid65534);
    ASSERT_EQ(restored.err, 0);
    EXPECT_EQ(restored.identity, kUid0);
    EXPECT_EQ(::geteuid(), 0u);  // the test's own thread never changed
}

TEST_F(ATrustedApp, SeesTheHashedGroupForGroupLogins) {
    if (::getegid() != 0) GTEST_SKIP() << "expects to run with egid 0";
    Whoami who = whoami(*ctx_, TEE_IOCTL_LOGIN_GROUP, 0);
    ASSERT_EQ(who.err, 0);
    EXPECT_EQ(who.login, static_cast<uint64_t>(TEE_IOCTL_LOGIN_GROUP));
    EXPECT_EQ(who.identity, kGid0);
}

TEST_F(ATrustedApp, AcceptsASupplementaryGroupOfTheCallingThread) {
    if (::geteuid() != 0) GTEST_SKIP() << "changing a thread's groups needs root";
    Whoami member;
    Whoami after;
    std::thread([&] {
        const gid_t groups[] = {777};
        ASSERT_EQ(::syscall(SYS_setgroups, 1L, groups), 0);
        member = whoami(*ctx_, TEE_IOCTL_LOGIN_GROUP, 777);
        ASSERT_EQ(::syscall(SYS_setgroups, 0L, nullptr), 0);
        after = whoami(*ctx_, TEE_IOCTL_LOGIN_GROUP, 777);
    }).join();
    ASSERT_EQ(member.err, 0);
    EXPECT_EQ(member.identity, kGid777);
    EXPECT_EQ(after.err, EPERM);
}

TEST_F(ATrustedApp, RefusesGroupLoginsForGroupsTheThreadIsNotIn) {
    std::vector<gid_t> groups(static_cast<size_t>(::getgroups(0, nullptr)));
    groups.resize(static_cast<size_t>(::getgroups(static_cast<int>(groups.size()), groups.data())));
    gid_t stranger = 4242;
    while (stranger == ::getegid() ||
           std::find(groups.begin(), groups.end(), stranger) != groups.end())
        ++stranger;
    EXPECT_EQ(whoami(*ctx_, TEE_IOCTL_LOGIN_GROUP, stranger).err, EPERM);
    EXPECT_EQ(whoami(*ctx_, TEE_IOCTL_LOGIN_GROUP, static_cast<gid_t>(-1)).err, EPERM);
    EXPECT_EQ(sim().open_session_count(), 0u);
}

}  // namespace
}  // namespace teed::simtest
