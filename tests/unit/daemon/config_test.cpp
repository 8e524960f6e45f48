#include "daemon/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <vector>

namespace teed {
namespace {

Result<CommandLine> parse(std::vector<std::string> args) {
    args.insert(args.begin(), "teed");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    return load_config(static_cast<int>(args.size()), argv.data());
}

TEST(AConfiguration, ReadsTheCommandLine) {
    auto line = parse({"--config=/nonexistent-is-fine-when-default/x", "--simulate=2", "--no-hardware",
                       "--bus-address=unix:path=/tmp/b", "--workers=3", "--log-level=debug"});
    // A named file must exist.
    EXPECT_FALSE(line.ok());
    line = parse({"--simulate=2", "--no-hardware", "--bus-address=unix:path=/tmp/b", "--workers=3",
                  "--log-level=debug"});
    ASSERT_TRUE(line.ok()) << line.error().message();
    EXPECT_EQ(line->config.simulate, 2u);
    EXPECT_FALSE(line->config.hardware);
    EXPECT_EQ(line->config.bus_address, "unix:path=/tmp/b");
    EXPECT_EQ(line->config.workers, 3u);
    EXPECT_EQ(line->config.log_level, LogLevel::Debug);
}

TEST(AConfiguration, RejectsBadOptionsWithAReason) {
    for (auto args : std::vector<std::vector<std::string>>{
             {"--simulate=many"}, {"--workers=0"}, {"--log-level=loud"}, {"--bogus"}, {"extra"}}) {
        auto line = parse(args);
        ASSERT_FALSE(line.ok()) << args[0];
        EXPECT_EQ(line.error().kind(), ErrorKind::InvalidArgument);
    }
}

TEST(AConfiguration, AppliesAJsonFile) {
    Config config;
    auto r = apply_config_json(R"({"simulate": 1, "max_memref_bytes": 4096, "hardware": false,
                                   "max_sessions_per_client": 2})", "test.conf", config);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(config.simulate, 1u);
    EXPECT_EQ(config.limits.max_memref_bytes, 4096u);
    EXPECT_EQ(config.limits.max_sessions_per_client, 2u);
    EXPECT_FALSE(config.hardware);
}

TEST(AConfiguration, RejectsUnknownKeysWrongTypesAndBrokenJsonNamingTheFile) {
    for (const char* text : {R"({"simulat": 1})", R"({"simulate": "1"})", R"({"workers": -1})",
                             R"({"hardware": 1})", R"({"simulate": 1,})", R"([1])", "{"}) {
        Config config;
        auto r = apply_config_json(text, "/etc/teed/teed.conf", config);
        ASSERT_FALSE(r.ok()) << text;
        EXPECT_EQ(r.error().kind(), ErrorKind::InvalidArgument);
        EXPECT_NE(r.error().message().find("/etc/teed/teed.conf"), std::string::npos) << text;
    }
}

TEST(AConfiguration, TakesThePathsAfterCheckPolicy) {
    auto line = parse({"--check-policy", "/etc/teed/policy.d", "extra.json"});
    ASSERT_TRUE(line.ok()) << line.error().message();
    EXPECT_EQ(line->action, CommandLineAction::CheckPolicy);
    EXPECT_EQ(line->policy_paths, (std::vector<std::string>{"/etc/teed/policy.d", "extra.json"}));
    line = parse({"--check-policy"});
    ASSERT_TRUE(line.ok()) << line.error().message();
    EXPECT_TRUE(line->policy_paths.empty()) << "none: teed's own directories";
    // Without --check-policy a path is still an unexpected argument.
    EXPECT_FALSE(parse({"/etc/teed/policy.d"}).ok());
}

TEST(AConfiguration, LetsTheCommandLineWinOverTheFile) {
    std::string path = testing::TempDir() + "teed-config-test.conf";
    std::ofstream(path) << R"({"simulate": 3, "workers": 5})";
    auto line = parse({"--config=" + path, "--simulate=1"});
    ASSERT_TRUE(line.ok()) << line.error().message();
    EXPECT_EQ(line->config.simulate, 1u);
    EXPECT_EQ(line->config.workers, 5u);
}

TEST(TheCommandLine, ReplacesThePolicyDirectoriesOfTheFileWithItsOwn) {
    auto line = parse({"--policy-dir=/a", "--policy-dir", "/b"});
    ASSERT_TRUE(line.ok()) << line.error().message();
    EXPECT_EQ(line->config.policy_directories, (std::vector<std::string>{"/a", "/b"}));
    EXPECT_TRUE(parse({})->config.policy_directories.empty()) << "empty: the installed directories";
}

TEST(TheConfigurationFile, TakesPolicyDirectoriesAndTheNewQuotas) {
    Config config;
    ASSERT_TRUE(apply_config_json(R"({"policy_directories": ["/srv/policy.d"],
        "max_shm_bytes_per_client": 1, "max_shm_bytes_total": 2, "max_concurrent_calls_total": 3})",
                                  "teed.conf", config).ok());
    EXPECT_EQ(config.policy_directories, (std::vector<std::string>{"/srv/policy.d"}));
    EXPECT_EQ(config.limits.max_shm_bytes_per_client, 1u);
    EXPECT_EQ(config.limits.max_shm_bytes_total, 2u);
    EXPECT_EQ(config.limits.max_concurrent_calls_total, 3u);
    auto relative = apply_config_json(R"({"policy_directories": ["policy.d"]})", "teed.conf", config);
    ASSERT_FALSE(relative.ok());
    EXPECT_NE(relative.error().message().find("absolute directory paths"), std::string::npos);
}

