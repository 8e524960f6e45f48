// RPMB: the frame format and MAC, and the service's handling of OP-TEE's requests in front of
// the emulated eMMC partition (JEDEC semantics; real files in temporary directories).

#include <thread>

#include "tests/unit/backends/rpmb_test_support.h"

namespace teed::supplicant::rpmbtest {
namespace {

// ---------------------------------------------------------------------------------------------
// The frame

TEST(AnRpmbFrame, KeepsItsFieldsBigEndianAtTheJedecOffsets) {
    RpmbFrame frame;
    frame.set_write_counter(0x01020304);
    frame.set_address(0x0506);
    frame.set_block_count(0x0708);
    frame.set_op_result(0x090A);
    frame.set_msg_type(0x0B0C);
    const std::vector<uint8_t> tail(frame.bytes.begin() + 500, frame.bytes.end());
    EXPECT_EQ(tail, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
    EXPECT_EQ(frame.write_counter(), 0x01020304u);
    EXPECT_EQ(frame.address(), 0x0506);
    EXPECT_EQ(frame.block_count(), 0x0708);
    EXPECT_EQ(frame.op_result(), 0x090A);
    EXPECT_EQ(frame.msg_type(), 0x0B0C);
    EXPECT_EQ(frame.key_mac().data() - frame.bytes.data(), 196);
    EXPECT_EQ(frame.data().data() - frame.bytes.data(), 228);
    EXPECT_EQ(frame.nonce().data() - frame.bytes.data(), 484);
}

// Known answers computed independently (Python's hmac over bytes [228, 512) of each frame).
TEST(AnRpmbMac, IsHmacSha256OverTheFramesFromTheirDataOn) {
    RpmbFrame first;
    std::fill(first.bytes.begin(), first.bytes.begin() + 196, 0xAA);
    for (size_t i = 0; i < kRpmbDataBytes; ++i) first.data()[i] = static_cast<uint8_t>(i);
    for (size_t i = 0; i < kRpmbNonceBytes; ++i) first.nonce()[i] = static_cast<uint8_t>(i);
    first.set_write_counter(0x01020304);
    first.set_address(0x0506);
    first.set_block_count(1);
    first.set_msg_type(kRpmbRespDataWrite);
    RpmbKey key;
    for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i);

    auto hex = [](const RpmbMac& mac) {
        std::string text;
        char digits[3];
        for (uint8_t byte : mac) {
            std::snprintf(digits, sizeof(digits), "%02x", byte);
            text += digits;
        }
        return text;
    };
    EXPECT_EQ(hex(rpmb_mac(key, std::span(&first, 1))),
              "a5a8d281ab13ffd0f44a82e51a359e5cae7cba334981fadd2c6fc731f1404882");
    RpmbFrame second = first;
    for (size_t i = 0; i < kRpmbDataBytes; ++i) second.data()[i] = static_cast<uint8_t>(255 - i);
    std::vector<RpmbFrame> both{first, second};
    EXPECT_EQ(hex(rpmb_mac(key, both)),
              "2abbbcee726729378d220fe703254cf3a87c494f6b037b9c45afd9de41a4aaa1");
}

TEST(AnRpmbMac, CoversEveryFieldAfterTheMacButNotTheStuffBytes) {
    const RpmbKey key = test_key();
    std::vector<RpmbFrame> frames = RpmbClient::write_frames(3, {block_of(1), block_of(2)}, 9);
    rpmb_sign(key, frames);
    ASSERT_TRUE(rpmb_mac_matches(key, frames));

    for (size_t offset : {size_t{228}, size_t{483}, size_t{484}, size_t{500}, size_t{504},
                          size_t{506}, size_t{508}, size_t{511}}) {
        for (size_t frame : {size_t{0}, size_t{1}}) {
            auto tampered = frames;
            tampered[frame].bytes[offset] ^= 0x01;
            EXPECT_FALSE(rpmb_mac_matches(key, tampered))
                << "frame " << frame << " byte " << offset;
        }
    }
    auto stuffed = frames;
    stuffed[0].bytes[0] ^= 0xFF;
    stuffed[1].bytes[195] ^= 0xFF;
    EXPECT_TRUE(rpmb_mac_matches(key, stuffed));
    EXPECT_FALSE(rpmb_mac_matches(test_key(0x41), frames));
    EXPECT_FALSE(rpmb_mac_matches(key, {}));
}

TEST(AnRpmbRequestHeader, IsThreeHostOrderWords) {
    std::vector<uint8_t> bytes(kRpmbRequestHeaderBytes);
    encode_rpmb_request_header({.cmd = 1, .dev_id = 2, .block_count = 0x0304}, bytes);
    uint16_t words[3];
    std::memcpy(words, bytes.data(), sizeof(words));
    EXPECT_EQ(words[0], 1);
    EXPECT_EQ(words[1], 2);
    EXPECT_EQ(words[2], 0x0304);
    auto header = decode_rpmb_request_header(bytes);
    ASSERT_TRUE(header);
    EXPECT_EQ(header->block_count, 0x0304);
    EXPECT_FALSE(decode_rpmb_request_header(std::span(bytes).first(5)));
}

TEST(AnRpmbDevInfo, IsCidSizeReliableWriteCountAndRetCode) {
    RpmbDevInfoReply reply{
        .info = {.cid = kDefaultEmulatedCid, .rpmb_size_mult = 2, .rel_wr_sec_c = 3},
        .ret_code = kRpmbDevInfoOk};
    std::vector<uint8_t> bytes(kRpmbDevInfoBytes);
    encode_rpmb_dev_info(reply, bytes);
    EXPECT_TRUE(std::equal(kDefaultEmulatedCid.begin(), kDefaultEmulatedCid.end(), bytes.begin()));
    EXPECT_EQ(bytes[16], 2);
    EXPECT_EQ(bytes[17], 3);
    EXPECT_EQ(bytes[18], kRpmbDevInfoOk);
    auto decoded = decode_rpmb_dev_info(bytes);
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->info.block_count(), 2 * 512u);
    EXPECT_EQ(decoded->info.max_write_frames(), 6u);
    bytes.push_back(0);
    EXPECT_FALSE(decode_rpmb_dev_info(bytes));
}

TEST(RpmbNames, NameMessageTypesAndResults) {
    EXPECT_EQ(rpmb_msg_type_name(kRpmbReqDataWrite), "WRITE_DATA");
    EXPECT_EQ(rpmb_msg_type_name(kRpmbRespDataRead), "READ_DATA response");
    EXPECT_EQ(rpmb_msg_type_name(0x0042), "0x0042");
    EXPECT_EQ(rpmb_result_name(kRpmbResultAuthFailure), "AUTH_FAILURE");
    EXPECT_EQ(rpmb_result_name(kRpmbResultKeyNotProgrammed), "KEY_NOT_PROGRAMMED");
    EXPECT_EQ(rpmb_result_name(kRpmbResultWriteFailure | kRpmbResultCounterExpired),
              "WRITE_FAILURE (WRITE_COUNTER_EXPIRED)");
    EXPECT_EQ(rpmb_result_name(0x1F), "0x1f");
}

// ---------------------------------------------------------------------------------------------
// The service in front of an emulated partition

class AnRpmbService : public RpmbServiceTest {};

TEST_F(AnRpmbService, AnswersDeviceInfoOfTheEmulation) {
    Answer answer = client_->dev_info();
    ASSERT_EQ(answer.outcome.code, gp::kSuccess) << answer.outcome.reason;
    EXPECT_EQ(answer.response_size, kRpmbDevInfoBytes);
    auto reply = decode_rpmb_dev_info(answer.response);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->ret_code, kRpmbDevInfoOk);
    EXPECT_EQ(reply->info.cid, kDefaultEmulatedCid);
    EXPECT_EQ(reply->info.rpmb_size_mult, 1);
    EXPECT_EQ(reply->info.rel_wr_sec_c, 1);
}

