// The REE file system behind teed's supplicant loop, driven by a simulated secure world the way
// OP-TEE's core/tee/tee_fs_rpc.c drives it: names and data in buffers the supplicant allocated,
// requests through the driver's queue, answers copied back by the request's own types.

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "backends/optee/supplicant/ree_fs.h"
#include "backends/optee/supplicant/rpc_protocol.h"
#include "tests/unit/backends/sim_test_support.h"
#include "tests/unit/backends/supplicant_test_support.h"

namespace teed::simtest {
namespace {

namespace fs = std::filesystem;
using supplicant::kCmdFs;

constexpr size_t kNameMax = 350;  // OP-TEE's TEE_FS_NAME_MAX: the buffer its names travel in

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

class AServedReeFs : public ::testing::Test {
protected:
    AServedReeFs() : storage_(make_storage()), tee_({{kCmdFs, storage_}}) {}
    ~AServedReeFs() override {
        std::error_code ignored;
        fs::remove_all(base_, ignored);
    }

    std::shared_ptr<supplicant::ReeFs> make_storage() {
        std::string pattern = (fs::temp_directory_path() / "teed-ree-fs-served-XXXXXX").string();
        EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
        base_ = pattern;
        root_ = base_ / "storage";
        return supplicant::ReeFs::open({.root = root_.string()}).value();
    }

    std::unique_ptr<sim::RpcSharedBuffer> buffer(size_t size) {
        uint32_t code = 0;
        auto allocated = tee_.rpc().allocate(size, code);
        EXPECT_EQ(code, gp::kSuccess);
        return allocated;
    }
    // A name as OP-TEE writes it: NUL-terminated at the start of a TEE_FS_NAME_MAX buffer.
    std::unique_ptr<sim::RpcSharedBuffer> name(std::string_view text) {
        auto name_buffer = buffer(kNameMax);
        std::memset(name_buffer->data(), 0x5a, kNameMax);  // what follows the NUL is not cleared
        std::memcpy(name_buffer->data(), text.data(), text.size());
        name_buffer->data()[text.size()] = '\0';
        return name_buffer;
    }
    uint32_t call(std::vector<sim::RpcParam>& params) { return tee_.rpc().call(kCmdFs, params); }

    // OPEN, CREATE or OPENDIR: the code, and the handle in `ret_handle`.
    uint32_t open(uint64_t opcode, std::string_view text, uint64_t* ret_handle = nullptr) {
        auto name_buffer = name(text);
        std::vector<sim::RpcParam> params{
            sim::RpcParam::value(kValueIn, opcode),
            sim::RpcParam::memref(kMemrefIn, name_buffer.get(), 0, kNameMax),
            sim::RpcParam::value(kValueOut)};
        const uint32_t code = call(params);
        if (ret_handle) *ret_handle = params[2].a;
        return code;
    }
    uint32_t simple(uint64_t opcode, uint64_t b, uint64_t c = 0) {
        std::vector<sim::RpcParam> params{sim::RpcParam::value(kValueIn, opcode, b, c)};
        return call(params);
    }
    supplicant::CommandCounters counters() { return tee_.supplicant().counters()[kCmdFs]; }

