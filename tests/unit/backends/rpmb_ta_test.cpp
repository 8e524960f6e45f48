// The rpmb TA (backends/sim/rpmb_ta.h) against teed's RpmbService and an emulated partition:
// first with the supplicant's transport replaced by a loopback (the TA's RPCs served in the
// calling thread from buffers of a simulated shm table), which lets tests forge answers; then end
// to end, through a simulated OP-TEE's supplicant device served by teed's Supplicant.

#include <functional>
#include <map>
#include <thread>

#include "backends/optee/supplicant/supplicant.h"
#include "backends/sim/rpmb_ta.h"
#include "backends/sim/shm_table.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "tests/unit/backends/rpmb_test_support.h"
#include "tests/unit/backends/sim_test_support.h"
#include "tests/unit/backends/supplicant_test_support.h"

namespace teed::supplicant::rpmbtest {
namespace {

constexpr uint32_t kTaValueIn = 1;
constexpr uint32_t kTaValueOut = 2;
constexpr uint32_t kTaMemrefIn = 5;
constexpr uint32_t kTaMemrefOut = 6;

class NeverCancelled : public sim::CancelToken {
public:
    bool cancelled() const override { return false; }
    bool wait_for(std::chrono::milliseconds duration) const override {
        std::this_thread::sleep_for(duration);
        return true;
    }
};

// A SupplicantRpc serving kCmdRpmb with an RpmbService: memrefs become RpcMemrefs over the
// simulated shm, outputs are copied back as SupplicantRpc::call promises. `tamper` may change
// the request (and so the answer in the shared buffer) after the service answered it.
class LoopbackRpc : public sim::SupplicantRpc {
public:
    void serve_with(RpmbService* service) { service_ = service; }
    void tamper_with(std::function<void(RpcRequest&)> tamper) { tamper_ = std::move(tamper); }
    const RpcOutcome& last_outcome() const { return last_outcome_; }
    int allocated() const { return allocated_; }
    int freed() const { return freed_; }
    int calls() const { return calls_; }

    uint32_t call(uint32_t command, std::span<sim::RpcParam> params) override {
        ++calls_;
        if (command != kCmdRpmb || service_ == nullptr) return gp::kErrorNotSupported;
        RpcRequest request{.command = command, .id = static_cast<uint64_t>(calls_)};
        for (const sim::RpcParam& param : params) {
            RpcParam decoded{.type = param.type, .a = param.a, .b = param.b, .c = param.c};
            if (decoded.is_memref()) {
                if (param.buffer == nullptr || param.offset + param.size > param.buffer->size())
                    return gp::kErrorBadParameters;
                decoded = {.type = param.type,
                           .a = param.offset,
                           .b = param.size,
                           .c = static_cast<uint64_t>(param.buffer->id())};
                decoded.memory = RpcMemref::wrap({param.buffer->data() + param.offset, param.size});
            }
            request.params.push_back(decoded);
        }
        last_outcome_ = service_->serve(request);
        if (tamper_) tamper_(request);
        for (size_t i = 0; i < params.size(); ++i) {
            if (params[i].type == TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT)
                params[i].size = request.params[i].b;
        }
        return last_outcome_.code;
    }

    std::unique_ptr<sim::RpcSharedBuffer> allocate(size_t size, uint32_t& ret_code) override {
        if (refuse_allocations_) {
            ret_code = gp::kErrorOutOfMemory;
            return nullptr;
        }
        auto shm = table_.allocate(/*owner=*/1, size);
        if (!shm.ok()) {
            ret_code = gp::kErrorOutOfMemory;
            return nullptr;
        }
        fds_[shm->id] = std::move(shm->fd);
        ++allocated_;
        return std::make_unique<sim::RpcSharedBuffer>(*this, table_.find(1, shm->id));
    }

    void free(int32_t shm_id) override {
        fds_.erase(shm_id);
        ++freed_;
    }

