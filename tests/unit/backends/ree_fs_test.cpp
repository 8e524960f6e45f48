#include "backends/optee/supplicant/ree_fs.h"

#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "backends/kernel/gp.h"
#include "backends/kernel/tee_uapi.h"
#include "backends/optee/supplicant/rpc_protocol.h"

namespace teed::supplicant {
namespace {

namespace fs = std::filesystem;

// A request of the secure world, built by hand, owning the bytes its memrefs point to.
class FsCall {
public:
    explicit FsCall(uint64_t opcode, uint64_t b = 0, uint64_t c = 0) {
        request.command = kCmdFs;
        value(kValueIn, opcode, b, c);
    }
    // A copy would point into the original's buffers.
    FsCall(const FsCall&) = delete;
    FsCall& operator=(const FsCall&) = delete;
    FsCall(FsCall&&) = default;
    FsCall& value(uint32_t type, uint64_t a = 0, uint64_t b = 0, uint64_t c = 0) {
        request.params.push_back({.type = type, .a = a, .b = b, .c = c});
        return *this;
    }
    FsCall& value_out() { return value(kValueOut); }
    // Exactly these bytes, NUL or not.
    FsCall& bytes(uint32_t type, std::string_view content) {
        auto& buffer = buffers_.emplace_back(content.begin(), content.end());
        RpcParam param{.type = type, .a = 0, .b = buffer.size(), .c = buffers_.size()};
        param.memory = RpcMemref::wrap(buffer);
        request.params.push_back(std::move(param));
        return *this;
    }
    // A name as OP-TEE sends it: NUL-terminated, in a buffer with room to spare.
    FsCall& name(std::string_view text, uint32_t type = kMemrefIn) {
        std::string padded(text);
        padded.append(16, '\0');
        return bytes(type, padded);
    }
    FsCall& out(size_t size) { return bytes(kMemrefOut, std::string(size, '\0')); }
    FsCall& no_buffer(uint32_t type) {
        request.params.push_back({.type = type, .a = 0, .b = 0, .c = TEE_MEMREF_NULL});
        return *this;
    }
    // The first `size` bytes of memref `index`, as the secure world would read them.
    std::string text(size_t index, size_t size) const {
        const RpcParam& param = request.params.at(index);
        return {reinterpret_cast<const char*>(param.memory.data()), size};
    }

    RpcRequest request;

private:
    std::deque<std::vector<uint8_t>> buffers_;  // stable addresses as params are added
};

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

void write_file(const fs::path& path, std::string_view content) {
    std::ofstream(path, std::ios::binary) << content;
}

mode_t mode_of(const fs::path& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
}

class AReeFs : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "teed-ree-fs-XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        base_ = pattern;
        root_ = base_ / "storage" / "teepriv0";
        outside_ = base_ / "outside";
        fs::create_directory(outside_);
        write_file(outside_ / "secret", "keep");
        reopen({});
    }
    void TearDown() override {
        fs_.reset();
        std::error_code ignored;
        fs::remove_all(base_, ignored);
    }

    void reopen(ReeFsOptions options) {
        options.root = root_.string();
        fs_.reset();
        auto opened = ReeFs::open(options);
        ASSERT_TRUE(opened.ok()) << opened.error().message();
        fs_ = std::move(opened).value();
    }

    RpcOutcome serve(FsCall& call) { return fs_->serve(call.request); }
    uint32_t serve_code(FsCall call) { return serve(call).code; }

