// The file-backed RPMB emulation (rpmb.h). The file, all integers little-endian:
//
//   [0, 8)     magic "TEEDRPMB"
//   [8, 12)    format version (1)
//   12         rpmb_size_mult      13  rel_wr_sec_c      14  key programmed (0 or 1)   15  0
//   [16, 20)   write counter
//   [32, 64)   authentication key (zero until programmed)
//   [64, 80)   CID
//   [128, 128 + size_mult × 128 KiB)   the 256-byte blocks, block 0 first
//   last 32    SHA-256 of everything before it
//
// Unlisted bytes are zero. The checksum catches a damaged or hand-edited file; it is no security
// boundary (whoever can write the file can recompute it, as whoever holds an eMMC can desolder
// it). What the secure world relies on is the protocol: the key never leaves the device.

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <vector>

#include "backends/optee/supplicant/rpmb.h"
#include "common/unique_fd.h"

namespace teed::supplicant {
namespace {

constexpr char kMagic[8] = {'T', 'E', 'E', 'D', 'R', 'P', 'M', 'B'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kVersionOffset = 8;
constexpr size_t kSizeMultOffset = 12;
constexpr size_t kRelWrSecCOffset = 13;
constexpr size_t kKeyProgrammedOffset = 14;
constexpr size_t kCounterOffset = 16;
constexpr size_t kKeyOffset = 32;
constexpr size_t kCidOffset = 64;
constexpr size_t kHeaderBytes = 128;
constexpr size_t kChecksumBytes = 32;
constexpr uint32_t kMaxWriteCounter = std::numeric_limits<uint32_t>::max();

size_t file_bytes(uint8_t size_mult) {
    return kHeaderBytes + size_mult * kRpmbSizeUnitBytes + kChecksumBytes;
}

struct DeviceState {
    bool key_programmed = false;
    RpmbKey key{};
    uint32_t write_counter = 0;
    std::vector<uint8_t> blocks;  // block_count() × 256 bytes
};

std::array<uint8_t, kChecksumBytes> checksum(std::span<const uint8_t> bytes) {
    std::array<uint8_t, kChecksumBytes> digest{};
    unsigned int length = 0;
    EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length, EVP_sha256(), nullptr);
    return digest;
}

void put32(std::vector<uint8_t>& bytes, size_t offset, uint32_t value) {
    for (size_t i = 0; i < 4; ++i) bytes[offset + i] = static_cast<uint8_t>(value >> (8 * i));
}

uint32_t get32(std::span<const uint8_t> bytes, size_t offset) {
    uint32_t value = 0;
    for (size_t i = 0; i < 4; ++i) value |= uint32_t{bytes[offset + i]} << (8 * i);
    return value;
}

std::vector<uint8_t> serialize(const RpmbDevInfo& info, const DeviceState& state) {
    std::vector<uint8_t> bytes(file_bytes(info.rpmb_size_mult), 0);
    std::memcpy(bytes.data(), kMagic, sizeof(kMagic));
    put32(bytes, kVersionOffset, kFormatVersion);
    bytes[kSizeMultOffset] = info.rpmb_size_mult;
    bytes[kRelWrSecCOffset] = info.rel_wr_sec_c;
    bytes[kKeyProgrammedOffset] = state.key_programmed ? 1 : 0;
    put32(bytes, kCounterOffset, state.write_counter);
    std::ranges::copy(state.key, bytes.begin() + kKeyOffset);
    std::ranges::copy(info.cid, bytes.begin() + kCidOffset);
    std::ranges::copy(state.blocks, bytes.begin() + kHeaderBytes);
    auto digest = checksum(std::span(bytes).first(bytes.size() - kChecksumBytes));
    std::ranges::copy(digest, bytes.end() - kChecksumBytes);
    return bytes;
}

std::string kib(uint8_t size_mult) {
    return std::to_string(size_mult * kRpmbSizeUnitBytes / 1024) + " KiB";
}

// The file's own geometry must be what the configuration asks for: a different size or CID is
// another device, whose key OP-TEE would derive differently.
Result<void> check_geometry(const std::string& file, std::span<const uint8_t> bytes,
                            const RpmbDevInfo& expected) {
    if (bytes[kSizeMultOffset] != expected.rpmb_size_mult) {
        return Error(ErrorKind::InvalidArgument)
               << "'" << file << "' emulates a " << kib(bytes[kSizeMultOffset])
               << " RPMB partition, the configuration asks for " << kib(expected.rpmb_size_mult);
    }
    if (bytes[kRelWrSecCOffset] != expected.rel_wr_sec_c) {
        return Error(ErrorKind::InvalidArgument)
               << "'" << file << "' emulates a reliable write sector count of "
               << int{bytes[kRelWrSecCOffset]} << ", the configuration asks for "
               << int{expected.rel_wr_sec_c};
    }
    if (!std::equal(expected.cid.begin(), expected.cid.end(), bytes.begin() + kCidOffset)) {
        return Error(ErrorKind::InvalidArgument)
               << "'" << file << "' emulates an eMMC with another CID than the configured one";
    }
    return {};
}

Result<DeviceState> parse(const std::string& file, std::span<const uint8_t> bytes,
                          const RpmbDevInfo& expected) {
    if (bytes.size() < kHeaderBytes + kChecksumBytes ||
        std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
        return Error(ErrorKind::InvalidArgument)
               << "'" << file << "' is not an RPMB emulation file";
    }
    if (uint32_t version = get32(bytes, kVersionOffset); version != kFormatVersion) {
        return Error(ErrorKind::InvalidArgument)
               << "'" << file << "' has format version " << version << ", teed reads version "
               << kFormatVersion;
    }
    const uint8_t size_mult = bytes[kSizeMultOffset];
    if (size_mult == 0 || bytes.size() != file_bytes(size_mult)) {
        return Error(ErrorKind::InvalidArgument)
               << "'" << file << "' is damaged: " << bytes.size() << " bytes do not hold the "
               << kib(size_mult) << " partition its header describes";
    }
    auto digest = checksum(bytes.first(bytes.size() - kChecksumBytes));
    if (!std::equal(digest.begin(), digest.end(), bytes.end() - kChecksumBytes) ||
        bytes[kKeyProgrammedOffset] > 1) {
        return Error(ErrorKind::InvalidArgument)
               << "'" << file << "' is damaged: its checksum does not match its contents";
    }
    TEED_TRY(check_geometry(file, bytes, expected));
    DeviceState state;
    state.key_programmed = bytes[kKeyProgrammedOffset] == 1;
    state.write_counter = get32(bytes, kCounterOffset);
    std::copy_n(bytes.begin() + kKeyOffset, state.key.size(), state.key.begin());
    state.blocks.assign(bytes.begin() + kHeaderBytes, bytes.end() - kChecksumBytes);
    return state;
}

Result<std::vector<uint8_t>> read_file(const std::string& file) {
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError() << "open '" << file << "'";
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return ErrnoError() << "stat '" << file << "'";
    // Larger than any emulation file (255 × 128 KiB plus header): not worth reading.
    if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) > file_bytes(255)) {
        return Error(ErrorKind::InvalidArgument)
               << "'" << file << "' is not an RPMB emulation file (" << st.st_size << " bytes)";
    }
    std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return ErrnoError() << "read '" << file << "'";
        if (n == 0) break;
        done += static_cast<size_t>(n);
    }
    bytes.resize(done);
    return bytes;
}

