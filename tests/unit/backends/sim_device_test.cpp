// The simulated device as the kernel's TEE core and OP-TEE driver: argument checks, sessions,
// cancellation, shared memory and concurrency, driven only through the Device interface with
// real UAPI buffers. The TAs' own behaviour is in sim_trusted_apps_test.cpp.

#include "backends/sim/sim_device.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "tests/unit/backends/sim_test_support.h"

namespace teed::simtest {
namespace {

class ASimulatedDevice : public SimulatedDeviceTest {};

const uint64_t kPage = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));

TEST_F(ASimulatedDevice, ReportsOpteeWithItsCapabilities) {
    auto version = ctx_->version();
    ASSERT_TRUE(version.ok());
    EXPECT_EQ(version->impl_id, static_cast<uint32_t>(TEE_IMPL_ID_OPTEE));
    EXPECT_EQ(version->impl_caps, static_cast<uint32_t>(TEE_OPTEE_CAP_TZ));
    EXPECT_EQ(version->gen_caps, static_cast<uint32_t>(TEE_GEN_CAP_GP | TEE_GEN_CAP_REG_MEM |
                                                       TEE_GEN_CAP_MEMREF_NULL));

    auto bare = make_simulated_node({.name = "simtee1", .reg_mem = false, .memref_null = false});
    auto bare_version = bare->open().value()->version();
    ASSERT_TRUE(bare_version.ok());
    EXPECT_EQ(bare_version->gen_caps, static_cast<uint32_t>(TEE_GEN_CAP_GP));
}

TEST_F(ASimulatedDevice, ReportsRegMemAndMemrefNullOnFfaWhateverTheOptionsSay) {
    // optee_ffa_get_version() sets both unconditionally.
    auto ffa = make_simulated_node(
        {.name = "simtee1", .abi = SimAbi::FfA, .reg_mem = false, .memref_null = false});
    auto version = ffa->open().value()->version();
    ASSERT_TRUE(version.ok());
    EXPECT_EQ(version->gen_caps, static_cast<uint32_t>(TEE_GEN_CAP_GP | TEE_GEN_CAP_REG_MEM |
                                                       TEE_GEN_CAP_MEMREF_NULL));
}

TEST_F(ASimulatedDevice, IsASimulatedNodeWithItsName) {
    EXPECT_EQ(node_->name(), "simtee0");
    EXPECT_EQ(node_->path(), "sim:simtee0");
    EXPECT_TRUE(node_->simulated());
}

TEST_F(ASimulatedDevice, RejectsBufLenAboveTheMaximumArgumentSize) {
    OpenArg open = open_arg(kHelloWorld, 127);  // 56 + 127 * 32 = 4120 bytes
    EXPECT_EQ(err(ctx_->open_session(open.buf())), EINVAL);
    InvokeArg invoke = invoke_arg(open_ok(*ctx_, kHelloWorld), 0, 1);
    tee_ioctl_buf_data buf = invoke.buf();
    buf.buf_len = TEE_MAX_ARG_SIZE + 1;
    EXPECT_EQ(err(ctx_->invoke(buf)), EINVAL);
}

TEST_F(ASimulatedDevice, RejectsBufLenShorterThanTheHeader) {
    OpenArg open = open_arg(kHelloWorld);
    tee_ioctl_buf_data buf = open.buf();
    buf.buf_len = sizeof(tee_ioctl_open_session_arg) - 1;
    EXPECT_EQ(err(ctx_->open_session(buf)), EINVAL);
    InvokeArg invoke = invoke_arg(1, 0, 0);
    buf = invoke.buf();
    buf.buf_len = 0;
    EXPECT_EQ(err(ctx_->invoke(buf)), EINVAL);
}

TEST_F(ASimulatedDevice, RejectsBufLenThatDoesNotMatchNumParams) {
    OpenArg open = open_arg(kHelloWorld, 2);
    open.header().num_params = 1;
    EXPECT_EQ(err(ctx_->open_session(open.buf())), EINVAL);
    open.header().num_params = 3;
    EXPECT_EQ(err(ctx_->open_session(open.buf())), EINVAL);
    InvokeArg invoke = invoke_arg(open_ok(*ctx_, kHelloWorld), 0, 1);
    invoke.header().num_params = 0;
    EXPECT_EQ(err(ctx_->invoke(invoke.buf())), EINVAL);
}

TEST_F(ASimulatedDevice, RejectsANullArgumentPointerWithEfault) {
    EXPECT_EQ(err(ctx_->open_session({.buf_ptr = 0, .buf_len = 56})), EFAULT);
    EXPECT_EQ(err(ctx_->invoke({.buf_ptr = 0, .buf_len = 24})), EFAULT);
}

TEST_F(ASimulatedDevice, ReadsArgumentsAtAnyAlignment) {
    OpenArg aligned = open_arg(kHelloWorld);
    std::vector<uint8_t> bytes(1 + sizeof(tee_ioctl_open_session_arg));
    std::memcpy(bytes.data() + 1, &aligned.header(), sizeof(tee_ioctl_open_session_arg));
    tee_ioctl_buf_data buf{.buf_ptr = reinterpret_cast<uintptr_t>(bytes.data() + 1),
                           .buf_len = sizeof(tee_ioctl_open_session_arg)};
    ASSERT_EQ(err(ctx_->open_session(buf)), 0);
    tee_ioctl_open_session_arg out{};
    std::memcpy(&out, bytes.data() + 1, sizeof(out));
    EXPECT_EQ(out.ret, gp::kSuccess);
    EXPECT_NE(out.session, 0u);
}