    // OPEN or CREATE; the code, and the handle in `ret_handle` on success.
    uint32_t open(uint64_t opcode, std::string_view name, uint64_t* ret_handle = nullptr) {
        FsCall call(opcode);
        call.name(name).value_out();
        RpcOutcome outcome = serve(call);
        if (outcome.code == gp::kSuccess && ret_handle) *ret_handle = call.request.params[2].a;
        return outcome.code;
    }
    uint64_t create(std::string_view name) {
        uint64_t handle = 0;
        EXPECT_EQ(open(kFsCreate, name, &handle), gp::kSuccess) << name;
        return handle;
    }
    uint32_t write(uint64_t handle, uint64_t offset, std::string_view data) {
        FsCall call(kFsWrite, handle, offset);
        call.bytes(kMemrefIn, data);
        return serve(call).code;
    }
    // READ of up to `size` bytes: the code and the bytes read.
    std::pair<uint32_t, std::string> read(uint64_t handle, uint64_t offset, size_t size) {
        FsCall call(kFsRead, handle, offset);
        call.out(size);
        const uint32_t code = serve(call).code;
        const size_t got = call.request.params[1].b;
        EXPECT_LE(got, size);
        return {code, code == gp::kSuccess ? call.text(1, std::min(got, size)) : ""};
    }
    uint32_t close(uint64_t handle) { return serve_code(FsCall(kFsClose, handle)); }
    uint32_t remove(std::string_view name) {
        FsCall call(kFsRemove);
        call.name(name);
        return serve(call).code;
    }
    uint32_t rename(std::string_view from, std::string_view to, bool overwrite) {
        FsCall call(kFsRename, overwrite ? 1 : 0);
        call.name(from).name(to);
        return serve(call).code;
    }
    uint32_t opendir(std::string_view name, uint64_t* ret_handle = nullptr) {
        FsCall call(kFsOpendir);
        call.name(name).value_out();
        RpcOutcome outcome = serve(call);
        if (outcome.code == gp::kSuccess && ret_handle) *ret_handle = call.request.params[2].a;
        return outcome.code;
    }
    // READDIR into a buffer of `size` bytes: the code, the name, and the size answered.
    struct Entry {
        uint32_t code;
        std::string name;
        uint64_t size;
    };
    Entry readdir(uint64_t handle, size_t size = 256) {
        FsCall call(kFsReaddir, handle);
        call.out(size);
        const uint32_t code = serve(call).code;
        const uint64_t answered = call.request.params[1].b;
        std::string name;
        if (code == gp::kSuccess) name = call.text(1, answered - 1);
        return {code, name, answered};
    }
    // Everything beneath `dir`, as relative paths: to show what a request did or did not touch.
    static std::vector<std::string> tree(const fs::path& dir) {
        std::vector<std::string> entries;
        for (const auto& entry : fs::recursive_directory_iterator(dir))
            entries.push_back(fs::relative(entry.path(), dir).string());
        std::sort(entries.begin(), entries.end());
        return entries;
    }

    fs::path base_;
    fs::path root_;
    fs::path outside_;
    std::unique_ptr<ReeFs> fs_;
};

TEST_F(AReeFs, CreatesItsRootPrivateWithParents) {
    EXPECT_TRUE(fs::is_directory(root_));
    EXPECT_EQ(mode_of(root_), 0700u);
    EXPECT_EQ(mode_of(root_.parent_path()), 0700u);
    EXPECT_EQ(fs_->root(), root_.string());
}

TEST(ReeFsOpen, RefusesARootThatIsNotAnAbsolutePath) {
    for (const char* root : {"", "relative/storage"}) {
        auto opened = ReeFs::open({.root = root});
        ASSERT_FALSE(opened.ok()) << root;
        EXPECT_EQ(opened.error().kind(), ErrorKind::InvalidArgument);
    }
}

TEST_F(AReeFs, CreatesWritesAndReadsBackAPrivateFile) {
    const uint64_t handle = create("/dirf.db");
    EXPECT_EQ(write(handle, 0, "hello "), gp::kSuccess);
    EXPECT_EQ(write(handle, 6, "world"), gp::kSuccess);
    EXPECT_EQ(read(handle, 0, 64), std::make_pair(gp::kSuccess, std::string("hello world")));
    EXPECT_EQ(read(handle, 6, 3), std::make_pair(gp::kSuccess, std::string("wor")));
    EXPECT_EQ(close(handle), gp::kSuccess);
    EXPECT_EQ(read_file(root_ / "dirf.db"), "hello world");
    EXPECT_EQ(mode_of(root_ / "dirf.db"), 0600u);
    EXPECT_EQ(fs_->open_files(), 0u);
}

TEST_F(AReeFs, GivesSmallHandlesOfItsOwnAndReusesFreedOnes) {
    // Not descriptors: 0 to 2 are the standard streams and the root holds another.
    const uint64_t first = create("/a");
    const uint64_t second = create("/b");
    EXPECT_EQ(first, 1u);
    EXPECT_EQ(second, 2u);
    EXPECT_EQ(fs_->open_files(), 2u);
    EXPECT_EQ(close(first), gp::kSuccess);
    EXPECT_EQ(create("/c"), 1u);
}

