#include "common/channel_frame.h"

#include <cstring>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace teed::channel {
namespace {

using ::testing::HasSubstr;

Frame sample_request() {
    FrameParam memref{.type = 0x7, .data = {1, 2, 3}, .size = 16};
    FrameParam registered{.type = 0xd, .shm = "/org/teed/Teed1/shm/abc", .offset = 8, .size = 4};
    FrameParam value{.type = 0x3, .a = 0x1122334455667788, .b = 9};
    return Frame{.tag = 77,
                 .body = InvokeRequest{.command = 5, .cancel_id = 3,
                                       .params = {memref, registered, value}}};
}

void put32(std::vector<uint8_t>& bytes, size_t at, uint32_t value) {
    std::memcpy(bytes.data() + at, &value, sizeof value);  // the tests run on little-endian hosts
}

TEST(ChannelFrameTest, RequestRoundTrips) {
    Frame frame = sample_request();
    auto decoded = decode(encode(frame), {});
    ASSERT_TRUE(decoded.ok()) << decoded.error().message();
    EXPECT_EQ(decoded.value(), frame);
}

TEST(ChannelFrameTest, RepliesRoundTrip) {
    Frame reply{.tag = 1, .body = InvokeReply{.return_origin = 4, .return_code = 0xFFFF0010,
                                              .params = {FrameParam{.type = 6, .data = {9}, .size = 1}}}};
    Frame error{.tag = 2, .body = ErrorReply{"org.teed.Teed1.Error.NotFound", "no such thing"}};
    EXPECT_EQ(decode(encode(reply), {}).value(), reply);
    EXPECT_EQ(decode(encode(error), {}).value(), error);
}

TEST(ChannelFrameTest, HeaderIsLittleEndianWithTheBodyLength) {
    auto bytes = encode(Frame{.tag = 0x0102030405060708, .body = InvokeRequest{.command = 1}});
    ASSERT_EQ(bytes.size(), kHeaderSize + 16);
    EXPECT_EQ(bytes[0], kVersion);
    EXPECT_EQ(bytes[1], 0x01);
    EXPECT_EQ(bytes[4], 16);  // body length, low byte first
    EXPECT_EQ(bytes[8], 0x08);
    EXPECT_EQ(bytes[15], 0x01);
}

TEST(ChannelFrameTest, RejectsUnknownVersion) {
    auto bytes = encode(sample_request());
    bytes[0] = 2;
    auto decoded = decode(bytes, {});
    ASSERT_FALSE(decoded.ok());
    EXPECT_THAT(decoded.error().message(), HasSubstr("unknown version 2"));
}

TEST(ChannelFrameTest, RejectsUnknownAndUnexpectedTypes) {
    auto bytes = encode(sample_request());
    bytes[1] = 0x42;
    EXPECT_THAT(decode(bytes, {}).error().message(), HasSubstr("unexpected type 0x42"));
    // A daemon takes no replies from its clients.
    auto reply = encode(Frame{.body = ErrorReply{"x", ""}});
    EXPECT_FALSE(decode(reply, {.accept_replies = false}).ok());
    EXPECT_FALSE(decode(encode(sample_request()), {.accept_requests = false}).ok());
}

TEST(ChannelFrameTest, RejectsReservedBits) {
    auto bytes = encode(sample_request());
    bytes[2] = 1;
    EXPECT_THAT(decode(bytes, {}).error().message(), HasSubstr("reserved"));
}

TEST(ChannelFrameTest, RejectsOversizedBodyFromTheHeaderAlone) {
    auto bytes = encode(sample_request());
    auto header = decode_header(bytes, {.max_body_bytes = 10});
    ASSERT_FALSE(header.ok());
    EXPECT_EQ(header.error().kind(), ErrorKind::LimitExceeded);
}

TEST(ChannelFrameTest, RejectsTruncatedFrames) {
    auto bytes = encode(sample_request());
    for (size_t length = 0; length < bytes.size(); ++length) {
        std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + static_cast<long>(length));
        EXPECT_FALSE(decode(prefix, {}).ok()) << "length " << length;
    }
}

