// What teed reads about a bus client from /proc: a fake /proc/PID for each field and each way of
// failing, then the real /proc for teed's own process.
#include "daemon/peer_process.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <systemd/sd-login.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/unique_fd.h"

namespace teed {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr pid_t kPid = 4242;
constexpr uid_t kUid = 1000;

// What the fake /proc/PID says: stat, status, cgroup and the exe link.
struct FakeProcess {
    std::string comm = "client";
    uint64_t start_time = 123456;
    std::string uid_line = "1000\t1000\t1000\t1000";
    std::string gid_line = "1000\t2000\t1000\t2000";
    std::string cgroup = "0::/system.slice/client.service\n";
    std::string exe = "/usr/bin/client";
};

// A stat line as the kernel writes it: fields 3 to 21, then the start time (field 22), then more.
std::string stat_line(const std::string& comm, uint64_t start_time) {
    return std::to_string(kPid) + " (" + comm + ") S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 " +
           "20 0 1 0 " + std::to_string(start_time) + " 12288000 300 18446744073709551615 1 1 0\n";
}

class APeerProcess : public testing::Test {
protected:
    void SetUp() override {
        root_ = fs::path(testing::TempDir()) /
                ("teed-peer-" + std::to_string(::getpid()) + "-" +
                 testing::UnitTest::GetInstance()->current_test_info()->name());
        dir_ = root_ / std::to_string(kPid);
        fs::remove_all(root_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(root_); }

    static void write_file(const fs::path& path, const std::string& text) {
        std::ofstream(path) << text;
    }
    void lay_out(const FakeProcess& process) {
        write_file(dir_ / "stat", stat_line(process.comm, process.start_time));
        write_file(dir_ / "status",
                   "Name:\t" + process.comm + "\nUmask:\t0022\nState:\tS (sleeping)\n" + "Uid:\t" +
                       process.uid_line + "\nGid:\t" + process.gid_line + "\nGroups:\t1000 27\n");
        write_file(dir_ / "cgroup", process.cgroup);
        if (!process.exe.empty()) fs::create_symlink(process.exe, dir_ / "exe");
    }
    Result<PeerProcess> read(uid_t expected_uid = kUid) {
        return read_peer_process(kPid, expected_uid, root_);
    }

    fs::path root_;
    fs::path dir_;
};

TEST_F(APeerProcess, HasTheEffectiveGidUnitExecutableAndStartTimeOfItsProcFiles) {
    lay_out({});
    Result<PeerProcess> peer = read();
    ASSERT_TRUE(peer.ok()) << peer.error().message();
    EXPECT_EQ(peer->gid, 2000u);
    EXPECT_EQ(peer->unit, "client.service");
    EXPECT_EQ(peer->executable, "/usr/bin/client");
    EXPECT_EQ(peer->start_time, 123456u);
}

TEST_F(APeerProcess, IsRefusedWhenItsEffectiveUidIsNotTheExpectedOne) {
    lay_out({.uid_line = "1000\t0\t1000\t0"});  // real uid 1000, effective 0
    Result<PeerProcess> peer = read();
    ASSERT_FALSE(peer.ok());
    EXPECT_EQ(peer.error().kind(), ErrorKind::AccessDenied);
    EXPECT_THAT(peer.error().message(), HasSubstr("process 4242 runs as uid 0, not as uid 1000"));
}

TEST_F(APeerProcess, IsAcceptedByItsEffectiveUidWhateverItsRealUid) {
    lay_out({.uid_line = "0\t1000\t0\t1000"});
    EXPECT_TRUE(read().ok());
}

TEST_F(APeerProcess, IsNotFoundOnceItHasExited) {
    fs::remove_all(dir_);
    Result<PeerProcess> peer = read();
    ASSERT_FALSE(peer.ok());
    EXPECT_EQ(peer.error().kind(), ErrorKind::NotFound);
    EXPECT_EQ(peer.error().message(), "process 4242 has exited");
}

TEST_F(APeerProcess, IsAnInvalidArgumentForPidZero) {
    Result<PeerProcess> peer = read_peer_process(0, kUid, root_);
    ASSERT_FALSE(peer.ok());
    EXPECT_EQ(peer.error().kind(), ErrorKind::InvalidArgument);
}

TEST_F(APeerProcess, HasItsStartTimeReadPastACommWithSpacesAndParentheses) {
    lay_out({.comm = "a) b (c) 1 2 3", .start_time = 987654321});
    Result<PeerProcess> peer = read();
    ASSERT_TRUE(peer.ok()) << peer.error().message();
    EXPECT_EQ(peer->start_time, 987654321u);
}

TEST_F(APeerProcess, HasItsExecutableWithoutTheDeletedSuffix) {
    lay_out({.exe = "/usr/bin/old client (deleted)"});
    Result<PeerProcess> peer = read();
    ASSERT_TRUE(peer.ok()) << peer.error().message();
    EXPECT_EQ(peer->executable, "/usr/bin/old client");
}

TEST_F(APeerProcess, HasNoExecutableWhenItsExeLinkCannotBeRead) {
    lay_out({.exe = ""});
    Result<PeerProcess> peer = read();
    ASSERT_TRUE(peer.ok()) << peer.error().message();
    EXPECT_EQ(peer->executable, "");
}

TEST_F(APeerProcess, HasTheUnitSdPidGetUnitWouldNameForItsCgroup) {
    struct Case {
        const char* cgroup;
        const char* unit;
    };
    const Case cases[] = {
        {"0::/system.slice/foo.service\n", "foo.service"},
        {"0::/system.slice/foo.service/sub\n", "foo.service"},
        {"0::/user.slice/user-1000.slice/session-3.scope\n", "session-3.scope"},
        {"0::/user.slice/user-1000.slice/user@1000.service/app.slice/a.service\n",
         "user@1000.service"},
        {"0::/init.scope\n", "init.scope"},
        {"0::/\n", ""},
        {"0::/system.slice\n", ""},
        {"0::/docker/0123abcd\n", ""},
        // A legacy hierarchy has no "0::" line; systemd's named hierarchy stands in for it.
        {"2:cpu:/\n1:name=systemd:/system.slice/bar.service\n", "bar.service"},
        {"1:name=systemd:/system.slice/bar.service\n0::/system.slice/foo.service\n", "foo.service"},
        {"", ""},
    };
    for (const Case& c : cases) {
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        lay_out({.cgroup = c.cgroup});
        Result<PeerProcess> peer = read();
        ASSERT_TRUE(peer.ok()) << peer.error().message();
        EXPECT_EQ(peer->unit, c.unit) << "cgroup file: " << c.cgroup;
    }
}

TEST_F(APeerProcess, IsRefusedWhenItsStartTimeChangesWhileBeingRead) {
    lay_out({});
    // The cgroup file is read between the two reads of stat. As a FIFO, its writer runs once the
    // reader has opened it, and stands in for a pid reused at that moment.
    fs::path cgroup = dir_ / "cgroup";
    fs::remove(cgroup);
    ASSERT_EQ(::mkfifo(cgroup.c_str(), 0600), 0);
    std::thread reuse([&] {
        UniqueFd fifo(::open(cgroup.c_str(), O_WRONLY | O_CLOEXEC));
        write_file(dir_ / "stat", stat_line("newcomer", 999999));
        EXPECT_EQ(::write(fifo.get(), "0::/\n", 5), 5);
    });
    Result<PeerProcess> peer = read();
    // Lets the writer finish should the reader have failed before opening the FIFO.
    UniqueFd release(::open(cgroup.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    reuse.join();

    ASSERT_FALSE(peer.ok());
    EXPECT_EQ(peer.error().kind(), ErrorKind::AccessDenied);
    EXPECT_EQ(peer.error().message(), "process 4242 changed while being read (its pid was reused)");
}

TEST(APeerProcessInTheRealProc, IsTheCallersOwnForItsOwnPid) {
    Result<PeerProcess> peer = read_peer_process(::getpid(), ::geteuid());
    ASSERT_TRUE(peer.ok()) << peer.error().message();
    EXPECT_EQ(peer->gid, ::getegid());
    EXPECT_EQ(peer->executable, fs::read_symlink("/proc/self/exe").string());
    EXPECT_GT(peer->start_time, 0u);
}

TEST(APeerProcessInTheRealProc, IsRefusedForAnotherUid) {
    Result<PeerProcess> peer = read_peer_process(::getpid(), ::geteuid() + 1);
    ASSERT_FALSE(peer.ok());
    EXPECT_EQ(peer.error().kind(), ErrorKind::AccessDenied);
}

TEST(APeerProcessInTheRealProc, HasTheUnitSdPidGetUnitNames) {
    char* raw = nullptr;
    int r = sd_pid_get_unit(::getpid(), &raw);
    std::unique_ptr<char, decltype(&std::free)> unit(raw, &std::free);
    Result<PeerProcess> peer = read_peer_process(::getpid(), ::geteuid());
    ASSERT_TRUE(peer.ok()) << peer.error().message();
    if (r == -ENODATA || r == -ENXIO) {  // not in a service or scope
        EXPECT_EQ(peer->unit, "");
        return;
    }
    if (r < 0) GTEST_SKIP() << "sd_pid_get_unit() failed: " << std::strerror(-r);
    EXPECT_EQ(peer->unit, unit.get());
}

TEST(AnApplicationIdentity, IsNilForAnUnknownExecutable) {
    EXPECT_TRUE(application_identity("").is_nil());
}

TEST(AnApplicationIdentity, IsTheUuidV5OfItsPathInTheClientIdentityNamespace) {
    // python3: uuid.uuid5(uuid.UUID('58ac9ca0-2086-4683-a1b8-ec4bc08e01b6'), 'path=/usr/bin/true')
    EXPECT_EQ(application_identity("/usr/bin/true").to_string(),
              "cf361b2e-d1f4-5fd0-b8ab-7fed7bb69d71");
    EXPECT_NE(application_identity("/usr/bin/true"), application_identity("/usr/bin/false"));
}

}  // namespace
}  // namespace teed