TEST_F(AReeFs, OpensAnExistingFileAndAnswersItemNotFoundForAMissingOne) {
    write_file(root_ / "0", "stored");
    uint64_t handle = 0;
    ASSERT_EQ(open(kFsOpen, "/0", &handle), gp::kSuccess);
    EXPECT_EQ(read(handle, 0, 16).second, "stored");
    EXPECT_EQ(open(kFsOpen, "/1"), gp::kErrorItemNotFound);
    EXPECT_EQ(open(kFsOpen, "/missing-dir/1"), gp::kErrorItemNotFound);
    EXPECT_FALSE(fs::exists(root_ / "1"));
    EXPECT_EQ(fs_->open_files(), 1u);
}

TEST_F(AReeFs, OpensAFileItMayNotWriteReadOnly) {
    // Exits with the number of the first check that failed.
    auto check = [&]() -> int {
        // As root, permissions do not bind: the check then runs as an unprivileged user.
        if (::geteuid() == 0) {
            for (const fs::path& path : {base_, base_ / "storage", root_})
                if (::chown(path.c_str(), 65534, 65534) != 0) return 10;
            if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
                ::setresuid(65534, 65534, 65534) != 0)
                return 11;
        }
        write_file(root_ / "ro", "read me");
        fs::permissions(root_ / "ro", fs::perms::owner_read);
        uint64_t handle = 0;
        if (open(kFsOpen, "/ro", &handle) != gp::kSuccess) return 1;
        if (read(handle, 0, 16).second != "read me") return 2;
        if (write(handle, 0, "x") != gp::kErrorGeneric) return 3;
        return 0;
    };
    EXPECT_EXIT(_exit(check()), ::testing::ExitedWithCode(0), "");
}

TEST_F(AReeFs, CreateTruncatesAnExistingFile) {
    write_file(root_ / "0", "old contents");
    const uint64_t handle = create("/0");
    EXPECT_EQ(read(handle, 0, 64), std::make_pair(gp::kSuccess, std::string()));
    EXPECT_EQ(fs::file_size(root_ / "0"), 0u);
}

TEST_F(AReeFs, CreateMakesMissingParentDirectoriesPrivate) {
    const uint64_t handle = create("/8aaaf200245011e4abe20002a5d5c51b/sub/object");
    EXPECT_EQ(write(handle, 0, "x"), gp::kSuccess);
    const fs::path dir = root_ / "8aaaf200245011e4abe20002a5d5c51b";
    EXPECT_EQ(mode_of(dir), 0700u);
    EXPECT_EQ(mode_of(dir / "sub"), 0700u);
    EXPECT_EQ(read_file(dir / "sub" / "object"), "x");
}

TEST_F(AReeFs, ReadsAtAndPastTheEndOfAFile) {
    const uint64_t handle = create("/f");
    ASSERT_EQ(write(handle, 0, "0123456789"), gp::kSuccess);
    EXPECT_EQ(read(handle, 8, 16), std::make_pair(gp::kSuccess, std::string("89")));
    EXPECT_EQ(read(handle, 10, 16), std::make_pair(gp::kSuccess, std::string()));
    EXPECT_EQ(read(handle, 1000, 16), std::make_pair(gp::kSuccess, std::string()));
}

TEST_F(AReeFs, WritesPastTheEndLeavingAHole) {
    const uint64_t handle = create("/f");
    ASSERT_EQ(write(handle, 4, "x"), gp::kSuccess);
    EXPECT_EQ(read_file(root_ / "f"), std::string("\0\0\0\0x", 5));
}

TEST_F(AReeFs, TruncatesAndExtends) {
    const uint64_t handle = create("/f");
    ASSERT_EQ(write(handle, 0, "0123456789"), gp::kSuccess);
    EXPECT_EQ(serve_code(FsCall(kFsTruncate, handle, 4)), gp::kSuccess);
    EXPECT_EQ(read_file(root_ / "f"), "0123");
    EXPECT_EQ(serve_code(FsCall(kFsTruncate, handle, 6)), gp::kSuccess);
    EXPECT_EQ(read_file(root_ / "f"), std::string("0123\0\0", 6));
}

TEST_F(AReeFs, RemovesAFileAndTheDirectoriesItLeftEmptyButNeverTheRoot) {
    create("/ta/objects/1");
    create("/ta/other");
    create("/top");
    EXPECT_EQ(remove("/ta/objects/1"), gp::kSuccess);
    EXPECT_EQ(tree(root_), (std::vector<std::string>{"ta", "ta/other", "top"}));
    EXPECT_EQ(remove("/ta/other"), gp::kSuccess);
    EXPECT_EQ(remove("/top"), gp::kSuccess);
    EXPECT_TRUE(tree(root_).empty());
    EXPECT_TRUE(fs::is_directory(root_));
}

