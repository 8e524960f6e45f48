// teed as the supplicant of a simulated OP-TEE, seen from a client: TAs loaded from the TA path
// (LOAD_TA), refused TA files, profiling dumps (GPROF, FTRACE), plugins, and the Supplicant
// interface's counters for the requests served.

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness.h"
#include "teed/client.h"

namespace teed::test {
namespace {

using ::testing::HasSubstr;

constexpr const char* kLoadable = "91dcca81-d6f5-48f7-b3c0-bab814aab298";
constexpr const char* kNowhere = "3b0d2a9c-8a55-4c7e-9d51-0c2f4a6d7e11";
constexpr uint32_t kErrorSecurity = 0xFFFF000F;
constexpr uint32_t kErrorItemNotFound = 0xFFFF0008;
constexpr uint32_t kErrorAccessDenied = 0xFFFF0001;
constexpr uint32_t kOriginTee = 3;

std::string loadable_file() {
    return std::string(TEED_TEST_TA_DIR) + "/" + kLoadable + ".ta";
}

TEST(TheSupplicant, LoadsATaFromTheTaPathForAClient) {
    TestBus bus;
    TeedDaemon teed(bus);
    auto client = client::Client::connect(bus.address());
    auto [session, opened] = client.open_session(kLoadable);
    ASSERT_TRUE(session) << std::hex << opened.return_code;
    auto reply = session->invoke(0, {client::Param::value_out()});
    ASSERT_TRUE(reply.ok());
    EXPECT_EQ(reply.params[0].a, 1u) << "the file's ta_version";

    auto info = client.supplicant("simtee0");
    EXPECT_EQ(info.ta_path, std::vector<std::string>{TEED_TEST_TA_DIR});
    EXPECT_GE(info.counters["load-ta"].served, 2u) << "the size query and the fetch";
    EXPECT_EQ(info.counters["load-ta"].failed, 0u);
    EXPECT_EQ(info.shared_memory_buffers, 0u) << "the TA image's buffer was freed";
}

TEST(TheSupplicant, AnswersItemNotFoundForATaNowhereOnThePath) {
    TestBus bus;
    TeedDaemon teed(bus);
    auto client = client::Client::connect(bus.address());
    auto [session, opened] = client.open_session(kNowhere);
    EXPECT_FALSE(session);
    EXPECT_EQ(opened.return_code, kErrorItemNotFound);
    EXPECT_EQ(opened.return_origin, kOriginTee);
}

TEST(TheSupplicant, RefusesAMalformedTaFileAndSaysWhichAndWhy) {
    TempDir tas("teed-tas-");
    std::filesystem::copy_file(loadable_file(), tas.path() + "/" + kLoadable + ".ta");
    {
        std::fstream file(tas.path() + "/" + kLoadable + ".ta", std::ios::in | std::ios::out | std::ios::binary);
        file.write("XXXX", 4);  // the magic
    }
    TestBus bus;
    TeedDaemon teed(bus, TeedOptions{.ta_path = tas.path()});
    auto client = client::Client::connect(bus.address());
    auto [session, opened] = client.open_session(kLoadable);
    EXPECT_FALSE(session);
    EXPECT_EQ(opened.return_code, kErrorSecurity);
    EXPECT_THAT(teed.log(), HasSubstr(tas.path() + "/" + kLoadable + ".ta"));
    EXPECT_THAT(teed.log(), HasSubstr("magic"));
    EXPECT_EQ(client.supplicant().counters["load-ta"].failed, 1u);

    // The secure world checks what teed's header check cannot: a payload byte changed.
    std::filesystem::copy_file(loadable_file(), tas.path() + "/" + kLoadable + ".ta",
                               std::filesystem::copy_options::overwrite_existing);
    {
        std::fstream file(tas.path() + "/" + kLoadable + ".ta", std::ios::in | std::ios::out | std::ios::binary);
        file.seekp(-1, std::ios::end);
        file.write("!", 1);
    }
    auto [tampered, refused] = client.open_session(kLoadable);
    EXPECT_FALSE(tampered);
    EXPECT_EQ(refused.return_code, kErrorSecurity);
    EXPECT_TRUE(teed.running());
}

TEST(TheSupplicant, LoadsOnlyTheTasTheConfigurationLists) {
    TempDir conf("teed-conf-");
    std::ofstream(conf.path() + "/teed.conf") << R"({"loadable_tas": [")" << kNowhere << R"("]})";
    TestBus bus;
    TeedDaemon teed(bus, {"--simulate", "--no-hardware", "--config=" + conf.path() + "/teed.conf"});
    auto client = client::Client::connect(bus.address());
    auto [session, opened] = client.open_session(kLoadable);
    EXPECT_FALSE(session);
    EXPECT_EQ(opened.return_code, kErrorAccessDenied);
    EXPECT_THAT(teed.log(), HasSubstr(kLoadable));
}

std::string file_text(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

TEST(TheSupplicant, WritesATasProfilingDumpsBeneathTheStateDirectory) {
    constexpr const char* kProfileTa = "4d56c724-8a1c-41cc-9a59-0f1a82a0c328";
    constexpr uint32_t kDump = 0;
    constexpr uint64_t kGprof = 0;
    constexpr uint64_t kFtrace = 1;
    TempDir state("teed-state-");
    TestBus bus;
    TeedDaemon teed(bus, TeedOptions{.state_directory = state.path()});
    auto client = client::Client::connect(bus.address());
    auto [session, opened] = client.open_session(kProfileTa);
    ASSERT_TRUE(session) << std::hex << opened.return_code;
    auto dump = [&](uint64_t kind, uint64_t id, const std::string& data) {
        return session->invoke(kDump, {client::Param::value_in(kind, id),
                                       client::Param::temp_in({data.begin(), data.end()}),
                                       client::Param::value_out()});
    };

    auto first = dump(kGprof, 0, "histogram ");
    ASSERT_TRUE(first.ok()) << std::hex << first.return_code;
    EXPECT_EQ(first.params[2].a, 1u) << "the first dump of the TA";
    ASSERT_TRUE(dump(kGprof, 1, "and arcs").ok()) << "appended to dump 1";
    auto trace = dump(kFtrace, 0, "trace");
    ASSERT_TRUE(trace.ok());

    const std::string directory = state.path() + "/dumps/simteepriv0/";
    EXPECT_EQ(file_text(directory + "gmon-" + kProfileTa + ".out"), "histogram and arcs");
    EXPECT_EQ(file_text(directory + "ftrace-" + kProfileTa + ".out"), "trace");
    EXPECT_EQ(dump(kGprof, 7, "x").return_code, kErrorItemNotFound) << "no dump 7 to append to";

    auto info = client.supplicant();
    EXPECT_EQ(info.counters["gprof"].served, 2u);
    EXPECT_EQ(info.counters["gprof"].failed, 1u);
    EXPECT_EQ(info.counters["ftrace"].served, 1u);
}

TEST(TheSupplicant, CallsAPluginFromItsPluginDirectoryForATa) {
    constexpr const char* kPluginTa = "e47c194f-bfd4-438f-b38d-695aa12b4e5a";
    // The test plugin's UUID, e3f5e5a2-6a0e-4c1b-9d43-8b1f0c7a5d21, in RFC 4122 octets.
    const std::vector<uint8_t> test_plugin{0xe3, 0xf5, 0xe5, 0xa2, 0x6a, 0x0e, 0x4c, 0x1b,
                                           0x9d, 0x43, 0x8b, 0x1f, 0x0c, 0x7a, 0x5d, 0x21};
    constexpr uint64_t kReverse = 0;  // tests/unit/backends/test_plugin.c
    TempDir plugins("teed-plugins-");  // 0700, the test's own: writable by no one else
    std::filesystem::copy_file(TEED_TEST_PLUGIN, plugins.path() + "/reverse.so");
    std::filesystem::permissions(plugins.path() + "/reverse.so", std::filesystem::perms(0644));
    TempDir conf("teed-conf-");
    std::ofstream(conf.path() + "/teed.conf") << R"({"plugin_directory": ")" << plugins.path() << R"("})";
    TestBus bus;
    TeedDaemon teed(bus, {"--simulate", "--no-hardware", "--config=" + conf.path() + "/teed.conf"});
    auto client = client::Client::connect(bus.address());
    auto [session, opened] = client.open_session(kPluginTa);
    ASSERT_TRUE(session) << std::hex << opened.return_code;

    const std::string data = "through a plugin";
    auto reply = session->invoke(0, {client::Param::temp_in(test_plugin),
                                     client::Param::value_in(kReverse, 0),
                                     client::Param::temp_inout({data.begin(), data.end()}, data.size())});
    ASSERT_TRUE(reply.ok()) << std::hex << reply.return_code << "\n" << teed.log();
    EXPECT_EQ(std::string(reply.params[2].data.begin(), reply.params[2].data.end()),
              std::string(data.rbegin(), data.rend()));
    EXPECT_EQ(client.supplicant().counters["plugin"].served, 1u);
}

TEST(TheSupplicant, IsNotServedWithNoSupplicant) {
    TestBus bus;
    TeedDaemon teed(bus, {"--simulate", "--no-hardware", "--no-supplicant"});
    auto client = client::Client::connect(bus.address());
    EXPECT_THROW(client.supplicant(), client::Error);
    bool said = false;
    for (const auto& message : teed.notifications())
        said = said || message.find("serving 0 of 1 supplicant device") != std::string::npos;
    EXPECT_TRUE(said) << "READY=1's status says the supplicant device is not served";
}

}  // namespace
}  // namespace teed::test
