// teed's supplicant loop serving a simulated OP-TEE: memory requests, dispatch, bad requests,
// concurrency bounds, failed answers and shutdown.

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>

#include "backends/optee/supplicant/rpc_protocol.h"
#include "tests/unit/backends/sim_test_support.h"
#include "tests/unit/backends/supplicant_test_support.h"

namespace teed::simtest {
namespace {

using supplicant::RpcOutcome;
using supplicant::RpcRequest;
using supplicant::RpcService;

constexpr uint32_t kTestCommand = supplicant::kCmdFs;

// A service for the loop's own tests: answers with the sum of its value params and the bytes of
// its first memref reversed, optionally holding each request until released.
class ProbeService final : public RpcService {
public:
    RpcOutcome serve(RpcRequest& request) override {
        {
            std::unique_lock lock(mutex_);
            ++running_;
            peak_ = std::max(peak_, running_);
            changed_.notify_all();
            changed_.wait(lock, [this] { return !hold_; });
            --running_;
        }
        uint64_t sum = 0;
        for (auto& param : request.params) {
            if (param.type == TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT) {
                sum += param.a;
                param.a = sum;
            }
            if (param.has_buffer()) {
                auto bytes = param.memory.bytes();
                std::reverse(bytes.begin(), bytes.end());
            }
        }
        return RpcOutcome::success();
    }
    void hold(bool on) {
        std::lock_guard lock(mutex_);
        hold_ = on;
        changed_.notify_all();
    }
    bool wait_running(uint32_t count) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, 10s, [&] { return running_ >= count; });
    }
    uint32_t peak() {
        std::lock_guard lock(mutex_);
        return peak_;
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    bool hold_ = false;
    uint32_t running_ = 0;
    uint32_t peak_ = 0;
};

class SupplicantTest : public ::testing::Test {
protected:
    explicit SupplicantTest(uint32_t workers = 2)
        : probe_(std::make_shared<ProbeService>()),
          tee_({{kTestCommand, probe_}}, {.workers = workers, .shm_bytes = 1 << 20}) {}

    // Counters change just after the answer reaches the secure world: read them with eventually().
    supplicant::CommandCounters counter(uint32_t command) {
        return tee_.supplicant().counters()[command];
    }

    uint32_t call(std::vector<sim::RpcParam>& params, uint32_t command = kTestCommand) {
        return tee_.rpc().call(command, params);
    }

    std::shared_ptr<ProbeService> probe_;
    ServedTee tee_;
};

TEST_F(SupplicantTest, AllocatesBuffersTheSecureWorldSharesWithServices) {
    uint32_t code = 0;
    auto buffer = tee_.rpc().allocate(100, code);
    ASSERT_EQ(code, gp::kSuccess);
    ASSERT_NE(buffer, nullptr);
    EXPECT_GE(buffer->size(), 100u);
    EXPECT_EQ(tee_.supplicant().shm_count(), 1u);
    std::memcpy(buffer->data(), "abc", 3);

    std::vector<sim::RpcParam> params{sim::RpcParam::value(kValueInout, 5),
                                      sim::RpcParam::memref(kMemrefInout, buffer.get(), 0, 3)};
    EXPECT_EQ(call(params), gp::kSuccess);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(buffer->data()), 3), "cba")
        << "the service wrote into the secure world's buffer";
    EXPECT_EQ(params[1].size, 3u);

    buffer.reset();  // SHM_FREE
    EXPECT_TRUE(eventually([&] { return tee_.supplicant().shm_count() == 0; }));
    EXPECT_TRUE(eventually([&] {
        return counter(supplicant::kCmdShmFree).served == 1 && counter(kTestCommand).served == 1;
    }));
    EXPECT_EQ(counter(supplicant::kCmdShmAlloc).served, 1u);
    EXPECT_EQ(counter(kTestCommand).in_flight, 0u);
}

TEST_F(SupplicantTest, RefusesBuffersBeyondItsCap) {
    uint32_t code = 0;
    auto big = tee_.rpc().allocate(2 << 20, code);
    EXPECT_EQ(big, nullptr);
    EXPECT_EQ(code, gp::kErrorOutOfMemory);
    auto first = tee_.rpc().allocate(600 << 10, code);
    ASSERT_NE(first, nullptr);
    auto second = tee_.rpc().allocate(600 << 10, code);
    EXPECT_EQ(second, nullptr) << "1 MiB cap with 600 KiB held";
    EXPECT_TRUE(eventually([&] { return counter(supplicant::kCmdShmAlloc).failed == 2; }));
}