TEST_F(AReeFs, RemoveOfAMissingFileAnswersItemNotFound) {
    EXPECT_EQ(remove("/nothing"), gp::kErrorItemNotFound);
    EXPECT_EQ(remove("/no-dir/nothing"), gp::kErrorItemNotFound);
}

TEST_F(AReeFs, RenameWithoutOverwriteAnswersAccessConflictAndKeepsBoth) {
    write_file(root_ / "old", "new contents");
    write_file(root_ / "current", "current contents");
    EXPECT_EQ(rename("/old", "/current", /*overwrite=*/false), gp::kErrorAccessConflict);
    EXPECT_EQ(read_file(root_ / "old"), "new contents");
    EXPECT_EQ(read_file(root_ / "current"), "current contents");
    EXPECT_EQ(rename("/old", "/fresh", /*overwrite=*/false), gp::kSuccess);
    EXPECT_EQ(read_file(root_ / "fresh"), "new contents");
    EXPECT_FALSE(fs::exists(root_ / "old"));
}

TEST_F(AReeFs, RenameWithOverwriteReplacesTheTarget) {
    write_file(root_ / "dirf.db.tmp", "new");
    write_file(root_ / "dirf.db", "old");
    EXPECT_EQ(rename("/dirf.db.tmp", "/dirf.db", /*overwrite=*/true), gp::kSuccess);
    EXPECT_EQ(tree(root_), std::vector<std::string>{"dirf.db"});
    EXPECT_EQ(read_file(root_ / "dirf.db"), "new");
}

TEST_F(AReeFs, RenamesBetweenDirectoriesAndAnswersItemNotFoundForAMissingSource) {
    create("/ta/.1");
    fs::create_directory(root_ / "other");
    EXPECT_EQ(rename("/ta/.1", "/other/1", /*overwrite=*/false), gp::kSuccess);
    EXPECT_TRUE(fs::exists(root_ / "other" / "1"));
    EXPECT_EQ(rename("/ta/.1", "/ta/1", /*overwrite=*/false), gp::kErrorItemNotFound);
    EXPECT_EQ(rename("/other/1", "/no-dir/1", /*overwrite=*/false), gp::kErrorItemNotFound);
}

TEST_F(AReeFs, ListsADirectorySkippingDotNamesThenAnswersItemNotFound) {
    fs::create_directory(root_ / "ta");
    for (const char* name : {"1", "2", "30", ".hidden", ".nfs0001"})
        write_file(root_ / "ta" / name, "");
    uint64_t dir = 0;
    ASSERT_EQ(opendir("/ta", &dir), gp::kSuccess);
    EXPECT_EQ(fs_->open_dirs(), 1u);
    std::vector<std::string> names;
    for (Entry entry = readdir(dir); entry.code == gp::kSuccess; entry = readdir(dir)) {
        EXPECT_EQ(entry.size, entry.name.size() + 1);
        names.push_back(entry.name);
    }
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"1", "2", "30"}));
    EXPECT_EQ(readdir(dir).code, gp::kErrorItemNotFound);
    EXPECT_EQ(serve_code(FsCall(kFsClosedir, dir)), gp::kSuccess);
    EXPECT_EQ(fs_->open_dirs(), 0u);
}

TEST_F(AReeFs, OpendirOfAnEmptyOrMissingDirectoryAnswersItemNotFound) {
    fs::create_directory(root_ / "empty");
    write_file(root_ / "empty" / ".nfs0001", "");  // what NFS leaves of a removed open file
    EXPECT_EQ(opendir("/empty"), gp::kErrorItemNotFound);
    EXPECT_EQ(opendir("/missing"), gp::kErrorItemNotFound);
    EXPECT_EQ(fs_->open_dirs(), 0u);
}