// Each bad parameter is tried in an INVOKE on an open hello_world session.
class ASimulatedDeviceParam : public SimulatedDeviceTest {
protected:
    int invoke_with(const tee_ioctl_param& param) {
        InvokeArg arg = invoke_arg(session_, 0, 1);
        arg.param(0) = param;
        return err(ctx_->invoke(arg.buf()));
    }
    uint32_t session_ = open_ok(*ctx_, kHelloWorld);
};

TEST_F(ASimulatedDeviceParam, RejectsAttrBitsOutsideTheMask) {
    EXPECT_EQ(invoke_with({.attr = kValueInout | 0x200, .a = 0, .b = 0, .c = 0}), EINVAL);
    EXPECT_EQ(invoke_with({.attr = 1ull << 40, .a = 0, .b = 0, .c = 0}), EINVAL);
}

TEST_F(ASimulatedDeviceParam, RejectsTheMetaBit) {
    EXPECT_EQ(
        invoke_with({.attr = kValueInout | TEE_IOCTL_PARAM_ATTR_META, .a = 0, .b = 0, .c = 0}),
        EINVAL);
    EXPECT_EQ(invoke_with({.attr = TEE_IOCTL_PARAM_ATTR_META, .a = 0, .b = 0, .c = 0}), EINVAL);
}

TEST_F(ASimulatedDeviceParam, RejectsUbufAndObjrefTypesOpteeCannotPass) {
    for (uint64_t type = TEE_IOCTL_PARAM_ATTR_TYPE_UBUF_INPUT;
         type <= TEE_IOCTL_PARAM_ATTR_TYPE_OBJREF_INOUT; ++type) {
        std::vector<uint8_t> buffer(8);
        EXPECT_EQ(invoke_with({.attr = type,
                               .a = reinterpret_cast<uintptr_t>(buffer.data()),
                               .b = buffer.size(),
                               .c = 0}),
                  EINVAL)
            << "type " << type;
    }
}

TEST_F(ASimulatedDeviceParam, RejectsUnknownTypes) {
    for (uint64_t type : {4ull, 14ull, 0x7full, 0xffull})
        EXPECT_EQ(invoke_with({.attr = type, .a = 0, .b = 0, .c = 0}), EINVAL) << "type " << type;
}

TEST_F(ASimulatedDeviceParam, RejectsMemrefsToUnknownShmIds) {
    EXPECT_EQ(invoke_with({.attr = kMemrefIn, .a = 0, .b = 0, .c = 12345}), EINVAL);
    EXPECT_EQ(invoke_with({.attr = kMemrefIn, .a = 0, .b = 0, .c = 0}), EINVAL);
}

TEST_F(ASimulatedDeviceParam, RejectsMemrefsToAnotherContextsShm) {
    auto other = open_context();
    MappedShm foreign(*other, 64);
    EXPECT_EQ(invoke_with(memref(kMemrefIn, foreign, 0, 8)), EINVAL);
}

TEST_F(ASimulatedDeviceParam, RejectsMemrefsReachingPastTheirShm) {
    MappedShm shm(*ctx_, 100);
    ASSERT_EQ(shm.size(), kPage);  // the kernel reports the page-rounded size
    EXPECT_EQ(invoke_with(memref(kMemrefIn, shm, 0, kPage + 1)), EINVAL);
    EXPECT_EQ(invoke_with(memref(kMemrefIn, shm, kPage, 1)), EINVAL);
    EXPECT_EQ(invoke_with(memref(kMemrefIn, shm, ~0ull, 2)), EINVAL);  // a + b overflows
    // In range, the parameter passes the kernel; hello_world then refuses the type.
    InvokeArg arg = invoke_arg(session_, 0, 1);
    arg.param(0) = memref(kMemrefIn, shm, 1, kPage - 1);
    ASSERT_EQ(err(ctx_->invoke(arg.buf())), 0);
    EXPECT_EQ(arg.header().ret, gp::kErrorBadParameters);
    EXPECT_EQ(arg.header().ret_origin, gp::kOriginTrustedApp);
}

TEST(ASimulatedDeviceWithoutMemrefNull, RejectsNullMemrefs) {
    auto node = make_simulated_node({.memref_null = false});
    auto ctx = node->open().value();
    uint32_t session = open_ok(*ctx, kEcho);
    InvokeArg arg = invoke_arg(session, 0, 2);
    arg.param(0) = {.attr = kMemrefIn, .a = 0, .b = 0, .c = TEE_MEMREF_NULL};
    arg.param(1) = {.attr = kMemrefOut, .a = 0, .b = 0, .c = TEE_MEMREF_NULL};
    EXPECT_EQ(err(ctx->invoke(arg.buf())), EINVAL);
}

