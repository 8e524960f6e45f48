#pragma once
// The eMMC Replay Protected Memory Block protocol as OP-TEE speaks it to its supplicant
// (OPTEE_RPC_CMD_RPMB): the JEDEC data frame (JESD84-B51 6.6.22, minus start and stop bits),
// its message types and results, the MAC over frames, and the request header and device-info
// answer that OP-TEE wraps around them. Shared by teed's RPMB service, its emulated partition and
// the simulated secure world's RPMB client, so that both ends use one definition.
//
//   RpmbFrame frame;
//   frame.set_msg_type(kRpmbReqWriteCounterRead);
//   std::ranges::copy(nonce, frame.nonce().begin());
//   ...
//   if (!rpmb_mac_matches(key, response)) return TEE_ERROR_SECURITY;
//
// Multi-byte frame fields are big-endian on the wire; the accessors convert. The request header
// and device info are in the host's byte order (OP-TEE and the supplicant share a CPU).

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "backends/optee/supplicant/rpc_protocol.h"

namespace teed::supplicant {

constexpr size_t kRpmbFrameBytes = 512;
constexpr size_t kRpmbStuffBytes = 196;
constexpr size_t kRpmbKeyMacBytes = 32;
constexpr size_t kRpmbDataBytes = 256;
constexpr size_t kRpmbNonceBytes = 16;
constexpr size_t kRpmbCidBytes = 16;
// Where the MAC'd part of a frame starts: data, nonce, write counter, address, block count,
// result and message type, [228, 512).
constexpr size_t kRpmbMacedOffset = kRpmbStuffBytes + kRpmbKeyMacBytes;
// An RPMB partition is a multiple of 128 KiB (EXT_CSD RPMB_SIZE_MULT), in 256-byte blocks.
constexpr size_t kRpmbSizeUnitBytes = 128 * 1024;
constexpr uint32_t kRpmbBlocksPerSizeUnit = kRpmbSizeUnitBytes / kRpmbDataBytes;

// Request message types, and the response type the device answers each with (request << 8).
constexpr uint16_t kRpmbReqProgramKey = 0x0001;
constexpr uint16_t kRpmbReqWriteCounterRead = 0x0002;
constexpr uint16_t kRpmbReqDataWrite = 0x0003;
constexpr uint16_t kRpmbReqDataRead = 0x0004;
constexpr uint16_t kRpmbReqResultRead = 0x0005;
constexpr uint16_t kRpmbRespProgramKey = 0x0100;
constexpr uint16_t kRpmbRespWriteCounterRead = 0x0200;
constexpr uint16_t kRpmbRespDataWrite = 0x0300;
constexpr uint16_t kRpmbRespDataRead = 0x0400;

// Operation results (the low 7 bits of op_result) and the write-counter-expired flag (bit 7).
constexpr uint16_t kRpmbResultOk = 0x00;
constexpr uint16_t kRpmbResultGeneralFailure = 0x01;
constexpr uint16_t kRpmbResultAuthFailure = 0x02;
constexpr uint16_t kRpmbResultCounterFailure = 0x03;
constexpr uint16_t kRpmbResultAddressFailure = 0x04;
constexpr uint16_t kRpmbResultWriteFailure = 0x05;
constexpr uint16_t kRpmbResultReadFailure = 0x06;
constexpr uint16_t kRpmbResultKeyNotProgrammed = 0x07;
constexpr uint16_t kRpmbResultMask = 0x7F;
constexpr uint16_t kRpmbResultCounterExpired = 0x80;

// "PROGRAM_KEY", ..., "0x0042" for others.
std::string rpmb_msg_type_name(uint16_t msg_type);
// "ADDRESS_FAILURE", with " (WRITE_COUNTER_EXPIRED)" when bit 7 is set.
std::string rpmb_result_name(uint16_t op_result);

using RpmbKey = std::array<uint8_t, kRpmbKeyMacBytes>;
using RpmbMac = std::array<uint8_t, kRpmbKeyMacBytes>;
using RpmbNonce = std::array<uint8_t, kRpmbNonceBytes>;
using RpmbCid = std::array<uint8_t, kRpmbCidBytes>;

// struct rpmb_data_frame: stuff[196], key_mac[32], data[256], nonce[16], write_counter (u32),
// address, block_count, op_result, msg_type (u16 each), all big-endian.
struct RpmbFrame {
    std::array<uint8_t, kRpmbFrameBytes> bytes{};

    std::span<uint8_t, kRpmbKeyMacBytes> key_mac() { return field<kRpmbKeyMacBytes>(kKeyMac); }
    std::span<const uint8_t, kRpmbKeyMacBytes> key_mac() const {
        return field<kRpmbKeyMacBytes>(kKeyMac);
    }
    std::span<uint8_t, kRpmbDataBytes> data() { return field<kRpmbDataBytes>(kData); }
    std::span<const uint8_t, kRpmbDataBytes> data() const { return field<kRpmbDataBytes>(kData); }
    std::span<uint8_t, kRpmbNonceBytes> nonce() { return field<kRpmbNonceBytes>(kNonce); }
    std::span<const uint8_t, kRpmbNonceBytes> nonce() const {
        return field<kRpmbNonceBytes>(kNonce);
    }

