// The simulated secure world's REE TA store fetching `.ta` files from teed's real TaLoader,
// through the simulated supplicant device: LOAD_TA (size), SHM_ALLOC, LOAD_TA (file), SHM_FREE,
// then verification; and the `loadable` program it runs.

#include "backends/sim/ree_ta_store.h"

#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backends/optee/supplicant/rpc_protocol.h"
#include "backends/optee/supplicant/ta_loader.h"
#include "backends/sim/secure_world.h"
#include "tests/unit/backends/sim_test_support.h"
#include "tests/unit/backends/supplicant_test_support.h"
#include "tests/unit/backends/ta_file_test_support.h"

namespace teed::simtest {
namespace {

using sim::TaParams;
using supplicant::RpcOutcome;
using supplicant::RpcRequest;
using tatest::loadable_ta;
using tatest::TempDirectory;

const Uuid kShipped = tatest::uuid(TEED_SIM_LOADABLE_TA_UUID);
const Uuid kTa = tatest::uuid("2f7e1b7a-6b1f-4c55-9a55-3d1c07c0a1b2");
const Uuid kOther = tatest::uuid("d3c0b9a4-1e2f-4a3b-8c4d-5e6f7a8b9c0d");

constexpr uint32_t kValueOut = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT;
constexpr uint32_t kMemrefOut = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT;

// A supplicant whose TA path is a test directory, then the build's shipped TAs.
class ASimReeTaStore : public ::testing::Test {
protected:
    ASimReeTaStore()
        : tee_({{supplicant::kCmdLoadTa,
                 std::make_shared<supplicant::TaLoader>(supplicant::TaLoaderOptions{
                     .ta_path = {dir_.path(), TEED_SIM_TA_DIR},
                     .may_load = [](const Uuid& uuid) { return uuid != kOther; }})}}) {}

    std::unique_ptr<sim::TrustedApp> load(const Uuid& uuid, uint32_t& code) {
        code = 0xDEADBEEF;
        return sim::load_ree_trusted_app(tee_.rpc(), uuid, code);
    }
    // Loading `uuid` fails with `expected`; the answer is what the secure world decided.
    void expect_refused(const Uuid& uuid, uint32_t expected) {
        uint32_t code = 0;
        auto app = load(uuid, code);
        EXPECT_TRUE(app == nullptr);
        EXPECT_EQ(code, expected) << gp::result_name(code);
    }
    void put(const Uuid& name, const std::vector<uint8_t>& file) {
        dir_.write(tatest::ta_name(name), file);
    }
    supplicant::CommandCounters load_ta_counter() {
        return tee_.supplicant().counters()[supplicant::kCmdLoadTa];
    }

    TempDirectory dir_;  // declared before tee_, which names it
    ServedTee tee_;
};

// One session of a loaded TA, driven as the secure world drives it.
class LoadedSession {
public:
    explicit LoadedSession(sim::TrustedApp& app) {
        TaParams params{};
        uint32_t code = 0;
        session_ = app.open_session({}, params, op_, code);
    }
    bool open() const { return session_ != nullptr; }
    uint32_t invoke(uint32_t command, TaParams& params) {
        return session_->invoke(command, params, op_).code;
    }
    // Command 0: {ta_version, invokes so far}.
    std::pair<uint32_t, uint32_t> version_and_count() {
        TaParams params{};
        params[0].type = kValueOut;
        EXPECT_EQ(invoke(0, params), gp::kSuccess);
        return {params[0].a, params[0].b};
    }

private:
    sim::Operation op_{0};
    std::unique_ptr<sim::TaSession> session_;
};

TEST_F(ASimReeTaStore, LoadsTheShippedLoadableTa) {
    uint32_t code = 0;
    auto app = load(kShipped, code);
    ASSERT_TRUE(app != nullptr) << gp::result_name(code);
    EXPECT_EQ(code, gp::kSuccess);
    EXPECT_EQ(app->uuid(), kShipped);
    EXPECT_EQ(app->name(), "teed loadable example");

    // Size query and fetch, both answered; the buffer given back afterwards.
    EXPECT_TRUE(eventually([&] { return load_ta_counter().served == 2; }));
    EXPECT_EQ(load_ta_counter().failed, 0u);
    EXPECT_EQ(tee_.supplicant().shm_count(), 0u);
}

TEST_F(ASimReeTaStore, RunsTheLoadableProgramWithTheFilesVersionAndName) {
    put(kTa, loadable_ta(kTa, 42, "named in the manifest"));
    uint32_t code = 0;
    auto app = load(kTa, code);
    ASSERT_TRUE(app != nullptr) << gp::result_name(code);

    LoadedSession session(*app);
    ASSERT_TRUE(session.open());
    EXPECT_EQ(session.version_and_count(), std::make_pair(42u, 1u));
    EXPECT_EQ(session.version_and_count(), std::make_pair(42u, 2u));

    std::array<uint8_t, 64> buffer{};
    TaParams name{};
    name[0] = {.type = kMemrefOut, .buffer = buffer.data(), .size = buffer.size()};
    EXPECT_EQ(session.invoke(1, name), gp::kSuccess);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(buffer.data()), name[0].size),
              "named in the manifest");