    void refuse_allocations() { refuse_allocations_ = true; }

private:
    sim::ShmTable table_{16 << 20};
    std::map<int32_t, UniqueFd> fds_;
    RpmbService* service_ = nullptr;
    std::function<void(RpcRequest&)> tamper_;
    RpcOutcome last_outcome_;
    bool refuse_allocations_ = false;
    int allocated_ = 0;
    int freed_ = 0;
    int calls_ = 0;
};

// The key the TA programs into the default emulation: HMAC-SHA256 of the zero HUK over usage 0
// and the default CID with PRV and CRC zeroed (optee_os's scripts/derive_rpmb_key.py --huk
// 00000000000000000000000000000000 --cid 00010054454544454d1000000001117b gives the same).
RpmbKey ta_key() {
    return derive_rpmb_key(sim::kSimulatedHardwareUniqueKey, kDefaultEmulatedCid);
}

class AnRpmbTa : public RpmbServiceTest {
protected:
    void SetUp() override {
        RpmbServiceTest::SetUp();
        rpc_.serve_with(service_.get());
        start_ta();
    }

    void start_ta() {
        session_.reset();
        ta_ = sim::make_rpmb_ta(rpc_);
        uint32_t ret = 0;
        sim::TaParams params{};
        session_ = ta_->open_session({}, params, cancel_, ret);
        ASSERT_TRUE(session_);
    }

    // A new device on the same file, as after a restart of teed.
    void restart() {
        service_.reset();
        open();
        rpc_.serve_with(service_.get());
        start_ta();
    }

    uint32_t write(uint32_t address, std::vector<uint8_t> block) {
        sim::TaParams params{};
        params[0] = {.type = kTaValueIn, .a = address};
        params[1] = {.type = kTaMemrefIn, .buffer = block.data(), .size = block.size()};
        return session_->invoke(0, params, cancel_).code;
    }

    std::pair<uint32_t, std::vector<uint8_t>> read(uint32_t address, size_t capacity = 256) {
        std::vector<uint8_t> block(capacity, 0xCC);
        sim::TaParams params{};
        params[0] = {.type = kTaValueIn, .a = address};
        params[1] = {.type = kTaMemrefOut, .buffer = block.data(), .size = block.size()};
        uint32_t code = session_->invoke(1, params, cancel_).code;
        block.resize(params[1].size);
        return {code, block};
    }

    std::pair<uint32_t, uint32_t> counter() {
        sim::TaParams params{};
        params[0] = {.type = kTaValueOut, .a = 77, .b = 77};
        uint32_t code = session_->invoke(2, params, cancel_).code;
        return {code, params[0].a};
    }

