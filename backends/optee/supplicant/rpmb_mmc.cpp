// A real eMMC RPMB partition through the kernel's MMC block ioctls, with the command sequences
// tee-supplicant's rpmb.c sends (JESD84-B51 6.6.22.4): a reliable write of the request frames,
// a RESULT_READ request and a read of the result for writes; a write of the request frame and a
// read of the answer for reads. The kernel issues CMD23 (block count, reliable write bit) before
// each command on an RPMB partition and switches to the partition itself.

#include <fcntl.h>
#include <linux/mmc/ioctl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "backends/optee/supplicant/rpmb.h"
#include "common/unique_fd.h"

namespace teed::supplicant {
namespace {

// linux/mmc/mmc.h and core.h, which are not UAPI.
constexpr uint32_t kMmcReadMultipleBlock = 18;
constexpr uint32_t kMmcWriteMultipleBlock = 25;
constexpr unsigned kMmcRspPresent = 1u << 0;
constexpr unsigned kMmcRspCrc = 1u << 2;
constexpr unsigned kMmcRspOpcode = 1u << 4;
constexpr unsigned kMmcCmdAdtc = 1u << 5;
constexpr unsigned kMmcRspR1 = kMmcRspPresent | kMmcRspCrc | kMmcRspOpcode;
// mmc_ioc_cmd.write_flag: nonzero writes; bit 31 asks for a reliable write (CMD23 bit 31).
constexpr int kWrite = 1;
constexpr int kReliableWrite = static_cast<int>(0x80000001u);
constexpr int kRead = 0;

mmc_ioc_cmd block_command(uint32_t opcode, void* frames, size_t count, int write_flag) {
    mmc_ioc_cmd command{};
    command.write_flag = write_flag;
    command.opcode = opcode;
    command.flags = kMmcRspR1 | kMmcCmdAdtc;
    command.blksz = kRpmbFrameBytes;
    command.blocks = static_cast<unsigned>(count);
    command.data_ptr = reinterpret_cast<uintptr_t>(frames);
    return command;
}

Result<std::string> read_attribute(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError() << "open '" << path << "'";
    char buffer[128];
    ssize_t n;
    do {
        n = ::read(fd.get(), buffer, sizeof(buffer));
    } while (n < 0 && errno == EINTR);
    if (n < 0) return ErrnoError() << "read '" << path << "'";
    std::string text(buffer, static_cast<size_t>(n));
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    return text;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The card's cid attribute: the 16 register bytes as 32 hex digits ("%08x%08x%08x%08x").
Result<RpmbCid> parse_cid(const std::string& text, const std::string& path) {
    RpmbCid cid{};
    bool valid = text.size() == 2 * cid.size();
    for (size_t i = 0; valid && i < cid.size(); ++i) {
        int high = hex_digit(text[2 * i]);
        int low = hex_digit(text[2 * i + 1]);
        valid = high >= 0 && low >= 0;
        cid[i] = static_cast<uint8_t>(high << 4 | low);
    }
    if (!valid) {
        return Error(ErrorKind::InvalidArgument)
               << "'" << path << "' holds '" << text << "', not a CID of 32 hex digits";
    }
    return cid;
}

// An EXT_CSD byte as the mmc core prints it ("%#x": "0x20", or "0").
Result<uint8_t> parse_ext_csd_byte(const std::string& text, const std::string& path) {
    bool hex = text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
    size_t start = hex ? 2 : 0;
    unsigned value = 0;
    bool valid = text.size() > start && text.size() - start <= 3;
    for (size_t i = start; valid && i < text.size(); ++i) {
        int digit = hex ? hex_digit(text[i])
                        : (std::isdigit(static_cast<unsigned char>(text[i])) ? text[i] - '0' : -1);
        valid = digit >= 0;
        value = value * (hex ? 16 : 10) + static_cast<unsigned>(digit);
    }
    if (!valid || value > 0xFF) {
        return Error(ErrorKind::InvalidArgument)
               << "'" << path << "' holds '" << text << "', not an EXT_CSD byte";
    }
    return static_cast<uint8_t>(value);
}

// /dev/mmcblk0rpmb -> mmcblk0, the block device whose card holds the partition.
Result<std::string> block_device_of(const std::string& device_path) {
    std::string name = std::filesystem::path(device_path).filename().string();
    const std::string prefix = "mmcblk";
    const std::string suffix = "rpmb";
    bool valid = name.size() > prefix.size() + suffix.size() && name.starts_with(prefix) &&
                 name.ends_with(suffix);
    for (size_t i = prefix.size(); valid && i < name.size() - suffix.size(); ++i)
        valid = std::isdigit(static_cast<unsigned char>(name[i]));
    if (!valid) {
        return Error(ErrorKind::InvalidArgument)
               << "'" << device_path << "' is not an eMMC RPMB partition (/dev/mmcblkNrpmb)";
    }
    return name.substr(0, name.size() - suffix.size());
}

class MmcRpmb final : public RpmbDevice {
public:
    MmcRpmb(std::string path, UniqueFd fd, RpmbDevInfo info)
        : path_(std::move(path)), fd_(std::move(fd)), info_(info) {}

    Result<RpmbDevInfo> dev_info() override { return info_; }
    Result<void> transfer(std::span<const RpmbFrame> request,
                          std::span<RpmbFrame> response) override;

private:
    Result<void> run(std::span<const mmc_ioc_cmd> commands);

    const std::string path_;
    UniqueFd fd_;
    const RpmbDevInfo info_;
};

Result<void> MmcRpmb::transfer(std::span<const RpmbFrame> request, std::span<RpmbFrame> response) {
    if (request.empty() || response.empty()) {
        return Error(ErrorKind::InvalidArgument)
               << "an RPMB exchange needs request and response frames";
    }
    if (std::max(request.size(), response.size()) * kRpmbFrameBytes > MMC_IOC_MAX_BYTES) {
        return Error(ErrorKind::InvalidArgument)
               << "an RPMB exchange of more than " << MMC_IOC_MAX_BYTES
               << " bytes per command does not fit an MMC ioctl";
    }
    // The kernel only reads what we write, but the ioctl takes non-const pointers.
    std::vector<RpmbFrame> frames(request.begin(), request.end());
    RpmbFrame result_request;
    result_request.set_msg_type(kRpmbReqResultRead);
    const uint16_t msg_type = request[0].msg_type();
    std::vector<mmc_ioc_cmd> commands;
    switch (msg_type) {
        case kRpmbReqProgramKey:
        case kRpmbReqDataWrite:
            if (response.size() != 1) break;
            commands.push_back(block_command(kMmcWriteMultipleBlock, frames.data(), frames.size(),
                                             kReliableWrite));
            // tee-supplicant's workaround, found on a HiKey board with a HardKernel eMMC module:
            // without a pause after the reliable write the kernel reports card status 0x00000E00
            // and the ioctl fails.
            commands.back().postsleep_min_us = 20000;
            commands.back().postsleep_max_us = 50000;
            commands.push_back(block_command(kMmcWriteMultipleBlock, &result_request, 1, kWrite));
            commands.push_back(block_command(kMmcReadMultipleBlock, response.data(), 1, kRead));
            break;
        case kRpmbReqWriteCounterRead:
        case kRpmbReqDataRead:
            if (frames.size() != 1 ||
                (msg_type == kRpmbReqWriteCounterRead && response.size() != 1))
                break;
            commands.push_back(block_command(kMmcWriteMultipleBlock, frames.data(), 1, kWrite));
            commands.push_back(
                block_command(kMmcReadMultipleBlock, response.data(), response.size(), kRead));
            break;
    }
    if (commands.empty()) {
        return Error(ErrorKind::InvalidArgument)
               << "RPMB " << rpmb_msg_type_name(msg_type) << " with " << request.size()
               << " request and " << response.size() << " response frames";
    }
    return run(commands);
}

Result<void> MmcRpmb::run(std::span<const mmc_ioc_cmd> commands) {
    // struct mmc_ioc_multi_cmd ends in a flexible array: lay it out in 8-byte aligned storage.
    std::vector<uint64_t> storage(
        (sizeof(mmc_ioc_multi_cmd) + commands.size() * sizeof(mmc_ioc_cmd) + 7) / 8, 0);
    auto* multi = reinterpret_cast<mmc_ioc_multi_cmd*>(storage.data());
    multi->num_of_cmds = commands.size();
    std::memcpy(multi->cmds, commands.data(), commands.size() * sizeof(mmc_ioc_cmd));
    // Not retried on EINTR: a write may have reached the card, and the secure world decides
    // (from the write counter) whether to try again.
    if (::ioctl(fd_.get(), MMC_IOC_MULTI_CMD, multi) != 0)
        return ErrnoError() << "MMC_IOC_MULTI_CMD on '" << path_ << "'";
    return {};
}

}  // namespace

Result<RpmbDevInfo> read_mmc_rpmb_info(const std::string& device_path,
                                       const std::string& sysfs_root) {
    const std::string block = TEED_TRY(block_device_of(device_path));
    const std::string card = sysfs_root + "/class/block/" + block + "/device/";
    RpmbDevInfo info;
    const std::string cid_path = card + "cid";
    const std::string cid_text = TEED_TRY(read_attribute(cid_path));
    info.cid = TEED_TRY(parse_cid(cid_text, cid_path));
    const std::string size_path = card + "raw_rpmb_size_mult";
    const std::string size_text = TEED_TRY(read_attribute(size_path));
    info.rpmb_size_mult = TEED_TRY(parse_ext_csd_byte(size_text, size_path));
    if (info.rpmb_size_mult == 0) {
        return Error(ErrorKind::NotSupported) << "'" << size_path << "' is 0: the card behind '"
                                              << device_path << "' has no RPMB partition";
    }
    const std::string rel_path = card + "rel_sectors";
    const std::string rel_text = TEED_TRY(read_attribute(rel_path));
    info.rel_wr_sec_c = TEED_TRY(parse_ext_csd_byte(rel_text, rel_path));
    return info;
}

Result<std::unique_ptr<RpmbDevice>> open_mmc_rpmb(const std::string& device_path,
                                                  const std::string& sysfs_root) {
    UniqueFd fd(::open(device_path.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError() << "open '" << device_path << "'";
    RpmbDevInfo info = TEED_TRY(read_mmc_rpmb_info(device_path, sysfs_root));
    return std::unique_ptr<RpmbDevice>(std::make_unique<MmcRpmb>(device_path, std::move(fd), info));
}

}  // namespace teed::supplicant