TEST_F(AReeFs, ReaddirIntoAShortBufferAnswersTheSizeAndKeepsTheEntry) {
    fs::create_directory(root_ / "ta");
    const std::string name(40, 'a');
    write_file(root_ / "ta" / name, "");
    uint64_t dir = 0;
    ASSERT_EQ(opendir("/ta", &dir), gp::kSuccess);
    const Entry short_entry = readdir(dir, name.size());  // no room for the NUL
    EXPECT_EQ(short_entry.code, gp::kErrorShortBuffer);
    EXPECT_EQ(short_entry.size, name.size() + 1);
    EXPECT_EQ(readdir(dir, 8).code, gp::kErrorShortBuffer);
    const Entry entry = readdir(dir, name.size() + 1);
    EXPECT_EQ(entry.code, gp::kSuccess);
    EXPECT_EQ(entry.name, name);
    EXPECT_EQ(readdir(dir).code, gp::kErrorItemNotFound);
}

TEST_F(AReeFs, RefusesHandlesItDidNotGiveOutOrOfTheOtherKind) {
    write_file(root_ / "f", "data");
    fs::create_directory(root_ / "d");
    write_file(root_ / "d" / "1", "");
    uint64_t file = 0;
    uint64_t dir = 0;
    ASSERT_EQ(open(kFsOpen, "/f", &file), gp::kSuccess);
    ASSERT_EQ(opendir("/d", &dir), gp::kSuccess);
    for (uint64_t unknown : {uint64_t{0}, uint64_t{99}, (uint64_t{1} << 32) | file, ~uint64_t{0}}) {
        SCOPED_TRACE(unknown);
        EXPECT_EQ(read(unknown, 0, 4).first, gp::kErrorBadParameters);
        EXPECT_EQ(write(unknown, 0, "x"), gp::kErrorBadParameters);
        EXPECT_EQ(serve_code(FsCall(kFsTruncate, unknown, 0)), gp::kErrorBadParameters);
        EXPECT_EQ(close(unknown), gp::kErrorBadParameters);
        EXPECT_EQ(readdir(unknown).code, gp::kErrorBadParameters);
        EXPECT_EQ(serve_code(FsCall(kFsClosedir, unknown)), gp::kErrorBadParameters);
    }
    // A directory handle is no file, and the reverse.
    EXPECT_EQ(read(dir, 0, 4).first, gp::kErrorBadParameters);
    EXPECT_EQ(write(dir, 0, "x"), gp::kErrorBadParameters);
    EXPECT_EQ(close(dir), gp::kErrorBadParameters);
    EXPECT_EQ(readdir(file).code, gp::kErrorBadParameters);
    EXPECT_EQ(serve_code(FsCall(kFsClosedir, file)), gp::kErrorBadParameters);
    EXPECT_EQ(fs_->open_files(), 1u);
    EXPECT_EQ(fs_->open_dirs(), 1u);
    // A closed handle is unknown.
    EXPECT_EQ(close(file), gp::kSuccess);
    EXPECT_EQ(close(file), gp::kErrorBadParameters);
    EXPECT_EQ(read(file, 0, 4).first, gp::kErrorBadParameters);
    EXPECT_EQ(read_file(root_ / "f"), "data");
}

TEST_F(AReeFs, RefusesNamesLeavingTheRoot) {
    const auto before = tree(base_);
    for (const char* name : {"../x", "a/../../x", "/../outside/secret", "..", "/..", "a/..", "./x",
                             "a/./b", "a//b", "//x", "a/", "/", ""}) {
        SCOPED_TRACE(name);
        FsCall call(kFsCreate);
        call.name(name).value_out();
        const RpcOutcome outcome = serve(call);
        EXPECT_EQ(outcome.code, gp::kErrorBadParameters);
        EXPECT_EQ(outcome.level, LogLevel::Warning);
        EXPECT_NE(outcome.reason.find("create: "), std::string::npos) << outcome.reason;
        EXPECT_EQ(open(kFsOpen, name), gp::kErrorBadParameters);
        EXPECT_EQ(remove(name), gp::kErrorBadParameters);
        EXPECT_EQ(opendir(name), gp::kErrorBadParameters);
        EXPECT_EQ(rename(name, "/y", true), gp::kErrorBadParameters);
        EXPECT_EQ(rename("/y", name, true), gp::kErrorBadParameters);
    }
    EXPECT_EQ(tree(base_), before);
    EXPECT_EQ(read_file(outside_ / "secret"), "keep");
}

TEST_F(AReeFs, ReadsAbsoluteNamesFromItsRoot) {
    // OP-TEE's own names start with '/': they name the storage root, never the host's.
    EXPECT_EQ(open(kFsOpen, "/etc/passwd"), gp::kErrorItemNotFound);
    const std::string host_path = (outside_ / "secret").string();
    const uint64_t handle = create(host_path);
    EXPECT_EQ(write(handle, 0, "beneath"), gp::kSuccess);
    EXPECT_EQ(read_file(outside_ / "secret"), "keep");
    EXPECT_EQ(read_file(root_ / host_path.substr(1)), "beneath");
}