TEST_F(ASimulatedDevice, RefusesKernelLoginsWithEperm) {
    for (uint32_t login : {0x80000000u, 0x9abcdef0u, 0xBFFFFFFFu}) {
        OpenArg arg = open_arg(kHelloWorld, 0, login);
        EXPECT_EQ(err(ctx_->open_session(arg.buf())), EPERM) << std::hex << login;
    }
}

TEST_F(ASimulatedDevice, RefusesLoginsMainlineDoesNotImplementWithEinval) {
    for (uint32_t login : {3u, 4u, 5u, 6u, 7u, 0x7fffffffu, 0xC0000000u}) {
        OpenArg arg = open_arg(kHelloWorld, 0, login);
        EXPECT_EQ(err(ctx_->open_session(arg.buf())), EINVAL) << std::hex << login;
    }
    EXPECT_EQ(sim().open_session_count(), 0u);
}

TEST_F(ASimulatedDevice, RefusesAGroupLoginForAGroupTheThreadIsNotInEvenWithCapSetgid) {
    // tee_session_calc_client_uuid() asks in_egroup_p() only: no capability stands in for
    // membership (this test runs as root in CI, which holds CAP_SETGID).
    gid_t foreign = 54321;
    std::vector<gid_t> groups(static_cast<size_t>(getgroups(0, nullptr)));
    groups.resize(static_cast<size_t>(getgroups(static_cast<int>(groups.size()), groups.data())));
    while (foreign == getegid() || std::count(groups.begin(), groups.end(), foreign) != 0)
        ++foreign;
    OpenArg arg = open_arg(kHelloWorld, 0, TEE_IOCTL_LOGIN_GROUP);
    std::memcpy(arg.header().clnt_uuid, &foreign, sizeof(foreign));
    EXPECT_EQ(err(ctx_->open_session(arg.buf())), EPERM);
    const gid_t mine = getegid();
    std::memcpy(arg.header().clnt_uuid, &mine, sizeof(mine));
    ASSERT_EQ(err(ctx_->open_session(arg.buf())), 0);
    EXPECT_EQ(arg.header().ret, gp::kSuccess);
}

TEST_F(ASimulatedDevice, ChecksTheParamCountBeforeTheLogin) {
    // optee_open_session() gets its message argument (at most 4 params) before it computes the
    // client identity: a GROUP login that would be EPERM is EINVAL with 5 params.
    gid_t foreign = getegid() + 1;
    OpenArg arg = open_arg(kHelloWorld, 5, TEE_IOCTL_LOGIN_GROUP);
    std::memcpy(arg.header().clnt_uuid, &foreign, sizeof(foreign));
    EXPECT_EQ(err(ctx_->open_session(arg.buf())), EINVAL);
}

TEST_F(ASimulatedDevice, ChecksParamsBeforeTheLogin) {
    // params_from_user runs first in the core: a bad attr is EINVAL even with a kernel login.
    OpenArg arg = open_arg(kHelloWorld, 1, 0x80000000u);
    arg.param(0).attr = 4;
    EXPECT_EQ(err(ctx_->open_session(arg.buf())), EINVAL);
    // The META bit is refused by the driver, after the core's login check.
    arg.param(0).attr = TEE_IOCTL_PARAM_ATTR_META;
    EXPECT_EQ(err(ctx_->open_session(arg.buf())), EPERM);
}

TEST_F(ASimulatedDevice, AnswersItemNotFoundFromTheTeeForAnUnknownTa) {
    OpenArg arg = open_arg("00000000-1111-2222-3333-444444444444");
    arg.header().session = 77;
    ASSERT_EQ(err(ctx_->open_session(arg.buf())), 0);
    EXPECT_EQ(arg.header().ret, gp::kErrorItemNotFound);
    EXPECT_EQ(arg.header().ret_origin, gp::kOriginTee);
    EXPECT_EQ(arg.header().session, 0u);
}

TEST_F(ASimulatedDevice, RefusesAnOpenWithMoreThanFourParamsWithEinval) {
    // optee_get_msg_arg(): MAX_ARG_PARAM_COUNT (6), 2 of which carry the UUIDs.
    for (uint32_t count : {5u, 126u}) {  // 126: the most an OPEN_SESSION argument can carry
        OpenArg open = open_arg(kHelloWorld, count);
        EXPECT_EQ(err(ctx_->open_session(open.buf())), EINVAL) << count;
    }
    EXPECT_EQ(sim().open_session_count(), 0u);
}

TEST_F(ASimulatedDevice, RefusesAnInvokeWithMoreThanSixParamsWithEinval) {
    uint32_t session = open_ok(*ctx_, kHelloWorld);
    for (uint32_t count : {7u, 127u}) {
        InvokeArg invoke = invoke_arg(session, 0, count);
        EXPECT_EQ(err(ctx_->invoke(invoke.buf())), EINVAL) << count;
    }
}

