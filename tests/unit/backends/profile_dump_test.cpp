#include "backends/optee/supplicant/profile_dump.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "backends/kernel/gp.h"
#include "backends/kernel/tee_uapi.h"
#include "backends/optee/supplicant/plugin_abi.h"
#include "backends/optee/supplicant/rpc_protocol.h"
#include "backends/sim/profile_ta.h"
#include "tests/unit/backends/sim_test_support.h"
#include "tests/unit/backends/supplicant_test_support.h"

namespace teed::supplicant {
namespace {

namespace fs = std::filesystem;

// A TA's UUID as optee_os sends it: its TEE_UUID struct as it lies in memory.
const TEEC_UUID kTa{0x8aaaf200, 0x2450, 0x11e4, {0xab, 0xe2, 0x00, 0x02, 0xa5, 0xd5, 0xc5, 0x1b}};
constexpr const char* kTaText = "8aaaf200-2450-11e4-abe2-0002a5d5c51b";

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// A dump request built by hand, owning the bytes its memrefs point to.
class DumpCall {
public:
    DumpCall(uint32_t command, uint64_t id, const std::string& data, const TEEC_UUID& ta = kTa)
        : uuid_(sizeof(TEEC_UUID)), data_(data.begin(), data.end()) {
        std::memcpy(uuid_.data(), &ta, sizeof(ta));
        request.command = command;
        request.params.push_back({.type = kValueInout, .a = id});
        RpcParam uuid{.type = kMemrefIn, .a = 0, .b = uuid_.size(), .c = 1};
        uuid.memory = RpcMemref::wrap(uuid_);
        request.params.push_back(std::move(uuid));
        RpcParam bytes{.type = kMemrefIn, .a = 0, .b = data_.size(), .c = 2};
        bytes.memory = RpcMemref::wrap(data_);
        request.params.push_back(std::move(bytes));
    }
    DumpCall(const DumpCall&) = delete;
    DumpCall& operator=(const DumpCall&) = delete;

    uint64_t id() const { return request.params[0].a; }

    RpcRequest request;

private:
    std::vector<uint8_t> uuid_;
    std::vector<uint8_t> data_;
};

class ProfileDumpsTest : public ::testing::Test {
protected:
    ProfileDumpsTest() {
        std::string pattern = (fs::temp_directory_path() / "teed-dumps-XXXXXX").string();
        base_ = ::mkdtemp(pattern.data());
        directory_ = base_ / "dumps" / "teepriv0";
    }
    ~ProfileDumpsTest() override { fs::remove_all(base_); }

    std::unique_ptr<ProfileDumps> open(uint64_t max_bytes = 64ull << 20) {
        auto dumps = ProfileDumps::open({.directory = directory_.string(), .max_bytes = max_bytes});
        EXPECT_TRUE(dumps.ok()) << (dumps.ok() ? "" : dumps.error().message());
        return dumps.ok() ? std::move(dumps).value() : nullptr;
    }

