// The simulated secure_storage TA through a simulated TEE whose supplicant device teed's
// Supplicant serves with the real REE file system: the client's calls, the TA's requests, the
// files on disk.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "backends/optee/supplicant/ree_fs.h"
#include "backends/optee/supplicant/rpc_protocol.h"
#include "backends/sim/secure_storage_ta.h"
#include "tests/unit/backends/sim_test_support.h"
#include "tests/unit/backends/supplicant_test_support.h"

namespace teed::simtest {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

using sim::kSecureStorageDelete;
using sim::kSecureStorageEnumerate;
using sim::kSecureStorageReadRaw;
using sim::kSecureStorageRename;
using sim::kSecureStorageWriteRaw;

constexpr uint32_t kSuccess = gp::kSuccess;

Bytes bytes(std::string_view text) {
    return {text.begin(), text.end()};
}

// `size` bytes that differ with `seed` and along the buffer.
Bytes pattern(size_t size, uint8_t seed) {
    Bytes data(size);
    for (size_t i = 0; i < size; ++i) data[i] = static_cast<uint8_t>(seed * 31 + i * 7 + i / 251);
    return data;
}

std::string hex(const Bytes& id) {
    std::string text;
    for (uint8_t byte : id) {
        static constexpr char kDigits[] = "0123456789abcdef";
        text += kDigits[byte >> 4];
        text += kDigits[byte & 0xf];
    }
    return text;
}

Bytes read_disk(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_disk(const fs::path& path, const Bytes& content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(content.data()),
              static_cast<std::streamsize>(content.size()));
}

// One memref of a call: input bytes, or an output of some capacity; or a NULL memref.
struct Memref {
    uint64_t type = kMemrefIn;
    Bytes input;
    size_t capacity = 0;
    bool null = false;

    static Memref in(Bytes content) { return {.type = kMemrefIn, .input = std::move(content)}; }
    static Memref out(size_t capacity) { return {.type = kMemrefOut, .capacity = capacity}; }
    static Memref null_of(uint64_t type, size_t size) {
        return {.type = type, .capacity = size, .null = true};
    }
    size_t size() const { return type == kMemrefIn ? input.size() : capacity; }
};

struct Reply {
    uint32_t ret = 0;
    uint32_t origin = 0;
    std::vector<uint64_t> sizes;  // b of each param as written back
    std::vector<Bytes> outputs;   // the bytes of each output memref, up to its size
};

// Invokes `command` with memrefs (in one registered shm, as a client of a device with
// REG_MEM passes its buffers: an allocated one could not hold the largest objects) and raw
// params after them.
Reply invoke_on(Device& device, uint32_t session, uint32_t command,
                const std::vector<Memref>& memrefs,
                const std::vector<tee_ioctl_param>& extra = {}) {
    std::vector<uint64_t> offsets;
    uint64_t total = 0;
    for (const Memref& m : memrefs) {
        offsets.push_back(total);
        total += (m.size() + 7) / 8 * 8;
    }
    RegisteredShm shm(device, std::max<uint64_t>(total, 1));
    InvokeArg arg =
        invoke_arg(session, command, static_cast<uint32_t>(memrefs.size() + extra.size()));
    for (size_t i = 0; i < memrefs.size(); ++i) {
        const Memref& m = memrefs[i];
        if (m.null) {
            arg.param(i) = {.attr = m.type, .a = 0, .b = m.capacity, .c = TEE_MEMREF_NULL};
            continue;
        }
        std::ranges::copy(m.input, shm.data() + offsets[i]);
        arg.param(i) = memref(m.type, shm, offsets[i], m.size());
    }
    for (size_t i = 0; i < extra.size(); ++i) arg.param(memrefs.size() + i) = extra[i];
    Reply reply;
    EXPECT_EQ(err(device.invoke(arg.buf())), 0);
    reply.ret = arg.header().ret;
    reply.origin = arg.header().ret_origin;
    for (size_t i = 0; i < memrefs.size(); ++i) {
        reply.sizes.push_back(arg.param(i).b);
        Bytes out;
        if (memrefs[i].type == kMemrefOut && !memrefs[i].null) {
            const size_t size = std::min<uint64_t>(arg.param(i).b, memrefs[i].capacity);
            out.assign(shm.data() + offsets[i], shm.data() + offsets[i] + size);
        }
        reply.outputs.push_back(std::move(out));
    }
    return reply;
}

class ASecureStorageTa : public ::testing::Test {
protected:
    void SetUp() override {
        std::string dir = (fs::temp_directory_path() / "teed-sstore-XXXXXX").string();
        ASSERT_NE(::mkdtemp(dir.data()), nullptr);
        base_ = dir;
        root_ = base_ / "storage";
        start();
    }
    void TearDown() override {
        stop();
        std::error_code ignored;
        fs::remove_all(base_, ignored);
    }