TEST_F(AnRpmbService, AnswersTheConfiguredGeometry) {
    RpmbCid cid{};
    cid.fill(0x5A);
    file_ = dir_.path() + "/other.img";
    open({.size_mult = 3, .rel_wr_sec_c = 2, .cid = cid});
    auto reply = decode_rpmb_dev_info(client_->dev_info().response);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->info.cid, cid);
    EXPECT_EQ(reply->info.rpmb_size_mult, 3);
    EXPECT_EQ(reply->info.rel_wr_sec_c, 2);
    EXPECT_EQ(std::filesystem::file_size(file_), 128 + 3 * 128 * 1024 + 32u);
}

TEST_F(AnRpmbService, ReportsKeyNotProgrammedBeforeTheKeyIs) {
    Answer counter = client_->read_counter();
    ASSERT_EQ(counter.outcome.code, gp::kSuccess);
    EXPECT_EQ(counter.frame().msg_type(), kRpmbRespWriteCounterRead);
    EXPECT_EQ(counter.frame().op_result(), kRpmbResultKeyNotProgrammed);
    EXPECT_THAT(counter.outcome.reason, HasSubstr("KEY_NOT_PROGRAMMED"));
    EXPECT_EQ(counter.outcome.level, LogLevel::Debug);

    Answer read = client_->read(0, 1);
    EXPECT_EQ(read.frame().op_result(), kRpmbResultKeyNotProgrammed);
    Answer write = client_->data(client_->signed_write(0, {block_of(1)}, 0), 1);
    EXPECT_EQ(write.outcome.code, gp::kSuccess);
    EXPECT_EQ(write.frame().msg_type(), kRpmbRespDataWrite);
    EXPECT_EQ(write.frame().op_result(), kRpmbResultKeyNotProgrammed);
}