TEST(ChannelFrameTest, RejectsInnerLengthsThatOverrunTheBody) {
    auto bytes = encode(Frame{.body = InvokeRequest{.params = {FrameParam{.type = 5, .data = {1}}}}});
    // param.data_length sits after header (16), request fields (16) and the fixed param part.
    size_t data_length_at = kHeaderSize + 16 + 40;
    put32(bytes, data_length_at, 1000);
    EXPECT_THAT(decode(bytes, {}).error().message(), HasSubstr("truncated at param.data"));
}

TEST(ChannelFrameTest, RejectsTrailingBytesInsideTheBody) {
    auto bytes = encode(Frame{.body = InvokeRequest{}});
    bytes.push_back(0);
    put32(bytes, 4, 17);
    EXPECT_THAT(decode(bytes, {}).error().message(), HasSubstr("after the body's end"));
}

TEST(ChannelFrameTest, RejectsTooManyParamsAndLongShmPaths) {
    Frame five{.body = InvokeRequest{.params = std::vector<FrameParam>(5)}};
    EXPECT_THAT(decode(encode(five), {}).error().message(), HasSubstr("5 params"));
    Frame long_path{.body = InvokeRequest{.params = {FrameParam{.shm = std::string(300, 'a')}}}};
    EXPECT_THAT(decode(encode(long_path), {}).error().message(), HasSubstr("shm_length"));
}

TEST(ChannelFrameTest, RejectsUnknownFlagsAndStrayCancelId) {
    auto bytes = encode(Frame{.body = InvokeRequest{}});
    put32(bytes, kHeaderSize + 4, 2);
    EXPECT_THAT(decode(bytes, {}).error().message(), HasSubstr("unknown flags"));
    bytes = encode(Frame{.body = InvokeRequest{}});
    put32(bytes, kHeaderSize + 8, 5);
    EXPECT_THAT(decode(bytes, {}).error().message(), HasSubstr("cancel_id set without"));
}

TEST(ChannelFrameTest, ReaderReassemblesFramesByteByByte) {
    Frame first = sample_request();
    Frame second{.tag = 2, .body = InvokeRequest{.command = 9}};
    auto stream = encode(first);
    auto more = encode(second);
    stream.insert(stream.end(), more.begin(), more.end());

    FrameReader reader({});
    std::vector<Frame> frames;
    size_t position = 0;
    while (position < stream.size()) {
        auto room = reader.prepare(1);
        ASSERT_EQ(room.size(), 1u);
        room[0] = stream[position++];
        reader.commit(1);
        while (auto frame = reader.next()) {
            ASSERT_TRUE(frame->ok()) << frame->error().message();
            frames.push_back(frame->value());
        }
    }
    ASSERT_EQ(frames.size(), 2u);
    EXPECT_EQ(frames[0], first);
    EXPECT_EQ(frames[1], second);
    EXPECT_EQ(reader.buffered(), 0u);
}

TEST(ChannelFrameTest, ReaderNeverReadsPastTheFrameItCompletes) {
    auto bytes = encode(sample_request());
    FrameReader reader({});
    EXPECT_EQ(reader.prepare(1 << 20).size(), kHeaderSize);
    auto room = reader.prepare(kHeaderSize);
    std::memcpy(room.data(), bytes.data(), kHeaderSize);
    reader.commit(kHeaderSize);
    EXPECT_FALSE(reader.next().has_value());
    EXPECT_EQ(reader.prepare(1 << 20).size(), bytes.size() - kHeaderSize);
}

TEST(ChannelFrameTest, ReaderReportsAMalformedHeaderAtOnce) {
    auto bytes = encode(sample_request());
    bytes[0] = 9;
    FrameReader reader({});
    auto room = reader.prepare(kHeaderSize);
    std::memcpy(room.data(), bytes.data(), kHeaderSize);
    reader.commit(kHeaderSize);
    auto frame = reader.next();
    ASSERT_TRUE(frame.has_value());
    EXPECT_FALSE(frame->ok());
}

}  // namespace
}  // namespace teed::channel