Result<void> write_all(int fd, std::span<const uint8_t> bytes, const std::string& file) {
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return ErrnoError() << "write '" << file << "'";
        done += static_cast<size_t>(n);
    }
    return {};
}

Result<void> fsync_directory_of(const std::string& file) {
    std::string directory = std::filesystem::path(file).parent_path().string();
    if (directory.empty()) directory = ".";
    UniqueFd fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError() << "open directory '" << directory << "'";
    if (::fsync(fd.get()) != 0) return ErrnoError() << "fsync directory '" << directory << "'";
    return {};
}

std::string temp_name(const std::string& file) {
    return file + ".tmp";
}

// Replaces `file` with `bytes` so that a crash at any point leaves either the old or the new
// contents: write a temporary file, make it durable, then rename it over the old one (atomic).
// The caller then makes the rename durable with fsync_directory_of().
Result<void> write_and_rename(const std::string& file, std::span<const uint8_t> bytes) {
    const std::string temp = temp_name(file);
    UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) return ErrnoError() << "create '" << temp << "'";
    Result<void> written = write_all(fd.get(), bytes, temp);
    if (written.ok() && ::fsync(fd.get()) != 0) written = ErrnoError() << "fsync '" << temp << "'";
    if (written.ok() && ::rename(temp.c_str(), file.c_str()) != 0) {
        written = ErrnoError() << "rename '" << temp << "' to '" << file << "'";
    }
    if (!written.ok()) ::unlink(temp.c_str());
    return written;
}

Result<void> replace_file(const std::string& file, std::span<const uint8_t> bytes) {
    TEED_TRY(write_and_rename(file, bytes));
    return fsync_directory_of(file);
}

class EmulatedRpmb final : public RpmbDevice {
public:
    EmulatedRpmb(std::string file, RpmbDevInfo info, DeviceState state, UniqueFd lock)
        : file_(std::move(file)), info_(info), state_(std::move(state)), lock_(std::move(lock)) {}