    LoopbackRpc rpc_;
    NeverCancelled cancel_;
    std::unique_ptr<sim::TrustedApp> ta_;
    std::unique_ptr<sim::TaSession> session_;
};

TEST(TheSimulatedRpmbKey, IsOpteesDerivationFromTheZeroHukAndTheCid) {
    RpmbKey key = ta_key();
    const RpmbKey expected{0x3a, 0x36, 0x09, 0x37, 0x8b, 0x0b, 0x72, 0x29, 0x9e, 0x6a, 0x61,
                           0x5e, 0x9e, 0x37, 0x75, 0xc7, 0x94, 0xdb, 0x30, 0x08, 0xed, 0x9b,
                           0x84, 0xed, 0xb2, 0x2d, 0xce, 0x14, 0x6d, 0x31, 0x63, 0x19};
    EXPECT_EQ(key, expected);
    // PRV and CRC do not count: a firmware update must not change the key.
    RpmbCid updated = kDefaultEmulatedCid;
    updated[9] = 0x20;
    updated[15] = 0x33;
    EXPECT_EQ(derive_rpmb_key(sim::kSimulatedHardwareUniqueKey, updated), expected);
    updated[10] = 0x01;  // another serial number: another card
    EXPECT_NE(derive_rpmb_key(sim::kSimulatedHardwareUniqueKey, updated), expected);
}

TEST_F(AnRpmbTa, ProgramsItsDerivedKeyOnFirstUse) {
    auto [code, value] = counter();
    ASSERT_EQ(code, gp::kSuccess) << rpc_.last_outcome().reason;
    EXPECT_EQ(value, 0u);
    // The device now signs with the derived key.
    RpmbClient device(*service_, ta_key());
    Answer answer = device.read_counter();
    EXPECT_EQ(answer.frame().op_result(), kRpmbResultOk);
    EXPECT_TRUE(rpmb_mac_matches(ta_key(), answer.frames()));
}

TEST_F(AnRpmbTa, WritesBlocksAndReadsThemBack) {
    ASSERT_EQ(write(5, block_of(1)), gp::kSuccess) << rpc_.last_outcome().reason;
    ASSERT_EQ(write(511, block_of(2)), gp::kSuccess);
    auto [code, data] = read(5);
    ASSERT_EQ(code, gp::kSuccess);
    EXPECT_EQ(data, block_of(1));
    EXPECT_EQ(read(511).second, block_of(2));
    EXPECT_EQ(read(6).second, std::vector<uint8_t>(256, 0));
}

TEST_F(AnRpmbTa, CountsEachWrite) {
    EXPECT_EQ(counter(), std::make_pair(gp::kSuccess, 0u));
    ASSERT_EQ(write(0, block_of(1)), gp::kSuccess);
    EXPECT_EQ(counter(), std::make_pair(gp::kSuccess, 1u));
    ASSERT_EQ(write(0, block_of(2)), gp::kSuccess);
    ASSERT_EQ(write(1, block_of(3)), gp::kSuccess);
    EXPECT_EQ(counter(), std::make_pair(gp::kSuccess, 3u));
}

TEST_F(AnRpmbTa, FindsItsDataAfterARestart) {
    ASSERT_EQ(write(9, block_of(4)), gp::kSuccess);
    ASSERT_EQ(write(10, block_of(5)), gp::kSuccess);
    restart();
    EXPECT_EQ(read(9), std::make_pair(gp::kSuccess, block_of(4)));
    EXPECT_EQ(counter(), std::make_pair(gp::kSuccess, 2u));
    EXPECT_EQ(write(10, block_of(6)), gp::kSuccess);
    EXPECT_EQ(read(10).second, block_of(6));
}

TEST_F(AnRpmbTa, RelearnsTheCounterAfterAWriteItDidNotExpect) {
    ASSERT_EQ(write(0, block_of(1)), gp::kSuccess);
    // Someone else with the key writes meanwhile: the TA's counter is stale.
    RpmbClient other(*service_, ta_key());
    ASSERT_EQ(other.write(3, {block_of(9)}).frame().op_result(), kRpmbResultOk);
    EXPECT_EQ(write(0, block_of(2)), gp::kErrorGeneric);
    EXPECT_THAT(rpc_.last_outcome().reason, HasSubstr("COUNTER_FAILURE"));
    EXPECT_EQ(write(0, block_of(2)), gp::kSuccess);
    EXPECT_EQ(read(0).second, block_of(2));
    EXPECT_EQ(counter().second, 3u);
}

TEST_F(AnRpmbTa, RefusesADeviceThatSignsWithAnotherKey) {
    RpmbClient stranger(*service_, test_key());
    ASSERT_EQ(stranger.program_key().frame().op_result(), kRpmbResultOk);
    EXPECT_EQ(counter().first, gp::kErrorSecurity);
    EXPECT_EQ(write(0, block_of(1)), gp::kErrorSecurity);
    EXPECT_EQ(read(0).first, gp::kErrorSecurity);
    // And it did not try to program its own key over it.
    EXPECT_TRUE(rpmb_mac_matches(test_key(), stranger.read_counter().frames()));
}

TEST_F(AnRpmbTa, DetectsForgedAnswers) {
    ASSERT_EQ(write(2, block_of(1)), gp::kSuccess);
    auto in_answer = [](RpcRequest& request, size_t offset) -> uint8_t& {
        return request.params[1].memory.data()[offset];
    };

    rpc_.tamper_with([&](RpcRequest& request) { in_answer(request, 300) ^= 1; });  // data
    EXPECT_EQ(read(2).first, gp::kErrorSecurity);
    rpc_.tamper_with([&](RpcRequest& request) { in_answer(request, 490) ^= 1; });  // nonce
    EXPECT_EQ(read(2).first, gp::kErrorSecurity);
    EXPECT_EQ(counter().first, gp::kErrorSecurity);
    rpc_.tamper_with([&](RpcRequest& request) { in_answer(request, 505) ^= 1; });  // address
    EXPECT_EQ(read(2).first, gp::kErrorGeneric);
    rpc_.tamper_with([&](RpcRequest& request) { in_answer(request, 210) ^= 1; });  // MAC
    EXPECT_EQ(write(2, block_of(2)), gp::kErrorSecurity);

    // The forged answer hid a write that happened: the TA reads the counter again before the
    // next write, and the data is there.
    rpc_.tamper_with(nullptr);
    EXPECT_EQ(read(2), std::make_pair(gp::kSuccess, block_of(2)));
    EXPECT_EQ(write(3, block_of(3)), gp::kSuccess);
    EXPECT_EQ(counter().second, 3u);
}

// A replayed answer: the device's answer to an earlier read, with its then valid MAC, served
// again. Only the fresh nonce unmasks it.
TEST_F(AnRpmbTa, DetectsAReplayedAnswer) {
    ASSERT_EQ(write(2, block_of(1)), gp::kSuccess);
    std::vector<uint8_t> recorded;
    rpc_.tamper_with([&](RpcRequest& request) {
        auto answer = request.params[1].memory.bytes();
        recorded.assign(answer.begin(), answer.end());
    });
    ASSERT_EQ(read(2).first, gp::kSuccess);
    rpc_.tamper_with(nullptr);
    ASSERT_EQ(write(2, block_of(2)), gp::kSuccess);
    rpc_.tamper_with([&](RpcRequest& request) {
        std::ranges::copy(recorded, request.params[1].memory.bytes().begin());
    });
    EXPECT_EQ(read(2).first, gp::kErrorSecurity);
}

TEST_F(AnRpmbTa, RefusesBadParameters) {
    sim::TaParams params{};
    EXPECT_EQ(session_->invoke(3, params, cancel_).code, gp::kErrorBadParameters);
    EXPECT_EQ(session_->invoke(0, params, cancel_).code, gp::kErrorBadParameters);
    EXPECT_EQ(write(0, std::vector<uint8_t>(255)), gp::kErrorBadParameters);
    EXPECT_EQ(write(0, std::vector<uint8_t>(257)), gp::kErrorBadParameters);
    params[0] = {.type = kTaValueIn};
    params[1] = {.type = kTaMemrefIn, .buffer = nullptr, .size = 256};
    EXPECT_EQ(session_->invoke(0, params, cancel_).code, gp::kErrorBadParameters);
    params[1] = {.type = kTaMemrefOut, .buffer = nullptr, .size = 256};
    EXPECT_EQ(session_->invoke(1, params, cancel_).code, gp::kErrorBadParameters);
    params[0] = {.type = kTaValueIn};
    params[1] = {};
    EXPECT_EQ(session_->invoke(2, params, cancel_).code, gp::kErrorBadParameters);

    EXPECT_EQ(write(kBlocks, block_of(1)), gp::kErrorBadParameters);
    EXPECT_EQ(read(kBlocks).first, gp::kErrorBadParameters);
    EXPECT_EQ(read(0x10000).first, gp::kErrorBadParameters);
    EXPECT_EQ(counter().second, 0u);
}

TEST_F(AnRpmbTa, AsksForRoomForABlock) {
    auto [code, data] = read(0, 100);
    EXPECT_EQ(code, gp::kErrorShortBuffer);
    EXPECT_EQ(data.size(), 256u);
    const int calls = rpc_.calls();
    read(0, 255);
    EXPECT_EQ(rpc_.calls(), calls);  // answered without asking the device
}

TEST_F(AnRpmbTa, PassesOnWhatTheNormalWorldAnswers) {
    rpc_.serve_with(nullptr);
    EXPECT_EQ(counter().first, gp::kErrorNotSupported);
    rpc_.serve_with(service_.get());
    rpc_.refuse_allocations();
    EXPECT_EQ(write(0, block_of(1)), gp::kErrorOutOfMemory);
}

TEST_F(AnRpmbTa, FreesEveryBufferItAllocates) {
    ASSERT_EQ(write(0, block_of(1)), gp::kSuccess);
    ASSERT_EQ(read(0).first, gp::kSuccess);
    ASSERT_EQ(counter().first, gp::kSuccess);
    EXPECT_GT(rpc_.allocated(), 0);
    EXPECT_EQ(rpc_.allocated(), rpc_.freed());
}

TEST_F(AnRpmbTa, SharesOneViewOfTheDeviceBetweenSessions) {
    uint32_t ret = 0;
    sim::TaParams none{};
    auto second = ta_->open_session({}, none, cancel_, ret);
    ASSERT_TRUE(second);
    ASSERT_EQ(write(0, block_of(1)), gp::kSuccess);
    std::vector<uint8_t> block = block_of(2);
    sim::TaParams params{};
    params[0] = {.type = kTaValueIn, .a = 1};
    params[1] = {.type = kTaMemrefIn, .buffer = block.data(), .size = block.size()};
    EXPECT_EQ(second->invoke(0, params, cancel_).code, gp::kSuccess);
    EXPECT_EQ(write(2, block_of(3)), gp::kSuccess);  // its counter moved with the other session's
    EXPECT_EQ(counter().second, 3u);
}

// ---------------------------------------------------------------------------------------------
// End to end: the rpmb TA in a simulated OP-TEE whose supplicant device teed's Supplicant serves,
// called by a client through the TEE device, with an emulated partition in a file.

using simtest::err;
using simtest::invoke_arg;
using simtest::MappedShm;
using simtest::memref;
using simtest::ServedTee;

class TheRpmbTaThroughTheSupplicant : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(dir_.path().empty());
        file_ = dir_.path() + "/rpmb.img";
        start();
    }

