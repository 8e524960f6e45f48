// The rpmb TA (rpmb_ta.h): OP-TEE's RPMB client in miniature. Each exchange is one
// OPTEE_RPC_CMD_RPMB in a supplicant buffer laid out as OP-TEE lays it out: struct rpmb_req and
// the request frames at offset 0, the response at the next page boundary. Nothing the supplicant
// returns is believed before it is copied out of shared memory and verified.

#include "backends/sim/rpmb_ta.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "backends/kernel/gp.h"
#include "backends/optee/supplicant/rpc_protocol.h"
#include "backends/optee/supplicant/rpmb_frame.h"

namespace teed::sim {
namespace {

using supplicant::RpmbDevInfo;
using supplicant::RpmbFrame;
using supplicant::RpmbKey;
using supplicant::RpmbNonce;
using supplicant::RpmbRequestHeader;

constexpr size_t kPageBytes = 4096;
constexpr uint32_t kCommandWrite = 0;
constexpr uint32_t kCommandRead = 1;
constexpr uint32_t kCommandCounter = 2;

// What the last frame of an answer must show (tee_rpmb_resp_unpack_verify).
struct Expected {
    uint16_t msg_type = 0;
    std::optional<uint16_t> address;
    const RpmbNonce* nonce = nullptr;
    bool signed_answer = false;
};

// TEE_ERROR_ITEM_NOT_FOUND when the device has no key yet (what makes OP-TEE program it),
// TEE_ERROR_GENERIC for another failure the device reports or an answer to another question,
// TEE_ERROR_SECURITY for an answer that is not the device's (nonce or MAC).
uint32_t verify(std::span<const RpmbFrame> answer, const Expected& expected, const RpmbKey& key) {
    const RpmbFrame& last = answer.back();
    const uint16_t result = last.op_result() & supplicant::kRpmbResultMask;
    if (result == supplicant::kRpmbResultKeyNotProgrammed) return gp::kErrorItemNotFound;
    if (result != supplicant::kRpmbResultOk) return gp::kErrorGeneric;
    if (last.msg_type() != expected.msg_type) return gp::kErrorGeneric;
    if (expected.address && last.address() != *expected.address) return gp::kErrorGeneric;
    if (expected.nonce && !std::ranges::equal(last.nonce(), *expected.nonce))
        return gp::kErrorSecurity;
    if (expected.signed_answer && !supplicant::rpmb_mac_matches(key, answer))
        return gp::kErrorSecurity;
    return gp::kSuccess;
}

std::optional<RpmbNonce> fresh_nonce() {
    RpmbNonce nonce;
    if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) return std::nullopt;
    return nonce;
}

// OP-TEE's rpmb_ctx: what the secure world knows of the device, shared by all sessions.
class RpmbClient {
public:
    explicit RpmbClient(SupplicantRpc& rpc) : rpc_(rpc) {}

    uint32_t write_block(uint32_t address, std::span<const uint8_t> data);
    uint32_t read_block(uint32_t address, std::span<uint8_t> data);
    // The device's write counter, read (and verified) now.
    uint32_t read_write_counter(uint32_t& ret_counter);

private:
    uint32_t init_unlocked();
    uint32_t get_dev_info_unlocked();
    uint32_t read_counter_unlocked();
    uint32_t program_key_unlocked();
    uint32_t check_address_unlocked(uint32_t address) const;
    uint32_t data_exchange(std::span<const RpmbFrame> request, std::span<RpmbFrame> answer,
                           uint16_t block_count);
    uint32_t exchange(const RpmbRequestHeader& header, std::span<const RpmbFrame> request,
                      std::span<uint8_t> answer);

    std::mutex mutex_;
    SupplicantRpc& rpc_;
    // All guarded by mutex_.
    bool dev_info_synced_ = false;
    bool key_verified_ = false;  // the device has signed an answer with key_
    bool counter_synced_ = false;
    RpmbDevInfo info_;
    RpmbKey key_{};
    uint32_t counter_ = 0;
};

uint32_t RpmbClient::exchange(const RpmbRequestHeader& header, std::span<const RpmbFrame> request,
                              std::span<uint8_t> answer) {
    const size_t request_bytes =
        supplicant::kRpmbRequestHeaderBytes + request.size() * supplicant::kRpmbFrameBytes;
    const size_t answer_offset = (request_bytes + kPageBytes - 1) / kPageBytes * kPageBytes;
    uint32_t code = gp::kSuccess;
    auto buffer = rpc_.allocate(answer_offset + answer.size(), code);
    if (!buffer) return code != gp::kSuccess ? code : gp::kErrorOutOfMemory;

    supplicant::encode_rpmb_request_header(header, std::span(buffer->data(), request_bytes));
    if (!request.empty()) {  // GET_DEV_INFO has no frames (and memcpy no null source)
        std::memcpy(buffer->data() + supplicant::kRpmbRequestHeaderBytes, request.data(),
                    request.size() * supplicant::kRpmbFrameBytes);
    }
    // What the supplicant leaves unwritten reads as the caller's preset, not as old bytes.
    std::memcpy(buffer->data() + answer_offset, answer.data(), answer.size());
    std::array<RpcParam, 2> params{
        RpcParam::memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT, buffer.get(), 0, request_bytes),
        RpcParam::memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT, buffer.get(), answer_offset,
                         answer.size())};
    code = rpc_.call(supplicant::kCmdRpmb, params);
    if (code != gp::kSuccess) return code;
    // A private copy: the normal world can still write the buffer.
    std::memcpy(answer.data(), buffer->data() + answer_offset, answer.size());
    return gp::kSuccess;
}