    Result<RpmbDevInfo> dev_info() override { return info_; }
    Result<void> transfer(std::span<const RpmbFrame> request,
                          std::span<RpmbFrame> response) override;
    std::string last_failure() const override { return last_failure_; }

private:
    void program_key(std::span<const RpmbFrame> request, RpmbFrame& result);
    void read_counter(const RpmbFrame& request, RpmbFrame& response) const;
    void write_data(std::span<const RpmbFrame> request, RpmbFrame& result);
    uint16_t check_write(std::span<const RpmbFrame> request) const;
    void read_data(const RpmbFrame& request, std::span<RpmbFrame> response) const;
    // Makes `next` the device's state once it is durable; false if it could not be written.
    bool commit(DeviceState next);
    // JEDEC: once the counter is at its maximum, every result carries the expired bit.
    uint16_t with_expiry(uint16_t result) const {
        return state_.write_counter == kMaxWriteCounter ? result | kRpmbResultCounterExpired
                                                        : result;
    }

    const std::string file_;
    const RpmbDevInfo info_;
    DeviceState state_;
    UniqueFd lock_;  // flock'ed for the device's lifetime
    std::string last_failure_;
};

Result<void> EmulatedRpmb::transfer(std::span<const RpmbFrame> request,
                                    std::span<RpmbFrame> response) {
    if (request.empty() || response.empty()) {
        return Error(ErrorKind::InvalidArgument)
               << "an RPMB exchange needs request and response frames";
    }
    const uint16_t msg_type = request[0].msg_type();
    const bool one_response = msg_type != kRpmbReqDataRead;
    const bool one_request = msg_type == kRpmbReqWriteCounterRead || msg_type == kRpmbReqDataRead;
    if ((one_response && response.size() != 1) || (one_request && request.size() != 1)) {
        return Error(ErrorKind::InvalidArgument)
               << "RPMB " << rpmb_msg_type_name(msg_type) << " with " << request.size()
               << " request and " << response.size() << " response frames";
    }
    std::ranges::fill(response, RpmbFrame{});
    last_failure_.clear();
    switch (msg_type) {
        case kRpmbReqProgramKey:
            program_key(request, response[0]);
            return {};
        case kRpmbReqWriteCounterRead:
            read_counter(request[0], response[0]);
            return {};
        case kRpmbReqDataWrite:
            write_data(request, response[0]);
            return {};
        case kRpmbReqDataRead:
            read_data(request[0], response);
            return {};
    }
    return Error(ErrorKind::InvalidArgument)
           << "RPMB message type " << rpmb_msg_type_name(msg_type) << " starts no exchange";
}

void EmulatedRpmb::program_key(std::span<const RpmbFrame> request, RpmbFrame& result) {
    uint16_t op_result = kRpmbResultOk;
    // JEDEC: the key is programmed once, with a block count of 1; anything else is a general
    // failure, and failing to store it a write failure.
    if (request.size() != 1 || state_.key_programmed) {
        op_result = kRpmbResultGeneralFailure;
    } else {
        DeviceState next = state_;
        next.key_programmed = true;
        std::ranges::copy(request[0].key_mac(), next.key.begin());
        if (!commit(std::move(next))) op_result = kRpmbResultWriteFailure;
    }
    result.set_msg_type(kRpmbRespProgramKey);
    result.set_op_result(with_expiry(op_result));
}

void EmulatedRpmb::read_counter(const RpmbFrame& request, RpmbFrame& response) const {
    response.set_msg_type(kRpmbRespWriteCounterRead);
    std::ranges::copy(request.nonce(), response.nonce().begin());
    if (!state_.key_programmed) {
        response.set_op_result(kRpmbResultKeyNotProgrammed);
        return;
    }
    response.set_write_counter(state_.write_counter);
    response.set_op_result(with_expiry(kRpmbResultOk));
    rpmb_sign(state_.key, std::span(&response, 1));
}

// The checks of an authenticated write, in the order JESD84-B51 6.6.22.4.3 makes them.
uint16_t EmulatedRpmb::check_write(std::span<const RpmbFrame> request) const {
    const RpmbFrame& first = request[0];
    if (!state_.key_programmed) return kRpmbResultKeyNotProgrammed;
    if (first.block_count() != request.size() || request.size() > info_.max_write_frames())
        return kRpmbResultGeneralFailure;
    if (state_.write_counter == kMaxWriteCounter)
        return kRpmbResultWriteFailure | kRpmbResultCounterExpired;
    if (uint32_t{first.address()} + request.size() > info_.block_count())
        return kRpmbResultAddressFailure;
    if (!rpmb_mac_matches(state_.key, request)) return kRpmbResultAuthFailure;
    if (first.write_counter() != state_.write_counter) return kRpmbResultCounterFailure;
    return kRpmbResultOk;
}