TEST_F(AReeFs, RefusesAFileLinkLeavingTheRoot) {
    fs::create_symlink(outside_ / "secret", root_ / "absolute");
    fs::create_symlink("../../outside/secret", root_ / "relative");
    for (const char* name : {"/absolute", "/relative"}) {
        SCOPED_TRACE(name);
        EXPECT_EQ(open(kFsOpen, name), gp::kErrorAccessDenied);
        EXPECT_EQ(open(kFsCreate, name), gp::kErrorAccessDenied);
    }
    EXPECT_EQ(read_file(outside_ / "secret"), "keep");
    EXPECT_EQ(fs_->open_files(), 0u);
}

TEST_F(AReeFs, RefusesADirectoryLinkLeavingTheRoot) {
    fs::create_directory_symlink(outside_, root_ / "escape");
    fs::create_directory_symlink("../../outside", root_ / "up");
    const auto before = tree(outside_);
    for (std::string dir : {"/escape", "/up"}) {
        SCOPED_TRACE(dir);
        EXPECT_EQ(open(kFsOpen, dir + "/secret"), gp::kErrorAccessDenied);
        EXPECT_EQ(open(kFsCreate, dir + "/secret"), gp::kErrorAccessDenied);
        EXPECT_EQ(open(kFsCreate, dir + "/new/file"), gp::kErrorAccessDenied);
        EXPECT_EQ(remove(dir + "/secret"), gp::kErrorAccessDenied);
        EXPECT_EQ(rename(dir + "/secret", "/stolen", true), gp::kErrorAccessDenied);
        EXPECT_EQ(rename("/stolen", dir + "/planted", true), gp::kErrorAccessDenied);
        EXPECT_EQ(opendir(dir), gp::kErrorAccessDenied);
    }
    EXPECT_EQ(tree(outside_), before);
    EXPECT_EQ(read_file(outside_ / "secret"), "keep");
}

TEST_F(AReeFs, FollowsALinkThatStaysBeneathTheRoot) {
    fs::create_directory(root_ / "real");
    write_file(root_ / "real" / "1", "linked");
    fs::create_directory_symlink("real", root_ / "alias");
    uint64_t handle = 0;
    ASSERT_EQ(open(kFsOpen, "/alias/1", &handle), gp::kSuccess);
    EXPECT_EQ(read(handle, 0, 16).second, "linked");
}

TEST_F(AReeFs, RefusesNamesLongerThanTheSystemTakes) {
    const std::string longest_component(NAME_MAX, 'c');
    EXPECT_EQ(open(kFsCreate, "/" + longest_component), gp::kSuccess);
    EXPECT_EQ(open(kFsCreate, "/" + longest_component + "c"), gp::kErrorBadParameters);
    std::string long_path;
    while (long_path.size() < PATH_MAX) long_path += "/d";
    EXPECT_EQ(open(kFsCreate, long_path), gp::kErrorBadParameters);
    EXPECT_EQ(tree(root_), std::vector<std::string>{longest_component});
}

TEST_F(AReeFs, RefusesANameWithoutItsNulAndIgnoresWhatFollowsIt) {
    FsCall unterminated(kFsCreate);
    unterminated.bytes(kMemrefIn, "/dirf.db").value_out();
    EXPECT_EQ(serve(unterminated).code, gp::kErrorBadParameters);
    // OP-TEE sends its name in a larger buffer: the bytes after the NUL are not part of it.
    FsCall terminated(kFsCreate);
    terminated.bytes(kMemrefIn, std::string("/x\0/../../outside/secret", 25)).value_out();
    EXPECT_EQ(serve(terminated).code, gp::kSuccess);
    EXPECT_EQ(tree(root_), std::vector<std::string>{"x"});
}