TEST_F(SupplicantTest, RefusesMemrefsItNeverAllocated) {
    uint32_t code = 0;
    auto buffer = tee_.rpc().allocate(4096, code);
    ASSERT_NE(buffer, nullptr);
    // A range leaving the buffer, then a buffer of another context (the client's own shm).
    std::vector<sim::RpcParam> outside{sim::RpcParam::memref(kMemrefIn, buffer.get(), 4000, 200)};
    EXPECT_EQ(call(outside), gp::kErrorBadParameters);

    tee_ioctl_shm_alloc_data data{.size = 4096, .flags = 0, .id = 0};
    auto client_shm = tee_.client().shm_alloc(data);
    ASSERT_TRUE(client_shm.ok());
    std::vector<sim::RpcParam> foreign{sim::RpcParam::memref_by_id(kMemrefIn, data.id, 0, 16)};
    EXPECT_EQ(call(foreign), gp::kErrorBadParameters) << "a client's shm is not the supplicant's";
    std::vector<sim::RpcParam> unknown{sim::RpcParam::memref_by_id(kMemrefIn, 12345, 0, 16)};
    EXPECT_EQ(call(unknown), gp::kErrorBadParameters);
    std::vector<sim::RpcParam> own{sim::RpcParam::memref(kMemrefIn, buffer.get(), 0, 16)};
    EXPECT_EQ(call(own), gp::kSuccess);
    EXPECT_TRUE(eventually([&] { return counter(kTestCommand).served == 1; }));
    EXPECT_EQ(counter(kTestCommand).failed, 3u);
}

TEST_F(SupplicantTest, RefusesFreeingUnknownBuffersAndOtherMemoryTypes) {
    std::vector<sim::RpcParam> free_unknown{
        sim::RpcParam::value(kValueInout, supplicant::kShmTypeAppl, 999)};
    testing::internal::CaptureStderr();
    EXPECT_EQ(call(free_unknown, supplicant::kCmdShmFree), gp::kErrorBadParameters);
    EXPECT_TRUE(eventually([&] { return counter(supplicant::kCmdShmFree).failed == 1; }));
    const std::string log = testing::internal::GetCapturedStderr();
    EXPECT_NE(log.find("no supplicant buffer with id 999"), std::string::npos) << log;
    EXPECT_EQ(counter(supplicant::kCmdShmFree).served, 0u);
    std::vector<sim::RpcParam> kernel_type{
        sim::RpcParam::value(kValueInout, supplicant::kShmTypeKernel, 4096)};
    EXPECT_EQ(call(kernel_type, supplicant::kCmdShmAlloc), gp::kErrorBadParameters);
    std::vector<sim::RpcParam> wrong_types{sim::RpcParam::value(kValueIn, 0, 4096)};
    EXPECT_EQ(call(wrong_types, supplicant::kCmdShmAlloc), gp::kErrorBadParameters);
}

TEST_F(SupplicantTest, AnswersUnknownCommandsNotSupported) {
    std::vector<sim::RpcParam> params{sim::RpcParam::value(kValueIn)};
    EXPECT_EQ(call(params, 31), gp::kErrorNotSupported);
    EXPECT_TRUE(eventually([&] { return counter(31).failed == 1; }));
}

TEST_F(SupplicantTest, ServesNoMoreRequestsAtOnceThanItHasWorkers) {
    probe_->hold(true);
    std::vector<std::vector<sim::RpcParam>> params(6, {sim::RpcParam::value(kValueInout, 1)});
    std::vector<std::future<uint32_t>> answers;
    for (auto& p : params)
        answers.push_back(std::async(std::launch::async, [&] { return call(p); }));
    ASSERT_TRUE(probe_->wait_running(2));
    // The others are received and wait for a worker; the memory path stays open meanwhile.
    uint32_t code = 0;
    EXPECT_NE(tee_.rpc().allocate(4096, code), nullptr);
    EXPECT_TRUE(eventually([&] { return counter(kTestCommand).in_flight == 6; }));
    probe_->hold(false);
    for (auto& answer : answers) EXPECT_EQ(answer.get(), gp::kSuccess);
    EXPECT_EQ(probe_->peak(), 2u);
    EXPECT_TRUE(eventually([&] { return counter(kTestCommand).served == 6; }));
}

