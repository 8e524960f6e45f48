// The simulated supplicant device against the kernel's rules (drivers/tee/optee/supp.c and
// tee_core.c's SUPPL_RECV/SEND), driven with raw argument buffers as a supplicant would.

#include <pthread.h>
#include <signal.h>

#include <array>
#include <atomic>
#include <cstring>
#include <future>
#include <thread>

#include "backends/sim/rpc.h"
#include "tests/unit/backends/sim_test_support.h"

namespace teed::simtest {
namespace {

constexpr uint64_t kMeta = TEE_IOCTL_PARAM_ATTR_META;

// A SUPPL_RECV/SEND argument: the header and `count` params.
class SuppArg {
public:
    explicit SuppArg(uint32_t count) : words_(1 + count * 4) { header().num_params = count; }
    tee_iocl_supp_recv_arg& header() { return *reinterpret_cast<tee_iocl_supp_recv_arg*>(words_.data()); }
    tee_ioctl_param& param(size_t n) { return reinterpret_cast<tee_ioctl_param*>(words_.data() + 1)[n]; }
    tee_ioctl_buf_data buf() {
        return {.buf_ptr = reinterpret_cast<uintptr_t>(words_.data()), .buf_len = words_.size() * 8};
    }

private:
    std::vector<uint64_t> words_;
};

SuppArg async_recv_arg() {
    SuppArg arg(5);
    arg.param(0).attr = kMeta;
    return arg;
}

class SimSupplicantDeviceTest : public ::testing::Test {
protected:
    SimSupplicantDeviceTest() : tee_(make_simulated_tee({})) {
        supplicant_ = tee_.supplicant->open().value();
    }
    sim::SupplicantRpc& rpc() { return dynamic_cast<SimDeviceNode&>(*tee_.client).secure_world_rpc(); }
    SimDeviceNode& node() { return dynamic_cast<SimDeviceNode&>(*tee_.client); }

    // A secure-world thread sending one request with these params.
    std::future<uint32_t> send_request(uint32_t command, std::vector<sim::RpcParam>& params) {
        return std::async(std::launch::async, [this, command, &params] {
            return rpc().call(command, params);
        });
    }