    // A node and a supplicant serving RPMB from the file, as teed starting on a machine.
    void start() {
        auto device = open_emulated_rpmb(file_, {});
        ASSERT_TRUE(device.ok()) << device.error().message();
        start_with({{kCmdRpmb, std::make_shared<RpmbService>(std::move(device).value())}});
    }

    void start_with(Supplicant::Services services) {
        stop();
        tee_ = std::make_unique<ServedTee>(std::move(services));
        session_ = simtest::open_ok(tee_->client(), sim::kRpmbTaUuid);
        shm_ = std::make_unique<MappedShm>(tee_->client(), 4096);
    }

    // Everything gone, the emulation's file closed: as after a power cycle.
    void stop() {
        shm_.reset();
        tee_.reset();
    }

    uint32_t invoke(simtest::InvokeArg& arg) {
        EXPECT_EQ(err(tee_->client().invoke(arg.buf())), 0);
        return arg.header().ret;
    }

    uint32_t write(uint32_t block, const std::vector<uint8_t>& data) {
        std::memcpy(shm_->data(), data.data(), data.size());
        auto arg = invoke_arg(session_, 0, 2);
        arg.param(0) = {.attr = simtest::kValueIn, .a = block, .b = 0, .c = 0};
        arg.param(1) = memref(simtest::kMemrefIn, *shm_, 0, data.size());
        return invoke(arg);
    }