TEST(TheSupplicantSettings, ComeFromTheFileAndTheCommandLine) {
    Config config;
    ASSERT_TRUE(apply_config_json(R"({"supplicant": false, "supplicant_workers": 2,
                                       "supplicant_shm_bytes": 4096, "ta_path": "/a:/b",
                                       "state_directory": "/srv/teed", "rpmb": "emulated"})",
                                  "teed.conf", config)
                    .ok());
    EXPECT_FALSE(config.supplicant.enabled);
    EXPECT_EQ(config.supplicant.workers, 2u);
    EXPECT_EQ(config.supplicant.shm_bytes, 4096u);
    EXPECT_EQ(config.supplicant.ta_path, "/a:/b");
    EXPECT_EQ(config.supplicant.state_directory, "/srv/teed");
    EXPECT_EQ(config.supplicant.rpmb, "emulated");

    auto line = parse({"--no-supplicant", "--state-directory=/tmp/s", "--ta-path=/x"});
    ASSERT_TRUE(line.ok()) << line.error().message();
    EXPECT_FALSE(line->config.supplicant.enabled);
    EXPECT_EQ(line->config.supplicant.state_directory, "/tmp/s");
    EXPECT_EQ(line->config.supplicant.ta_path, "/x");
}

TEST(TheSupplicantSettings, PluginDirectoryIsAnAbsolutePathOrEmpty) {
    EXPECT_EQ(Config{}.supplicant.plugin_directory, "/usr/lib/teed/plugins");
    Config config;
    ASSERT_TRUE(apply_config_json(R"({"plugin_directory": "/opt/plugins"})", "teed.conf", config).ok());
    EXPECT_EQ(config.supplicant.plugin_directory, "/opt/plugins");
    ASSERT_TRUE(apply_config_json(R"({"plugin_directory": ""})", "teed.conf", config).ok());
    EXPECT_EQ(config.supplicant.plugin_directory, "");
    auto relative = apply_config_json(R"({"plugin_directory": "plugins"})", "teed.conf", config);
    ASSERT_FALSE(relative.ok());
    EXPECT_NE(relative.error().message().find("teed.conf: 'plugin_directory'"), std::string::npos)
        << relative.error().message();
}