TEST_F(AnRpmbService, ProgramsTheKeyOnceOnly) {
    Answer first = client_->program_key();
    ASSERT_EQ(first.outcome.code, gp::kSuccess);
    EXPECT_EQ(first.frame().msg_type(), kRpmbRespProgramKey);
    EXPECT_EQ(first.frame().op_result(), kRpmbResultOk);
    EXPECT_TRUE(first.outcome.reason.empty()) << first.outcome.reason;

    RpmbClient intruder(*service_, test_key(0x99));
    Answer second = intruder.program_key();
    EXPECT_EQ(second.outcome.code, gp::kSuccess);
    EXPECT_EQ(second.frame().op_result(), kRpmbResultGeneralFailure);
    EXPECT_THAT(second.outcome.reason, HasSubstr("GENERAL_FAILURE"));
    // The first key is still the one the device uses.
    Answer counter = client_->read_counter();
    EXPECT_TRUE(rpmb_mac_matches(client_->key(), counter.frames()));
    EXPECT_FALSE(rpmb_mac_matches(intruder.key(), counter.frames()));
}

TEST_F(AnRpmbService, RefusesToProgramAKeySpreadOverTwoFrames) {
    RpmbFrame frame;
    frame.set_msg_type(kRpmbReqProgramKey);
    std::ranges::copy(client_->key(), frame.key_mac().begin());
    Answer answer = client_->data({frame, frame}, 1);
    EXPECT_EQ(answer.frame().op_result(), kRpmbResultGeneralFailure);
    EXPECT_EQ(client_->read_counter().frame().op_result(), kRpmbResultKeyNotProgrammed);
}

TEST_F(AnRpmbService, SignsTheWriteCounterWithTheRequestsNonce) {
    program();
    const RpmbNonce nonce = nonce_of(0x77);
    Answer answer = client_->read_counter(nonce);
    RpmbFrame frame = answer.frame();
    EXPECT_EQ(frame.msg_type(), kRpmbRespWriteCounterRead);
    EXPECT_EQ(frame.op_result(), kRpmbResultOk);
    EXPECT_EQ(frame.write_counter(), 0u);
    EXPECT_TRUE(std::ranges::equal(frame.nonce(), nonce));
    EXPECT_TRUE(rpmb_mac_matches(client_->key(), std::span(&frame, 1)));
    EXPECT_EQ(answer.response_size, kRpmbFrameBytes);
}

TEST_F(AnRpmbService, WritesAuthenticatedBlocksAndCountsTheWrites) {
    program();
    Answer write = client_->write(10, {block_of(1)});
    ASSERT_EQ(write.outcome.code, gp::kSuccess);
    RpmbFrame result = write.frame();
    EXPECT_EQ(result.msg_type(), kRpmbRespDataWrite);
    EXPECT_EQ(result.op_result(), kRpmbResultOk);
    EXPECT_EQ(result.write_counter(), 1u);
    EXPECT_EQ(result.address(), 10);
    EXPECT_TRUE(rpmb_mac_matches(client_->key(), std::span(&result, 1)));
    EXPECT_EQ(client_->counter(), 1u);

    ASSERT_EQ(client_->write(11, {block_of(2), block_of(3)}).frame().op_result(), kRpmbResultOk);
    EXPECT_EQ(client_->counter(), 2u);  // one write of two frames counts once
}

