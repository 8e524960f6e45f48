#include "backends/optee/supplicant/rpmb_frame.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace teed::supplicant {
namespace {

struct MacDeleter {
    void operator()(EVP_MAC* mac) const { EVP_MAC_free(mac); }
};
struct MacContextDeleter {
    void operator()(EVP_MAC_CTX* context) const { EVP_MAC_CTX_free(context); }
};

// One fetch for the process: EVP_MAC objects are immutable and safe to share between threads.
EVP_MAC* hmac_algorithm() {
    static const std::unique_ptr<EVP_MAC, MacDeleter> algorithm(
        EVP_MAC_fetch(nullptr, "HMAC", nullptr));
    return algorithm.get();
}

// HMAC-SHA256 with `key` over the concatenation of `parts`.
std::array<uint8_t, 32> hmac_sha256(std::span<const uint8_t> key,
                                    std::span<const std::span<const uint8_t>> parts) {
    std::array<uint8_t, 32> mac{};
    std::unique_ptr<EVP_MAC_CTX, MacContextDeleter> context(EVP_MAC_CTX_new(hmac_algorithm()));
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_END};
    size_t length = 0;
    bool ok = context && EVP_MAC_init(context.get(), key.data(), key.size(), params) == 1;
    for (std::span<const uint8_t> part : parts)
        ok = ok && EVP_MAC_update(context.get(), part.data(), part.size()) == 1;
    ok = ok && EVP_MAC_final(context.get(), mac.data(), &length, mac.size()) == 1;
    // HMAC-SHA256 only fails when OpenSSL itself is broken (no default provider); an all-zero
    // MAC then matches nothing a key produced, so verification fails closed.
    if (!ok || length != mac.size()) mac.fill(0);
    return mac;
}

}  // namespace

std::string rpmb_msg_type_name(uint16_t msg_type) {
    switch (msg_type) {
        case kRpmbReqProgramKey:
            return "PROGRAM_KEY";
        case kRpmbReqWriteCounterRead:
            return "GET_WRITE_COUNTER";
        case kRpmbReqDataWrite:
            return "WRITE_DATA";
        case kRpmbReqDataRead:
            return "READ_DATA";
        case kRpmbReqResultRead:
            return "RESULT_READ";
        case kRpmbRespProgramKey:
            return "PROGRAM_KEY response";
        case kRpmbRespWriteCounterRead:
            return "GET_WRITE_COUNTER response";
        case kRpmbRespDataWrite:
            return "WRITE_DATA response";
        case kRpmbRespDataRead:
            return "READ_DATA response";
    }
    char text[8];
    std::snprintf(text, sizeof(text), "0x%04x", msg_type);
    return text;
}

std::string rpmb_result_name(uint16_t op_result) {
    static constexpr const char* kNames[] = {"OK",
                                             "GENERAL_FAILURE",
                                             "AUTH_FAILURE",
                                             "COUNTER_FAILURE",
                                             "ADDRESS_FAILURE",
                                             "WRITE_FAILURE",
                                             "READ_FAILURE",
                                             "KEY_NOT_PROGRAMMED"};
    uint16_t result = op_result & kRpmbResultMask;
    std::string name;
    if (result < std::size(kNames)) {
        name = kNames[result];
    } else {
        char text[8];
        std::snprintf(text, sizeof(text), "0x%02x", result);
        name = text;
    }
    if (op_result & kRpmbResultCounterExpired) name += " (WRITE_COUNTER_EXPIRED)";
    return name;
}

uint32_t RpmbFrame::write_counter() const {
    const uint8_t* p = bytes.data() + kWriteCounter;
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

void RpmbFrame::set_write_counter(uint32_t value) {
    uint8_t* p = bytes.data() + kWriteCounter;
    p[0] = static_cast<uint8_t>(value >> 24);
    p[1] = static_cast<uint8_t>(value >> 16);
    p[2] = static_cast<uint8_t>(value >> 8);
    p[3] = static_cast<uint8_t>(value);
}

uint16_t RpmbFrame::get16(size_t offset) const {
    return static_cast<uint16_t>(bytes[offset] << 8 | bytes[offset + 1]);
}

void RpmbFrame::set16(size_t offset, uint16_t value) {
    bytes[offset] = static_cast<uint8_t>(value >> 8);
    bytes[offset + 1] = static_cast<uint8_t>(value);
}

RpmbMac rpmb_mac(std::span<const uint8_t> key, std::span<const RpmbFrame> frames) {
    std::vector<std::span<const uint8_t>> parts;
    parts.reserve(frames.size());
    for (const RpmbFrame& frame : frames)
        parts.push_back(std::span(frame.bytes).subspan(kRpmbMacedOffset));
    return hmac_sha256(key, parts);
}

RpmbKey derive_rpmb_key(std::span<const uint8_t> huk, const RpmbCid& cid) {
    const uint8_t usage[4] = {0, 0, 0, 0};  // HUK_SUBKEY_RPMB
    RpmbCid message = cid;
    message[9] = 0;   // PRV
    message[15] = 0;  // CRC7
    const std::span<const uint8_t> parts[] = {usage, message};
    return hmac_sha256(huk, parts);
}

void rpmb_sign(std::span<const uint8_t> key, std::span<RpmbFrame> frames) {
    RpmbMac mac = rpmb_mac(key, frames);
    std::memcpy(frames.back().key_mac().data(), mac.data(), mac.size());
}

bool rpmb_mac_matches(std::span<const uint8_t> key, std::span<const RpmbFrame> frames) {
    if (frames.empty()) return false;
    RpmbMac mac = rpmb_mac(key, frames);
    return CRYPTO_memcmp(mac.data(), frames.back().key_mac().data(), mac.size()) == 0;
}

std::optional<RpmbRequestHeader> decode_rpmb_request_header(std::span<const uint8_t> bytes) {
    if (bytes.size() < kRpmbRequestHeaderBytes) return std::nullopt;
    uint16_t fields[3];
    std::memcpy(fields, bytes.data(), sizeof(fields));
    return RpmbRequestHeader{.cmd = fields[0], .dev_id = fields[1], .block_count = fields[2]};
}

void encode_rpmb_request_header(const RpmbRequestHeader& header, std::span<uint8_t> bytes) {
    const uint16_t fields[3] = {header.cmd, header.dev_id, header.block_count};
    std::memcpy(bytes.data(), fields, sizeof(fields));
}

void encode_rpmb_dev_info(const RpmbDevInfoReply& reply, std::span<uint8_t> bytes) {
    std::memcpy(bytes.data(), reply.info.cid.data(), kRpmbCidBytes);
    bytes[16] = reply.info.rpmb_size_mult;
    bytes[17] = reply.info.rel_wr_sec_c;
    bytes[18] = reply.ret_code;
}

std::optional<RpmbDevInfoReply> decode_rpmb_dev_info(std::span<const uint8_t> bytes) {
    if (bytes.size() != kRpmbDevInfoBytes) return std::nullopt;
    RpmbDevInfoReply reply;
    std::memcpy(reply.info.cid.data(), bytes.data(), kRpmbCidBytes);
    reply.info.rpmb_size_mult = bytes[16];
    reply.info.rel_wr_sec_c = bytes[17];
    reply.ret_code = bytes[18];
    return reply;
}

}  // namespace teed::supplicant