TEST_F(ASimulatedDevice, AnswersBadParametersFromTheTeeForFiveOrSixInvokeParams) {
    uint32_t session = open_ok(*ctx_, kHelloWorld);
    for (uint32_t count : {5u, 6u}) {  // they fit the message; OP-TEE's copy_in_params() refuses
        InvokeArg invoke = invoke_arg(session, 0, count);
        invoke.param(0) = {.attr = kValueInout, .a = 41, .b = 0, .c = 0};
        ASSERT_EQ(err(ctx_->invoke(invoke.buf())), 0);
        EXPECT_EQ(invoke.header().ret, gp::kErrorBadParameters);
        EXPECT_EQ(invoke.header().ret_origin, gp::kOriginTee);
        EXPECT_EQ(invoke.param(0).a, 41u);  // the TA never ran
    }
}

TEST_F(ASimulatedDevice, AllocatesNonZeroSessionIdsUniqueAcrossContexts) {
    auto other = open_context();
    std::set<uint32_t> ids;
    for (int i = 0; i < 4; ++i) {
        ids.insert(open_ok(*ctx_, kHelloWorld));
        ids.insert(open_ok(*other, kEcho));
    }
    EXPECT_EQ(ids.size(), 8u);
    EXPECT_EQ(ids.count(0), 0u);
    EXPECT_EQ(sim_node().open_session_count(), 8u);
}

TEST_F(ASimulatedDevice, RejectsSessionsThatAreNotOpenInTheContext) {
    InvokeArg invoke = invoke_arg(999, 0, 0);
    EXPECT_EQ(err(ctx_->invoke(invoke.buf())), EINVAL);
    EXPECT_EQ(err(ctx_->close_session({.session = 999})), EINVAL);
    EXPECT_EQ(err(ctx_->cancel({.cancel_id = 0, .session = 999})), EINVAL);
    // A pending open (session 0) is not in the driver's session list either.
    EXPECT_EQ(err(ctx_->cancel({.cancel_id = 0, .session = 0})), EINVAL);
}

TEST_F(ASimulatedDevice, ScopesSessionsToTheirContext) {
    auto other = open_context();
    uint32_t foreign = open_ok(*other, kHelloWorld);
    InvokeArg invoke = invoke_arg(foreign, 0, 1);
    invoke.param(0) = {.attr = kValueInout, .a = 1, .b = 0, .c = 0};
    EXPECT_EQ(err(ctx_->invoke(invoke.buf())), EINVAL);
    EXPECT_EQ(err(ctx_->cancel({.cancel_id = 0, .session = foreign})), EINVAL);
    EXPECT_EQ(err(ctx_->close_session({.session = foreign})), EINVAL);
    ASSERT_EQ(err(other->invoke(invoke.buf())), 0);  // still open where it belongs
    EXPECT_EQ(invoke.param(0).a, 2u);
}

TEST_F(ASimulatedDevice, ForgetsAClosedSession) {
    uint32_t session = open_ok(*ctx_, kHelloWorld);
    EXPECT_EQ(sim().open_session_count(), 1u);
    ASSERT_EQ(err(ctx_->close_session({.session = session})), 0);
    EXPECT_EQ(sim().open_session_count(), 0u);
    EXPECT_EQ(sim_node().open_session_count(), 0u);
    InvokeArg invoke = invoke_arg(session, 0, 0);
    EXPECT_EQ(err(ctx_->invoke(invoke.buf())), EINVAL);
    EXPECT_EQ(err(ctx_->close_session({.session = session})), EINVAL);
}

TEST_F(ASimulatedDevice, RefusesSupplicantAndObjectCalls) {
    std::vector<uint64_t> words(8);
    tee_ioctl_buf_data buf{.buf_ptr = reinterpret_cast<uintptr_t>(words.data()),
                           .buf_len = words.size() * 8};
    EXPECT_EQ(err(ctx_->supp_recv(buf)), EINVAL);
    EXPECT_EQ(err(ctx_->supp_send(buf)), EINVAL);
    EXPECT_EQ(err(ctx_->object_invoke(buf)), EINVAL);
}

TEST_F(ASimulatedDevice, CancelsASleepFromAnotherThreadPromptly) {
    uint32_t session = open_ok(*ctx_, kSleep);
    const auto start = std::chrono::steady_clock::now();
    auto sleeping = sleep_async(*ctx_, session, 10000, /*cancel_id=*/7);
    ASSERT_TRUE(eventually([&] { return sim().operations_in_progress() == 1; }));
    EXPECT_EQ(err(ctx_->cancel({.cancel_id = 7, .session = session})), 0);
    ASSERT_EQ(sleeping.wait_for(8s), std::future_status::ready);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 8s);
    Outcome outcome = sleeping.get();
    EXPECT_EQ(outcome.err, 0);
    EXPECT_EQ(outcome.ret, gp::kErrorCancel);
    EXPECT_EQ(outcome.origin, gp::kOriginTrustedApp);
}