TEST_F(AnRpmbService, ReadsBlocksBackSignedOverAllFrames) {
    program();
    ASSERT_EQ(client_->write(20, {block_of(5), block_of(6)}).frame().op_result(), kRpmbResultOk);
    const RpmbNonce nonce = nonce_of(0x31);
    Answer read = client_->read(19, 4, nonce);
    ASSERT_EQ(read.outcome.code, gp::kSuccess);
    auto frames = read.frames();
    ASSERT_EQ(frames.size(), 4u);
    EXPECT_TRUE(rpmb_mac_matches(client_->key(), frames));
    for (const RpmbFrame& frame : frames) {
        EXPECT_EQ(frame.msg_type(), kRpmbRespDataRead);
        EXPECT_EQ(frame.op_result(), kRpmbResultOk);
        EXPECT_EQ(frame.address(), 19);
        EXPECT_EQ(frame.block_count(), 4);
        EXPECT_TRUE(std::ranges::equal(frame.nonce(), nonce));
    }
    EXPECT_TRUE(std::ranges::equal(frames[0].data(), std::vector<uint8_t>(kRpmbDataBytes, 0)));
    EXPECT_TRUE(std::ranges::equal(frames[1].data(), block_of(5)));
    EXPECT_TRUE(std::ranges::equal(frames[2].data(), block_of(6)));
    EXPECT_TRUE(std::ranges::equal(frames[3].data(), std::vector<uint8_t>(kRpmbDataBytes, 0)));
    // Only the last frame carries the MAC; a MAC over the last frame alone does not verify.
    EXPECT_FALSE(rpmb_mac_matches(client_->key(), std::span(frames).last(1)));
}

TEST_F(AnRpmbService, AnswersAuthFailureForABadMacAndKeepsTheData) {
    program();
    ASSERT_EQ(client_->write(4, {block_of(1)}).frame().op_result(), kRpmbResultOk);
    auto frames = client_->signed_write(4, {block_of(9)}, 1);
    frames[0].data()[17] ^= 0x20;  // changed after signing
    Answer answer = client_->data(frames, 1);
    EXPECT_EQ(answer.outcome.code, gp::kSuccess);
    EXPECT_EQ(answer.frame().op_result(), kRpmbResultAuthFailure);
    EXPECT_EQ(answer.frame().write_counter(), 1u);
    EXPECT_THAT(answer.outcome.reason, HasSubstr("AUTH_FAILURE"));
    EXPECT_THAT(answer.outcome.reason, HasSubstr("WRITE_DATA at block 4"));
    EXPECT_EQ(answer.outcome.level, LogLevel::Warning);
    EXPECT_EQ(client_->counter(), 1u);
    EXPECT_TRUE(std::ranges::equal(client_->read(4, 1).frame().data(), block_of(1)));

    RpmbClient stranger(*service_, test_key(0x10));
    EXPECT_EQ(stranger.data(stranger.signed_write(4, {block_of(9)}, 1), 1).frame().op_result(),
              kRpmbResultAuthFailure);
}

TEST_F(AnRpmbService, AnswersCounterFailureForAReplayedWrite) {
    program();
    auto first = client_->signed_write(7, {block_of(1)}, 0);
    ASSERT_EQ(client_->data(first, 1).frame().op_result(), kRpmbResultOk);
    ASSERT_EQ(client_->write(7, {block_of(2)}).frame().op_result(), kRpmbResultOk);

    Answer replay = client_->data(first, 1);
    EXPECT_EQ(replay.frame().op_result(), kRpmbResultCounterFailure);
    EXPECT_EQ(replay.frame().write_counter(), 2u);
    EXPECT_EQ(replay.outcome.level, LogLevel::Warning);
    EXPECT_TRUE(std::ranges::equal(client_->read(7, 1).frame().data(), block_of(2)));
    Answer ahead = client_->data(client_->signed_write(7, {block_of(3)}, 5), 1);
    EXPECT_EQ(ahead.frame().op_result(), kRpmbResultCounterFailure);
    EXPECT_EQ(client_->counter(), 2u);
}