uint32_t RpmbClient::data_exchange(std::span<const RpmbFrame> request, std::span<RpmbFrame> answer,
                                   uint16_t block_count) {
    const RpmbRequestHeader header{
        .cmd = supplicant::kRpmbCmdDataRequest, .dev_id = 0, .block_count = block_count};
    std::vector<uint8_t> bytes(answer.size() * supplicant::kRpmbFrameBytes, 0);
    uint32_t code = exchange(header, request, bytes);
    if (code == gp::kSuccess) std::memcpy(answer.data(), bytes.data(), bytes.size());
    return code;
}

uint32_t RpmbClient::get_dev_info_unlocked() {
    std::array<uint8_t, supplicant::kRpmbDevInfoBytes> bytes{};
    bytes.back() = supplicant::kRpmbDevInfoError;  // unless the supplicant says otherwise
    uint32_t code = exchange({.cmd = supplicant::kRpmbCmdGetDevInfo}, {}, bytes);
    if (code != gp::kSuccess) return code;
    auto reply = supplicant::decode_rpmb_dev_info(bytes);
    if (!reply || reply->ret_code != supplicant::kRpmbDevInfoOk || reply->info.rpmb_size_mult == 0)
        return gp::kErrorGeneric;
    info_ = reply->info;
    return gp::kSuccess;
}

uint32_t RpmbClient::read_counter_unlocked() {
    auto nonce = fresh_nonce();
    if (!nonce) return gp::kErrorGeneric;
    RpmbFrame request;
    request.set_msg_type(supplicant::kRpmbReqWriteCounterRead);
    std::ranges::copy(*nonce, request.nonce().begin());
    RpmbFrame answer;
    uint32_t code = data_exchange(std::span(&request, 1), std::span(&answer, 1), 0);
    if (code != gp::kSuccess) return code;
    code = verify(std::span(&answer, 1),
                  {.msg_type = supplicant::kRpmbRespWriteCounterRead,
                   .nonce = &*nonce,
                   .signed_answer = true},
                  key_);
    if (code != gp::kSuccess) return code;
    counter_ = answer.write_counter();
    counter_synced_ = true;
    key_verified_ = true;
    return gp::kSuccess;
}

uint32_t RpmbClient::program_key_unlocked() {
    RpmbFrame request;
    request.set_msg_type(supplicant::kRpmbReqProgramKey);
    std::ranges::copy(key_, request.key_mac().begin());
    RpmbFrame answer;
    uint32_t code = data_exchange(std::span(&request, 1), std::span(&answer, 1), 0);
    if (code != gp::kSuccess) return code;
    return verify(std::span(&answer, 1), {.msg_type = supplicant::kRpmbRespProgramKey}, key_);
}

// legacy_rpmb_init: the device's geometry, the key for its CID, then a verified write counter;
// a device without a key gets one, but only while no answer has ever verified with ours.
uint32_t RpmbClient::init_unlocked() {
    if (!dev_info_synced_) {
        uint32_t code = get_dev_info_unlocked();
        if (code != gp::kSuccess) return code;
        key_ = supplicant::derive_rpmb_key(kSimulatedHardwareUniqueKey, info_.cid);
        dev_info_synced_ = true;
    }
    if (counter_synced_) return gp::kSuccess;
    uint32_t code = read_counter_unlocked();
    if (code == gp::kErrorItemNotFound && !key_verified_) {
        code = program_key_unlocked();
        if (code == gp::kSuccess) code = read_counter_unlocked();
    }
    return code;
}

uint32_t RpmbClient::check_address_unlocked(uint32_t address) const {
    // Block addresses are 16 bits wide on the wire, whatever the partition's size.
    return address < info_.block_count() && address <= 0xFFFF ? gp::kSuccess
                                                              : gp::kErrorBadParameters;
}

uint32_t RpmbClient::write_block(uint32_t address, std::span<const uint8_t> data) {
    std::lock_guard lock(mutex_);
    uint32_t code = init_unlocked();
    if (code == gp::kSuccess) code = check_address_unlocked(address);
    if (code != gp::kSuccess) return code;
    const auto block = static_cast<uint16_t>(address);
    RpmbFrame request;
    request.set_msg_type(supplicant::kRpmbReqDataWrite);
    request.set_block_count(1);
    request.set_address(block);
    request.set_write_counter(counter_);
    std::ranges::copy(data, request.data().begin());
    supplicant::rpmb_sign(key_, std::span(&request, 1));
    RpmbFrame answer;
    code = data_exchange(std::span(&request, 1), std::span(&answer, 1), 0);
    if (code == gp::kSuccess) {
        code = verify(
            std::span(&answer, 1),
            {.msg_type = supplicant::kRpmbRespDataWrite, .address = block, .signed_answer = true},
            key_);
    }
    if (code == gp::kSuccess && answer.write_counter() != counter_ + 1) code = gp::kErrorSecurity;
    if (code != gp::kSuccess) {
        // Whether the write happened is unknown: learn the counter again before the next one.
        counter_synced_ = false;
        return code;
    }
    ++counter_;
    return gp::kSuccess;
}