    // A new TEE and supplicant over the same storage, as after a restart.
    void start() {
        stop();
        auto opened = supplicant::ReeFs::open({.root = root_.string()});
        ASSERT_TRUE(opened.ok()) << opened.error().message();
        ree_fs_ = std::move(opened).value();
        tee_ = std::make_unique<ServedTee>(
            supplicant::Supplicant::Services{{supplicant::kCmdFs, ree_fs_}});
        session_ = open_ok(tee_->client(), sim::kSecureStorageTaUuid);
    }
    void stop() {
        tee_.reset();
        ree_fs_.reset();
    }

    fs::path ta_dir() const { return root_ / sim::kSecureStorageTaUuid; }
    fs::path object_path(const Bytes& id) const { return ta_dir() / hex(id); }
    // The names in the TA's directory, sorted.
    std::vector<std::string> files() const {
        std::vector<std::string> names;
        std::error_code ignored;
        for (const auto& entry : fs::directory_iterator(ta_dir(), ignored))
            names.push_back(entry.path().filename().string());
        std::ranges::sort(names);
        return names;
    }

    // invoke_on() this fixture's session.
    Reply invoke(uint32_t command, const std::vector<Memref>& memrefs,
                 const std::vector<tee_ioctl_param>& extra = {}) {
        return invoke_on(tee_->client(), session_, command, memrefs, extra);
    }
    uint32_t write(const Bytes& id, const Bytes& data) {
        return invoke(kSecureStorageWriteRaw, {Memref::in(id), Memref::in(data)}).ret;
    }
    Reply read(const Bytes& id, size_t capacity) {
        return invoke(kSecureStorageReadRaw, {Memref::in(id), Memref::out(capacity)});
    }
    // The object's data, expecting success.
    Bytes read_ok(const Bytes& id, size_t capacity = 1 << 21) {
        Reply reply = read(id, capacity);
        EXPECT_EQ(reply.ret, kSuccess) << gp::result_name(reply.ret);
        return reply.outputs[1];
    }
    uint32_t read_code(const Bytes& id) { return read(id, 1 << 21).ret; }
    uint32_t remove(const Bytes& id) { return invoke(kSecureStorageDelete, {Memref::in(id)}).ret; }
    uint32_t rename(const Bytes& from, const Bytes& to) {
        return invoke(kSecureStorageRename, {Memref::in(from), Memref::in(to)}).ret;
    }
    Reply enumerate(size_t capacity) {
        return invoke(kSecureStorageEnumerate, {Memref::out(capacity)});
    }
    // The ids ENUMERATE lists, decoded.
    std::vector<Bytes> listed() {
        Reply reply = enumerate(1 << 16);
        EXPECT_EQ(reply.ret, kSuccess);
        std::vector<Bytes> ids;
        const Bytes& out = reply.outputs[0];
        for (size_t at = 0; at + 4 <= out.size();) {
            const uint32_t size = out[at] | out[at + 1] << 8 | out[at + 2] << 16 |
                                  static_cast<uint32_t>(out[at + 3]) << 24;
            at += 4;
            EXPECT_LE(at + size, out.size());
            ids.emplace_back(out.begin() + at, out.begin() + std::min(at + size, out.size()));
            at += size;
        }
        return ids;
    }

