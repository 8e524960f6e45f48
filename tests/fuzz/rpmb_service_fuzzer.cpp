// libFuzzer target for the RPMB service (backends/optee/supplicant/rpmb.h) in front of the
// emulated partition: what the secure world sends as OPTEE_RPC_CMD_RPMB.
//
// Input: byte 0 holds flags (bit 0: sign the request frames with the device's key, bit 1: set
// their write counter to the device's, so that writes get past authentication), bytes 1-2 the
// answer buffer's size (little-endian, below 4 KiB + 1 frame), the rest the request memref. The
// device lives in a temporary directory for the whole run, its key programmed at start.
//
// Checked after each input, besides ASan/UBSan: the answer is TEEC_SUCCESS or
// TEEC_ERROR_BAD_PARAMETERS (the emulation never fails a transfer the service lets through);
// a successful data request is answered with the response type of its request; and the device's
// write counter, read back and verified with the key, grew by one exactly when a write was
// answered OK, and stayed put otherwise.

#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "backends/kernel/gp.h"
#include "backends/kernel/tee_uapi.h"
#include "backends/optee/supplicant/rpmb.h"

namespace {

using namespace teed::supplicant;

constexpr RpmbKey kKey = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                          17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

struct Answer {
    uint32_t code = 0;
    std::vector<uint8_t> response;
};

Answer serve(RpmbService& service, std::vector<uint8_t> request, size_t response_bytes) {
    Answer answer{.response = std::vector<uint8_t>(response_bytes, 0)};
    RpcRequest rpc{.command = kCmdRpmb, .id = 1};
    RpcParam in{.type = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT, .b = request.size(), .c = 1};
    in.memory = RpcMemref::wrap(request);
    RpcParam out{.type = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT, .b = response_bytes, .c = 2};
    out.memory = RpcMemref::wrap(answer.response);
    rpc.params = {in, out};
    answer.code = service.serve(rpc).code;
    return answer;
}

std::vector<uint8_t> data_request(const std::vector<RpmbFrame>& frames) {
    std::vector<uint8_t> bytes(kRpmbRequestHeaderBytes + frames.size() * kRpmbFrameBytes);
    encode_rpmb_request_header({.cmd = kRpmbCmdDataRequest}, bytes);
    std::memcpy(bytes.data() + kRpmbRequestHeaderBytes, frames.data(),
                frames.size() * kRpmbFrameBytes);
    return bytes;
}

uint32_t read_counter(RpmbService& service) {
    RpmbFrame frame;
    frame.set_msg_type(kRpmbReqWriteCounterRead);
    Answer answer = serve(service, data_request({frame}), kRpmbFrameBytes);
    RpmbFrame reply;
    std::memcpy(reply.bytes.data(), answer.response.data(), kRpmbFrameBytes);
    if (answer.code != teed::gp::kSuccess || !rpmb_mac_matches(kKey, std::span(&reply, 1)))
        std::abort();
    return reply.write_counter();
}

std::string& device_directory() {
    static std::string directory;
    return directory;
}

void remove_device_directory() {
    std::error_code ignored;
    std::filesystem::remove_all(device_directory(), ignored);
}

RpmbService& the_service() {
    static std::unique_ptr<RpmbService> service = [] {
        const char* base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
        std::string& dir = device_directory();
        dir = std::string(base) + "/teed-rpmb-fuzz-XXXXXX";
        if (::mkdtemp(dir.data()) == nullptr) std::abort();
        std::atexit(remove_device_directory);
        auto device = open_emulated_rpmb(dir + "/rpmb.img", {.rel_wr_sec_c = 2});
        if (!device.ok()) std::abort();
        auto made = std::make_unique<RpmbService>(std::move(device).value());
        RpmbFrame key;
        key.set_msg_type(kRpmbReqProgramKey);
        std::ranges::copy(kKey, key.key_mac().begin());
        if (serve(*made, data_request({key}), kRpmbFrameBytes).code != teed::gp::kSuccess)
            std::abort();
        return made;
    }();
    return *service;
}

// Applies the flags to the request's frames, if it is a data request with whole frames.
void prepare(std::vector<uint8_t>& request, uint8_t flags, uint32_t counter) {
    auto header = decode_rpmb_request_header(request);
    if (!header || header->cmd != kRpmbCmdDataRequest) return;
    const size_t payload = request.size() - kRpmbRequestHeaderBytes;
    if (payload == 0 || payload % kRpmbFrameBytes != 0) return;
    std::vector<RpmbFrame> frames(payload / kRpmbFrameBytes);
    std::memcpy(frames.data(), request.data() + kRpmbRequestHeaderBytes, payload);
    if (flags & 2)
        for (RpmbFrame& frame : frames) frame.set_write_counter(counter);
    if (flags & 1) rpmb_sign(kKey, frames);
    std::memcpy(request.data() + kRpmbRequestHeaderBytes, frames.data(), payload);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 3) return 0;
    RpmbService& service = the_service();
    const uint8_t flags = data[0];
    const size_t response_bytes = (data[1] | size_t{data[2]} << 8) % (4096 + kRpmbFrameBytes + 1);
    std::vector<uint8_t> request(data + 3, data + size);
    const uint32_t before = read_counter(service);
    prepare(request, flags, before);

    Answer answer = serve(service, request, response_bytes);
    if (answer.code != teed::gp::kSuccess && answer.code != teed::gp::kErrorBadParameters)
        std::abort();
    const auto header = decode_rpmb_request_header(request);
    bool wrote = false;
    if (answer.code == teed::gp::kSuccess && header->cmd == kRpmbCmdDataRequest) {
        RpmbFrame first;
        RpmbFrame last;
        std::memcpy(first.bytes.data(), request.data() + kRpmbRequestHeaderBytes, kRpmbFrameBytes);
        std::memcpy(last.bytes.data(), answer.response.data() + response_bytes - kRpmbFrameBytes,
                    kRpmbFrameBytes);
        if (last.msg_type() != first.msg_type() << 8) std::abort();
        wrote = first.msg_type() == kRpmbReqDataWrite &&
                (last.op_result() & kRpmbResultMask) == kRpmbResultOk;
    }
    const uint32_t after = read_counter(service);
    if (after != before + (wrote ? 1 : 0)) std::abort();
    return 0;
}
