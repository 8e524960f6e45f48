#pragma once
// The session channel's frame format (docs/channel.md): what travels over the socket
// Session.OpenChannel hands out, in both directions. Version 1, little-endian, length-prefixed.
//
//   header (16 bytes): u8 version, u8 type, u16 reserved (0), u32 body_length, u64 tag
//   Invoke       (0x01, client to teed): u32 command, u32 flags, u32 cancel_id, u32 count, params
//   InvokeReply  (0x81, teed to client): u32 return_origin, u32 return_code, u32 count, params
//   ErrorReply   (0xff, teed to client): u32 name_length, u32 message_length, name, message
//   param: u32 type, u32 reserved (0), u64 a, u64 b, u64 offset, u64 size,
//          u32 data_length, u32 shm_length, data bytes, shm bytes
//
// Both ends use the same code: the daemon decodes requests and encodes replies, the client library
// the reverse. Decoding checks every field and never trusts a length before checking it against
// what is left and against the limits.
//
//   FrameReader reader(limits);
//   auto span = reader.prepare(4096); size_t n = read(fd, span.data(), span.size()); reader.commit(n);
//   while (auto frame = reader.next()) { if (!frame->ok()) close(); else handle(frame->value()); }

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"

namespace teed::channel {

inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kHeaderSize = 16;
inline constexpr size_t kParamFixedSize = 48;
inline constexpr uint32_t kMaxParams = 4;
inline constexpr size_t kMaxShmPathBytes = 255;
inline constexpr size_t kMaxErrorNameBytes = 255;
inline constexpr size_t kMaxErrorMessageBytes = 4096;
// Invoke flags.
inline constexpr uint32_t kFlagCancelId = 1u << 0;  // cancel_id is meaningful

enum class FrameType : uint8_t {
    Invoke = 0x01,
    InvokeReply = 0x81,
    ErrorReply = 0xff,
};

// One GlobalPlatform parameter, with the same fields and meaning as on D-Bus (a(uttayott)).
struct FrameParam {
    uint32_t type = 0;
    uint64_t a = 0;
    uint64_t b = 0;
    std::vector<uint8_t> data;
    std::string shm;  // a shared-memory object path; empty or "/" for none
    uint64_t offset = 0;
    uint64_t size = 0;

    friend bool operator==(const FrameParam&, const FrameParam&) = default;
};

struct InvokeRequest {
    uint32_t command = 0;
    std::optional<uint32_t> cancel_id;
    std::vector<FrameParam> params;

    friend bool operator==(const InvokeRequest&, const InvokeRequest&) = default;
};

struct InvokeReply {
    uint32_t return_origin = 0;
    uint32_t return_code = 0;
    std::vector<FrameParam> params;

    friend bool operator==(const InvokeReply&, const InvokeReply&) = default;
};

// What teed refused or could not do: the same D-Bus error name and message a method call gets.
struct ErrorReply {
    std::string name;
    std::string message;

    friend bool operator==(const ErrorReply&, const ErrorReply&) = default;
};

struct Frame {
    uint64_t tag = 0;  // chosen by the client, echoed in the reply
    std::variant<InvokeRequest, InvokeReply, ErrorReply> body;

    friend bool operator==(const Frame&, const Frame&) = default;
};

struct Limits {
    size_t max_body_bytes = 128u << 20;
    // Which frame types this end accepts (a daemon takes requests, a client replies).
    bool accept_requests = true;
    bool accept_replies = true;
};

// The body size a request or reply with these parameters needs, to size limits by.
size_t body_overhead(size_t param_count);

std::vector<uint8_t> encode(const Frame& frame);

struct Header {
    uint8_t version = 0;
    FrameType type = FrameType::Invoke;
    uint32_t body_length = 0;
    uint64_t tag = 0;
};

// InvalidArgument, naming the field, for anything that is not a well-formed frame within `limits`.
Result<Header> decode_header(std::span<const uint8_t> bytes, const Limits& limits);
Result<Frame> decode_body(const Header& header, std::span<const uint8_t> body);
// A whole frame, header and body, with nothing after it.
Result<Frame> decode(std::span<const uint8_t> bytes, const Limits& limits);

// Reassembles frames from a byte stream. Buffers at most one frame (header plus its announced
// body, which the header check bounds).
class FrameReader {
public:
    explicit FrameReader(Limits limits) : limits_(limits) {}

    // Room for at least `wanted` more bytes (fewer once a frame's end is known: a reader never
    // reads past the frame it is completing, so no partial next frame is ever held).
    std::span<uint8_t> prepare(size_t wanted);
    void commit(size_t count);
    // The next complete frame, an error for a malformed one (the stream is unusable after it), or
    // nothing until more bytes arrive.
    std::optional<Result<Frame>> next();
    // Bytes of an incomplete frame held (0 between frames).
    size_t buffered() const { return filled_; }
    size_t capacity() const { return buffer_.capacity(); }

private:
    size_t bytes_needed() const;

    Limits limits_;
    std::vector<uint8_t> buffer_;
    size_t filled_ = 0;
    std::optional<Header> header_;
};

}  // namespace teed::channel