uint32_t RpmbClient::read_block(uint32_t address, std::span<uint8_t> data) {
    std::lock_guard lock(mutex_);
    uint32_t code = init_unlocked();
    if (code == gp::kSuccess) code = check_address_unlocked(address);
    if (code != gp::kSuccess) return code;
    auto nonce = fresh_nonce();
    if (!nonce) return gp::kErrorGeneric;
    const auto block = static_cast<uint16_t>(address);
    RpmbFrame request;
    request.set_msg_type(supplicant::kRpmbReqDataRead);
    request.set_address(block);
    std::ranges::copy(*nonce, request.nonce().begin());
    RpmbFrame answer;
    code = data_exchange(std::span(&request, 1), std::span(&answer, 1), /*block_count=*/1);
    if (code != gp::kSuccess) return code;
    code = verify(std::span(&answer, 1),
                  {.msg_type = supplicant::kRpmbRespDataRead,
                   .address = block,
                   .nonce = &*nonce,
                   .signed_answer = true},
                  key_);
    if (code != gp::kSuccess) return code;
    std::ranges::copy(answer.data(), data.begin());
    return gp::kSuccess;
}

uint32_t RpmbClient::read_write_counter(uint32_t& ret_counter) {
    std::lock_guard lock(mutex_);
    uint32_t code = init_unlocked();
    if (code == gp::kSuccess) code = read_counter_unlocked();
    if (code == gp::kSuccess) ret_counter = counter_;
    return code;
}

class RpmbSession : public TaSession {
public:
    explicit RpmbSession(std::shared_ptr<RpmbClient> client) : client_(std::move(client)) {}

    TaResult invoke(uint32_t command, TaParams& params, const CancelToken& /*cancel*/) override {
        switch (command) {
            case kCommandWrite:
                return write(params);
            case kCommandRead:
                return read(params);
            case kCommandCounter:
                return counter(params);
        }
        return code(gp::kErrorBadParameters);
    }

private:
    TaResult write(TaParams& params) {
        const TaParam& in = params[1];
        if (!has_types(params, kValueInput, kMemrefInput) || in.buffer == nullptr ||
            in.size != supplicant::kRpmbDataBytes) {
            return code(gp::kErrorBadParameters);
        }
        // A private copy: the client's memory is shared and may change meanwhile.
        std::array<uint8_t, supplicant::kRpmbDataBytes> block;
        std::memcpy(block.data(), in.buffer, block.size());
        return code(client_->write_block(params[0].a, block));
    }

    TaResult read(TaParams& params) {
        TaParam& out = params[1];
        if (!has_types(params, kValueInput, kMemrefOutput)) return code(gp::kErrorBadParameters);
        if (out.size < supplicant::kRpmbDataBytes) {
            out.size = supplicant::kRpmbDataBytes;
            return code(gp::kErrorShortBuffer);
        }
        if (out.buffer == nullptr) return code(gp::kErrorBadParameters);
        std::array<uint8_t, supplicant::kRpmbDataBytes> block;
        uint32_t result = client_->read_block(params[0].a, block);
        if (result != gp::kSuccess) return code(result);
        std::memcpy(out.buffer, block.data(), block.size());
        out.size = block.size();
        return code(gp::kSuccess);
    }

    TaResult counter(TaParams& params) {
        if (!has_types(params, kValueOutput)) return code(gp::kErrorBadParameters);
        uint32_t value = 0;
        uint32_t result = client_->read_write_counter(value);
        if (result != gp::kSuccess) return code(result);
        params[0].a = value;
        params[0].b = 0;
        return code(gp::kSuccess);
    }

    std::shared_ptr<RpmbClient> client_;
};

class RpmbApp : public TrustedApp {
public:
    explicit RpmbApp(SupplicantRpc& rpc)
        : uuid_(Uuid::parse(kRpmbTaUuid).value()), client_(std::make_shared<RpmbClient>(rpc)) {}
    const Uuid& uuid() const override { return uuid_; }
    std::string_view name() const override { return "rpmb"; }
    std::unique_ptr<TaSession> open_session(const TaClient& /*client*/, TaParams& /*params*/,
                                            const CancelToken& /*cancel*/,
                                            uint32_t& /*ret_code*/) override {
        return std::make_unique<RpmbSession>(client_);
    }

private:
    Uuid uuid_;
    std::shared_ptr<RpmbClient> client_;
};

}  // namespace

std::unique_ptr<TrustedApp> make_rpmb_ta(SupplicantRpc& rpc) {
    return std::make_unique<RpmbApp>(rpc);
}

}  // namespace teed::sim
