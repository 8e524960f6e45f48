// RpmbService: the checks tee-supplicant's rpmb.c makes on OP-TEE's requests (which frame
// counts each message type allows), made strictly, before any frame reaches the device.

#include "backends/optee/supplicant/rpmb.h"

#include <cstring>
#include <vector>

#include "backends/kernel/gp.h"
#include "backends/kernel/tee_uapi.h"

namespace teed::supplicant {
namespace {

RpcOutcome bad(std::string reason) {
    return RpcOutcome::refuse(gp::kErrorBadParameters, "RPMB: " + std::move(reason));
}

// "WRITE_DATA at block 12, 2 frames": what a data request was about, for logs.
std::string describe(const RpmbFrame& first, size_t request_frames, size_t response_frames) {
    std::string text = rpmb_msg_type_name(first.msg_type());
    switch (first.msg_type()) {
        case kRpmbReqDataWrite:
            text += " at block " + std::to_string(first.address()) + ", " +
                    std::to_string(request_frames) + " frame(s)";
            break;
        case kRpmbReqDataRead:
            text += " at block " + std::to_string(first.address()) + ", " +
                    std::to_string(response_frames) + " frame(s)";
            break;
    }
    return text;
}

// The answer to a request the device ran: success for the secure world whatever the device
// said, as from an eMMC. A refusal by the device is still worth a line: AUTH and COUNTER failures
// mean a wrong key, a replay or a secure world out of step, and a WRITE_FAILURE lost data.
RpcOutcome device_answered(const std::string& what, uint16_t op_result, const std::string& why) {
    const uint16_t result = op_result & kRpmbResultMask;
    if (result == kRpmbResultOk && !(op_result & kRpmbResultCounterExpired)) return {};
    std::string reason = "RPMB " + what + ": the device answered " + rpmb_result_name(op_result);
    if (!why.empty()) reason += " (" + why + ")";
    // KEY_NOT_PROGRAMMED is how OP-TEE learns that it must program the key: expected once.
    const bool expected = result == kRpmbResultKeyNotProgrammed;
    return {gp::kSuccess, std::move(reason), expected ? LogLevel::Debug : LogLevel::Warning};
}

// Which frame counts a message type allows (tee-supplicant's rpmb_data_req), or why not.
std::string check_counts(uint16_t msg_type, size_t request_frames, size_t response_frames,
                         const RpmbRequestHeader& header) {
    switch (msg_type) {
        case kRpmbReqProgramKey:
        case kRpmbReqDataWrite:
            if (response_frames != 1) return "a write is answered with 1 result frame";
            return {};
        case kRpmbReqWriteCounterRead:
            if (request_frames != 1 || response_frames != 1)
                return "a write counter read takes 1 request and 1 response frame";
            return {};
        case kRpmbReqDataRead:
            if (request_frames != 1) return "a data read takes 1 request frame";
            if (header.block_count != response_frames) {
                return "the request's block_count " + std::to_string(header.block_count) +
                       " does not match its " + std::to_string(response_frames) +
                       " response frames";
            }
            return {};
    }
    return "message type " + rpmb_msg_type_name(msg_type) + " is not a request OP-TEE sends";
}

}  // namespace

RpmbService::RpmbService(std::unique_ptr<RpmbDevice> device, uint16_t dev_id)
    : device_(std::move(device)), dev_id_(dev_id) {}

RpcOutcome RpmbService::serve(RpcRequest& request) {
    auto types = request.expect_types(
        {TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT, TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT});
    if (!types.ok()) return bad(types.error().message());
    RpcParam& in = request.params[0];
    RpcParam& out = request.params[1];
    if (!in.has_buffer() || !out.has_buffer()) return bad("the request and response need buffers");

    // A private copy: the secure world may change its memory while we look at it, and the two
    // memrefs may overlap.
    std::vector<uint8_t> bytes(in.memory.bytes().begin(), in.memory.bytes().end());
    auto header = decode_rpmb_request_header(bytes);
    if (!header) {
        return bad("a request of " + std::to_string(bytes.size()) +
                   " bytes is shorter than its header");
    }
    if (header->dev_id != dev_id_) {
        return bad("dev_id " + std::to_string(header->dev_id) + " asked for, teed serves dev_id " +
                   std::to_string(dev_id_));
    }
    std::span<const uint8_t> payload = std::span(bytes).subspan(kRpmbRequestHeaderBytes);
    std::lock_guard lock(mutex_);
    switch (header->cmd) {
        case kRpmbCmdGetDevInfo:
            return get_dev_info_unlocked(payload, out);
        case kRpmbCmdDataRequest:
            return data_request_unlocked(*header, payload, out);
    }
    return bad("unknown command " + std::to_string(header->cmd));
}

RpcOutcome RpmbService::get_dev_info_unlocked(std::span<const uint8_t> payload,
                                              RpcParam& response) {
    if (!payload.empty() || response.memory.size() != kRpmbDevInfoBytes) {
        return bad("GET_DEV_INFO takes a bare header and a " + std::to_string(kRpmbDevInfoBytes) +
                   "-byte response, got " + std::to_string(payload.size()) +
                   " bytes after the header and a " + std::to_string(response.memory.size()) +
                   "-byte response");
    }
    RpmbDevInfoReply reply;
    auto info = device_->dev_info();
    if (info.ok()) {
        reply = {.info = *info, .ret_code = kRpmbDevInfoOk};
    }
    encode_rpmb_dev_info(reply, response.memory.bytes());
    response.b = kRpmbDevInfoBytes;
    if (!info.ok()) {
        return RpcOutcome::fail(gp::kErrorGeneric, "RPMB device info: " + info.error().message());
    }
    return RpcOutcome::success();
}

RpcOutcome RpmbService::data_request_unlocked(const RpmbRequestHeader& header,
                                              std::span<const uint8_t> payload,
                                              RpcParam& response) {
    if (payload.empty() || payload.size() % kRpmbFrameBytes != 0) {
        return bad("a data request carries " + std::to_string(payload.size()) +
                   " bytes after its header, not a whole number of 512-byte frames");
    }
    const size_t response_bytes = response.memory.size();
    if (response_bytes == 0 || response_bytes % kRpmbFrameBytes != 0) {
        return bad("a response of " + std::to_string(response_bytes) +
                   " bytes is not a whole number of 512-byte frames");
    }
    std::vector<RpmbFrame> request(payload.size() / kRpmbFrameBytes);
    std::memcpy(request.data(), payload.data(), payload.size());
    const uint16_t msg_type = request[0].msg_type();
    for (const RpmbFrame& frame : request) {
        if (frame.msg_type() != msg_type)
            return bad("the request frames are not all of message type " +
                       rpmb_msg_type_name(msg_type));
    }
    std::vector<RpmbFrame> answer(response_bytes / kRpmbFrameBytes);
    if (auto problem = check_counts(msg_type, request.size(), answer.size(), header);
        !problem.empty()) {
        return bad(problem);
    }

    const std::string what = describe(request[0], request.size(), answer.size());
    auto transferred = device_->transfer(request, answer);
    if (!transferred.ok()) {
        return RpcOutcome::fail(gp::kErrorGeneric,
                                "RPMB " + what + ": " + transferred.error().message());
    }
    std::memcpy(response.memory.data(), answer.data(), response_bytes);
    response.b = response_bytes;
    return device_answered(what, answer.back().op_result(), device_->last_failure());
}

}  // namespace teed::supplicant
