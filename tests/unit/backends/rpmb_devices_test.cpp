// RPMB devices: the emulation's file (persistence, crash safety, damage and misuse) and what can
// be checked of the real-device path without a card (sysfs parsing, errors naming paths).

#include <sys/stat.h>

#include "tests/unit/backends/rpmb_test_support.h"

namespace teed::supplicant::rpmbtest {
namespace {

// ---------------------------------------------------------------------------------------------
// Persistence of the emulation

class AnEmulatedRpmbFile : public RpmbServiceTest {};

TEST_F(AnEmulatedRpmbFile, KeepsKeyCounterAndDataAcrossReopening) {
    program();
    ASSERT_EQ(client_->write(100, {block_of(4)}).frame().op_result(), kRpmbResultOk);
    ASSERT_EQ(client_->write(101, {block_of(5)}).frame().op_result(), kRpmbResultOk);
    open();
    Answer counter = client_->read_counter();
    EXPECT_EQ(counter.frame().op_result(), kRpmbResultOk);
    EXPECT_EQ(counter.frame().write_counter(), 2u);
    EXPECT_TRUE(rpmb_mac_matches(client_->key(), counter.frames()));
    auto frames = client_->read(100, 2).frames();
    EXPECT_TRUE(std::ranges::equal(frames[0].data(), block_of(4)));
    EXPECT_TRUE(std::ranges::equal(frames[1].data(), block_of(5)));
    EXPECT_EQ(client_->program_key().frame().op_result(), kRpmbResultGeneralFailure);
}

TEST_F(AnEmulatedRpmbFile, IsCreatedPrivateWithNothingProgrammed) {
    struct stat st {};
    ASSERT_EQ(::stat(file_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(static_cast<size_t>(st.st_size), 128 + 128 * 1024 + 32u);
    EXPECT_FALSE(std::filesystem::exists(file_ + ".tmp"));
}

TEST_F(AnEmulatedRpmbFile, IsUsedByOneEmulationAtATime) {
    auto second = open_emulated_rpmb(file_, {});
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().kind(), ErrorKind::Busy);
    EXPECT_THAT(second.error().message(), HasSubstr(file_));
    service_.reset();
    EXPECT_TRUE(open_emulated_rpmb(file_, {}).ok());
}

// A crash before the rename leaves the new state in the temporary file only: the old state is
// what the device had answered last, and is what reopening finds.
TEST_F(AnEmulatedRpmbFile, KeepsTheOldStateWhenACrashLeftTheTemporaryFile) {
    program();
    ASSERT_EQ(client_->write(1, {block_of(1)}).frame().op_result(), kRpmbResultOk);
    const std::vector<uint8_t> committed = read_bytes(file_);
    ASSERT_EQ(client_->write(1, {block_of(2)}).frame().op_result(), kRpmbResultOk);
    service_.reset();
    // The crash: the second write's file went no further than the temporary file.
    const std::vector<uint8_t> uncommitted = read_bytes(file_);
    write_bytes(file_ + ".tmp", uncommitted);
    write_bytes(file_, committed);

    open();
    EXPECT_FALSE(std::filesystem::exists(file_ + ".tmp"));
    EXPECT_EQ(client_->counter(), 1u);
    EXPECT_TRUE(std::ranges::equal(client_->read(1, 1).frame().data(), block_of(1)));

    // A torn temporary file (a crash mid-write) is as harmless.
    service_.reset();
    write_bytes(file_ + ".tmp",
                std::vector<uint8_t>(uncommitted.begin(), uncommitted.begin() + 1000));
    open();
    EXPECT_EQ(client_->counter(), 1u);
}

TEST_F(AnEmulatedRpmbFile, AnswersWriteFailureWhenTheStateCannotBeStored) {
    program();
    ASSERT_EQ(client_->write(1, {block_of(1)}).frame().op_result(), kRpmbResultOk);
    // A directory where the temporary file must go: creating it fails, even for root.
    ASSERT_TRUE(std::filesystem::create_directory(file_ + ".tmp"));
    Answer answer = client_->write(1, {block_of(2)});
    EXPECT_EQ(answer.outcome.code, gp::kSuccess);
    EXPECT_EQ(answer.frame().op_result(), kRpmbResultWriteFailure);
    EXPECT_EQ(answer.frame().write_counter(), 1u);
    EXPECT_THAT(answer.outcome.reason, HasSubstr("WRITE_FAILURE"));
    EXPECT_THAT(answer.outcome.reason, HasSubstr(file_ + ".tmp"));
    EXPECT_EQ(answer.outcome.level, LogLevel::Warning);
    EXPECT_EQ(client_->counter(), 1u);
    EXPECT_TRUE(std::ranges::equal(client_->read(1, 1).frame().data(), block_of(1)));

    std::filesystem::remove(file_ + ".tmp");
    EXPECT_EQ(client_->write(1, {block_of(2)}).frame().op_result(), kRpmbResultOk);
    EXPECT_EQ(client_->counter(), 2u);
}

TEST_F(AnEmulatedRpmbFile, IsRefusedWhenDamaged) {
    program();
    service_.reset();
    std::vector<uint8_t> bytes = read_bytes(file_);
    bytes[128 + 5 * 256] ^= 0x01;  // one bit of block 5
    write_bytes(file_, bytes);
    auto device = open_emulated_rpmb(file_, {});
    ASSERT_FALSE(device.ok());
    EXPECT_EQ(device.error().kind(), ErrorKind::InvalidArgument);
    EXPECT_THAT(device.error().message(), HasSubstr("'" + file_ + "' is damaged"));
    EXPECT_THAT(device.error().message(), HasSubstr("checksum"));

    bytes.resize(bytes.size() - 100);
    write_bytes(file_, bytes);
    device = open_emulated_rpmb(file_, {});
    ASSERT_FALSE(device.ok());
    EXPECT_THAT(device.error().message(), HasSubstr("'" + file_ + "' is damaged"));
}

TEST_F(AnEmulatedRpmbFile, IsRefusedWhenItIsSomethingElse) {
    service_.reset();
    write_bytes(file_, std::vector<uint8_t>(4096, 'x'));
    auto device = open_emulated_rpmb(file_, {});
    ASSERT_FALSE(device.ok());
    EXPECT_THAT(device.error().message(),
                HasSubstr("'" + file_ + "' is not an RPMB emulation file"));
    write_bytes(file_, {});
    EXPECT_FALSE(open_emulated_rpmb(file_, {}).ok());
}

TEST_F(AnEmulatedRpmbFile, IsRefusedForAnotherGeometryOrCid) {
    service_.reset();
    auto bigger = open_emulated_rpmb(file_, {.size_mult = 2});
    ASSERT_FALSE(bigger.ok());
    EXPECT_THAT(bigger.error().message(),
                HasSubstr("emulates a 128 KiB RPMB partition, the configuration asks for 256 KiB"));
    auto faster = open_emulated_rpmb(file_, {.rel_wr_sec_c = 4});
    ASSERT_FALSE(faster.ok());
    EXPECT_THAT(faster.error().message(), HasSubstr("reliable write sector count of 1"));
    RpmbCid cid = kDefaultEmulatedCid;
    cid[12] ^= 1;
    auto other = open_emulated_rpmb(file_, {.cid = cid});
    ASSERT_FALSE(other.ok());
    EXPECT_THAT(other.error().message(), HasSubstr("another CID"));
}

TEST(AnEmulatedRpmb, RefusesAZeroSizeAndAMissingDirectory) {
    TempDir dir;
    auto empty = open_emulated_rpmb(dir.path() + "/a.img", {.size_mult = 0});
    ASSERT_FALSE(empty.ok());
    EXPECT_EQ(empty.error().kind(), ErrorKind::InvalidArgument);
    const std::string missing = dir.path() + "/no/such/dir/rpmb.img";
    auto nowhere = open_emulated_rpmb(missing, {});
    ASSERT_FALSE(nowhere.ok());
    EXPECT_THAT(nowhere.error().message(), HasSubstr(missing));
}

TEST(AnEmulatedRpmb, RefusesTransfersWithCountsTheProtocolDoesNotHave) {
    TempDir dir;
    auto device = open_emulated_rpmb(dir.path() + "/rpmb.img", {});
    ASSERT_TRUE(device.ok());
    RpmbFrame counter;
    counter.set_msg_type(kRpmbReqWriteCounterRead);
    std::vector<RpmbFrame> two(2);
    EXPECT_FALSE((*device)->transfer(std::span(&counter, 1), two).ok());
    EXPECT_FALSE((*device)->transfer({}, two).ok());
    RpmbFrame unknown;
    unknown.set_msg_type(0x0042);
    auto result = (*device)->transfer(std::span(&unknown, 1), std::span(two).first(1));
    ASSERT_FALSE(result.ok());
    EXPECT_THAT(result.error().message(), HasSubstr("0x0042"));
}

// ---------------------------------------------------------------------------------------------
// The real-device path, as far as it goes without a card

class AnMmcRpmb : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(dir_.path().empty());
        card_ = dir_.path() + "/sys/class/block/mmcblk1/device/";
        std::filesystem::create_directories(card_);
        attribute("cid", "150100514536344d42038a1f94c1aa00\n");
        attribute("raw_rpmb_size_mult", "0x20\n");
        attribute("rel_sectors", "0x1\n");
    }