TEST_F(SupplicantTest, StoppingAnswersEveryRequestItHasReceived) {
    probe_->hold(true);
    std::vector<std::vector<sim::RpcParam>> params(3, {sim::RpcParam::value(kValueInout, 1)});
    std::vector<std::future<uint32_t>> answers;
    for (auto& p : params)
        answers.push_back(std::async(std::launch::async, [&] { return call(p); }));
    ASSERT_TRUE(probe_->wait_running(2));
    ASSERT_TRUE(eventually([&] { return counter(kTestCommand).in_flight == 3; }));
    auto stopped = std::async(std::launch::async, [&] { tee_.stop_supplicant(); });
    std::this_thread::sleep_for(20ms);  // let the stop begin while requests are held
    probe_->hold(false);
    stopped.get();
    for (auto& answer : answers) EXPECT_EQ(answer.get(), gp::kSuccess);
    // With teed gone, the secure world's requests wait for a supplicant, as on the kernel,
    // and the next one answers them.
    std::vector<sim::RpcParam> late{sim::RpcParam::value(kValueInout, 7)};
    auto answered = std::async(std::launch::async, [&] { return call(late); });
    EXPECT_EQ(answered.wait_for(50ms), std::future_status::timeout);
    tee_.restart_supplicant({{kTestCommand, probe_}});
    EXPECT_EQ(answered.get(), gp::kSuccess);
    EXPECT_EQ(late[0].a, 7u);
}

TEST_F(SupplicantTest, StartsOnlyOnASupplicantDevice) {
    auto client = supplicant::Supplicant::start(tee_.client_node().open().value(), {}, {});
    ASSERT_FALSE(client.ok());
    EXPECT_NE(client.error().message().find("not a supplicant device"), std::string::npos);
}

// A device that passes every ioctl on to `inner`; the tests' devices change one of them.
class ForwardingDevice : public Device {
public:
    explicit ForwardingDevice(std::unique_ptr<Device> inner) : inner_(std::move(inner)) {}
    Result<tee_ioctl_version_data> version() override { return inner_->version(); }
    Result<UniqueFd> shm_alloc(tee_ioctl_shm_alloc_data& d) override { return inner_->shm_alloc(d); }
    Result<UniqueFd> shm_register(tee_ioctl_shm_register_data& d) override {
        return inner_->shm_register(d);
    }
    Result<void> open_session(const tee_ioctl_buf_data& b) override { return inner_->open_session(b); }
    Result<void> invoke(const tee_ioctl_buf_data& b) override { return inner_->invoke(b); }
    Result<void> cancel(const tee_ioctl_cancel_arg& a) override { return inner_->cancel(a); }
    Result<void> close_session(const tee_ioctl_close_session_arg& a) override {
        return inner_->close_session(a);
    }
    Result<void> supp_recv(const tee_ioctl_buf_data& b) override { return inner_->supp_recv(b); }
    Result<void> supp_send(const tee_ioctl_buf_data& b) override { return inner_->supp_send(b); }
    Result<void> object_invoke(const tee_ioctl_buf_data& b) override { return inner_->object_invoke(b); }

private:
    std::unique_ptr<Device> inner_;
};

// The supplicant's context with SUPPL_SEND reporting EBADF after delivering the answer: what the
// kernel reports when the requesting client died meanwhile (the answer then goes nowhere).
class LostRequesterDevice final : public ForwardingDevice {
public:
    using ForwardingDevice::ForwardingDevice;
    Result<void> supp_send(const tee_ioctl_buf_data& b) override {
        TEED_TRY(ForwardingDevice::supp_send(b));
        return ErrnoError(EBADF) << "TEE_IOC_SUPPL_SEND";
    }
};

// The supplicant's context with TEE_IOC_SHM_REGISTER failing as a kernel out of memory would.
class RegistrationRefusingDevice final : public ForwardingDevice {
public:
    using ForwardingDevice::ForwardingDevice;
    Result<UniqueFd> shm_register(tee_ioctl_shm_register_data&) override {
        return ErrnoError(ENOMEM) << "TEE_IOC_SHM_REGISTER";
    }
};

