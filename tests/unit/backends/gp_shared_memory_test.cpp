// Registered and allocated memory through GpClient on the simulated TEE, with and without
// TEE_GEN_CAP_REG_MEM: the TA's output lands in the client's memory either way.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include <gtest/gtest.h>

#include "backends/kernel/gp.h"
#include "backends/optee/gp_client.h"
#include "backends/sim/sim_device.h"

namespace teed {
namespace {

constexpr const char* kEcho = "4cbe901c-6d6c-4b1d-8ecd-fa9216ce5fe6";
constexpr const char* kCopy = "82110af0-5dff-4c5b-8e60-94810e550ce9";

class RegisteredMemory : public testing::TestWithParam<bool> {
protected:
    void SetUp() override {
        SimOptions options;
        options.reg_mem = GetParam();
        node_ = make_simulated_node(options);
        device_ = std::move(node_->open()).value();
        gp_ = std::make_unique<GpClient>(*device_, /*memref_null=*/true, /*reg_mem=*/GetParam());
        session_ = gp_->open_session({.uuid = Uuid::parse(kEcho).value()}).value().session_id;
        memfd_ = memfd_create("gp-shm-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        ASSERT_EQ(ftruncate(memfd_, 4096), 0);
        view_ = static_cast<uint8_t*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, memfd_, 0));
    }
    void TearDown() override {
        munmap(view_, 4096);
        close(memfd_);
    }

    GpParam partial(uint32_t type, std::shared_ptr<GpSharedMemory> memory, uint64_t offset, uint64_t size) {
        GpParam p;
        p.type = type;
        p.shm = "/org/teed/Teed1/shm/test";
        p.memory = std::move(memory);
        p.offset = offset;
        p.size = size;
        return p;
    }

    std::unique_ptr<DeviceNode> node_;
    std::unique_ptr<Device> device_;
    std::unique_ptr<GpClient> gp_;
    uint32_t session_ = 0;
    int memfd_ = -1;
    uint8_t* view_ = nullptr;
};

TEST_P(RegisteredMemory, CarriesTheTasOutputIntoTheClientsMemory) {
    std::shared_ptr<GpSharedMemory> memory =
        gp_->register_memory(memfd_, 4096, gp::kMemInput | gp::kMemOutput, GetParam()).value();
    EXPECT_EQ(memory->zero_copy(), GetParam());
    std::memcpy(view_, "shared", 6);
    GpParams params{partial(gp::kMemrefPartialInput, memory, 0, 6),
                    partial(gp::kMemrefPartialOutput, memory, 1000, 100)};
    ASSERT_TRUE(validate_gp_params(params, {}).ok());
    auto reply = gp_->invoke(session_, 0, 0, params);
    ASSERT_TRUE(reply.ok()) << reply.error().message();
    EXPECT_EQ(reply->return_code, gp::kSuccess);
    EXPECT_EQ(reply->params.size(), 2u);
    EXPECT_EQ(reply->params[1].size, 6u);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(view_) + 1000, 6), "derahs");
}

TEST_P(RegisteredMemory, ReportsTheNeededSizeWhenTheRangeIsTooSmall) {
    std::shared_ptr<GpSharedMemory> memory =
        gp_->register_memory(memfd_, 4096, gp::kMemInput | gp::kMemOutput, GetParam()).value();
    auto reply = gp_->invoke(session_, 0, 0, {partial(gp::kMemrefPartialInput, memory, 0, 10),
                                              partial(gp::kMemrefPartialOutput, memory, 100, 4)});
    ASSERT_TRUE(reply.ok());
    EXPECT_EQ(reply->return_code, gp::kErrorShortBuffer);
    EXPECT_EQ(reply->params[1].size, 10u);
}

TEST_P(RegisteredMemory, AllocatesDeviceMemoryAClientCanMap) {
    auto [memory, fd] = gp_->allocate_memory(4096, gp::kMemInput).value();
    ASSERT_TRUE(fd.valid());
    auto* client_view = static_cast<uint8_t*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0));
    ASSERT_NE(client_view, MAP_FAILED);
    std::memcpy(client_view, "xyz", 3);
    std::shared_ptr<GpSharedMemory> input = std::move(memory);
    auto reply = gp_->invoke(session_, 0, 0, {partial(gp::kMemrefPartialInput, input, 0, 3), GpParam::temp_output(8)});
    ASSERT_TRUE(reply.ok());
    EXPECT_EQ(reply->params[1].data, (std::vector<uint8_t>{'z', 'y', 'x'}));
    munmap(client_view, 4096);
}

// The copy TA, which the benchmarks use, with each kind of input memref a client can send.
TEST_P(RegisteredMemory, CopyTaCopiesAWholeRegisteredInputIntoATemporaryOutput) {
    uint32_t copy = gp_->open_session({.uuid = Uuid::parse(kCopy).value()}).value().session_id;
    std::shared_ptr<GpSharedMemory> memory =
        gp_->register_memory(memfd_, 4096, gp::kMemInput, GetParam()).value();
    for (size_t i = 0; i < 4096; ++i) view_[i] = static_cast<uint8_t>(i * 7);
    auto reply = gp_->invoke(copy, 0, 0, {partial(gp::kMemrefWhole, memory, 0, 0), GpParam::temp_output(4096)});
    ASSERT_TRUE(reply.ok()) << reply.error().message();
    EXPECT_EQ(reply->return_code, gp::kSuccess);
    EXPECT_EQ(reply->params[1].data, std::vector<uint8_t>(view_, view_ + 4096));
}

TEST_P(RegisteredMemory, CopyTaCopiesATemporaryInputIntoAPartialOutput) {
    uint32_t copy = gp_->open_session({.uuid = Uuid::parse(kCopy).value()}).value().session_id;
    std::shared_ptr<GpSharedMemory> memory =
        gp_->register_memory(memfd_, 4096, gp::kMemOutput, GetParam()).value();
    auto reply = gp_->invoke(copy, 0, 0, {GpParam::temp_input({'c', 'o', 'p', 'y'}),
                                          partial(gp::kMemrefPartialOutput, memory, 100, 8)});
    ASSERT_TRUE(reply.ok()) << reply.error().message();
    EXPECT_EQ(reply->return_code, gp::kSuccess);
    EXPECT_EQ(reply->params[1].size, 4u);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(view_) + 100, 4), "copy");
}

INSTANTIATE_TEST_SUITE_P(ZeroCopyAndCopying, RegisteredMemory, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& param_info) {
                             return param_info.param ? "RegMem" : "NoRegMem";
                         });

}  // namespace
}  // namespace teed
