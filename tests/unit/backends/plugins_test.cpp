#include "backends/optee/supplicant/plugins.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "backends/kernel/gp.h"
#include "backends/kernel/tee_uapi.h"
#include "backends/optee/supplicant/rpc_protocol.h"
#include "backends/sim/plugin_ta.h"
#include "tests/unit/backends/sim_test_support.h"
#include "tests/unit/backends/supplicant_test_support.h"

namespace teed::supplicant {
namespace {

namespace fs = std::filesystem;

constexpr const char* kTestPluginUuid = "e3f5e5a2-6a0e-4c1b-9d43-8b1f0c7a5d21";

// The test plugin's commands (test_plugin.c).
constexpr uint32_t kReverse = 0;
constexpr uint32_t kAnswerSubCmd = 1;
constexpr uint32_t kOverstateOutLen = 2;
constexpr uint32_t kInitCount = 3;

// A plugin directory of the tests' own: 0755, owned by whoever runs the tests.
class PluginDirectory {
public:
    PluginDirectory() {
        std::string pattern = (fs::temp_directory_path() / "teed-plugins-XXXXXX").string();
        path_ = ::mkdtemp(pattern.data());
        fs::permissions(path_, fs::perms(0755));
    }
    ~PluginDirectory() { fs::remove_all(path_); }
    PluginDirectory(const PluginDirectory&) = delete;
    PluginDirectory& operator=(const PluginDirectory&) = delete;

    const fs::path& path() const { return path_; }
    fs::path add(const char* built, const std::string& name, mode_t mode = 0644) {
        fs::path target = path_ / name;
        fs::copy_file(built, target);
        fs::permissions(target, fs::perms(mode));
        return target;
    }

private:
    fs::path path_;
};

std::unique_ptr<PluginService> load(const fs::path& directory) {
    auto service = PluginService::load(directory.string());
    EXPECT_TRUE(service.ok()) << (service.ok() ? "" : service.error().message());
    return service.ok() ? std::move(service).value() : nullptr;
}

std::vector<std::string> loaded_files(const PluginService& service) {
    std::vector<std::string> files;
    for (const auto& plugin : service.plugins()) files.push_back(plugin.file);
    return files;
}

// A plugin request as optee_os builds one: the UUID's octets copied into four 32-bit words.
class PluginCall {
public:
    PluginCall(const Uuid& uuid, uint32_t cmd, uint32_t sub_cmd, std::string data)
        : data_(data.begin(), data.end()) {
        std::array<uint32_t, 4> words{};
        std::memcpy(words.data(), uuid.bytes.data(), sizeof(words));
        request.command = kCmdPlugin;
        request.params.push_back({.type = kValueIn, .a = kPluginInvoke, .b = words[0], .c = words[1]});
        request.params.push_back({.type = kValueIn, .a = words[2], .b = words[3], .c = cmd});
        request.params.push_back({.type = kValueInout, .a = sub_cmd});
        RpcParam memref{.type = kMemrefInout, .a = 0, .b = data_.size(), .c = 1};
        if (data_.empty()) {
            memref.c = TEE_MEMREF_NULL;
        } else {
            memref.memory = RpcMemref::wrap(data_);
        }
        request.params.push_back(std::move(memref));
    }
    PluginCall(const PluginCall&) = delete;
    PluginCall& operator=(const PluginCall&) = delete;

    uint64_t out_len() const { return request.params[2].b; }
    std::string data() const { return {data_.begin(), data_.end()}; }

