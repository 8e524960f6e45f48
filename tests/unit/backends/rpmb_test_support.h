#pragma once
// Helpers for the RPMB tests: temporary directories, emulation files, and a client that plays
// OP-TEE's side of OPTEE_RPC_CMD_RPMB against an RpmbService through hand-built RpcRequests.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "backends/kernel/gp.h"
#include "backends/kernel/tee_uapi.h"
#include "backends/optee/supplicant/rpc_protocol.h"
#include "backends/optee/supplicant/rpmb.h"
#include "backends/optee/supplicant/rpmb_frame.h"

namespace teed::supplicant::rpmbtest {

using ::testing::HasSubstr;

inline constexpr uint32_t kBlocks = kRpmbBlocksPerSizeUnit;  // of the default 128 KiB emulation

class TempDir {
public:
    TempDir() {
        std::string pattern = ::testing::TempDir() + "teed-rpmb-XXXXXX";
        path_ = ::mkdtemp(pattern.data()) ? pattern : std::string();
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

inline std::vector<uint8_t> read_bytes(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::string& file, const std::vector<uint8_t>& bytes) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
}

// Edits an emulation file the way its format (rpmb_emulated.cpp, docs/supplicant.md) allows,
// then re-seals its checksum: for states no test could reach through the protocol in time.
inline void edit_emulation_file(const std::string& file,
                                const std::function<void(std::vector<uint8_t>&)>& edit) {
    std::vector<uint8_t> bytes = read_bytes(file);
    edit(bytes);
    unsigned int length = 0;
    EVP_Digest(bytes.data(), bytes.size() - 32, bytes.data() + bytes.size() - 32, &length,
               EVP_sha256(), nullptr);
    write_bytes(file, bytes);
}

inline std::vector<uint8_t> block_of(uint8_t seed) {
    std::vector<uint8_t> block(kRpmbDataBytes);
    for (size_t i = 0; i < block.size(); ++i) block[i] = static_cast<uint8_t>(seed + i * 7);
    return block;
}

inline RpmbNonce nonce_of(uint8_t seed) {
    RpmbNonce nonce;
    for (size_t i = 0; i < nonce.size(); ++i) nonce[i] = static_cast<uint8_t>(seed ^ (i * 13));
    return nonce;
}

struct Answer {
    RpcOutcome outcome;
    std::vector<uint8_t> response;  // the response memref's bytes after the call
    uint64_t response_size = 0;     // what the service answered as its size

    std::vector<RpmbFrame> frames() const {
        std::vector<RpmbFrame> frames(response.size() / kRpmbFrameBytes);
        std::memcpy(frames.data(), response.data(), frames.size() * kRpmbFrameBytes);
        return frames;
    }
    RpmbFrame frame() const { return frames().at(0); }
};

// Plays OP-TEE's side of OPTEE_RPC_CMD_RPMB against a service, through RpcRequests whose memrefs
// wrap the client's own vectors.
class RpmbClient {
public:
    RpmbClient(RpmbService& service, RpmbKey key) : service_(service), key_(key) {}

    const RpmbKey& key() const { return key_; }

    Answer call(const std::vector<uint8_t>& request, size_t response_bytes,
                uint32_t request_type = kMemrefIn, uint32_t response_type = kMemrefOut) {
        std::vector<uint8_t> in = request;
        Answer answer{.response = std::vector<uint8_t>(response_bytes, 0xEE)};
        RpcRequest rpc{.command = kCmdRpmb, .id = 1};
        rpc.params.push_back(param(request_type, in));
        rpc.params.push_back(param(response_type, answer.response));
        answer.outcome = service_.serve(rpc);
        answer.response_size = rpc.params[1].b;
        return answer;
    }

    Answer data(const std::vector<RpmbFrame>& frames, size_t response_frames,
                uint16_t block_count = 0, uint16_t dev_id = 0) {
        std::vector<uint8_t> request(kRpmbRequestHeaderBytes + frames.size() * kRpmbFrameBytes);
        encode_rpmb_request_header(
            {.cmd = kRpmbCmdDataRequest, .dev_id = dev_id, .block_count = block_count}, request);
        std::memcpy(request.data() + kRpmbRequestHeaderBytes, frames.data(),
                    frames.size() * kRpmbFrameBytes);
        return call(request, response_frames * kRpmbFrameBytes);
    }

