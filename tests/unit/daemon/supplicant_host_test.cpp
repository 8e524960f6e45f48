// SupplicantHost's RPMB: a simulated TEE is served an emulated partition under the state
// directory, which its rpmb TA then uses through the supplicant device.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "backends/sim/rpmb_ta.h"
#include "backends/sim/sim_device.h"
#include "daemon/supplicant_host.h"
#include "tests/unit/backends/sim_test_support.h"

namespace teed {
namespace {

class ASupplicantHost : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = ::testing::TempDir() + "teed-host-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        state_ = pattern + "/state";  // not there yet: the host makes it
    }
    void TearDown() override {
        std::filesystem::remove_all(std::filesystem::path(state_).parent_path());
    }

    std::string state_;
};

TEST_F(ASupplicantHost, ServesASimulatedTeeAnEmulatedRpmbUnderTheStateDirectory) {
    SimTee tee = make_simulated_tee({});
    SupplicantConfig config{.state_directory = state_, .rpmb = "none"};
    SupplicantHost host(config);
    ASSERT_TRUE(host.serve(*tee.supplicant, "simtee0").ok());

    const std::string file = state_ + "/rpmb/simteepriv0.img";
    ASSERT_EQ(host.served().size(), 1u);
    EXPECT_EQ(host.served()[0]->paths.rpmb, "emulated:" + file);
    struct stat st {};
    ASSERT_EQ(::stat((state_ + "/rpmb").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);

    auto client = tee.client->open().value();
    const uint32_t session = simtest::open_ok(*client, sim::kRpmbTaUuid);
    auto arg = simtest::invoke_arg(session, 2, 1);
    arg.param(0) = {.attr = simtest::kValueOut, .a = 99, .b = 0, .c = 0};
    ASSERT_EQ(simtest::err(client->invoke(arg.buf())), 0);
    EXPECT_EQ(arg.header().ret, gp::kSuccess);
    EXPECT_EQ(arg.param(0).a, 0u);
}

// The tstee rig's layout: two Trusted Services partitions probed before OP-TEE make it tee2,
// while its supplicant device is teepriv0.
TEST(ASupplicantDevice, BelongsToTheOpteeClientOfTheSameRankNotTheSameNumber) {
    const std::vector<std::string> optee_clients{"tee2"};
    EXPECT_EQ(optee_client_for_supplicant(0, optee_clients), "tee2");
    EXPECT_EQ(optee_client_for_supplicant(1, optee_clients), "") << "no second OP-TEE";
    EXPECT_EQ(optee_client_for_supplicant(1, {"tee0", "tee3"}), "tee3");
    EXPECT_EQ(optee_client_for_supplicant(0, {}), "");
}

TEST(ASupplicantDevice, OrdersDevicesByNumberNotByName) {
    EXPECT_EQ(tee_node_number("tee0"), 0u);
    EXPECT_EQ(tee_node_number("tee10"), 10u);
    EXPECT_EQ(tee_node_number("teepriv3"), 3u);
    EXPECT_LT(tee_node_number("tee9"), tee_node_number("tee10"));
}

TEST(ASimulatedSupplicantDevice, BelongsToTheClientOfTheSameNumber) {
    EXPECT_EQ(client_device_for("simteepriv3"), "simtee3");
}

}  // namespace
}  // namespace teed
