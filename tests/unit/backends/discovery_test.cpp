#include "backends/kernel/discovery.h"

#include <gtest/gtest.h>

namespace teed {
namespace {

TEST(DeviceDiscovery, TellsClientNodesFromSupplicantNodesByName) {
    bool privileged = true;
    EXPECT_TRUE(is_tee_node_name("tee0", privileged));
    EXPECT_FALSE(privileged);
    EXPECT_TRUE(is_tee_node_name("tee12", privileged));
    EXPECT_TRUE(is_tee_node_name("teepriv0", privileged));
    EXPECT_TRUE(privileged);
    for (const char* name : {"tee", "teepriv", "tee0a", "teex", "tpm0", "teepriv-1", ""})
        EXPECT_FALSE(is_tee_node_name(name, privileged)) << name;
}

TEST(DeviceDiscovery, EnumeratesWithoutFailingOnAMachineWithoutATee) {
    auto nodes = discover_tee_nodes();
    ASSERT_TRUE(nodes.ok()) << nodes.error().message();
    for (const auto& node : nodes.value()) EXPECT_EQ(node.path.rfind("/dev/tee", 0), 0u) << node.path;
}

}  // namespace
}  // namespace teed