    Answer dev_info() {
        std::vector<uint8_t> request(kRpmbRequestHeaderBytes);
        encode_rpmb_request_header({.cmd = kRpmbCmdGetDevInfo}, request);
        return call(request, kRpmbDevInfoBytes);
    }

    Answer program_key() {
        RpmbFrame frame;
        frame.set_msg_type(kRpmbReqProgramKey);
        std::ranges::copy(key_, frame.key_mac().begin());
        return data({frame}, 1);
    }

    Answer read_counter(const RpmbNonce& nonce = nonce_of(1)) {
        RpmbFrame frame;
        frame.set_msg_type(kRpmbReqWriteCounterRead);
        std::ranges::copy(nonce, frame.nonce().begin());
        return data({frame}, 1);
    }

    uint32_t counter() { return read_counter().frame().write_counter(); }

    static std::vector<RpmbFrame> write_frames(uint16_t address,
                                               const std::vector<std::vector<uint8_t>>& blocks,
                                               uint32_t counter) {
        std::vector<RpmbFrame> frames(blocks.size());
        for (size_t i = 0; i < blocks.size(); ++i) {
            frames[i].set_msg_type(kRpmbReqDataWrite);
            frames[i].set_address(address);
            frames[i].set_block_count(static_cast<uint16_t>(blocks.size()));
            frames[i].set_write_counter(counter);
            std::ranges::copy(blocks[i], frames[i].data().begin());
        }
        return frames;
    }

    std::vector<RpmbFrame> signed_write(uint16_t address,
                                        const std::vector<std::vector<uint8_t>>& blocks,
                                        uint32_t counter) {
        auto frames = write_frames(address, blocks, counter);
        rpmb_sign(key_, frames);
        return frames;
    }

    Answer write(uint16_t address, const std::vector<std::vector<uint8_t>>& blocks) {
        return data(signed_write(address, blocks, counter()), 1);
    }

    Answer read(uint16_t address, uint16_t count, const RpmbNonce& nonce = nonce_of(2)) {
        RpmbFrame frame;
        frame.set_msg_type(kRpmbReqDataRead);
        frame.set_address(address);
        std::ranges::copy(nonce, frame.nonce().begin());
        return data({frame}, count, count);
    }

private:
    static RpcParam param(uint32_t type, std::vector<uint8_t>& bytes) {
        RpcParam param{.type = type, .a = 0, .b = bytes.size(), .c = 7};
        param.memory = RpcMemref::wrap(bytes);
        return param;
    }

    RpmbService& service_;
    RpmbKey key_;
};

inline RpmbKey test_key(uint8_t seed = 0x40) {
    RpmbKey key;
    for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(seed + i);
    return key;
}

// An RpmbService in front of a fresh emulation file in a temporary directory.
class RpmbServiceTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(dir_.path().empty());
        file_ = dir_.path() + "/rpmb.img";
        open();
    }

    void open(const EmulatedRpmbOptions& options = {}) {
        service_.reset();
        auto device = open_emulated_rpmb(file_, options);
        ASSERT_TRUE(device.ok()) << device.error().message();
        service_ = std::make_unique<RpmbService>(std::move(device).value());
        client_ = std::make_unique<RpmbClient>(*service_, test_key());
    }

    void program() {
        Answer answer = client_->program_key();
        ASSERT_EQ(answer.outcome.code, gp::kSuccess) << answer.outcome.reason;
        ASSERT_EQ(answer.frame().op_result(), kRpmbResultOk);
    }

    void expect_refused(const Answer& answer, const std::string& reason_part) {
        EXPECT_EQ(answer.outcome.code, gp::kErrorBadParameters);
        EXPECT_THAT(answer.outcome.reason, HasSubstr(reason_part));
        EXPECT_EQ(answer.outcome.level, LogLevel::Warning);
    }

    TempDir dir_;
    std::string file_;
    std::unique_ptr<RpmbService> service_;
    std::unique_ptr<RpmbClient> client_;
};

}  // namespace teed::supplicant::rpmbtest