    fs::path base_;
    fs::path root_;
    std::shared_ptr<supplicant::ReeFs> storage_;
    ServedTee tee_;
};

TEST_F(AServedReeFs, ServesAFileFromCreateToRemove) {
    uint64_t file = 0;
    ASSERT_EQ(open(supplicant::kFsCreate, "/8aaaf200245011e4abe20002a5d5c51b/dirf.db", &file),
              gp::kSuccess);

    auto data = buffer(4096);
    for (size_t i = 0; i < 1000; ++i) data->data()[i] = static_cast<uint8_t>(i);
    std::vector<sim::RpcParam> write{sim::RpcParam::value(kValueIn, supplicant::kFsWrite, file, 0),
                                     sim::RpcParam::memref(kMemrefIn, data.get(), 0, 1000)};
    EXPECT_EQ(call(write), gp::kSuccess);

    // The answer carries the bytes read as the memref's size; nothing lands outside its range.
    auto out = buffer(4096);
    std::memset(out->data(), 0xee, out->size());
    std::vector<sim::RpcParam> read{sim::RpcParam::value(kValueIn, supplicant::kFsRead, file, 990),
                                    sim::RpcParam::memref(kMemrefOut, out.get(), 100, 64)};
    EXPECT_EQ(call(read), gp::kSuccess);
    EXPECT_EQ(read[1].size, 10u);
    EXPECT_EQ(std::memcmp(out->data() + 100, data->data() + 990, 10), 0);
    EXPECT_EQ(out->data()[99], 0xee);
    EXPECT_EQ(out->data()[110], 0xee);

    EXPECT_EQ(simple(supplicant::kFsTruncate, file, 10), gp::kSuccess);
    EXPECT_EQ(simple(supplicant::kFsClose, file), gp::kSuccess);
    const fs::path dir = root_ / "8aaaf200245011e4abe20002a5d5c51b";
    EXPECT_EQ(read_file(dir / "dirf.db"), std::string(reinterpret_cast<char*>(data->data()), 10));

    auto from = name("/8aaaf200245011e4abe20002a5d5c51b/dirf.db");
    auto to = name("/8aaaf200245011e4abe20002a5d5c51b/1");
    std::vector<sim::RpcParam> rename{
        sim::RpcParam::value(kValueIn, supplicant::kFsRename, /*overwrite=*/0),
        sim::RpcParam::memref(kMemrefIn, from.get(), 0, kNameMax),
        sim::RpcParam::memref(kMemrefIn, to.get(), 0, kNameMax)};
    EXPECT_EQ(call(rename), gp::kSuccess);

    uint64_t listing = 0;
    ASSERT_EQ(open(supplicant::kFsOpendir, "/8aaaf200245011e4abe20002a5d5c51b", &listing),
              gp::kSuccess);
    auto entry = buffer(kNameMax + 1);
    std::vector<sim::RpcParam> readdir{
        sim::RpcParam::value(kValueIn, supplicant::kFsReaddir, listing),
        sim::RpcParam::memref(kMemrefOut, entry.get(), 0, kNameMax + 1)};
    EXPECT_EQ(call(readdir), gp::kSuccess);
    EXPECT_EQ(readdir[1].size, 2u);
    EXPECT_STREQ(reinterpret_cast<char*>(entry->data()), "1");
    readdir[1].size = kNameMax + 1;
    EXPECT_EQ(call(readdir), gp::kErrorItemNotFound);
    EXPECT_EQ(simple(supplicant::kFsClosedir, listing), gp::kSuccess);

    auto removed = name("/8aaaf200245011e4abe20002a5d5c51b/1");
    std::vector<sim::RpcParam> remove{sim::RpcParam::value(kValueIn, supplicant::kFsRemove),
                                      sim::RpcParam::memref(kMemrefIn, removed.get(), 0, kNameMax)};
    EXPECT_EQ(call(remove), gp::kSuccess);
    EXPECT_FALSE(fs::exists(dir));
    EXPECT_TRUE(fs::is_directory(root_));
    EXPECT_EQ(storage_->open_files(), 0u);
    EXPECT_EQ(storage_->open_dirs(), 0u);
    EXPECT_TRUE(eventually([&] { return counters().served == 10; }));
    EXPECT_EQ(counters().failed, 1u);  // the end of the listing
}

TEST_F(AServedReeFs, RefusesANameLeavingItsRootThroughTheWholePath) {
    fs::create_directory(base_ / "outside");
    EXPECT_EQ(open(supplicant::kFsCreate, "/../outside/planted"), gp::kErrorBadParameters);
    EXPECT_EQ(open(supplicant::kFsOpen, "/x/../../outside"), gp::kErrorBadParameters);
    EXPECT_TRUE(fs::is_empty(base_ / "outside"));
    EXPECT_TRUE(fs::is_empty(root_));
    EXPECT_TRUE(eventually([&] { return counters().failed == 2; }));
}

TEST_F(AServedReeFs, AnswersANameWithoutItsNulInItsRangeBadParameters) {
    auto name_buffer = name("/dirf.db");  // NUL at offset 8, outside the 8 bytes offered
    std::vector<sim::RpcParam> params{sim::RpcParam::value(kValueIn, supplicant::kFsCreate),
                                      sim::RpcParam::memref(kMemrefIn, name_buffer.get(), 0, 8),
                                      sim::RpcParam::value(kValueOut)};
    EXPECT_EQ(call(params), gp::kErrorBadParameters);
    EXPECT_TRUE(fs::is_empty(root_));
}

}  // namespace
}  // namespace teed::simtest