TEST_F(AnRpmbService, AnswersAddressFailureOutsideThePartition) {
    program();
    EXPECT_EQ(client_->write(kBlocks - 1, {block_of(1)}).frame().op_result(), kRpmbResultOk);
    Answer past_end = client_->write(kBlocks, {block_of(1)});
    EXPECT_EQ(past_end.frame().op_result(), kRpmbResultAddressFailure);
    EXPECT_THAT(past_end.outcome.reason, HasSubstr("ADDRESS_FAILURE"));
    EXPECT_EQ(client_->write(kBlocks - 1, {block_of(1), block_of(2)}).frame().op_result(),
              kRpmbResultAddressFailure);
    EXPECT_EQ(client_->write(0xFFFF, {block_of(1)}).frame().op_result(), kRpmbResultAddressFailure);
    EXPECT_EQ(client_->counter(), 1u);

    EXPECT_EQ(client_->read(kBlocks - 1, 1).frame().op_result(), kRpmbResultOk);
    Answer read = client_->read(kBlocks - 2, 3);
    ASSERT_EQ(read.outcome.code, gp::kSuccess);
    for (const RpmbFrame& frame : read.frames()) {
        EXPECT_EQ(frame.op_result(), kRpmbResultAddressFailure);
        EXPECT_TRUE(std::ranges::equal(frame.data(), std::vector<uint8_t>(kRpmbDataBytes, 0)));
    }
    EXPECT_EQ(client_->read(0xFFFF, 1).frame().op_result(), kRpmbResultAddressFailure);
}

TEST_F(AnRpmbService, AnswersGeneralFailureForBlockCountsTheDeviceCannotWrite) {
    program();
    // rel_wr_sec_c 1: one 512-byte sector, so at most two 256-byte frames per write.
    Answer three = client_->write(0, {block_of(1), block_of(2), block_of(3)});
    EXPECT_EQ(three.frame().op_result(), kRpmbResultGeneralFailure);

    auto zero = RpmbClient::write_frames(0, {block_of(1)}, client_->counter());
    zero[0].set_block_count(0);
    rpmb_sign(client_->key(), zero);
    EXPECT_EQ(client_->data(zero, 1).frame().op_result(), kRpmbResultGeneralFailure);

    auto mismatched = RpmbClient::write_frames(0, {block_of(1)}, client_->counter());
    mismatched[0].set_block_count(2);
    rpmb_sign(client_->key(), mismatched);
    EXPECT_EQ(client_->data(mismatched, 1).frame().op_result(), kRpmbResultGeneralFailure);
    EXPECT_EQ(client_->counter(), 0u);
}

TEST_F(AnRpmbService, WritesAsManyFramesAsTheReliableWriteCountAllows) {
    file_ = dir_.path() + "/wide.img";
    open({.rel_wr_sec_c = 2});
    program();
    std::vector<std::vector<uint8_t>> four{block_of(1), block_of(2), block_of(3), block_of(4)};
    EXPECT_EQ(client_->write(0, four).frame().op_result(), kRpmbResultOk);
    four.push_back(block_of(5));
    EXPECT_EQ(client_->write(0, four).frame().op_result(), kRpmbResultGeneralFailure);
}