TEST_F(ASimulatedDevice, IgnoresCancelsForAnotherCancelId) {
    uint32_t session = open_ok(*ctx_, kSleep);
    auto sleeping = sleep_async(*ctx_, session, 300, /*cancel_id=*/7);
    ASSERT_TRUE(eventually([&] { return sim().operations_in_progress() == 1; }));
    EXPECT_EQ(err(ctx_->cancel({.cancel_id = 8, .session = session})), 0);
    ASSERT_EQ(sleeping.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(sleeping.get().ret, gp::kSuccess);
}

TEST_F(ASimulatedDevice, SucceedsInCancellingWhenNothingRuns) {
    uint32_t session = open_ok(*ctx_, kSleep);
    EXPECT_EQ(err(ctx_->cancel({.cancel_id = 1, .session = session})), 0);
    // The cancel did not stick to the session: a later sleep runs to its end.
    Outcome outcome = sleep_async(*ctx_, session, 1, /*cancel_id=*/1).get();
    EXPECT_EQ(outcome.ret, gp::kSuccess);
}

TEST_F(ASimulatedDevice, RunsOtherSessionsWhileOneSleeps) {
    uint32_t sleeper = open_ok(*ctx_, kSleep);
    uint32_t hello = open_ok(*ctx_, kHelloWorld);
    auto sleeping = sleep_async(*ctx_, sleeper, 30000);
    ASSERT_TRUE(eventually([&] { return sim().operations_in_progress() == 1; }));

    InvokeArg invoke = invoke_arg(hello, 0, 1);
    invoke.param(0) = {.attr = kValueInout, .a = 9, .b = 0, .c = 0};
    ASSERT_EQ(err(ctx_->invoke(invoke.buf())), 0);
    EXPECT_EQ(invoke.param(0).a, 10u);
    // hello_world finished while the sleep was still inside its TA.
    EXPECT_EQ(sim().operations_in_progress(), 1u);
    EXPECT_NE(sleeping.wait_for(0s), std::future_status::ready);

    EXPECT_EQ(err(ctx_->cancel({.cancel_id = 0, .session = sleeper})), 0);
    ASSERT_EQ(sleeping.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(sleeping.get().ret, gp::kErrorCancel);
}

TEST_F(ASimulatedDevice, ClosesASessionSafelyWhileItsInvokeRuns) {
    uint32_t session = open_ok(*ctx_, kSleep);
    auto sleeping = sleep_async(*ctx_, session, 300);
    ASSERT_TRUE(eventually([&] { return sim().operations_in_progress() == 1; }));
    EXPECT_EQ(err(ctx_->close_session({.session = session})), 0);
    EXPECT_EQ(sim_node().open_session_count(), 0u);
    InvokeArg again = invoke_arg(session, 0, 0);
    EXPECT_EQ(err(ctx_->invoke(again.buf())), EINVAL);
    // The running call finishes in its TA session, which is destroyed afterwards.
    ASSERT_EQ(sleeping.wait_for(10s), std::future_status::ready);
    Outcome outcome = sleeping.get();
    EXPECT_EQ(outcome.err, 0);
    EXPECT_EQ(outcome.ret, gp::kSuccess);
}

TEST_F(ASimulatedDevice, ClosesAllSessionsOfADestroyedContext) {
    auto other = open_context();
    open_ok(*other, kHelloWorld);
    open_ok(*other, kSleep);
    open_ok(*other, kWhoami);
    uint32_t mine = open_ok(*ctx_, kHelloWorld);
    EXPECT_EQ(sim_node().open_session_count(), 4u);
    other.reset();
    EXPECT_EQ(sim_node().open_session_count(), 1u);
    InvokeArg invoke = invoke_arg(mine, 1, 1);
    invoke.param(0) = {.attr = kValueInout, .a = 1, .b = 0, .c = 0};
    ASSERT_EQ(err(ctx_->invoke(invoke.buf())), 0);
    EXPECT_EQ(invoke.param(0).a, 0u);
}

TEST_F(ASimulatedDevice, OutlivesItsNodeWithTheContextsItOpened) {
    uint32_t session = open_ok(*ctx_, kHelloWorld);
    node_.reset();
    InvokeArg invoke = invoke_arg(session, 0, 1);
    invoke.param(0) = {.attr = kValueInout, .a = 1, .b = 0, .c = 0};
    ASSERT_EQ(err(ctx_->invoke(invoke.buf())), 0);
    EXPECT_EQ(invoke.param(0).a, 2u);
}

TEST_F(ASimulatedDevice, RejectsShmAllocFlagsWithEinvalAndZeroSizeWithEnomem) {
    for (uint32_t flags : {1u, 2u, 0x80000000u}) {
        tee_ioctl_shm_alloc_data data{.size = 64, .flags = flags, .id = 0};
        auto flagged = ctx_->shm_alloc(data);
        ASSERT_FALSE(flagged.ok());
        EXPECT_EQ(flagged.error().sys_errno(), EINVAL) << flags;
    }
    // The pool's allocator gets 0 pages and gives nothing.
    tee_ioctl_shm_alloc_data data{.size = 0, .flags = 0, .id = 0};
    auto empty = ctx_->shm_alloc(data);
    ASSERT_FALSE(empty.ok());
    EXPECT_EQ(empty.error().sys_errno(), ENOMEM);
    EXPECT_EQ(sim().live_shm_count(), 0u);
}

TEST_F(ASimulatedDevice, RefusesShmAllocBeyondTheLargestContiguousAllocationWithEnomem) {
    // optee_pool_op_alloc_helper() takes physically contiguous pages: 2^10 of them at most.
    const uint64_t largest = kPage << 10;
    MappedShm biggest(*ctx_, largest);
    EXPECT_EQ(biggest.size(), largest);
    tee_ioctl_shm_alloc_data data{.size = largest + 1, .flags = 0, .id = 0};
    auto refused = ctx_->shm_alloc(data);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().sys_errno(), ENOMEM);

    // The reserved static pool is bounded by its size only.
    auto node = make_simulated_node({.reg_mem = false, .shm_pool_bytes = 4 * largest});
    auto ctx = node->open().value();
    MappedShm from_static(*ctx, 2 * largest);
    EXPECT_EQ(from_static.size(), 2 * largest);
}

TEST_F(ASimulatedDevice, ReportsPageRoundedShmSizesAndPositiveIds) {
    MappedShm small(*ctx_, 1);
    MappedShm larger(*ctx_, kPage + 1);
    EXPECT_GT(small.id(), 0);
    EXPECT_GT(larger.id(), 0);
    EXPECT_NE(small.id(), larger.id());
    EXPECT_EQ(small.size(), kPage);
    EXPECT_EQ(larger.size(), 2 * kPage);
    EXPECT_EQ(sim().live_shm_count(), 2u);
    EXPECT_EQ(sim_node().shm_pool_used(), 3 * kPage);
}

TEST_F(ASimulatedDevice, ReusesTheLowestFreeShmIdAsTheKernelsIdrDoes) {
    auto first = std::make_unique<MappedShm>(*ctx_, 8);
    MappedShm second(*ctx_, 8);
    const int32_t freed = first->id();
    first.reset();
    MappedShm third(*ctx_, 8);
    EXPECT_EQ(third.id(), freed);
}

TEST_F(ASimulatedDevice, SharesShmBytesBetweenTheCallerAndTheTa) {
    MappedShm shm(*ctx_, 256);
    std::memcpy(shm.data(), "abcdef", 6);
    uint32_t session = open_ok(*ctx_, kEcho);
    InvokeArg invoke = invoke_arg(session, 0, 2);
    invoke.param(0) = memref(kMemrefIn, shm, 0, 6);
    invoke.param(1) = memref(kMemrefOut, shm, 128, 64);
    ASSERT_EQ(err(ctx_->invoke(invoke.buf())), 0);
    ASSERT_EQ(invoke.header().ret, gp::kSuccess);
    EXPECT_EQ(invoke.param(1).b, 6u);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(shm.data() + 128), 6), "fedcba");
}