    std::pair<uint32_t, std::vector<uint8_t>> read(uint32_t block) {
        std::memset(shm_->data() + 1024, 0xCC, 256);
        auto arg = invoke_arg(session_, 1, 2);
        arg.param(0) = {.attr = simtest::kValueIn, .a = block, .b = 0, .c = 0};
        arg.param(1) = memref(simtest::kMemrefOut, *shm_, 1024, 256);
        uint32_t code = invoke(arg);
        return {code,
                std::vector<uint8_t>(shm_->data() + 1024, shm_->data() + 1024 + arg.param(1).b)};
    }

    std::pair<uint32_t, uint64_t> counter() {
        auto arg = invoke_arg(session_, 2, 1);
        arg.param(0) = {.attr = simtest::kValueOut, .a = 0, .b = 0, .c = 0};
        uint32_t code = invoke(arg);
        return {code, arg.param(0).a};
    }

    supplicant::CommandCounters rpmb_counters() { return tee_->supplicant().counters()[kCmdRpmb]; }

    TempDir dir_;
    std::string file_;
    std::unique_ptr<ServedTee> tee_;
    uint32_t session_ = 0;
    std::unique_ptr<MappedShm> shm_;
};

TEST_F(TheRpmbTaThroughTheSupplicant, WritesThenReadsBack) {
    ASSERT_EQ(write(17, block_of(1)), gp::kSuccess);
    auto [code, data] = read(17);
    EXPECT_EQ(code, gp::kSuccess);
    EXPECT_EQ(data, block_of(1));
    // GET_DEV_INFO, counter reads, the key, the write and the read: all served, none failed.
    EXPECT_TRUE(simtest::eventually([&] { return rpmb_counters().in_flight == 0; }));
    EXPECT_GE(rpmb_counters().served, 5u);
    EXPECT_EQ(rpmb_counters().failed, 0u);
    EXPECT_EQ(tee_->supplicant().shm_count(), 0u);  // every exchange's buffer freed
}