    // Nothing held after an operation: RPC buffers freed, REE FS handles closed.
    void expect_nothing_held() {
        EXPECT_TRUE(eventually([&] { return tee_->supplicant().shm_count() == 0; }));
        EXPECT_EQ(ree_fs_->open_files(), 0u);
        EXPECT_EQ(ree_fs_->open_dirs(), 0u);
    }

    fs::path base_;
    fs::path root_;
    std::shared_ptr<supplicant::ReeFs> ree_fs_;
    std::unique_ptr<ServedTee> tee_;
    uint32_t session_ = 0;
};

TEST_F(ASecureStorageTa, StoresAndReadsBackObjectsOfEverySize) {
    for (size_t size : {size_t{0}, size_t{1}, size_t{1024}, size_t{1} << 20}) {
        SCOPED_TRACE(size);
        const Bytes id = bytes("object-" + std::to_string(size));
        const Bytes data = pattern(size, static_cast<uint8_t>(size));
        ASSERT_EQ(write(id, data), kSuccess);
        Reply reply = read(id, size + 10);
        EXPECT_EQ(reply.ret, kSuccess);
        EXPECT_EQ(reply.origin, gp::kOriginTrustedApp);
        EXPECT_EQ(reply.sizes[1], size);
        EXPECT_EQ(reply.outputs[1], data);
        // On disk: the header, the id and the data, in the TA's directory under the id's hex.
        const Bytes file = read_disk(object_path(id));
        ASSERT_EQ(file.size(), sim::kSecureStorageHeaderSize + id.size() + size);
        EXPECT_EQ(Bytes(file.begin(), file.begin() + 4), bytes("SSTA"));
        EXPECT_TRUE(std::equal(data.begin(), data.end(), file.end() - size));
        expect_nothing_held();
    }
    EXPECT_EQ(files().size(), 4u);  // no temporary file left
}

TEST_F(ASecureStorageTa, ReplacesAnObject) {
    const Bytes id = bytes("key");
    ASSERT_EQ(write(id, pattern(300000, 1)), kSuccess);
    ASSERT_EQ(write(id, bytes("short")), kSuccess);
    EXPECT_EQ(read_ok(id), bytes("short"));
    ASSERT_EQ(write(id, pattern(600000, 2)), kSuccess);
    EXPECT_EQ(read_ok(id), pattern(600000, 2));
    EXPECT_EQ(files(), std::vector<std::string>{hex(id)});
}

TEST_F(ASecureStorageTa, DeletesAnObject) {
    const Bytes id = bytes("gone");
    ASSERT_EQ(write(id, bytes("data")), kSuccess);
    ASSERT_EQ(write(bytes("kept"), bytes("data")), kSuccess);
    EXPECT_EQ(remove(id), kSuccess);
    EXPECT_EQ(read_code(id), gp::kErrorItemNotFound);
    EXPECT_EQ(remove(id), gp::kErrorItemNotFound);
    EXPECT_EQ(read_ok(bytes("kept")), bytes("data"));
    EXPECT_FALSE(fs::exists(object_path(id)));
    expect_nothing_held();
}

TEST_F(ASecureStorageTa, AnswersItemNotFoundForAnAbsentObject) {
    EXPECT_EQ(read_code(bytes("never")), gp::kErrorItemNotFound);  // no directory yet
    ASSERT_EQ(write(bytes("other"), bytes("x")), kSuccess);
    Reply reply = read(bytes("never"), 16);
    EXPECT_EQ(reply.ret, gp::kErrorItemNotFound);
    EXPECT_EQ(reply.origin, gp::kOriginTrustedApp);
    EXPECT_EQ(remove(bytes("never")), gp::kErrorItemNotFound);
    expect_nothing_held();
}

TEST_F(ASecureStorageTa, AnswersShortBufferWithTheSizeNeeded) {
    const Bytes id = bytes("sized");
    ASSERT_EQ(write(id, pattern(5000, 3)), kSuccess);
    Reply reply = read(id, 4999);
    EXPECT_EQ(reply.ret, gp::kErrorShortBuffer);
    EXPECT_EQ(reply.sizes[1], 5000u);
    // A NULL output asks for the size alone.
    reply = invoke(kSecureStorageReadRaw, {Memref::in(id), Memref::null_of(kMemrefOut, 0)});
    EXPECT_EQ(reply.ret, gp::kErrorShortBuffer);
    EXPECT_EQ(reply.sizes[1], 5000u);
    EXPECT_EQ(read_ok(id, 5000), pattern(5000, 3));
    expect_nothing_held();
}

TEST_F(ASecureStorageTa, RenamesAnObject) {
    const Bytes data = pattern(700000, 4);  // several RPC buffers
    ASSERT_EQ(write(bytes("old"), data), kSuccess);
    EXPECT_EQ(rename(bytes("old"), bytes("new")), kSuccess);
    EXPECT_EQ(read_code(bytes("old")), gp::kErrorItemNotFound);
    EXPECT_EQ(read_ok(bytes("new")), data);
    EXPECT_EQ(listed(), std::vector<Bytes>{bytes("new")});
    EXPECT_EQ(files(), std::vector<std::string>{hex(bytes("new"))});
    expect_nothing_held();
}

TEST_F(ASecureStorageTa, RefusesToRenameOntoAnExistingObject) {
    ASSERT_EQ(write(bytes("a"), bytes("first")), kSuccess);
    ASSERT_EQ(write(bytes("b"), bytes("second")), kSuccess);
    EXPECT_EQ(rename(bytes("a"), bytes("b")), gp::kErrorAccessConflict);
    EXPECT_EQ(rename(bytes("a"), bytes("a")), gp::kErrorAccessConflict);
    EXPECT_EQ(read_ok(bytes("a")), bytes("first"));
    EXPECT_EQ(read_ok(bytes("b")), bytes("second"));
    // An absent old id is reported first, as opening it would fail first.
    EXPECT_EQ(rename(bytes("absent"), bytes("b")), gp::kErrorItemNotFound);
    EXPECT_EQ(rename(bytes("absent"), bytes("c")), gp::kErrorItemNotFound);
    EXPECT_EQ(files(), (std::vector<std::string>{hex(bytes("a")), hex(bytes("b"))}));
    expect_nothing_held();
}

TEST_F(ASecureStorageTa, EnumeratesItsObjectsInIdOrder) {
    Reply empty = enumerate(16);
    EXPECT_EQ(empty.ret, kSuccess);
    EXPECT_EQ(empty.sizes[0], 0u);
    const Bytes binary{0x00, 0xff, 0x2f};
    const Bytes longest(sim::kSecureStorageMaxIdSize, 'z');
    for (const Bytes& id : {bytes("b"), binary, bytes("a"), longest})
        ASSERT_EQ(write(id, bytes("x")), kSuccess);
    EXPECT_EQ(listed(), (std::vector<Bytes>{binary, bytes("a"), bytes("b"), longest}));
    // Exactly: each id as a little-endian u32 size and its bytes.
    Bytes expected = bytes(std::string("\x03\0\0\0\x00\xff\x2f", 7) + std::string("\1\0\0\0a", 5) +
                           std::string("\1\0\0\0b", 5) + std::string("\x40\0\0\0", 4) +
                           std::string(longest.begin(), longest.end()));
    Reply reply = enumerate(expected.size());
    EXPECT_EQ(reply.ret, kSuccess);
    EXPECT_EQ(reply.outputs[0], expected);
    reply = enumerate(expected.size() - 1);
    EXPECT_EQ(reply.ret, gp::kErrorShortBuffer);
    EXPECT_EQ(reply.sizes[0], expected.size());
    reply = invoke(kSecureStorageEnumerate, {Memref::null_of(kMemrefOut, 0)});
    EXPECT_EQ(reply.ret, gp::kErrorShortBuffer);
    EXPECT_EQ(reply.sizes[0], expected.size());
    // Deleting them all leaves nothing to list (and REE FS removes the emptied directory).
    for (const Bytes& id : {bytes("b"), binary, bytes("a"), longest})
        ASSERT_EQ(remove(id), kSuccess);
    EXPECT_EQ(enumerate(16).sizes[0], 0u);
    expect_nothing_held();
}

TEST_F(ASecureStorageTa, ChecksObjectIdsAndSizes) {
    const Bytes longest(sim::kSecureStorageMaxIdSize, 'i');
    const Bytes too_long(sim::kSecureStorageMaxIdSize + 1, 'i');
    EXPECT_EQ(write(longest, bytes("ok")), kSuccess);
    EXPECT_EQ(read_ok(longest), bytes("ok"));
    EXPECT_EQ(write(too_long, bytes("no")), gp::kErrorBadParameters);
    EXPECT_EQ(read_code(too_long), gp::kErrorBadParameters);
    EXPECT_EQ(remove(too_long), gp::kErrorBadParameters);
    EXPECT_EQ(rename(longest, too_long), gp::kErrorBadParameters);
    EXPECT_EQ(write(Bytes{}, bytes("no")), gp::kErrorBadParameters);
    EXPECT_EQ(rename(Bytes{}, longest), gp::kErrorBadParameters);
    EXPECT_EQ(invoke(kSecureStorageDelete, {Memref::null_of(kMemrefIn, 4)}).ret,
              gp::kErrorBadParameters);
    // A NULL data memref of size 0 stores an empty object; of any other size it is malformed.
    EXPECT_EQ(
        invoke(kSecureStorageWriteRaw, {Memref::in(bytes("empty")), Memref::null_of(kMemrefIn, 0)})
            .ret,
        kSuccess);
    EXPECT_EQ(read_ok(bytes("empty")), Bytes{});
    EXPECT_EQ(
        invoke(kSecureStorageWriteRaw, {Memref::in(bytes("empty")), Memref::null_of(kMemrefIn, 8)})
            .ret,
        gp::kErrorBadParameters);
    // Past the size limit: what the example TA's heap allocation answers; nothing is touched.
    EXPECT_EQ(write(longest, Bytes(sim::kSecureStorageMaxDataSize + 1, 'd')),
              gp::kErrorOutOfMemory);
    EXPECT_EQ(read_ok(longest), bytes("ok"));
    EXPECT_EQ(write(bytes("max"), Bytes(sim::kSecureStorageMaxDataSize, 'd')), kSuccess);
    EXPECT_EQ(read(bytes("max"), sim::kSecureStorageMaxDataSize).ret, kSuccess);
    expect_nothing_held();
}

TEST_F(ASecureStorageTa, ChecksParamTypesExactly) {
    const Memref id = Memref::in(bytes("id"));
    const tee_ioctl_param value{.attr = kValueIn, .a = 1, .b = 0, .c = 0};
    struct Case {
        uint32_t command;
        std::vector<Memref> memrefs;
        std::vector<tee_ioctl_param> extra;
    };
    const std::vector<Case> cases{
        {kSecureStorageReadRaw, {id, Memref::in(bytes("x"))}, {}},  // output as input
        {kSecureStorageReadRaw, {id, {.type = kMemrefInout, .capacity = 8}}, {}},
        {kSecureStorageReadRaw, {id}, {}},
        {kSecureStorageReadRaw, {id, Memref::out(8)}, {value}},
        {kSecureStorageWriteRaw, {id, Memref::out(8)}, {}},
        {kSecureStorageWriteRaw, {id}, {value}},
        {kSecureStorageWriteRaw, {}, {value, value}},
        {kSecureStorageDelete, {Memref::out(8)}, {}},
        {kSecureStorageDelete, {id, id}, {}},
        {kSecureStorageRename, {id}, {}},
        {kSecureStorageRename, {id, Memref::out(8)}, {}},
        {kSecureStorageEnumerate, {Memref::in(bytes("x"))}, {}},
        {kSecureStorageEnumerate, {}, {}},
        {kSecureStorageEnumerate, {Memref::out(8), Memref::out(8)}, {}},
        {3, {id, Memref::out(8)}, {}},  // unknown commands
        {0x102, {Memref::out(8)}, {}},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.command);
        Reply reply = invoke(c.command, c.memrefs, c.extra);
        EXPECT_EQ(reply.ret, gp::kErrorBadParameters);
        EXPECT_EQ(reply.origin, gp::kOriginTrustedApp);
    }
    EXPECT_FALSE(fs::exists(ta_dir()));  // nothing reached storage
    expect_nothing_held();
}