TEST_F(AnRpmbService, SetsTheExpiredBitOnceTheCounterIsSpent) {
    program();
    service_.reset();
    edit_emulation_file(file_, [](std::vector<uint8_t>& bytes) {
        // The write counter, little-endian at offset 16: 0xFFFFFFFE.
        bytes[16] = 0xFE;
        bytes[17] = bytes[18] = bytes[19] = 0xFF;
    });
    open();
    ASSERT_EQ(client_->counter(), 0xFFFFFFFEu);

    Answer last = client_->write(1, {block_of(8)});
    EXPECT_EQ(last.frame().op_result(), kRpmbResultOk | kRpmbResultCounterExpired);
    EXPECT_EQ(last.frame().write_counter(), 0xFFFFFFFFu);
    EXPECT_THAT(last.outcome.reason, HasSubstr("WRITE_COUNTER_EXPIRED"));

    Answer refused = client_->write(2, {block_of(9)});
    EXPECT_EQ(refused.frame().op_result(), kRpmbResultWriteFailure | kRpmbResultCounterExpired);
    EXPECT_EQ(client_->read_counter().frame().op_result(), kRpmbResultCounterExpired);
    Answer read = client_->read(1, 2);
    EXPECT_EQ(read.frames()[0].op_result(), kRpmbResultCounterExpired);
    EXPECT_TRUE(std::ranges::equal(read.frames()[0].data(), block_of(8)));
    EXPECT_TRUE(
        std::ranges::equal(read.frames()[1].data(), std::vector<uint8_t>(kRpmbDataBytes, 0)));
}