TEST_F(TheRpmbTaThroughTheSupplicant, CountsEveryWrite) {
    EXPECT_EQ(counter(), std::make_pair(gp::kSuccess, uint64_t{0}));
    for (uint32_t i = 0; i < 5; ++i) ASSERT_EQ(write(i, block_of(static_cast<uint8_t>(i))), 0u);
    EXPECT_EQ(counter(), std::make_pair(gp::kSuccess, uint64_t{5}));
}

TEST_F(TheRpmbTaThroughTheSupplicant, SerialisesConcurrentSessions) {
    const uint32_t other = simtest::open_ok(tee_->client(), sim::kRpmbTaUuid);
    MappedShm other_shm(tee_->client(), 4096);
    std::thread writer([&] {
        for (uint32_t i = 0; i < 10; ++i) {
            std::memcpy(other_shm.data(), block_of(0x80).data(), 256);
            auto arg = invoke_arg(other, 0, 2);
            arg.param(0) = {.attr = simtest::kValueIn, .a = 100 + i, .b = 0, .c = 0};
            arg.param(1) = memref(simtest::kMemrefIn, other_shm, 0, 256);
            EXPECT_EQ(err(tee_->client().invoke(arg.buf())), 0);
            EXPECT_EQ(arg.header().ret, gp::kSuccess);
        }
    });
    for (uint32_t i = 0; i < 10; ++i) EXPECT_EQ(write(200 + i, block_of(0x40)), gp::kSuccess);
    writer.join();
    EXPECT_EQ(counter().second, 20u);
    EXPECT_EQ(read(109).second, block_of(0x80));
    EXPECT_EQ(read(209).second, block_of(0x40));
}

TEST_F(TheRpmbTaThroughTheSupplicant, FindsItsDataOnANewNodeWithTheSameFile) {
    ASSERT_EQ(write(3, block_of(3)), gp::kSuccess);
    ASSERT_EQ(write(4, block_of(4)), gp::kSuccess);
    stop();
    start();
    EXPECT_EQ(read(3), std::make_pair(gp::kSuccess, block_of(3)));
    EXPECT_EQ(read(4), std::make_pair(gp::kSuccess, block_of(4)));
    EXPECT_EQ(counter().second, 2u);
    EXPECT_EQ(write(3, block_of(5)), gp::kSuccess);
    EXPECT_EQ(counter().second, 3u);
}