    RpcRequest request;

private:
    std::vector<uint8_t> data_;
};

Uuid test_uuid() {
    return Uuid::parse(kTestPluginUuid).value();
}

TEST(PluginService, UuidOfTakesTheFieldsInRfc4122Order) {
    TEEC_UUID uuid{0x01020304, 0x0506, 0x0708, {9, 10, 11, 12, 13, 14, 15, 16}};
    EXPECT_EQ(uuid_of(uuid).to_string(), "01020304-0506-0708-090a-0b0c0d0e0f10");
}

TEST(PluginService, MissingDirectoryMeansNoPlugins) {
    PluginDirectory dir;
    auto service = load(dir.path() / "absent");
    ASSERT_NE(service, nullptr);
    EXPECT_TRUE(service->plugins().empty());
}

TEST(PluginService, LoadsAPluginAndServesItsCommands) {
    PluginDirectory dir;
    dir.add(TEED_TEST_PLUGIN, "reverse.so");
    auto service = load(dir.path());
    ASSERT_NE(service, nullptr);
    auto plugins = service->plugins();
    ASSERT_EQ(plugins.size(), 1u);
    EXPECT_EQ(plugins[0].file, "reverse.so");
    EXPECT_EQ(plugins[0].name, "test-plugin");
    EXPECT_EQ(plugins[0].uuid, test_uuid());

    PluginCall reverse(test_uuid(), kReverse, 0, "abcdef");
    RpcOutcome outcome = service->serve(reverse.request);
    EXPECT_EQ(outcome.code, gp::kSuccess) << outcome.reason;
    EXPECT_EQ(reverse.data(), "fedcba");
    EXPECT_EQ(reverse.out_len(), 6u);

    PluginCall answer(test_uuid(), kAnswerSubCmd, gp::kErrorAccessConflict, "x");
    outcome = service->serve(answer.request);
    EXPECT_EQ(outcome.code, gp::kErrorAccessConflict);
    EXPECT_EQ(answer.out_len(), 0u);

    // init() ran exactly once.
    PluginCall count(test_uuid(), kInitCount, 0, std::string(8, '\xff'));
    outcome = service->serve(count.request);
    ASSERT_EQ(outcome.code, gp::kSuccess) << outcome.reason;
    EXPECT_EQ(count.out_len(), 4u);
    EXPECT_EQ(count.data().substr(0, 4), std::string("\x01\0\0\0", 4));
}

TEST(PluginService, EmptyDataTravelsWithoutABuffer) {
    PluginDirectory dir;
    dir.add(TEED_TEST_PLUGIN, "reverse.so");
    auto service = load(dir.path());
    ASSERT_NE(service, nullptr);
    PluginCall call(test_uuid(), kReverse, 0, "");
    RpcOutcome outcome = service->serve(call.request);
    EXPECT_EQ(outcome.code, gp::kSuccess) << outcome.reason;
    EXPECT_EQ(call.out_len(), 0u);
}

TEST(PluginService, OnlySharedObjectsAreLoaded) {
    PluginDirectory dir;
    dir.add(TEED_TEST_PLUGIN, "plugin.so.bak");
    dir.add(TEED_TEST_PLUGIN, ".hidden.so");
    auto service = load(dir.path());
    ASSERT_NE(service, nullptr);
    EXPECT_TRUE(service->plugins().empty());
}

TEST(PluginService, RefusesAWorldWritableFileAndLoadsTheRest) {
    PluginDirectory dir;
    dir.add(TEED_TEST_PLUGIN, "a-writable.so", 0646);
    dir.add(TEED_TEST_PLUGIN, "b-good.so");
    auto service = load(dir.path());
    ASSERT_NE(service, nullptr);
    EXPECT_EQ(loaded_files(*service), std::vector<std::string>{"b-good.so"});
}

TEST(PluginService, RefusesAGroupWritableFile) {
    PluginDirectory dir;
    dir.add(TEED_TEST_PLUGIN, "writable.so", 0664);
    auto service = load(dir.path());
    ASSERT_NE(service, nullptr);
    EXPECT_TRUE(service->plugins().empty());
}

TEST(PluginService, RefusesAFileOwnedBySomeoneElse) {
    if (::geteuid() != 0) GTEST_SKIP() << "changing a file's owner needs root";
    PluginDirectory dir;
    fs::path file = dir.add(TEED_TEST_PLUGIN, "foreign.so");
    ASSERT_EQ(::chown(file.c_str(), 4242, 4242), 0);
    auto service = load(dir.path());
    ASSERT_NE(service, nullptr);
    EXPECT_TRUE(service->plugins().empty());
}

TEST(PluginService, RefusesAWorldWritableDirectory) {
    PluginDirectory dir;
    dir.add(TEED_TEST_PLUGIN, "good.so");
    fs::permissions(dir.path(), fs::perms(0757));
    auto service = PluginService::load(dir.path().string());
    ASSERT_FALSE(service.ok());
    EXPECT_EQ(service.error().kind(), ErrorKind::AccessDenied);
    EXPECT_NE(service.error().message().find("writable"), std::string::npos)
        << service.error().message();
}

TEST(PluginService, RefusesASymbolicLink) {
    PluginDirectory dir;
    fs::path real = dir.add(TEED_TEST_PLUGIN, "real.so.orig");
    fs::create_symlink(real, dir.path() / "link.so");
    auto service = load(dir.path());
    ASSERT_NE(service, nullptr);
    EXPECT_TRUE(service->plugins().empty());
}

TEST(PluginService, RefusesADirectoryNamedLikeAPlugin) {
    PluginDirectory dir;
    fs::create_directory(dir.path() / "dir.so");
    fs::permissions(dir.path() / "dir.so", fs::perms(0755));
    dir.add(TEED_TEST_PLUGIN, "good.so");
    auto service = load(dir.path());
    ASSERT_NE(service, nullptr);
    EXPECT_EQ(loaded_files(*service), std::vector<std::string>{"good.so"});
}

TEST(PluginService, RefusesAnObjectWithoutThePluginSymbol) {
    PluginDirectory dir;
    dir.add(TEED_TEST_PLUGIN_WITHOUT_SYMBOL, "a-nosymbol.so");
    dir.add(TEED_TEST_PLUGIN, "b-good.so");
    auto service = load(dir.path());
    ASSERT_NE(service, nullptr);
    EXPECT_EQ(loaded_files(*service), std::vector<std::string>{"b-good.so"});
}

TEST(PluginService, RefusesAFileThatIsNoSharedObject) {
    PluginDirectory dir;
    {
        std::FILE* file = std::fopen((dir.path() / "garbage.so").c_str(), "w");
        ASSERT_NE(file, nullptr);
        std::fputs("not an ELF file", file);
        std::fclose(file);
        fs::permissions(dir.path() / "garbage.so", fs::perms(0644));
    }
    auto service = load(dir.path());
    ASSERT_NE(service, nullptr);
    EXPECT_TRUE(service->plugins().empty());
}

TEST(PluginService, RefusesAPluginWhoseInitFails) {
    PluginDirectory dir;
    dir.add(TEED_TEST_PLUGIN_FAILING_INIT, "failing.so");
    auto service = load(dir.path());
    ASSERT_NE(service, nullptr);
    EXPECT_TRUE(service->plugins().empty());
}

TEST(PluginService, RefusesASecondPluginWithTheSameUuid) {
    PluginDirectory dir;
    dir.add(TEED_TEST_PLUGIN, "a-first.so");
    dir.add(TEED_TEST_PLUGIN, "b-second.so");
    auto service = load(dir.path());
    ASSERT_NE(service, nullptr);
    EXPECT_EQ(loaded_files(*service), std::vector<std::string>{"a-first.so"});
}

TEST(PluginService, UnknownUuidIsItemNotFound) {
    PluginDirectory dir;
    dir.add(TEED_TEST_PLUGIN, "reverse.so");
    auto service = load(dir.path());
    ASSERT_NE(service, nullptr);
    PluginCall call(Uuid::parse("00000000-0000-4000-8000-000000000001").value(), kReverse, 0, "ab");
    RpcOutcome outcome = service->serve(call.request);
    EXPECT_EQ(outcome.code, gp::kErrorItemNotFound);
    EXPECT_EQ(call.data(), "ab");
}

TEST(PluginService, WrongParamTypesAreBadParameters) {
    PluginDirectory dir;
    dir.add(TEED_TEST_PLUGIN, "reverse.so");
    auto service = load(dir.path());
    ASSERT_NE(service, nullptr);

    PluginCall input_memref(test_uuid(), kReverse, 0, "ab");
    input_memref.request.params[3].type = kMemrefIn;
    EXPECT_EQ(service->serve(input_memref.request).code, gp::kErrorBadParameters);

    PluginCall input_value(test_uuid(), kReverse, 0, "ab");
    input_value.request.params[2].type = kValueIn;
    EXPECT_EQ(service->serve(input_value.request).code, gp::kErrorBadParameters);

    PluginCall three_params(test_uuid(), kReverse, 0, "ab");
    three_params.request.params.pop_back();
    EXPECT_EQ(service->serve(three_params.request).code, gp::kErrorBadParameters);

    PluginCall opcode(test_uuid(), kReverse, 0, "ab");
    opcode.request.params[0].a = 1;
    EXPECT_EQ(service->serve(opcode.request).code, gp::kErrorBadParameters);

    PluginCall wide_word(test_uuid(), kReverse, 0, "ab");
    wide_word.request.params[1].a |= 1ull << 32;
    EXPECT_EQ(service->serve(wide_word.request).code, gp::kErrorBadParameters);

    PluginCall size_without_buffer(test_uuid(), kReverse, 0, "");
    size_without_buffer.request.params[3].b = 16;
    EXPECT_EQ(service->serve(size_without_buffer.request).code, gp::kErrorBadParameters);

    EXPECT_EQ(input_memref.data(), "ab");  // no plugin ran
}

TEST(PluginService, OverstatedOutLenIsShortBuffer) {
    PluginDirectory dir;
    dir.add(TEED_TEST_PLUGIN, "reverse.so");
    auto service = load(dir.path());
    ASSERT_NE(service, nullptr);
    PluginCall call(test_uuid(), kOverstateOutLen, 100, "abcd");
    RpcOutcome outcome = service->serve(call.request);
    EXPECT_EQ(outcome.code, gp::kErrorShortBuffer);
    EXPECT_EQ(outcome.level, LogLevel::Warning);
    EXPECT_EQ(call.out_len(), 104u);
    EXPECT_EQ(call.request.params[3].b, 4u);  // the memref's size stays what the secure world gave
}

// The plugin TA of the simulated secure world calling the test plugin through teed's
// supplicant loop: the path a TA's tee_invoke_supp_plugin() takes on hardware.
class AServedPlugin : public ::testing::Test {
protected:
    AServedPlugin() : tee_(services()) {}