TEST_F(ASecureStorageTa, DetectsACorruptedObjectFile) {
    const Bytes id = bytes("victim");
    const Bytes data = pattern(3000, 5);
    using Damage = std::function<void(Bytes&)>;
    const std::vector<std::pair<const char*, Damage>> damages{
        {"data byte flipped", [](Bytes& f) { f[f.size() - 10] ^= 0x01; }},
        {"digest byte flipped", [](Bytes& f) { f[20] ^= 0x80; }},
        {"id byte flipped", [](Bytes& f) { f[sim::kSecureStorageHeaderSize] ^= 0x01; }},
        {"data size changed", [](Bytes& f) { f[12] ^= 0x01; }},
        {"magic changed", [](Bytes& f) { f[0] = 'X'; }},
        {"version changed", [](Bytes& f) { f[4] = 2; }},
        {"torn: truncated", [](Bytes& f) { f.resize(f.size() - 1); }},
        {"torn: header only", [](Bytes& f) { f.resize(sim::kSecureStorageHeaderSize); }},
        {"torn: part of a header", [](Bytes& f) { f.resize(10); }},
        {"empty", [](Bytes& f) { f.clear(); }},
        {"extended", [](Bytes& f) { f.push_back(0); }},
        {"grown past any object", [](Bytes& f) { f.resize(sim::kSecureStorageMaxDataSize * 2); }},
    };
    for (const auto& [what, damage] : damages) {
        SCOPED_TRACE(what);
        ASSERT_EQ(write(id, data), kSuccess);
        Bytes file = read_disk(object_path(id));
        damage(file);
        write_disk(object_path(id), file);
        Reply reply = read(id, 1 << 16);
        EXPECT_EQ(reply.ret, gp::kErrorCorruptObject) << gp::result_name(reply.ret);
        EXPECT_EQ(reply.origin, gp::kOriginTrustedApp);
        EXPECT_EQ(read(id, 0).ret, gp::kErrorCorruptObject);  // before any size is answered
        EXPECT_EQ(rename(id, bytes("elsewhere")), gp::kErrorCorruptObject);
        EXPECT_EQ(listed(), std::vector<Bytes>{id});  // still there, to be replaced or deleted
    }
    EXPECT_EQ(write(id, bytes("restored")), kSuccess);
    EXPECT_EQ(read_ok(id), bytes("restored"));
    write_disk(object_path(id), {1, 2, 3});
    EXPECT_EQ(remove(id), kSuccess);
    EXPECT_EQ(read_code(id), gp::kErrorItemNotFound);
    EXPECT_STREQ(gp::result_name(gp::kErrorCorruptObject), "TEEC_ERROR_CORRUPT_OBJECT");
    expect_nothing_held();
}