// The file's key replaced, its checksum made to match: the device now signs with a key that is
// not the TA's, and the TA refuses every answer.
TEST_F(TheRpmbTaThroughTheSupplicant, DetectsAnEmulationFileWithAnotherKey) {
    ASSERT_EQ(write(3, block_of(3)), gp::kSuccess);
    stop();
    edit_emulation_file(file_, [](std::vector<uint8_t>& bytes) {
        const RpmbKey other = test_key(0x77);
        std::ranges::copy(other, bytes.begin() + 32);
    });
    start();
    EXPECT_EQ(counter().first, gp::kErrorSecurity);
    EXPECT_EQ(read(3).first, gp::kErrorSecurity);
    EXPECT_EQ(write(3, block_of(9)), gp::kErrorSecurity);
}

// A damaged file is not served at all: the emulation refuses to open it, and a supplicant
// without RPMB answers the TA NOT_SUPPORTED, as tee-supplicant answers unknown commands.
TEST_F(TheRpmbTaThroughTheSupplicant, DetectsADamagedEmulationFile) {
    ASSERT_EQ(write(3, block_of(3)), gp::kSuccess);
    stop();
    std::vector<uint8_t> bytes = read_bytes(file_);
    bytes[128 + 3 * 256 + 10] ^= 0x04;
    write_bytes(file_, bytes);
    auto device = open_emulated_rpmb(file_, {});
    ASSERT_FALSE(device.ok());
    EXPECT_THAT(device.error().message(), HasSubstr("'" + file_ + "' is damaged"));

    start_with({});
    EXPECT_EQ(read(3).first, gp::kErrorNotSupported);
    EXPECT_EQ(tee_->supplicant().counters()[kCmdRpmb].failed, 1u);
}

// The card refuses a write (here: the emulation cannot store it): the RPC itself succeeds, the
// TA learns of the refusal from the result frame, and the supplicant logs why.
TEST_F(TheRpmbTaThroughTheSupplicant, LogsAWriteTheCardRefused) {
    ASSERT_EQ(write(1, block_of(1)), gp::kSuccess);
    ASSERT_TRUE(std::filesystem::create_directory(file_ + ".tmp"));
    const LogLevel level = log_level();
    set_log_level(LogLevel::Info);  // whatever other tests left
    set_log_to_journal(false);
    testing::internal::CaptureStderr();
    EXPECT_EQ(write(1, block_of(2)), gp::kErrorGeneric);
    EXPECT_TRUE(simtest::eventually([&] { return rpmb_counters().in_flight == 0; }));
    const std::string log = testing::internal::GetCapturedStderr();
    set_log_level(level);
    EXPECT_THAT(log, HasSubstr("request served with a note"));
    EXPECT_THAT(log, HasSubstr("WRITE_FAILURE"));
    EXPECT_THAT(log, HasSubstr(file_ + ".tmp"));
    EXPECT_EQ(rpmb_counters().failed, 0u);

    std::filesystem::remove(file_ + ".tmp");
    EXPECT_EQ(write(1, block_of(2)), gp::kSuccess);
    EXPECT_EQ(read(1).second, block_of(2));
}

TEST(TheRpmbTaWithoutASupplicant, FailsForLackOfItsBuffer) {
    auto node = make_simulated_node({});
    auto client = node->open().value();
    const uint32_t session = simtest::open_ok(*client, sim::kRpmbTaUuid);
    auto arg = invoke_arg(session, 2, 1);
    arg.param(0) = {.attr = simtest::kValueOut, .a = 0, .b = 0, .c = 0};
    ASSERT_EQ(err(client->invoke(arg.buf())), 0);
    // The driver turns the refused SHM_ALLOC into -ENOMEM, which OP-TEE sees as out of memory.
    EXPECT_EQ(arg.header().ret, gp::kErrorOutOfMemory);
    EXPECT_EQ(arg.header().ret_origin, gp::kOriginTrustedApp);
}

}  // namespace
}  // namespace teed::supplicant::rpmbtest