    Supplicant::Services services() {
        dir_.add(TEED_TEST_PLUGIN, "test.so");
        std::shared_ptr<PluginService> plugins = load(dir_.path());
        return {{kCmdPlugin, plugins}};
    }

    struct Answer {
        uint32_t ret = 0;
        uint64_t size = 0;  // the data memref's size out
        std::string data;   // its first `size` bytes (at most the buffer)
    };
    Answer call(const Uuid& plugin, uint32_t cmd, uint32_t sub_cmd, const std::string& data) {
        uint32_t session = simtest::open_ok(tee_.client(), sim::kPluginTaUuid);
        simtest::MappedShm uuid(tee_.client(), 16);
        simtest::MappedShm buffer(tee_.client(), std::max<size_t>(data.size(), 1));
        std::memcpy(uuid.data(), plugin.bytes.data(), 16);
        std::memcpy(buffer.data(), data.data(), data.size());
        auto arg = simtest::invoke_arg(session, sim::kPluginTaInvoke, 3);
        arg.param(0) = simtest::memref(simtest::kMemrefIn, uuid, 0, 16);
        arg.param(1) = {.attr = simtest::kValueIn, .a = cmd, .b = sub_cmd, .c = 0};
        arg.param(2) = simtest::memref(simtest::kMemrefInout, buffer, 0, data.size());
        EXPECT_EQ(simtest::err(tee_.client().invoke(arg.buf())), 0);
        Answer answer{.ret = arg.header().ret, .size = arg.param(2).b};
        answer.data.assign(reinterpret_cast<const char*>(buffer.data()),
                           std::min<uint64_t>(answer.size, data.size()));
        return answer;
    }