TEST_F(ASecureStorageTa, DetectsAnObjectFileOfAnotherId) {
    ASSERT_EQ(write(bytes("mine"), bytes("my data")), kSuccess);
    ASSERT_EQ(write(bytes("yours"), bytes("your data")), kSuccess);
    fs::copy_file(object_path(bytes("yours")), object_path(bytes("mine")),
                  fs::copy_options::overwrite_existing);
    EXPECT_EQ(read_code(bytes("mine")), gp::kErrorCorruptObject);
    EXPECT_EQ(read_ok(bytes("yours")), bytes("your data"));
}

TEST_F(ASecureStorageTa, IgnoresTemporaryFilesACrashLeftBehind) {
    const Bytes id = bytes("stable");
    ASSERT_EQ(write(id, bytes("version 1")), kSuccess);
    // A write that died before its rename, and one of an object that never came to exist.
    const fs::path stale = ta_dir() / (hex(id) + ".tmp");
    const fs::path orphan = ta_dir() / (hex(bytes("unborn")) + ".tmp");
    write_disk(stale, pattern(100, 6));
    write_disk(orphan, pattern(100, 7));
    EXPECT_EQ(read_ok(id), bytes("version 1"));
    EXPECT_EQ(read_code(bytes("unborn")), gp::kErrorItemNotFound);
    EXPECT_EQ(listed(), std::vector<Bytes>{id});
    // The next write of the object reuses its temporary file and leaves none.
    ASSERT_EQ(write(id, bytes("version 2")), kSuccess);
    EXPECT_EQ(read_ok(id), bytes("version 2"));
    EXPECT_FALSE(fs::exists(stale));
    ASSERT_EQ(write(bytes("unborn"), bytes("born")), kSuccess);
    EXPECT_FALSE(fs::exists(orphan));
    EXPECT_EQ(files(), (std::vector<std::string>{hex(id), hex(bytes("unborn"))}));
}