    fs::path base_;
    fs::path directory_;
};

TEST_F(ProfileDumpsTest, CreatesTheDirectoryPrivately) {
    auto dumps = open();
    ASSERT_NE(dumps, nullptr);
    EXPECT_EQ(fs::status(directory_).permissions(), fs::perms(0700));
    EXPECT_EQ(dumps->bytes_used(), 0u);
}

TEST_F(ProfileDumpsTest, RefusesARelativeDirectory) {
    auto dumps = ProfileDumps::open({.directory = "dumps"});
    ASSERT_FALSE(dumps.ok());
    EXPECT_EQ(dumps.error().kind(), ErrorKind::InvalidArgument);
}

TEST_F(ProfileDumpsTest, ANewDumpThenAppends) {
    auto dumps = open();
    ASSERT_NE(dumps, nullptr);
    DumpCall first(kCmdGprof, 0, "gmon");
    RpcOutcome outcome = dumps->serve(first.request);
    ASSERT_EQ(outcome.code, gp::kSuccess) << outcome.reason;
    EXPECT_EQ(first.id(), 1u);

    DumpCall more(kCmdGprof, first.id(), " data");
    outcome = dumps->serve(more.request);
    ASSERT_EQ(outcome.code, gp::kSuccess) << outcome.reason;
    EXPECT_EQ(more.id(), 1u);

    fs::path file = directory_ / (std::string("gmon-") + kTaText + ".out");
    EXPECT_EQ(read_file(file), "gmon data");
    EXPECT_EQ(fs::status(file).permissions(), fs::perms(0600));
    EXPECT_EQ(dumps->bytes_used(), 9u);
}

TEST_F(ProfileDumpsTest, EachNewDumpGetsTheNextName) {
    auto dumps = open();
    ASSERT_NE(dumps, nullptr);
    for (uint64_t expected = 1; expected <= 3; ++expected) {
        DumpCall call(kCmdFtrace, 0, "trace " + std::to_string(expected));
        ASSERT_EQ(dumps->serve(call.request).code, gp::kSuccess);
        EXPECT_EQ(call.id(), expected);
    }
    EXPECT_EQ(read_file(directory_ / (std::string("ftrace-") + kTaText + ".out")), "trace 1");
    EXPECT_EQ(read_file(directory_ / (std::string("ftrace-") + kTaText + ".1.out")), "trace 2");
    EXPECT_EQ(read_file(directory_ / (std::string("ftrace-") + kTaText + ".2.out")), "trace 3");
    // gprof names are apart from ftrace's.
    DumpCall gprof(kCmdGprof, 0, "g");
    ASSERT_EQ(dumps->serve(gprof.request).code, gp::kSuccess);
    EXPECT_EQ(gprof.id(), 1u);
}

TEST_F(ProfileDumpsTest, AppendingToAFileThatDoesNotExistIsItemNotFound) {
    auto dumps = open();
    ASSERT_NE(dumps, nullptr);
    DumpCall call(kCmdGprof, 7, "data");
    EXPECT_EQ(dumps->serve(call.request).code, gp::kErrorItemNotFound);
    EXPECT_TRUE(fs::is_empty(directory_));
}

TEST_F(ProfileDumpsTest, DoesNotFollowALinkPlantedAtADumpName) {
    auto dumps = open();
    ASSERT_NE(dumps, nullptr);
    fs::path target = base_ / "target";
    std::ofstream(target) << "keep";
    fs::create_symlink(target, directory_ / (std::string("gmon-") + kTaText + ".out"));
    // A new dump skips the taken name; an append to it is refused.
    DumpCall fresh(kCmdGprof, 0, "new");
    ASSERT_EQ(dumps->serve(fresh.request).code, gp::kSuccess);
    EXPECT_EQ(fresh.id(), 2u);
    DumpCall append(kCmdGprof, 1, "evil");
    EXPECT_NE(dumps->serve(append.request).code, gp::kSuccess);
    EXPECT_EQ(read_file(target), "keep");
}

TEST_F(ProfileDumpsTest, TheBoundCountsEarlierDumpsAndIsNoSpace) {
    fs::create_directories(directory_);
    std::ofstream(directory_ / "gmon-old.out") << std::string(60, 'x');
    auto dumps = open(100);
    ASSERT_NE(dumps, nullptr);
    EXPECT_EQ(dumps->bytes_used(), 60u);

    DumpCall fits(kCmdGprof, 0, std::string(40, 'a'));
    ASSERT_EQ(dumps->serve(fits.request).code, gp::kSuccess);
    DumpCall too_much(kCmdGprof, fits.id(), "b");
    RpcOutcome outcome = dumps->serve(too_much.request);
    EXPECT_EQ(outcome.code, gp::kErrorStorageNoSpace);
    EXPECT_EQ(outcome.level, LogLevel::Warning);
    EXPECT_EQ(fs::file_size(directory_ / (std::string("gmon-") + kTaText + ".out")), 40u);
    EXPECT_EQ(dumps->bytes_used(), 100u);
}

TEST_F(ProfileDumpsTest, AllHundredNamesTakenIsNoSpace) {
    auto dumps = open();
    ASSERT_NE(dumps, nullptr);
    for (int i = 0; i < 100; ++i) {
        DumpCall call(kCmdGprof, 0, "x");
        ASSERT_EQ(dumps->serve(call.request).code, gp::kSuccess);
        ASSERT_EQ(call.id(), static_cast<uint64_t>(i + 1));
    }
    DumpCall one_more(kCmdGprof, 0, "x");
    EXPECT_EQ(dumps->serve(one_more.request).code, gp::kErrorStorageNoSpace);
}

TEST_F(ProfileDumpsTest, MalformedRequestsAreBadParameters) {
    auto dumps = open();
    ASSERT_NE(dumps, nullptr);

    DumpCall id_too_large(kCmdGprof, 101, "x");
    EXPECT_EQ(dumps->serve(id_too_large.request).code, gp::kErrorBadParameters);

    DumpCall short_uuid(kCmdGprof, 0, "x");
    short_uuid.request.params[1].memory =
        RpcMemref(nullptr, short_uuid.request.params[1].memory.data(), 15);
    EXPECT_EQ(dumps->serve(short_uuid.request).code, gp::kErrorBadParameters);

    DumpCall no_data(kCmdGprof, 0, "x");
    no_data.request.params[2].c = TEE_MEMREF_NULL;
    no_data.request.params[2].memory = {};
    EXPECT_EQ(dumps->serve(no_data.request).code, gp::kErrorBadParameters);

    DumpCall wrong_type(kCmdFtrace, 0, "x");
    wrong_type.request.params[0].type = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT;
    EXPECT_EQ(dumps->serve(wrong_type.request).code, gp::kErrorBadParameters);

    DumpCall other_command(kCmdFs, 0, "x");
    EXPECT_EQ(dumps->serve(other_command.request).code, gp::kErrorBadParameters);

    EXPECT_TRUE(fs::is_empty(directory_));
}

// The simulated profile TA's dump through the whole path: its UUID struct names the file.
TEST_F(ProfileDumpsTest, TheProfileTaDumpsUnderItsOwnUuid) {
    std::shared_ptr<ProfileDumps> dumps = open();
    ASSERT_NE(dumps, nullptr);
    simtest::ServedTee tee({{kCmdGprof, dumps}, {kCmdFtrace, dumps}});
    const uint32_t session = simtest::open_ok(tee.client(), sim::kProfileTaUuid);
    simtest::MappedShm data(tee.client(), 5);
    std::memcpy(data.data(), "gmon!", 5);
    auto dump = [&](uint64_t kind) {
        auto arg = simtest::invoke_arg(session, sim::kProfileTaDump, 3);
        arg.param(0) = {.attr = simtest::kValueIn, .a = kind, .b = 0, .c = 0};
        arg.param(1) = simtest::memref(simtest::kMemrefIn, data, 0, 5);
        arg.param(2) = {.attr = simtest::kValueOut, .a = 0, .b = 0, .c = 0};
        EXPECT_EQ(simtest::err(tee.client().invoke(arg.buf())), 0);
        return arg.header().ret;
    };
    EXPECT_EQ(dump(sim::kProfileTaGprof), gp::kSuccess);
    EXPECT_TRUE(fs::exists(directory_ / (std::string("gmon-") + sim::kProfileTaUuid + ".out")));
    EXPECT_EQ(dump(7), gp::kErrorBadParameters) << "neither gprof nor ftrace";
}

}  // namespace
}  // namespace teed::supplicant