TEST(TheSupplicantSettings, RejectBadValuesNamingTheKey) {
    for (const char* text : {R"({"supplicant_workers": 0})", R"({"state_directory": "relative"})",
                             R"({"rpmb": "sometimes"})", R"({"supplicant": "yes"})",
                             R"({"ta_path": 5})"}) {
        Config config;
        auto applied = apply_config_json(text, "teed.conf", config);
        ASSERT_FALSE(applied.ok()) << text;
        EXPECT_NE(applied.error().message().find("teed.conf: '"), std::string::npos)
            << applied.error().message();
    }
    EXPECT_FALSE(parse({"--state-directory=relative"}).ok());
}

TEST(TheSupplicantSettings, LoadableTasAreAListOfUuids) {
    Config config;
    EXPECT_FALSE(config.supplicant.loadable_tas) << "unset: any TA may be loaded";
    ASSERT_TRUE(apply_config_json(R"({"loadable_tas": ["91dcca81-d6f5-48f7-b3c0-bab814aab298"]})",
                                  "teed.conf", config)
                    .ok());
    ASSERT_TRUE(config.supplicant.loadable_tas);
    EXPECT_EQ(config.supplicant.loadable_tas->size(), 1u);
    for (const char* text : {R"({"loadable_tas": "91dcca81"})", R"({"loadable_tas": ["not-a-uuid"]})",
                             R"({"loadable_tas": [5]})"}) {
        auto applied = apply_config_json(text, "teed.conf", config);
        ASSERT_FALSE(applied.ok()) << text;
        EXPECT_NE(applied.error().message().find("'loadable_tas'"), std::string::npos);
    }
}

TEST(TheSupplicantSettings, TaSocketsAreRulesCheckedWhenRead) {
    Config config;
    EXPECT_TRUE(config.supplicant.ta_sockets.empty()) << "unset: sockets are off";
    EXPECT_EQ(config.supplicant.socket_max_wait_ms, 10000u);
    ASSERT_TRUE(apply_config_json(R"({"ta_sockets": [
        {"ta": "8a420beb-5132-46f7-b0c0-f049917c2317", "protocols": ["tcp"],
         "destinations": ["127.0.0.1:7000-7010", "*.example.com:443"]},
        {"ta": "*", "destinations": ["[::1]:53"]}], "socket_max_wait_ms": 500})",
                                  "teed.conf", config)
                    .ok());
    ASSERT_EQ(config.supplicant.ta_sockets.size(), 2u);
    EXPECT_FALSE(config.supplicant.ta_sockets[0].udp);
    EXPECT_EQ(config.supplicant.ta_sockets[0].destinations.size(), 2u);
    EXPECT_FALSE(config.supplicant.ta_sockets[1].ta) << "any TA";
    EXPECT_EQ(config.supplicant.socket_max_wait_ms, 500u);

    const std::pair<const char*, const char*> bad[] = {
        {R"({"ta_sockets": {"ta": "*"}})", "list of rules"},
        {R"({"ta_sockets": [{"ta": "*", "destinations": ["10.*:80"]}]})", "rule 0: destination '10.*:80'"},
        {R"({"ta_sockets": [{"ta": "*", "destinations": ["*:80"], "ports": [1]}]})", "unknown key 'ports'"},
        {R"({"ta_sockets": [{"destinations": ["*:80"]}]})", "'ta'"},
        {R"({"ta_sockets": [{"ta": "*", "destinations": "*:80"}]})", "'destinations'"},
        {R"({"ta_sockets": [{"ta": "*", "protocols": ["icmp"], "destinations": ["*:80"]}]})", "icmp"},
    };
    for (const auto& [text, reason] : bad) {
        auto applied = apply_config_json(text, "teed.conf", config);
        ASSERT_FALSE(applied.ok()) << text;
        EXPECT_NE(applied.error().message().find(reason), std::string::npos)
            << applied.error().message();
        EXPECT_NE(applied.error().message().find("teed.conf"), std::string::npos);
    }
}

}  // namespace
}  // namespace teed
