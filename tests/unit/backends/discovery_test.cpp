#include "backends/kernel/discovery.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

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

TEST(DeviceDiscovery, NamesHowEachMethodFoundANode) {
    EXPECT_EQ(to_string(DiscoveryMethod::Udev), "udev");
    EXPECT_EQ(to_string(DiscoveryMethod::Sysfs), "sysfs");
    EXPECT_EQ(to_string(DiscoveryMethod::DevScan), "dev-scan");
}

// A /dev without udev or sysfs behind it (a container given only the nodes): the character
// devices named like TEE nodes are found, and nothing else.
TEST(DeviceDiscovery, FindsTeeCharacterDevicesInADirectoryWithoutUdev) {
    char dir_template[] = "/tmp/teed-discovery-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    const std::string dir = dir_template;
    if (::mknod((dir + "/tee0").c_str(), S_IFCHR | 0600, ::makedev(238, 0)) != 0) {
        ::rmdir(dir.c_str());
        GTEST_SKIP() << "making a character device needs CAP_MKNOD (run as root)";
    }
    ASSERT_EQ(::mknod((dir + "/teepriv0").c_str(), S_IFCHR | 0600, ::makedev(238, 16)), 0);
    ASSERT_EQ(::mknod((dir + "/tpm0").c_str(), S_IFCHR | 0600, ::makedev(10, 224)), 0);
    std::ofstream(dir + "/tee1") << "a regular file, not a device";
    ASSERT_EQ(::mkdir((dir + "/tee2").c_str(), 0700), 0);

    auto nodes = scan_tee_nodes_in(dir);
    ASSERT_TRUE(nodes.ok()) << nodes.error().message();
    ASSERT_EQ(nodes->size(), 2u);
    EXPECT_EQ((*nodes)[0].name, "tee0");
    EXPECT_EQ((*nodes)[0].path, dir + "/tee0");
    EXPECT_FALSE((*nodes)[0].privileged);
    EXPECT_EQ((*nodes)[1].name, "teepriv0");
    EXPECT_TRUE((*nodes)[1].privileged);
    for (const auto& node : *nodes) EXPECT_EQ(node.found_by, DiscoveryMethod::DevScan);

    for (const char* name : {"tee0", "teepriv0", "tpm0", "tee1"}) ::unlink((dir + "/" + name).c_str());
    ::rmdir((dir + "/tee2").c_str());
    ::rmdir(dir.c_str());
}

TEST(DeviceDiscovery, ScanningAMissingDirectoryIsAnErrorNamingIt) {
    auto nodes = scan_tee_nodes_in("/nonexistent-teed-dev");
    ASSERT_FALSE(nodes.ok());
    EXPECT_NE(nodes.error().message().find("'/nonexistent-teed-dev'"), std::string::npos)
        << nodes.error().message();
}

}  // namespace
}  // namespace teed