TEST_F(AReeFs, RefusesANameWithoutABuffer) {
    FsCall open_call(kFsOpen);
    open_call.no_buffer(kMemrefIn).value_out();
    EXPECT_EQ(serve(open_call).code, gp::kErrorBadParameters);
    FsCall rename_call(kFsRename);
    rename_call.name("/a").no_buffer(kMemrefIn);
    EXPECT_EQ(serve(rename_call).code, gp::kErrorBadParameters);
    const uint64_t handle = create("/f");
    FsCall read_call(kFsRead, handle);
    read_call.no_buffer(kMemrefOut);
    EXPECT_EQ(serve(read_call).code, gp::kErrorBadParameters);
    FsCall write_call(kFsWrite, handle);
    write_call.no_buffer(kMemrefIn);
    EXPECT_EQ(serve(write_call).code, gp::kErrorBadParameters);
}

TEST_F(AReeFs, RefusesRequestsWhoseParamsDoNotMatchTheirOpcode) {
    const uint64_t file = create("/f");
    std::deque<FsCall> calls;                                   // stays in place as it grows
    calls.emplace_back(kFsOpen).name("/f");                     // no output
    calls.emplace_back(kFsOpen).name("/f").value(kValueInout);  // output as inout
    calls.emplace_back(kFsCreate).name("/f", kMemrefInout).value_out();  // name as inout
    calls.emplace_back(kFsCreate).value_out().name("/f");                // out of order
    calls.emplace_back(kFsClose, file).value_out();                      // one too many
    calls.emplace_back(kFsRead, file).bytes(kMemrefIn, "xxxx");          // input buffer
    calls.emplace_back(kFsWrite, file).out(4);                           // output buffer
    calls.emplace_back(kFsWrite, file);                                  // no data
    calls.emplace_back(kFsTruncate, file).value_out();
    calls.emplace_back(kFsRemove).name("/f").value_out();
    calls.emplace_back(kFsRename).name("/f");                          // no new name
    calls.emplace_back(kFsOpendir).name("/");                          // no output
    calls.emplace_back(kFsReaddir, 1).name("/x");                      // input buffer
    calls.emplace_back(kFsClosedir);                                   // fine: 1 param
    calls.back().value_out();                                          // now one too many
    calls.emplace_back(kFsReaddir + 1).name("/f").value_out();         // unknown opcode
    calls.emplace_back(kFsOpen).request.params[0].type = kValueInout;  // opcode not input
    calls.back().name("/f").value_out();
    for (size_t i = 0; i < calls.size(); ++i) {
        SCOPED_TRACE(i);
        const RpcOutcome outcome = serve(calls[i]);
        EXPECT_EQ(outcome.code, gp::kErrorBadParameters);
        EXPECT_EQ(outcome.level, LogLevel::Warning);
        EXPECT_FALSE(outcome.reason.empty());
    }
    RpcRequest empty;
    empty.command = kCmdFs;
    EXPECT_EQ(fs_->serve(empty).code, gp::kErrorBadParameters);
    FsCall other_command(kFsOpen);
    other_command.name("/f").value_out();
    other_command.request.command = kCmdRpmb;
    EXPECT_EQ(serve(other_command).code, gp::kErrorBadParameters);
    EXPECT_EQ(read_file(root_ / "f"), "");
    EXPECT_EQ(fs_->open_files(), 1u);
}

TEST_F(AReeFs, RefusesOffsetsNoFileCanHave) {
    const uint64_t handle = create("/f");
    EXPECT_EQ(read(handle, uint64_t{1} << 63, 4).first, gp::kErrorBadParameters);
    EXPECT_EQ(write(handle, ~uint64_t{0} - 1, "xxxx"), gp::kErrorBadParameters);
    EXPECT_EQ(serve_code(FsCall(kFsTruncate, handle, uint64_t{1} << 63)), gp::kErrorBadParameters);
}

TEST_F(AReeFs, AnswersOutOfMemoryPastItsHandleLimitsAndTouchesNothing) {
    reopen({.root = "", .max_open_files = 2, .max_open_dirs = 1});
    const uint64_t first = create("/1");
    create("/2");
    write_file(root_ / "3", "kept");
    FsCall third(kFsCreate);
    third.name("/3").value_out();
    const RpcOutcome outcome = serve(third);
    EXPECT_EQ(outcome.code, gp::kErrorOutOfMemory);
    EXPECT_NE(outcome.reason.find("max_open_files=2"), std::string::npos) << outcome.reason;
    EXPECT_EQ(open(kFsOpen, "/3"), gp::kErrorOutOfMemory);
    EXPECT_EQ(read_file(root_ / "3"), "kept");
    EXPECT_EQ(fs_->open_files(), 2u);
    EXPECT_EQ(close(first), gp::kSuccess);
    EXPECT_EQ(open(kFsOpen, "/3"), gp::kSuccess);

    fs::create_directory(root_ / "d");
    write_file(root_ / "d" / "1", "");
    EXPECT_EQ(opendir("/d"), gp::kSuccess);
    EXPECT_EQ(opendir("/d"), gp::kErrorOutOfMemory);
    EXPECT_EQ(fs_->open_dirs(), 1u);
}