TEST_F(AnRpmbService, ServesConcurrentReadersEachWithItsOwnAnswer) {
    program();
    ASSERT_EQ(client_->write(3, {block_of(3)}).frame().op_result(), kRpmbResultOk);
    std::vector<std::thread> threads;
    std::vector<int> failures(4, 0);
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            RpmbClient reader(*service_, test_key());
            for (int i = 0; i < 50; ++i) {
                const RpmbNonce nonce = nonce_of(static_cast<uint8_t>(t * 64 + i));
                auto frames = reader.read(3, 1, nonce).frames();
                bool good = frames.size() == 1 && rpmb_mac_matches(reader.key(), frames) &&
                            std::ranges::equal(frames[0].nonce(), nonce) &&
                            std::ranges::equal(frames[0].data(), block_of(3));
                failures[t] += good ? 0 : 1;
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(failures, std::vector<int>(4, 0));
}

// RPC-level refusals: nothing reaches the device.

TEST_F(AnRpmbService, RefusesOtherParamTypes) {
    std::vector<uint8_t> request(kRpmbRequestHeaderBytes);
    encode_rpmb_request_header({.cmd = kRpmbCmdGetDevInfo}, request);
    expect_refused(
        client_->call(request, kRpmbDevInfoBytes, TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT),
        "param 0");
    expect_refused(client_->call(request, kRpmbDevInfoBytes, kMemrefIn,
                                 TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT),
                   "param 1");

    RpcRequest three{.command = kCmdRpmb};
    three.params.resize(3);
    three.params[0].type = kMemrefIn;
    three.params[1].type = kMemrefOut;
    expect_refused({service_->serve(three)}, "expected 2 params");
}

TEST_F(AnRpmbService, RefusesMemrefsWithoutBuffers) {
    RpcRequest rpc{.command = kCmdRpmb};
    rpc.params.push_back({.type = kMemrefIn, .b = 6, .c = TEE_MEMREF_NULL});
    rpc.params.push_back({.type = kMemrefOut, .b = 19, .c = TEE_MEMREF_NULL});
    expect_refused({service_->serve(rpc)}, "need buffers");
}

TEST_F(AnRpmbService, RefusesARequestShorterThanItsHeader) {
    expect_refused(client_->call({0, 0, 0, 0, 0}, kRpmbDevInfoBytes), "shorter than its header");
}

TEST_F(AnRpmbService, RefusesAnotherDevId) {
    std::vector<uint8_t> request(kRpmbRequestHeaderBytes);
    encode_rpmb_request_header({.cmd = kRpmbCmdGetDevInfo, .dev_id = 1}, request);
    expect_refused(client_->call(request, kRpmbDevInfoBytes), "dev_id 1");
    program();
    expect_refused(client_->data(client_->signed_write(0, {block_of(1)}, 0), 1, 0, /*dev_id=*/3),
                   "dev_id 3");
    EXPECT_EQ(client_->counter(), 0u);
}

TEST_F(AnRpmbService, ServesTheDevIdItWasGiven) {
    service_.reset();
    auto device = open_emulated_rpmb(file_, {});
    ASSERT_TRUE(device.ok());
    RpmbService service(std::move(device).value(), /*dev_id=*/2);
    RpmbClient client(service, test_key());
    std::vector<uint8_t> request(kRpmbRequestHeaderBytes);
    encode_rpmb_request_header({.cmd = kRpmbCmdGetDevInfo, .dev_id = 2}, request);
    EXPECT_EQ(client.call(request, kRpmbDevInfoBytes).outcome.code, gp::kSuccess);
    expect_refused(client.dev_info(), "dev_id 0");
}

TEST_F(AnRpmbService, RefusesUnknownCommands) {
    std::vector<uint8_t> request(kRpmbRequestHeaderBytes);
    encode_rpmb_request_header({.cmd = 2}, request);
    expect_refused(client_->call(request, kRpmbDevInfoBytes), "unknown command 2");
}

TEST_F(AnRpmbService, RefusesDeviceInfoRequestsOfOtherSizes) {
    std::vector<uint8_t> request(kRpmbRequestHeaderBytes);
    encode_rpmb_request_header({.cmd = kRpmbCmdGetDevInfo}, request);
    expect_refused(client_->call(request, kRpmbDevInfoBytes + 1), "20-byte response");
    expect_refused(client_->call(request, kRpmbDevInfoBytes - 1), "18-byte response");
    request.push_back(0);
    expect_refused(client_->call(request, kRpmbDevInfoBytes), "1 bytes after the header");
}

TEST_F(AnRpmbService, RefusesFrameCountsThatDoNotMatchTheMemrefSizes) {
    program();
    std::vector<uint8_t> request(kRpmbRequestHeaderBytes + kRpmbFrameBytes - 1);
    encode_rpmb_request_header({.cmd = kRpmbCmdDataRequest}, request);
    expect_refused(client_->call(request, kRpmbFrameBytes), "not a whole number");
    request.resize(kRpmbRequestHeaderBytes);
    expect_refused(client_->call(request, kRpmbFrameBytes), "carries 0 bytes");

    RpmbFrame counter;
    counter.set_msg_type(kRpmbReqWriteCounterRead);
    request.resize(kRpmbRequestHeaderBytes + kRpmbFrameBytes);
    std::memcpy(request.data() + kRpmbRequestHeaderBytes, counter.bytes.data(), kRpmbFrameBytes);
    expect_refused(client_->call(request, kRpmbFrameBytes + 1), "response of 513 bytes");
    expect_refused(client_->call(request, 0), "response of 0 bytes");
}

TEST_F(AnRpmbService, RefusesFrameCountsTheMessageTypeDoesNotAllow) {
    program();
    RpmbFrame counter;
    counter.set_msg_type(kRpmbReqWriteCounterRead);
    expect_refused(client_->data({counter}, 2), "write counter read takes 1");
    expect_refused(client_->data({counter, counter}, 1), "write counter read takes 1");

    expect_refused(client_->data(client_->signed_write(0, {block_of(1)}, 0), 2), "1 result frame");
    RpmbFrame key;
    key.set_msg_type(kRpmbReqProgramKey);
    expect_refused(client_->data({key}, 2), "1 result frame");

    RpmbFrame read;
    read.set_msg_type(kRpmbReqDataRead);
    expect_refused(client_->data({read, read}, 1, 1), "data read takes 1 request frame");
    EXPECT_EQ(client_->counter(), 0u);
}

TEST_F(AnRpmbService, RefusesAReadWhoseBlockCountDisagreesWithItsResponse) {
    program();
    RpmbFrame read;
    read.set_msg_type(kRpmbReqDataRead);
    expect_refused(client_->data({read}, 1, /*block_count=*/0), "block_count 0");
    expect_refused(client_->data({read}, 2, /*block_count=*/3), "block_count 3");
}

TEST_F(AnRpmbService, RefusesMixedAndUnknownMessageTypes) {
    program();
    auto frames = client_->signed_write(0, {block_of(1), block_of(2)}, 0);
    frames[1].set_msg_type(kRpmbReqDataRead);
    expect_refused(client_->data(frames, 1), "not all of message type WRITE_DATA");

    for (uint16_t type : {uint16_t{0}, kRpmbReqResultRead, kRpmbRespDataWrite, uint16_t{0x0009}}) {
        RpmbFrame frame;
        frame.set_msg_type(type);
        expect_refused(client_->data({frame}, 1), "is not a request OP-TEE sends");
    }
    EXPECT_EQ(client_->counter(), 0u);
}

}  // namespace
}  // namespace teed::supplicant::rpmbtest