// Linux's OP-TEE SMC driver needs a page list for every dynamic shm it hands the secure world;
// only registered memory has one (docs/supplicant.md), so a device that can register gets that.
TEST_F(SupplicantTest, RegistersItsOwnMemoryOnADeviceThatCanRegister) {
    EXPECT_EQ(tee_.supplicant().shm_source(), supplicant::RpcShmSource::Register);
    uint32_t code = 0;
    auto buffer = tee_.rpc().allocate(5000, code);
    ASSERT_EQ(code, gp::kSuccess);
    ASSERT_NE(buffer, nullptr);
    EXPECT_EQ(tee_.supplicant().shm_bytes(), 8192u) << "counted page-rounded";
    std::memcpy(buffer->data(), "xyz", 3);
    std::vector<sim::RpcParam> params{sim::RpcParam::memref(kMemrefInout, buffer.get(), 0, 3)};
    EXPECT_EQ(call(params), gp::kSuccess);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(buffer->data()), 3), "zyx");
    buffer.reset();
    EXPECT_TRUE(eventually([&] { return tee_.supplicant().shm_count() == 0; }));
    EXPECT_EQ(tee_.supplicant().shm_bytes(), 0u);
}

TEST(SupplicantPoolTest, AllocatesFromThePoolOnADeviceThatCannotRegister) {
    auto probe = std::make_shared<ProbeService>();
    SimOptions sim;
    sim.reg_mem = false;
    ServedTee tee({{kTestCommand, probe}}, {.workers = 1, .shm_bytes = 1 << 20}, sim);
    EXPECT_EQ(tee.supplicant().shm_source(), supplicant::RpcShmSource::Allocate);
    uint32_t code = 0;
    auto buffer = tee.rpc().allocate(100, code);
    ASSERT_EQ(code, gp::kSuccess);
    ASSERT_NE(buffer, nullptr);
    std::memcpy(buffer->data(), "ab", 2);
    std::vector<sim::RpcParam> params{sim::RpcParam::memref(kMemrefInout, buffer.get(), 0, 2)};
    EXPECT_EQ(tee.rpc().call(kTestCommand, params), gp::kSuccess);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(buffer->data()), 2), "ba");
}

TEST(SupplicantShmFailureTest, ABufferItCannotMakeIsAnsweredOutOfMemoryCountedAndLogged) {
    SimTee tee = make_simulated_tee({});
    testing::internal::CaptureStderr();
    auto supplicant = supplicant::Supplicant::start(
        std::make_unique<RegistrationRefusingDevice>(tee.supplicant->open().value()), {},
        {.device_path = "sim:simteepriv0"});
    ASSERT_TRUE(supplicant.ok());
    auto& rpc = dynamic_cast<SimDeviceNode&>(*tee.client).secure_world_rpc();
    uint32_t code = 0;
    EXPECT_EQ(rpc.allocate(4096, code), nullptr);
    EXPECT_EQ(code, gp::kErrorOutOfMemory);
    EXPECT_TRUE(eventually([&] { return (*supplicant)->counters()[supplicant::kCmdShmAlloc].failed == 1; }));
    EXPECT_EQ((*supplicant)->counters()[supplicant::kCmdShmAlloc].served, 0u);
    EXPECT_EQ((*supplicant)->shm_count(), 0u);
    EXPECT_EQ((*supplicant)->shm_bytes(), 0u) << "the reservation is given back";
    supplicant->reset();
    const std::string log = testing::internal::GetCapturedStderr();
    EXPECT_NE(log.find("TEE_IOC_SHM_REGISTER"), std::string::npos) << log;
    EXPECT_NE(log.find(std::strerror(ENOMEM)), std::string::npos) << log;
    EXPECT_NE(log.find("shm-alloc"), std::string::npos) << log;
}

TEST(SupplicantSendFailureTest, AFailedAnswerCostsOneRequestAndServingGoesOn) {
    SimTee tee = make_simulated_tee({});
    auto probe = std::make_shared<ProbeService>();
    auto supplicant = supplicant::Supplicant::start(
        std::make_unique<LostRequesterDevice>(tee.supplicant->open().value()),
        {{kTestCommand, probe}}, {.device_path = "sim:simteepriv0"});
    ASSERT_TRUE(supplicant.ok());
    auto& rpc = dynamic_cast<SimDeviceNode&>(*tee.client).secure_world_rpc();
    for (int i = 0; i < 3; ++i) {
        std::vector<sim::RpcParam> params{sim::RpcParam::value(kValueInout, 1)};
        EXPECT_EQ(rpc.call(kTestCommand, params), gp::kSuccess);
    }
    EXPECT_TRUE(eventually([&] { return (*supplicant)->counters()[kTestCommand].failed == 3; }));
    EXPECT_EQ((*supplicant)->send_failures(), 3u);
    EXPECT_EQ((*supplicant)->counters()[kTestCommand].served, 0u);
}

}  // namespace
}  // namespace teed::simtest