    PluginDirectory dir_;
    simtest::ServedTee tee_;
};

TEST_F(AServedPlugin, ATaCallsThePluginThroughTheSupplicant) {
    Answer answer = call(test_uuid(), kReverse, 0, "hello, plugin");
    EXPECT_EQ(answer.ret, gp::kSuccess);
    EXPECT_EQ(answer.size, 13u);
    EXPECT_EQ(answer.data, "nigulp ,olleh");
}

TEST_F(AServedPlugin, ThePluginsResultReachesTheTa) {
    Answer answer = call(test_uuid(), kAnswerSubCmd, gp::kErrorBusy, "data");
    EXPECT_EQ(answer.ret, gp::kErrorBusy);
    EXPECT_EQ(answer.size, 0u);
}

TEST_F(AServedPlugin, AnUnknownPluginIsItemNotFound) {
    Answer answer = call(Uuid::parse("11111111-2222-4333-8444-555555555555").value(), kReverse, 0,
                         "data");
    EXPECT_EQ(answer.ret, gp::kErrorItemNotFound);
}

TEST_F(AServedPlugin, AnOverstatedOutLenIsShortBufferWithNothingCopied) {
    Answer answer = call(test_uuid(), kOverstateOutLen, 10, "data");
    EXPECT_EQ(answer.ret, gp::kErrorShortBuffer);
    EXPECT_EQ(answer.size, 14u);
    EXPECT_EQ(answer.data, "data");
}

TEST_F(AServedPlugin, EmptyDataReachesThePlugin) {
    Answer answer = call(test_uuid(), kReverse, 0, "");
    EXPECT_EQ(answer.ret, gp::kSuccess);
    EXPECT_EQ(answer.size, 0u);
}

TEST(PluginTa, WithoutAPluginServiceTheSupplicantDoesNotSupportIt) {
    simtest::ServedTee tee({});
    uint32_t session = simtest::open_ok(tee.client(), sim::kPluginTaUuid);
    simtest::MappedShm uuid(tee.client(), 16);
    simtest::MappedShm buffer(tee.client(), 4);
    auto arg = simtest::invoke_arg(session, sim::kPluginTaInvoke, 3);
    arg.param(0) = simtest::memref(simtest::kMemrefIn, uuid, 0, 16);
    arg.param(1) = {.attr = simtest::kValueIn, .a = 0, .b = 0, .c = 0};
    arg.param(2) = simtest::memref(simtest::kMemrefInout, buffer, 0, 4);
    ASSERT_EQ(simtest::err(tee.client().invoke(arg.buf())), 0);
    EXPECT_EQ(arg.header().ret, gp::kErrorNotSupported);
}

TEST(PluginTa, ChecksItsParams) {
    simtest::ServedTee tee({});
    uint32_t session = simtest::open_ok(tee.client(), sim::kPluginTaUuid);
    simtest::MappedShm uuid(tee.client(), 16);
    simtest::MappedShm buffer(tee.client(), 4);
    auto arg = simtest::invoke_arg(session, sim::kPluginTaInvoke, 3);
    arg.param(0) = simtest::memref(simtest::kMemrefIn, uuid, 0, 15);  // not a UUID
    arg.param(1) = {.attr = simtest::kValueIn, .a = 0, .b = 0, .c = 0};
    arg.param(2) = simtest::memref(simtest::kMemrefInout, buffer, 0, 4);
    ASSERT_EQ(simtest::err(tee.client().invoke(arg.buf())), 0);
    EXPECT_EQ(arg.header().ret, gp::kErrorBadParameters);
    EXPECT_EQ(arg.header().ret_origin, gp::kOriginTrustedApp);
}

}  // namespace
}  // namespace teed::supplicant