TEST_F(ASimulatedDevice, FreesAShmOnceItsFdIsClosed) {
    MappedShm shm(*ctx_, 64);
    shm.unmap();
    EXPECT_EQ(sim().live_shm_count(), 1u);
    shm.close_fd();
    EXPECT_EQ(sim().live_shm_count(), 0u);
    EXPECT_EQ(sim_node().shm_pool_used(), 0u);
    uint32_t session = open_ok(*ctx_, kEcho);
    InvokeArg invoke = invoke_arg(session, 0, 2);
    invoke.param(0) = memref(kMemrefIn, shm, 0, 1);
    invoke.param(1) = memref(kMemrefOut, shm, 0, 1);
    EXPECT_EQ(err(ctx_->invoke(invoke.buf())), EINVAL);
}

TEST_F(ASimulatedDevice, KeepsAShmAliveWhileItIsMapped) {
    MappedShm shm(*ctx_, 64);
    shm.close_fd();
    EXPECT_EQ(sim().live_shm_count(), 1u);
    std::memcpy(shm.data(), "xy", 2);
    uint32_t session = open_ok(*ctx_, kEcho);
    InvokeArg invoke = invoke_arg(session, 0, 2);
    invoke.param(0) = memref(kMemrefIn, shm, 0, 2);
    invoke.param(1) = memref(kMemrefOut, shm, 8, 2);
    ASSERT_EQ(err(ctx_->invoke(invoke.buf())), 0);
    EXPECT_EQ(invoke.header().ret, gp::kSuccess);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(shm.data() + 8), 2), "yx");
    shm.unmap();
    EXPECT_EQ(sim().live_shm_count(), 0u);
    EXPECT_EQ(err(ctx_->invoke(invoke.buf())), EINVAL);
}

TEST(ASimulatedDeviceWithASmallPool, RefusesShmBeyondThePoolWithEnomem) {
    const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    auto node = make_simulated_node({.shm_pool_bytes = 4 * page});
    auto ctx = node->open().value();
    auto big = std::make_unique<MappedShm>(*ctx, 2 * page + 1);  // three pages
    tee_ioctl_shm_alloc_data data{.size = page + 1, .flags = 0, .id = 0};
    auto refused = ctx->shm_alloc(data);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().sys_errno(), ENOMEM);
    MappedShm last(*ctx, page);  // exactly what is left
    EXPECT_GT(last.id(), 0);
    big.reset();
    MappedShm again(*ctx, 3 * page);
    EXPECT_GT(again.id(), 0);
    data = {.size = ~0ull, .flags = 0, .id = 0};
    auto huge = ctx->shm_alloc(data);
    ASSERT_FALSE(huge.ok());
    EXPECT_EQ(huge.error().sys_errno(), ENOMEM);
}