    uint32_t write_counter() const;
    uint16_t address() const { return get16(kAddress); }
    uint16_t block_count() const { return get16(kBlockCount); }
    uint16_t op_result() const { return get16(kOpResult); }
    uint16_t msg_type() const { return get16(kMsgType); }
    void set_write_counter(uint32_t value);
    void set_address(uint16_t value) { set16(kAddress, value); }
    void set_block_count(uint16_t value) { set16(kBlockCount, value); }
    void set_op_result(uint16_t value) { set16(kOpResult, value); }
    void set_msg_type(uint16_t value) { set16(kMsgType, value); }

    // Field offsets.
    static constexpr size_t kKeyMac = kRpmbStuffBytes;
    static constexpr size_t kData = kKeyMac + kRpmbKeyMacBytes;
    static constexpr size_t kNonce = kData + kRpmbDataBytes;
    static constexpr size_t kWriteCounter = kNonce + kRpmbNonceBytes;
    static constexpr size_t kAddress = kWriteCounter + 4;
    static constexpr size_t kBlockCount = kAddress + 2;
    static constexpr size_t kOpResult = kBlockCount + 2;
    static constexpr size_t kMsgType = kOpResult + 2;

private:
    template <size_t N>
    std::span<uint8_t, N> field(size_t offset) {
        return std::span<uint8_t, N>(bytes.data() + offset, N);
    }
    template <size_t N>
    std::span<const uint8_t, N> field(size_t offset) const {
        return std::span<const uint8_t, N>(bytes.data() + offset, N);
    }
    uint16_t get16(size_t offset) const;
    void set16(size_t offset, uint16_t value);
};
static_assert(sizeof(RpmbFrame) == kRpmbFrameBytes);
static_assert(RpmbFrame::kData == kRpmbMacedOffset && RpmbFrame::kMsgType + 2 == kRpmbFrameBytes);

// HMAC-SHA256 with `key` over bytes [228, 512) of each frame, in order: what the last frame of a
// multi-frame write or read carries in key_mac.
RpmbMac rpmb_mac(std::span<const uint8_t> key, std::span<const RpmbFrame> frames);
// Writes rpmb_mac(key, frames) into the last frame's key_mac. `frames` must not be empty.
void rpmb_sign(std::span<const uint8_t> key, std::span<RpmbFrame> frames);
// Whether the last frame's key_mac is rpmb_mac(key, frames), compared in constant time. False
// for no frames.
bool rpmb_mac_matches(std::span<const uint8_t> key, std::span<const RpmbFrame> frames);

// The authentication key OP-TEE derives for an eMMC from its hardware unique key: what
// huk_subkey_derive(HUK_SUBKEY_RPMB, cid) computes, HMAC-SHA256 keyed with `huk` over the usage
// (0, 32-bit little-endian) and the CID with its PRV (byte 9) and CRC (byte 15) zeroed, which
// change with firmware updates. optee_os's scripts/derive_rpmb_key.py computes the same.
RpmbKey derive_rpmb_key(std::span<const uint8_t> huk, const RpmbCid& cid);

// The header OP-TEE puts before the frames of a request: struct rpmb_req, 3 × u16 in host order.
// cmd is kRpmbCmdDataRequest or kRpmbCmdGetDevInfo (rpc_protocol.h).
constexpr size_t kRpmbRequestHeaderBytes = 6;
struct RpmbRequestHeader {
    uint16_t cmd = 0;
    uint16_t dev_id = 0;
    uint16_t block_count = 0;  // data reads: the blocks to read; unused otherwise
};
// Nothing when `bytes` is shorter than the header.
std::optional<RpmbRequestHeader> decode_rpmb_request_header(std::span<const uint8_t> bytes);
void encode_rpmb_request_header(const RpmbRequestHeader& header, std::span<uint8_t> bytes);

// The answer to RPMB_CMD_GET_DEV_INFO: struct rpmb_dev_info, cid[16], rpmb_size_mult (EXT_CSD
// byte 168, in 128 KiB), rel_wr_sec_c (EXT_CSD byte 222, in 512-byte sectors), ret_code.
constexpr size_t kRpmbDevInfoBytes = 19;
constexpr uint8_t kRpmbDevInfoOk = 0;
constexpr uint8_t kRpmbDevInfoError = 1;
struct RpmbDevInfo {
    RpmbCid cid{};
    uint8_t rpmb_size_mult = 0;
    uint8_t rel_wr_sec_c = 0;

    uint32_t block_count() const { return uint32_t{rpmb_size_mult} * kRpmbBlocksPerSizeUnit; }
    // The most frames one authenticated write may carry: a reliable write of rel_wr_sec_c
    // sectors, two 256-byte half sectors each.
    uint32_t max_write_frames() const { return uint32_t{rel_wr_sec_c} * 2; }
};
struct RpmbDevInfoReply {
    RpmbDevInfo info;
    uint8_t ret_code = kRpmbDevInfoError;
};
// `bytes` must hold kRpmbDevInfoBytes.
void encode_rpmb_dev_info(const RpmbDevInfoReply& reply, std::span<uint8_t> bytes);
// Nothing when `bytes` is not exactly kRpmbDevInfoBytes long.
std::optional<RpmbDevInfoReply> decode_rpmb_dev_info(std::span<const uint8_t> bytes);

}  // namespace teed::supplicant