void EmulatedRpmb::write_data(std::span<const RpmbFrame> request, RpmbFrame& result) {
    uint16_t op_result = check_write(request);
    if (op_result == kRpmbResultOk) {
        DeviceState next = state_;
        size_t offset = size_t{request[0].address()} * kRpmbDataBytes;
        for (const RpmbFrame& frame : request) {
            std::ranges::copy(frame.data(), next.blocks.begin() + offset);
            offset += kRpmbDataBytes;
        }
        ++next.write_counter;
        if (!commit(std::move(next))) op_result = kRpmbResultWriteFailure;
    }
    result.set_msg_type(kRpmbRespDataWrite);
    result.set_op_result(with_expiry(op_result));
    result.set_address(request[0].address());
    if (!state_.key_programmed) return;
    result.set_write_counter(state_.write_counter);
    rpmb_sign(state_.key, std::span(&result, 1));
}

void EmulatedRpmb::read_data(const RpmbFrame& request, std::span<RpmbFrame> response) const {
    uint16_t op_result = kRpmbResultOk;
    if (!state_.key_programmed) {
        op_result = kRpmbResultKeyNotProgrammed;
    } else if (uint32_t{request.address()} + response.size() > info_.block_count()) {
        op_result = kRpmbResultAddressFailure;
    }
    for (size_t i = 0; i < response.size(); ++i) {
        RpmbFrame& frame = response[i];
        if (op_result == kRpmbResultOk) {
            size_t offset = (size_t{request.address()} + i) * kRpmbDataBytes;
            std::copy_n(state_.blocks.begin() + offset, kRpmbDataBytes, frame.data().begin());
        }
        std::ranges::copy(request.nonce(), frame.nonce().begin());
        // Every frame names the start address of the whole read (JESD84-B51 6.6.22.4.5).
        frame.set_address(request.address());
        frame.set_block_count(static_cast<uint16_t>(response.size()));
        frame.set_op_result(with_expiry(op_result));
        frame.set_msg_type(kRpmbRespDataRead);
    }
    if (state_.key_programmed) rpmb_sign(state_.key, response);
}

bool EmulatedRpmb::commit(DeviceState next) {
    auto renamed = write_and_rename(file_, serialize(info_, next));
    if (!renamed.ok()) {
        last_failure_ = renamed.error().message();
        return false;
    }
    // From the rename on the file holds `next`. The device follows it even if the rename cannot
    // be made durable, so that it never answers from a state the file does not have; the write
    // is still reported failed, as it may not survive a crash.
    state_ = std::move(next);
    auto synced = fsync_directory_of(file_);
    if (!synced.ok()) last_failure_ = synced.error().message();
    return synced.ok();
}

Result<UniqueFd> lock_emulation(const std::string& file) {
    const std::string lock_file = file + ".lock";
    UniqueFd fd(::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd.valid()) return ErrnoError() << "open '" << lock_file << "'";
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            return Error(ErrorKind::Busy)
                   << "'" << file << "' is in use by another RPMB emulation ('" << lock_file
                   << "' is locked)";
        }
        return ErrnoError() << "lock '" << lock_file << "'";
    }
    return fd;
}

}  // namespace

Result<std::unique_ptr<RpmbDevice>> open_emulated_rpmb(const std::string& file,
                                                       const EmulatedRpmbOptions& options) {
    if (options.size_mult == 0 || options.rel_wr_sec_c == 0) {
        return Error(ErrorKind::InvalidArgument)
               << "RPMB emulation '" << file << "': size_mult and rel_wr_sec_c must be 1-255";
    }
    const RpmbDevInfo info{.cid = options.cid,
                           .rpmb_size_mult = options.size_mult,
                           .rel_wr_sec_c = options.rel_wr_sec_c};
    UniqueFd lock = TEED_TRY(lock_emulation(file));
    // A temporary file is only left by a commit that did not reach its rename: the file itself
    // still holds the state the device last answered with.
    if (::unlink(temp_name(file).c_str()) != 0 && errno != ENOENT)
        return ErrnoError() << "remove '" << temp_name(file) << "'";

    DeviceState state;
    auto bytes = read_file(file);
    if (bytes.ok()) {
        state = TEED_TRY(parse(file, *bytes, info));
    } else if (bytes.error().sys_errno() == ENOENT) {
        state.blocks.assign(info.block_count() * kRpmbDataBytes, 0);
        TEED_TRY(replace_file(file, serialize(info, state)));
    } else {
        return std::move(bytes).error();
    }
    return std::unique_ptr<RpmbDevice>(
        std::make_unique<EmulatedRpmb>(file, info, std::move(state), std::move(lock)));
}

}  // namespace teed::supplicant