TEST_F(ASecureStorageTa, KeepsObjectsAcrossARestart) {
    const Bytes big = pattern(1 << 20, 8);
    ASSERT_EQ(write(bytes("small"), bytes("persistent")), kSuccess);
    ASSERT_EQ(write(bytes("big"), big), kSuccess);
    start();  // a new simulated TEE, supplicant and REE FS over the same directory
    EXPECT_EQ(read_ok(bytes("small")), bytes("persistent"));
    EXPECT_EQ(read_ok(bytes("big")), big);
    EXPECT_EQ(listed(), (std::vector<Bytes>{bytes("big"), bytes("small")}));
}

TEST_F(ASecureStorageTa, PassesStorageNoSpaceThroughAndKeepsTheOldVersion) {
    const Bytes id = bytes("precious");
    const Bytes old_version = pattern(1024, 9);
    ASSERT_EQ(write(id, old_version), kSuccess);
    stop();  // the child starts its own TEE: no thread of ours is forked mid-work
    // In a child, whose file size limit ends with it; exits with the first check that failed.
    auto check = [&]() -> int {
        auto opened = supplicant::ReeFs::open({.root = root_.string()});
        if (!opened.ok()) return 10;
        std::shared_ptr<supplicant::ReeFs> ree_fs = std::move(opened).value();
        ServedTee tee({{supplicant::kCmdFs, ree_fs}});
        OpenArg open = open_arg(sim::kSecureStorageTaUuid);
        if (err(tee.client().open_session(open.buf())) != 0 || open.header().ret != kSuccess)
            return 11;
        const uint32_t session = open.header().session;
        // The client's memory is sized before the limit (a memfd counts against it too); the
        // limit leaves room for the TA's 256 KiB RPC buffer, not for the 1 MiB object.
        MappedShm shm(tee.client(), (1 << 20) + id.size());
        ::signal(SIGXFSZ, SIG_IGN);  // as teed runs: EFBIG instead of the signal
        const rlimit limit{.rlim_cur = 512 << 10, .rlim_max = 512 << 10};
        if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return 12;
        std::ranges::copy(id, shm.data());
        InvokeArg arg = invoke_arg(session, kSecureStorageWriteRaw, 2);
        arg.param(0) = memref(kMemrefIn, shm, 0, id.size());
        arg.param(1) = memref(kMemrefIn, shm, id.size(), 1 << 20);
        if (err(tee.client().invoke(arg.buf())) != 0) return 13;
        if (arg.header().ret != gp::kErrorStorageNoSpace) return 1;
        if (arg.header().ret_origin != gp::kOriginTrustedApp) return 2;
        Reply reply = invoke_on(tee.client(), session, kSecureStorageReadRaw,
                                {Memref::in(id), Memref::out(4096)});
        if (reply.ret != kSuccess || reply.outputs[1] != old_version) return 3;
        return 0;
    };
    EXPECT_EXIT(_exit(check()), ::testing::ExitedWithCode(0), "");
    start();
    EXPECT_EQ(read_ok(id), old_version);
    EXPECT_EQ(files(), std::vector<std::string>{hex(id)});  // the temporary file was removed
}