    void attribute(const std::string& name, const std::string& text) {
        std::ofstream(card_ + name) << text;
    }

    Result<RpmbDevInfo> info(const std::string& device = "/dev/mmcblk1rpmb") {
        return read_mmc_rpmb_info(device, dir_.path() + "/sys");
    }

    TempDir dir_;
    std::string card_;
};

TEST_F(AnMmcRpmb, ReadsCidAndSizesFromTheCardsSysfsAttributes) {
    auto read = info();
    ASSERT_TRUE(read.ok()) << read.error().message();
    const RpmbCid cid{0x15, 0x01, 0x00, 0x51, 0x45, 0x36, 0x34, 0x4d,
                      0x42, 0x03, 0x8a, 0x1f, 0x94, 0xc1, 0xaa, 0x00};
    EXPECT_EQ(read->cid, cid);
    EXPECT_EQ(read->rpmb_size_mult, 0x20);
    EXPECT_EQ(read->rel_wr_sec_c, 1);

    attribute("raw_rpmb_size_mult", "0xff\n");
    attribute("rel_sectors", "8\n");
    attribute("cid", "150100514536344D42038A1F94C1AA00\n");
    read = info();
    ASSERT_TRUE(read.ok()) << read.error().message();
    EXPECT_EQ(read->rpmb_size_mult, 0xFF);
    EXPECT_EQ(read->rel_wr_sec_c, 8);
    EXPECT_EQ(read->cid, cid);
}

TEST_F(AnMmcRpmb, RefusesMalformedAttributesNamingThem) {
    for (const char* bad : {"15010051", "150100514536344d42038a1f94c1aa0g", ""}) {
        attribute("cid", bad);
        auto read = info();
        ASSERT_FALSE(read.ok()) << bad;
        EXPECT_THAT(read.error().message(), HasSubstr(card_ + "cid"));
    }
    attribute("cid", "150100514536344d42038a1f94c1aa00");
    for (const char* bad : {"0x100", "0x", "twelve", "256", "-1"}) {
        attribute("rel_sectors", bad);
        auto read = info();
        ASSERT_FALSE(read.ok()) << bad;
        EXPECT_THAT(read.error().message(), HasSubstr(card_ + "rel_sectors"));
    }
}

TEST_F(AnMmcRpmb, RefusesACardWithoutRpmb) {
    attribute("raw_rpmb_size_mult", "0\n");
    auto read = info();
    ASSERT_FALSE(read.ok());
    EXPECT_EQ(read.error().kind(), ErrorKind::NotSupported);
    EXPECT_THAT(read.error().message(), HasSubstr("has no RPMB partition"));
}

TEST_F(AnMmcRpmb, NamesTheMissingAttribute) {
    std::filesystem::remove(card_ + "rel_sectors");
    auto read = info();
    ASSERT_FALSE(read.ok());
    EXPECT_THAT(read.error().message(), HasSubstr(card_ + "rel_sectors"));
    auto other = info("/dev/mmcblk7rpmb");
    ASSERT_FALSE(other.ok());
    EXPECT_THAT(other.error().message(), HasSubstr("/class/block/mmcblk7/device/cid"));
}

TEST_F(AnMmcRpmb, RefusesPathsThatAreNoRpmbPartition) {
    for (const char* path : {"/dev/mmcblk1", "/dev/sda", "/dev/mmcblkrpmb", "/dev/mmcblk1p2rpmb"}) {
        auto read = info(path);
        ASSERT_FALSE(read.ok()) << path;
        EXPECT_THAT(read.error().message(), HasSubstr(std::string("'") + path + "' is not"));
    }
}

TEST_F(AnMmcRpmb, NamesTheDeviceItCannotOpen) {
    const std::string missing = dir_.path() + "/mmcblk1rpmb";
    auto device = open_mmc_rpmb(missing, dir_.path() + "/sys");
    ASSERT_FALSE(device.ok());
    EXPECT_EQ(device.error().kind(), ErrorKind::NotFound);
    EXPECT_THAT(device.error().message(), HasSubstr("open '" + missing + "'"));
}

// A file where the partition should be: it opens, but the MMC ioctl fails, and the service
// reports that as a failure naming the device, not as an answer of the card.
TEST_F(AnMmcRpmb, ReportsAFailedIoctlNamingTheDevice) {
    const std::string fake = dir_.path() + "/mmcblk1rpmb";
    std::ofstream(fake) << "not a card";
    auto device = open_mmc_rpmb(fake, dir_.path() + "/sys");
    ASSERT_TRUE(device.ok()) << device.error().message();
    RpmbService service(std::move(device).value());
    RpmbClient client(service, test_key());

    auto reply = decode_rpmb_dev_info(client.dev_info().response);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->ret_code, kRpmbDevInfoOk);
    EXPECT_EQ(reply->info.rpmb_size_mult, 0x20);

    Answer answer = client.read_counter();
    EXPECT_EQ(answer.outcome.code, gp::kErrorGeneric);
    EXPECT_THAT(answer.outcome.reason, HasSubstr("MMC_IOC_MULTI_CMD on '" + fake + "'"));
    EXPECT_EQ(answer.outcome.level, LogLevel::Warning);
}

}  // namespace
}  // namespace teed::supplicant::rpmbtest