TEST_F(AReeFs, FailedOpensGiveTheirSlotBack) {
    reopen({.root = "", .max_open_files = 1, .max_open_dirs = 1});
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(open(kFsOpen, "/missing"), gp::kErrorItemNotFound);
        EXPECT_EQ(opendir("/missing"), gp::kErrorItemNotFound);
    }
    EXPECT_EQ(fs_->open_files(), 0u);
    EXPECT_EQ(fs_->open_dirs(), 0u);
    create("/f");
}

TEST_F(AReeFs, AnswersStorageNoSpaceWhenTheFileSizeLimitIsReached) {
    const uint64_t handle = create("/f");
    // In a child, whose file size limit ends with it; exits with the first check that failed.
    auto check = [&]() -> int {
        ::signal(SIGXFSZ, SIG_IGN);  // as teed runs: EFBIG instead of the signal
        const rlimit limit{.rlim_cur = 4096, .rlim_max = 4096};
        if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return 10;
        // A write crossing the limit stores a part, then fails.
        if (write(handle, 0, std::string(8192, 'x')) != gp::kErrorStorageNoSpace) return 1;
        if (write(handle, 4096, "x") != gp::kErrorStorageNoSpace) return 2;
        if (serve_code(FsCall(kFsTruncate, handle, 8192)) != gp::kErrorStorageNoSpace) return 3;
        if (write(handle, 0, "fits") != gp::kSuccess) return 4;
        return 0;
    };
    EXPECT_EXIT(_exit(check()), ::testing::ExitedWithCode(0), "");
}

TEST_F(AReeFs, AnswersStorageNotAvailableWhileItsRootIsRemoved) {
    const uint64_t handle = create("/f");
    fs::remove_all(root_);
    EXPECT_EQ(open(kFsCreate, "/g"), gp::kErrorStorageNotAvailable);
    EXPECT_EQ(write(handle, 0, "x"), gp::kErrorStorageNotAvailable);
    EXPECT_EQ(opendir("/d"), gp::kErrorStorageNotAvailable);
    EXPECT_EQ(close(handle), gp::kSuccess);  // releasing needs no storage
    EXPECT_FALSE(fs::exists(root_));
    // Put back, it serves again.
    fs::create_directory(root_);
    EXPECT_EQ(open(kFsCreate, "/g"), gp::kSuccess);
    EXPECT_TRUE(fs::exists(root_ / "g"));
}

TEST_F(AReeFs, RefusesAnEntryThatIsNoRegularFile) {
    ASSERT_EQ(::mkfifo((root_ / "fifo").c_str(), 0600), 0);
    fs::create_directory(root_ / "dir");
    EXPECT_EQ(open(kFsOpen, "/fifo"), gp::kErrorGeneric);  // without waiting for a writer
    EXPECT_EQ(open(kFsOpen, "/dir"), gp::kErrorGeneric);
    EXPECT_EQ(open(kFsCreate, "/dir"), gp::kErrorGeneric);
    EXPECT_EQ(fs_->open_files(), 0u);
}

TEST_F(AReeFs, ServesConcurrentCreatesAndRemovesInOneDirectory) {
    // Each REMOVE prunes the directory it empties while other threads CREATE into it.
    constexpr int kThreads = 4;
    constexpr int kRounds = 10;
    std::vector<std::thread> threads;
    std::vector<int> failures(kThreads, 0);
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            const std::string name = "/shared/" + std::to_string(t);
            for (int round = 0; round < kRounds; ++round) {
                uint64_t handle = 0;
                if (open(kFsCreate, name, &handle) != gp::kSuccess ||
                    write(handle, 0, name) != gp::kSuccess || close(handle) != gp::kSuccess ||
                    remove(name) != gp::kSuccess)
                    ++failures[t];
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(failures, std::vector<int>(kThreads, 0));
    EXPECT_TRUE(tree(root_).empty());
    EXPECT_EQ(fs_->open_files(), 0u);
}

}  // namespace
}  // namespace teed::supplicant