TEST_F(ASecureStorageTa, PassesTheSupplicantsAnswerThrough) {
    // A supplicant without a file system service answers NOT_SUPPORTED, as tee-supplicant does.
    tee_ = std::make_unique<ServedTee>(supplicant::Supplicant::Services{});
    session_ = open_ok(tee_->client(), sim::kSecureStorageTaUuid);
    EXPECT_EQ(write(bytes("id"), bytes("x")), gp::kErrorNotSupported);
    EXPECT_EQ(read_code(bytes("id")), gp::kErrorNotSupported);
    EXPECT_EQ(enumerate(16).ret, gp::kErrorNotSupported);
    EXPECT_EQ(rename(bytes("id"), bytes("other")), gp::kErrorNotSupported);
    EXPECT_EQ(remove(bytes("id")), gp::kErrorNotSupported);
    EXPECT_TRUE(eventually([&] { return tee_->supplicant().shm_count() == 0; }));
    // The storage directory removed under teed: STORAGE_NOT_AVAILABLE.
    start();
    fs::remove_all(root_);
    EXPECT_EQ(write(bytes("id"), bytes("x")), gp::kErrorStorageNotAvailable);
    EXPECT_EQ(read_code(bytes("id")), gp::kErrorStorageNotAvailable);
}

TEST_F(ASecureStorageTa, KeepsEachObjectConsistentUnderConcurrentSessions) {
    constexpr int kThreads = 4;
    constexpr int kRounds = 12;
    constexpr size_t kSharedSize = 300000;  // two RPC buffers: writes could interleave
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            Device& device = tee_->client();
            const uint32_t session = open_ok(device, sim::kSecureStorageTaUuid);
            const Bytes own = bytes("own-" + std::to_string(t));
            for (int round = 0; round < kRounds; ++round) {
                const auto seed = static_cast<uint8_t>(t * kRounds + round);
                Reply w = invoke_on(device, session, kSecureStorageWriteRaw,
                                    {Memref::in(own), Memref::in(pattern(1000 + round, seed))});
                EXPECT_EQ(w.ret, kSuccess);
                Reply r = invoke_on(device, session, kSecureStorageReadRaw,
                                    {Memref::in(own), Memref::out(4096)});
                EXPECT_EQ(r.outputs[1], pattern(1000 + round, seed));
                // Everyone replaces the shared object with a buffer of one value; a read must
                // see one whole version.
                w = invoke_on(device, session, kSecureStorageWriteRaw,
                              {Memref::in(bytes("shared")), Memref::in(Bytes(kSharedSize, seed))});
                EXPECT_EQ(w.ret, kSuccess);
                r = invoke_on(device, session, kSecureStorageReadRaw,
                              {Memref::in(bytes("shared")), Memref::out(kSharedSize)});
                EXPECT_EQ(r.ret, kSuccess);
                ASSERT_EQ(r.outputs[1].size(), kSharedSize);
                const uint8_t first = r.outputs[1][0];
                EXPECT_TRUE(
                    std::ranges::all_of(r.outputs[1], [&](uint8_t b) { return b == first; }));
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(listed().size(), kThreads + 1u);
    EXPECT_EQ(files().size(), kThreads + 1u);
    expect_nothing_held();
}

// A node without a supplicant device: its first RPC, the buffer's SHM_ALLOC, fails at once and
// the driver answers OUT_OF_MEMORY; nothing waits.
TEST(ASecureStorageTaWithoutSupplicant, AnswersOutOfMemory) {
    auto node = make_simulated_node({});
    auto device = node->open().value();
    const uint32_t session = open_ok(*device, sim::kSecureStorageTaUuid);
    Reply reply = invoke_on(*device, session, kSecureStorageWriteRaw,
                            {Memref::in(bytes("id")), Memref::in(bytes("x"))});
    EXPECT_EQ(reply.ret, gp::kErrorOutOfMemory);
    EXPECT_EQ(reply.origin, gp::kOriginTrustedApp);
    reply = invoke_on(*device, session, kSecureStorageEnumerate, {Memref::out(16)});
    EXPECT_EQ(reply.ret, gp::kErrorOutOfMemory);
}

}  // namespace
}  // namespace teed::simtest