    TaParams small{};
    small[0] = {.type = kMemrefOut, .buffer = buffer.data(), .size = 5};
    EXPECT_EQ(session.invoke(1, small), gp::kErrorShortBuffer);
    EXPECT_EQ(small[0].size, std::string("named in the manifest").size());

    TaParams wrong{};
    wrong[0].type = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT;
    EXPECT_EQ(session.invoke(0, wrong), gp::kErrorBadParameters);
    EXPECT_EQ(session.invoke(2, wrong), gp::kErrorBadParameters);
    EXPECT_EQ(session.version_and_count(), std::make_pair(42u, 7u)) << "every invoke counts";

    LoadedSession second(*app);
    EXPECT_EQ(second.version_and_count(), std::make_pair(42u, 1u)) << "counted per session";
}

TEST_F(ASimReeTaStore, AnswersItemNotFoundWhenTheSupplicantHasNoFile) {
    expect_refused(kTa, gp::kErrorItemNotFound);
    EXPECT_EQ(tee_.supplicant().shm_count(), 0u);
}

TEST_F(ASimReeTaStore, RefusesAFileWithAFlippedPayloadByte) {
    auto file = loadable_ta(kTa);
    file[file.size() - 3] ^= 0x20;
    put(kTa, file);
    expect_refused(kTa, gp::kErrorSecurity);
    // The supplicant saw a well-formed image and handed it over: the hash is the secure world's.
    EXPECT_TRUE(eventually([&] { return load_ta_counter().served == 2; }));
    EXPECT_EQ(tee_.supplicant().shm_count(), 0u);
}

TEST_F(ASimReeTaStore, RefusesAFileHoldingAnotherTa) {
    put(kTa, loadable_ta(kShipped));
    expect_refused(kTa, gp::kErrorSecurity);
}

TEST_F(ASimReeTaStore, RefusesATruncatedFile) {
    auto file = loadable_ta(kTa);
    file.pop_back();
    put(kTa, file);
    expect_refused(kTa, gp::kErrorSecurity);
    // Here the supplicant refused at the size query already, with the same code.
    EXPECT_TRUE(eventually([&] { return load_ta_counter().failed == 1; }));
    EXPECT_EQ(load_ta_counter().served, 0u);
}

TEST_F(ASimReeTaStore, RefusesAManifestNamingNoProgramItHasWithBadFormat) {
    put(kTa, sim::build_sim_ta_file(kTa, 1, "teed-sim-ta 1\nprogram=rootkit\n"));
    expect_refused(kTa, gp::kErrorBadFormat);
    put(kTa, sim::build_sim_ta_file(kTa, 1, "an ELF, perhaps"));
    expect_refused(kTa, gp::kErrorBadFormat);
}

TEST_F(ASimReeTaStore, PassesOnTheSupplicantsOtherAnswers) {
    put(kOther, loadable_ta(kOther));
    expect_refused(kOther, gp::kErrorAccessDenied);  // the supplicant's policy hook
}

TEST(ASimReeTaStoreWithoutSupplicant, AnswersCommunication) {
    auto node = make_simulated_node({});
    auto& rpc = dynamic_cast<SimDeviceNode&>(*node).secure_world_rpc();
    uint32_t code = 0;
    EXPECT_TRUE(sim::load_ree_trusted_app(rpc, kShipped, code) == nullptr);
    EXPECT_EQ(code, gp::kErrorCommunication);
}

// A supplicant that answers LOAD_TA's size query with a size of its choosing.
class SizeService final : public supplicant::RpcService {
public:
    explicit SizeService(uint64_t size) : size_(size) {}
    RpcOutcome serve(RpcRequest& request) override {
        request.params[1].b = size_;
        return RpcOutcome::success();
    }

private:
    const uint64_t size_;
};

TEST(ASimReeTaStoreServedBadSizes, RefusesASizeTooSmallForAHeaderAndOneItCannotAllocate) {
    ServedTee tiny({{supplicant::kCmdLoadTa, std::make_shared<SizeService>(19)}});
    uint32_t code = 0;
    EXPECT_TRUE(sim::load_ree_trusted_app(tiny.rpc(), kTa, code) == nullptr);
    EXPECT_EQ(code, gp::kErrorSecurity);

    ServedTee huge({{supplicant::kCmdLoadTa, std::make_shared<SizeService>(1ull << 40)}},
                   {.shm_bytes = 1 << 20});
    EXPECT_TRUE(sim::load_ree_trusted_app(huge.rpc(), kTa, code) == nullptr);
    EXPECT_EQ(code, gp::kErrorOutOfMemory);
}

}  // namespace
}  // namespace teed::simtest