TEST(ASimulatedDeviceWithASmallPool, KeepsShmOfADestroyedContextUntilItsFdIsClosed) {
    const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    auto node = make_simulated_node({.shm_pool_bytes = 2 * page});
    auto& sim_node = dynamic_cast<SimDeviceNode&>(*node);
    auto first = node->open().value();
    auto held = std::make_unique<MappedShm>(*first, 2 * page);
    first.reset();  // as closing /dev/tee0: the shm holds on to its context
    EXPECT_EQ(sim_node.live_shm_count(), 1u);
    auto second = node->open().value();
    tee_ioctl_shm_alloc_data data{.size = page, .flags = 0, .id = 0};
    auto refused = second->shm_alloc(data);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().sys_errno(), ENOMEM);
    held.reset();
    EXPECT_TRUE(second->shm_alloc(data).ok());
    EXPECT_EQ(sim_node.live_shm_count(), 0u);  // the new fd was closed right away
}

TEST_F(ASimulatedDevice, RegistersWritableCallerMemory) {
    std::vector<uint8_t> buffer(32, 0);
    tee_ioctl_shm_register_data data{
        .addr = reinterpret_cast<uintptr_t>(buffer.data()), .length = 32, .flags = 0, .id = 0};
    auto fd = ctx_->shm_register(data);
    ASSERT_TRUE(fd.ok()) << fd.error().message();
    EXPECT_GT(data.id, 0);
    EXPECT_EQ(data.length, 32u);
    EXPECT_EQ(sim().live_shm_count(), 1u);
    EXPECT_EQ(sim_node().shm_pool_used(), 0u);  // the caller's pages, not the pool's

    std::memcpy(buffer.data(), "1234", 4);
    uint32_t session = open_ok(*ctx_, kEcho);
    InvokeArg invoke = invoke_arg(session, 0, 2);
    const uint64_t id = static_cast<uint64_t>(data.id);
    invoke.param(0) = {.attr = kMemrefIn, .a = 0, .b = 4, .c = id};
    invoke.param(1) = {.attr = kMemrefOut, .a = 16, .b = 16, .c = id};
    ASSERT_EQ(err(ctx_->invoke(invoke.buf())), 0);
    EXPECT_EQ(invoke.header().ret, gp::kSuccess);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(buffer.data() + 16), 4), "4321");
    invoke.param(1) = {.attr = kMemrefOut, .a = 16, .b = 17, .c = id};
    EXPECT_EQ(err(ctx_->invoke(invoke.buf())), EINVAL);  // past the registered length

    std::move(fd).value().reset();
    EXPECT_EQ(sim().live_shm_count(), 0u);
}