    SimTee tee_;
    std::unique_ptr<Device> supplicant_;
};

TEST_F(SimSupplicantDeviceTest, NodesAreNamedAndTheSupplicantOneIsPrivileged) {
    EXPECT_EQ(tee_.client->name(), "simtee0");
    EXPECT_EQ(tee_.supplicant->path(), "sim:simteepriv0");
    EXPECT_TRUE(supplicant_->version()->gen_caps & TEE_GEN_CAP_PRIVILEGED);
    auto client = tee_.client->open().value();
    EXPECT_FALSE(client->version()->gen_caps & TEE_GEN_CAP_PRIVILEGED);
}

TEST_F(SimSupplicantDeviceTest, OnlyOneContextMayHoldTheSupplicantDevice) {
    auto second = tee_.supplicant->open();
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().sys_errno(), EBUSY);
    supplicant_.reset();
    EXPECT_TRUE(tee_.supplicant->open().ok());  // free again once closed
}

TEST_F(SimSupplicantDeviceTest, ClientDeviceRefusesSupplicantCalls) {
    auto client = tee_.client->open().value();
    auto arg = async_recv_arg();
    EXPECT_EQ(err(client->supp_recv(arg.buf())), EINVAL);
    EXPECT_EQ(err(client->supp_send(arg.buf())), EINVAL);
}

TEST_F(SimSupplicantDeviceTest, ReceiveChecksItsArgument) {
    SuppArg none(0);
    EXPECT_EQ(err(supplicant_->supp_recv(none.buf())), EINVAL);
    auto value = async_recv_arg();
    value.param(1).attr = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT;
    EXPECT_EQ(err(supplicant_->supp_recv(value.buf())), EINVAL);
    auto bad_bits = async_recv_arg();
    bad_bits.param(2).attr = 0x200;
    EXPECT_EQ(err(supplicant_->supp_recv(bad_bits.buf())), EINVAL);
    auto short_arg = async_recv_arg();
    tee_ioctl_buf_data buf = short_arg.buf();
    buf.buf_len -= 8;
    EXPECT_EQ(err(supplicant_->supp_recv(buf)), EINVAL);
    buf = short_arg.buf();
    buf.buf_ptr = 0;
    EXPECT_EQ(err(supplicant_->supp_recv(buf)), EFAULT);
}

TEST_F(SimSupplicantDeviceTest, AsynchronousRequestCarriesItsIdAndParams) {
    std::vector<sim::RpcParam> params{
        sim::RpcParam::value(kValueIn, 1, 2, 3), sim::RpcParam::value(kValueOut, 7, 8, 9),
        sim::RpcParam::memref(kMemrefOut, nullptr, 0, 42)};
    auto answered = send_request(2, params);

    auto arg = async_recv_arg();
    ASSERT_EQ(err(supplicant_->supp_recv(arg.buf())), 0);
    EXPECT_EQ(arg.header().func, 2u);
    ASSERT_EQ(arg.header().num_params, 4u);
    EXPECT_EQ(arg.param(0).attr, kValueInout | kMeta);
    const uint64_t id = arg.param(0).a;
    EXPECT_GE(id, 1u);
    EXPECT_EQ(arg.param(1).attr, kValueIn);
    EXPECT_EQ(arg.param(1).a, 1u);
    EXPECT_EQ(arg.param(1).c, 3u);
    EXPECT_EQ(arg.param(2).attr, kValueOut);
    EXPECT_EQ(arg.param(2).a, 0u) << "VALUE_OUTPUT reaches the supplicant as zeros";
    EXPECT_EQ(arg.param(3).attr, kMemrefOut);
    EXPECT_EQ(arg.param(3).b, 42u);
    EXPECT_EQ(arg.param(3).c, TEE_MEMREF_NULL) << "a memref without a buffer";

    SuppArg reply(4);
    reply.header().func = 0;  // the ret field
    reply.param(0) = {.attr = kValueInout | kMeta, .a = id, .b = 0, .c = 0};
    reply.param(1) = {.attr = kValueIn, .a = 100, .b = 100, .c = 100};
    reply.param(2) = {.attr = kValueOut, .a = 11, .b = 12, .c = 13};
    reply.param(3) = {.attr = kMemrefOut, .a = 5, .b = 99, .c = 5};
    ASSERT_EQ(err(supplicant_->supp_send(reply.buf())), 0);
    EXPECT_EQ(answered.get(), gp::kSuccess);
    EXPECT_EQ(params[0].a, 1u) << "inputs are not written back";
    EXPECT_EQ(params[1].a, 11u);
    EXPECT_EQ(params[1].c, 13u);
    EXPECT_EQ(params[2].size, 99u);
    EXPECT_EQ(node().pending_supplicant_requests(), 0u);
}

TEST_F(SimSupplicantDeviceTest, OutputsFollowTheRequestsTypesNotTheAnswers) {
    std::vector<sim::RpcParam> params{sim::RpcParam::value(kValueOut),
                                      sim::RpcParam::memref(kMemrefOut, nullptr, 0, 64)};
    auto answered = send_request(9, params);
    auto arg = async_recv_arg();
    ASSERT_EQ(err(supplicant_->supp_recv(arg.buf())), 0);
    SuppArg reply(3);
    reply.param(0) = arg.param(0);
    // params_from_supp() fills the kernel's union (value a, b, c; memref shm_offs, size, shm):
    // a memref answer only its size, the second word; a value answer all three.
    reply.param(1) = {.attr = kMemrefOut, .a = 1, .b = 77, .c = 3};
    reply.param(2) = {.attr = kValueInout, .a = 5, .b = 6, .c = 7};
    ASSERT_EQ(err(supplicant_->supp_send(reply.buf())), 0);
    answered.get();
    EXPECT_EQ(params[0].a, 0u);
    EXPECT_EQ(params[0].b, 77u);
    EXPECT_EQ(params[0].c, 0u);
    EXPECT_EQ(params[1].size, 6u) << "a memref request takes the second word";
}

TEST_F(SimSupplicantDeviceTest, AnswersOfInputTypesCarryNothingBack) {
    std::vector<sim::RpcParam> params{sim::RpcParam::value(kValueOut, 1, 2, 3),
                                      sim::RpcParam::memref(kMemrefOut, nullptr, 0, 64)};
    auto answered = send_request(9, params);
    auto arg = async_recv_arg();
    ASSERT_EQ(err(supplicant_->supp_recv(arg.buf())), 0);
    SuppArg reply(3);
    reply.param(0) = arg.param(0);
    // params_from_supp() copies only OUTPUT and INOUT types; anything else arrives as zeros.
    reply.param(1) = {.attr = kValueIn, .a = 11, .b = 12, .c = 13};
    reply.param(2) = {.attr = kMemrefIn, .a = 0, .b = 32, .c = 0};
    ASSERT_EQ(err(supplicant_->supp_send(reply.buf())), 0);
    answered.get();
    EXPECT_EQ(params[0].a, 0u);
    EXPECT_EQ(params[0].b, 0u);
    EXPECT_EQ(params[0].c, 0u);
    EXPECT_EQ(params[1].size, 0u);
}

TEST_F(SimSupplicantDeviceTest, SendAcceptsAnArgumentLongerThanItsParams) {
    std::vector<sim::RpcParam> params{sim::RpcParam::value(kValueOut)};
    auto answered = send_request(9, params);
    auto arg = async_recv_arg();
    ASSERT_EQ(err(supplicant_->supp_recv(arg.buf())), 0);
    // tee_ioctl_supp_send() wants room for num_params, not an exact fit (RECV wants one).
    SuppArg reply(5);
    reply.header().num_params = 2;
    reply.param(0) = arg.param(0);
    reply.param(1) = {.attr = kValueOut, .a = 4, .b = 0, .c = 0};
    ASSERT_EQ(err(supplicant_->supp_send(reply.buf())), 0);
    EXPECT_EQ(answered.get(), gp::kSuccess);
    EXPECT_EQ(params[0].a, 4u);
    SuppArg short_reply(1);
    short_reply.header().num_params = 2;
    EXPECT_EQ(err(supplicant_->supp_send(short_reply.buf())), EINVAL);
}

TEST_F(SimSupplicantDeviceTest, SendTakesTheLowThirtyTwoBitsOfTheMetaId) {
    std::vector<sim::RpcParam> params{sim::RpcParam::value(kValueIn)};
    auto answered = send_request(0, params);
    auto arg = async_recv_arg();
    ASSERT_EQ(err(supplicant_->supp_recv(arg.buf())), 0);
    SuppArg reply(2);
    // supp_pop_req() reads the id into an int.
    reply.param(0) = {.attr = kValueInout | kMeta, .a = arg.param(0).a | (7ull << 32), .b = 0,
                      .c = 0};
    ASSERT_EQ(err(supplicant_->supp_send(reply.buf())), 0);
    EXPECT_EQ(answered.get(), gp::kSuccess);
}

TEST_F(SimSupplicantDeviceTest, SendWithoutParamsIsRefusedInSynchronousModeToo) {
    std::vector<sim::RpcParam> params;
    auto answered = send_request(0, params);
    ASSERT_TRUE(eventually([&] { return node().pending_supplicant_requests() == 1; }));
    SuppArg sync(1);  // no meta param: synchronous; the request has no params
    ASSERT_EQ(err(supplicant_->supp_recv(sync.buf())), 0);
    EXPECT_EQ(sync.header().num_params, 0u);
    SuppArg none(0);
    EXPECT_EQ(err(supplicant_->supp_send(none.buf())), EINVAL) << "supp_pop_req(): !num_params";
    supplicant_.reset();
    EXPECT_EQ(answered.get(), gp::kErrorCommunication);
}

TEST_F(SimSupplicantDeviceTest, SendNamesAKnownRequestWithTheRightParamCount) {
    std::vector<sim::RpcParam> params{sim::RpcParam::value(kValueIn, 1)};
    auto answered = send_request(0, params);
    auto arg = async_recv_arg();
    ASSERT_EQ(err(supplicant_->supp_recv(arg.buf())), 0);
    const uint64_t id = arg.param(0).a;

    SuppArg unknown(2);
    unknown.param(0) = {.attr = kValueInout | kMeta, .a = id + 1, .b = 0, .c = 0};
    EXPECT_EQ(err(supplicant_->supp_send(unknown.buf())), ENOENT);
    SuppArg too_many(3);
    too_many.param(0) = {.attr = kValueInout | kMeta, .a = id, .b = 0, .c = 0};
    EXPECT_EQ(err(supplicant_->supp_send(too_many.buf())), EINVAL);
    SuppArg no_meta(2);
    EXPECT_EQ(err(supplicant_->supp_send(no_meta.buf())), EINVAL);

    SuppArg right(2);
    right.header().func = gp::kErrorItemNotFound;
    right.param(0) = {.attr = kValueInout | kMeta, .a = id, .b = 0, .c = 0};
    ASSERT_EQ(err(supplicant_->supp_send(right.buf())), 0);
    EXPECT_EQ(answered.get(), gp::kErrorItemNotFound);
    EXPECT_EQ(err(supplicant_->supp_send(right.buf())), ENOENT) << "answered only once";
}

TEST_F(SimSupplicantDeviceTest, ReceiveRefusesARequestThatDoesNotFitAndKeepsItQueued) {
    std::vector<sim::RpcParam> params(4, sim::RpcParam::value(kValueIn, 9));
    auto answered = send_request(0, params);
    ASSERT_TRUE(eventually([&] { return node().pending_supplicant_requests() == 1; }));
    SuppArg small(4);  // meta + 3: no room for 4 params
    small.param(0).attr = kMeta;
    EXPECT_EQ(err(supplicant_->supp_recv(small.buf())), EINVAL);
    // supp_pop_entry() left it at the head of the queue: a big enough RECV takes it.
    auto arg = async_recv_arg();
    ASSERT_EQ(err(supplicant_->supp_recv(arg.buf())), 0);
    EXPECT_EQ(arg.header().num_params, 5u);
    EXPECT_EQ(arg.param(4).a, 9u);
    supplicant_.reset();
    EXPECT_EQ(answered.get(), gp::kErrorCommunication);
}

TEST_F(SimSupplicantDeviceTest, SupplicantDeviceRefusesSessionCalls) {
    // optee_supp_ops have no open_session, invoke_func, cancel_req or close_session.
    OpenArg open = open_arg(kHelloWorld);
    EXPECT_EQ(err(supplicant_->open_session(open.buf())), EINVAL);
    InvokeArg invoke = invoke_arg(1, 0, 0);
    EXPECT_EQ(err(supplicant_->invoke(invoke.buf())), EINVAL);
    EXPECT_EQ(err(supplicant_->cancel({.cancel_id = 0, .session = 1})), EINVAL);
    EXPECT_EQ(err(supplicant_->close_session({.session = 1})), EINVAL);
}

TEST_F(SimSupplicantDeviceTest, SynchronousModeAllowsOneRequestAtATime) {
    std::vector<sim::RpcParam> first{sim::RpcParam::value(kValueInout, 1)};
    std::vector<sim::RpcParam> second{sim::RpcParam::value(kValueInout, 2)};
    auto answered_first = send_request(0, first);
    auto answered_second = send_request(0, second);
    ASSERT_TRUE(eventually([&] { return node().pending_supplicant_requests() == 2; }));

    SuppArg sync(2);  // no meta param: synchronous
    ASSERT_EQ(err(supplicant_->supp_recv(sync.buf())), 0);
    EXPECT_EQ(sync.header().num_params, 1u);
    const uint64_t got = sync.param(0).a;
    auto again = async_recv_arg();
    EXPECT_EQ(err(supplicant_->supp_recv(again.buf())), EINVAL) << "one synchronous request at a time";

    SuppArg reply(1);
    reply.param(0) = {.attr = kValueInout, .a = got * 10, .b = 0, .c = 0};
    ASSERT_EQ(err(supplicant_->supp_send(reply.buf())), 0);
    SuppArg next(2);  // RECV rewrote num_params; a supplicant lays the argument out afresh
    ASSERT_EQ(err(supplicant_->supp_recv(next.buf())), 0);
    reply.param(0).a = next.param(0).a * 10;
    ASSERT_EQ(err(supplicant_->supp_send(reply.buf())), 0);
    EXPECT_EQ(answered_first.get(), gp::kSuccess);
    EXPECT_EQ(answered_second.get(), gp::kSuccess);
    EXPECT_EQ(first[0].a, 10u);
    EXPECT_EQ(second[0].a, 20u);
}

TEST_F(SimSupplicantDeviceTest, ClosingTheSupplicantFailsTakenAndQueuedRequests) {
    std::vector<sim::RpcParam> taken{sim::RpcParam::value(kValueIn)};
    std::vector<sim::RpcParam> queued{sim::RpcParam::value(kValueIn)};
    auto answered_taken = send_request(2, taken);
    ASSERT_TRUE(eventually([&] { return node().pending_supplicant_requests() == 1; }));
    auto arg = async_recv_arg();
    ASSERT_EQ(err(supplicant_->supp_recv(arg.buf())), 0);
    auto answered_queued = send_request(2, queued);
    ASSERT_TRUE(eventually([&] { return node().pending_supplicant_requests() == 2; }));
    supplicant_.reset();
    EXPECT_EQ(answered_taken.get(), gp::kErrorCommunication);
    EXPECT_EQ(answered_queued.get(), gp::kErrorCommunication);
    EXPECT_EQ(node().pending_supplicant_requests(), 0u);
}

TEST_F(SimSupplicantDeviceTest, ASignalInterruptsAWaitingReceive) {
    struct sigaction action {};
    action.sa_handler = [](int) {};
    sigemptyset(&action.sa_mask);
    struct sigaction previous {};
    ASSERT_EQ(sigaction(SIGUSR1, &action, &previous), 0);
    std::atomic<pthread_t> receiver{};
    auto received = std::async(std::launch::async, [&] {
        receiver = pthread_self();
        auto arg = async_recv_arg();
        return err(supplicant_->supp_recv(arg.buf()));
    });
    // Keep signalling until the receiver returns: the first signal may land before it waits.
    while (received.wait_for(10ms) != std::future_status::ready) {
        if (receiver.load() != pthread_t{}) pthread_kill(receiver.load(), SIGUSR1);
    }
    EXPECT_EQ(received.get(), EINTR);
    sigaction(SIGUSR1, &previous, nullptr);
}

TEST(SimSupplicantlessNodeTest, RequestsFailAtOnceWithoutASupplicantDevice) {
    auto node = make_simulated_node({});
    auto& rpc = dynamic_cast<SimDeviceNode&>(*node).secure_world_rpc();
    std::array<sim::RpcParam, 1> params{sim::RpcParam::value(kValueIn)};
    EXPECT_EQ(rpc.call(2, params), gp::kErrorCommunication);
}

}  // namespace
}  // namespace teed::simtest