TEST_F(ASimulatedDevice, RefusesToRegisterBadRanges) {
    std::vector<uint8_t> buffer(32);
    const auto addr = reinterpret_cast<uintptr_t>(buffer.data());
    auto try_register = [&](uint64_t at, uint64_t length, uint32_t flags) {
        tee_ioctl_shm_register_data data{.addr = at, .length = length, .flags = flags, .id = 0};
        auto fd = ctx_->shm_register(data);
        return fd.ok() ? 0 : fd.error().sys_errno();
    };
    EXPECT_EQ(try_register(addr, 32, 1), EINVAL);
    EXPECT_EQ(try_register(addr, 0, 0), EINVAL);
    // The pages are pinned before the length is looked at.
    void* gap = ::mmap(nullptr, kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(gap, MAP_FAILED);
    EXPECT_EQ(try_register(reinterpret_cast<uintptr_t>(gap) + 1, 0, 0), EFAULT);
    EXPECT_EQ(try_register(reinterpret_cast<uintptr_t>(gap), 0, 0), EINVAL);  // no page to pin
    ::munmap(gap, kPage);

    void* read_only = ::mmap(nullptr, kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(read_only, MAP_FAILED);
    EXPECT_EQ(try_register(reinterpret_cast<uintptr_t>(read_only), 16, 0), EFAULT);
    ::munmap(read_only, kPage);
    EXPECT_EQ(try_register(reinterpret_cast<uintptr_t>(read_only), 16, 0), EFAULT);  // unmapped
    EXPECT_EQ(try_register(~0ull - 8, 16, 0), EFAULT);
    EXPECT_EQ(sim().live_shm_count(), 0u);
}

TEST_F(ASimulatedDevice, RefusesToRegisterARangeWritableOnlyInPartWithEnomem) {
    // pin_user_pages_fast() pins the leading pages and returns fewer: register_shm_helper()
    // answers ENOMEM (EFAULT when not even the first page can be pinned).
    auto* pages = static_cast<uint8_t*>(
        ::mmap(nullptr, 2 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(pages, MAP_FAILED);
    ASSERT_EQ(::mprotect(pages + kPage, kPage, PROT_READ), 0);
    tee_ioctl_shm_register_data data{
        .addr = reinterpret_cast<uintptr_t>(pages), .length = 2 * kPage, .flags = 0, .id = 0};
    auto partly = ctx_->shm_register(data);
    ASSERT_FALSE(partly.ok());
    EXPECT_EQ(partly.error().sys_errno(), ENOMEM);
    data.addr = reinterpret_cast<uintptr_t>(pages + kPage);
    data.length = 16;
    auto not_at_all = ctx_->shm_register(data);
    ASSERT_FALSE(not_at_all.ok());
    EXPECT_EQ(not_at_all.error().sys_errno(), EFAULT);
    ::munmap(pages, 2 * kPage);
    EXPECT_EQ(sim().live_shm_count(), 0u);
}

TEST_F(ASimulatedDevice, RefusesToRegisterAMappingOfAnAllocatedShm) {
    // tee_shm_fop_mmap() maps a shm with remap_pfn_range(): pages that cannot be pinned.
    auto other = open_context();
    MappedShm shm(*other, kPage);
    tee_ioctl_shm_register_data data{
        .addr = reinterpret_cast<uintptr_t>(shm.data()), .length = 64, .flags = 0, .id = 0};
    auto fd = ctx_->shm_register(data);
    ASSERT_FALSE(fd.ok());
    EXPECT_EQ(fd.error().sys_errno(), EFAULT);
}

TEST_F(ASimulatedDevice, RefusesToMapTheFdOfRegisteredMemory) {
    // tee_shm_fop_mmap(): "Refuse sharing shared memory provided by application".
    std::vector<uint8_t> buffer(kPage);
    tee_ioctl_shm_register_data data{
        .addr = reinterpret_cast<uintptr_t>(buffer.data()), .length = 64, .flags = 0, .id = 0};
    auto fd = ctx_->shm_register(data);
    ASSERT_TRUE(fd.ok()) << fd.error().message();
    void* map = ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd->get(), 0);
    EXPECT_EQ(map, MAP_FAILED);
}

TEST(ASimulatedDeviceWithoutRegMem, RefusesToRegisterMemoryOnTheClientDevice) {
    auto node = make_simulated_node({.reg_mem = false});
    auto ctx = node->open().value();
    std::vector<uint8_t> buffer(32);
    tee_ioctl_shm_register_data data{
        .addr = reinterpret_cast<uintptr_t>(buffer.data()), .length = 32, .flags = 0, .id = 0};
    auto fd = ctx->shm_register(data);
    ASSERT_FALSE(fd.ok());
    EXPECT_EQ(fd.error().sys_errno(), EINVAL);
    // The pages are pinned before OP-TEE is asked: a bad range is EFAULT.
    data.addr = ~0ull - 8;
    auto bad = ctx->shm_register(data);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().sys_errno(), EFAULT);
}

TEST(ASimulatedDeviceWithoutRegMem, RegistersMemoryOnTheSupplicantDevice) {
    // optee_shm_register_supp() only checks the memory type; it does not ask OP-TEE.
    SimTee tee = make_simulated_tee({.reg_mem = false});
    auto supplicant = tee.supplicant->open().value();
    std::vector<uint8_t> buffer(32);
    tee_ioctl_shm_register_data data{
        .addr = reinterpret_cast<uintptr_t>(buffer.data()), .length = 32, .flags = 0, .id = 0};
    auto fd = supplicant->shm_register(data);
    ASSERT_TRUE(fd.ok()) << fd.error().message();
    EXPECT_GT(data.id, 0);
}

TEST(ASimulatedDeviceWithoutRegMem, RefusesAMemrefStartingAtTheEndOfItsShm) {
    // A static-pool shm goes by physical address (to_msg_param_tmp_mem()), and tee_shm_get_pa()
    // refuses an offset at the shm's end, even for a memref of size 0.
    auto node = make_simulated_node({.reg_mem = false});
    auto ctx = node->open().value();
    MappedShm shm(*ctx, kPage);
    uint32_t session = open_ok(*ctx, kEcho);
    InvokeArg invoke = invoke_arg(session, 0, 2);
    invoke.param(0) = memref(kMemrefIn, shm, kPage, 0);
    invoke.param(1) = memref(kMemrefOut, shm, 0, 8);
    EXPECT_EQ(err(ctx->invoke(invoke.buf())), EINVAL);
    invoke.param(0) = memref(kMemrefIn, shm, kPage - 1, 0);
    ASSERT_EQ(err(ctx->invoke(invoke.buf())), 0);
    EXPECT_EQ(invoke.header().ret, gp::kSuccess);
}

TEST_F(ASimulatedDevice, PassesAMemrefStartingAtTheEndOfADynamicShm) {
    // Dynamic shms go as registered memory (to_msg_param_reg_mem()): no address to look up.
    MappedShm shm(*ctx_, kPage);
    uint32_t session = open_ok(*ctx_, kEcho);
    InvokeArg invoke = invoke_arg(session, 0, 2);
    invoke.param(0) = memref(kMemrefIn, shm, kPage, 0);
    invoke.param(1) = memref(kMemrefOut, shm, 0, 8);
    ASSERT_EQ(err(ctx_->invoke(invoke.buf())), 0);
    EXPECT_EQ(invoke.header().ret, gp::kSuccess);
}

}  // namespace
}  // namespace teed::simtest
