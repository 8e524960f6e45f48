#include "common/channel_frame.h"

#include <bit>
#include <cstdio>
#include <cstring>
#include <limits>

namespace teed::channel {
namespace {

static_assert(std::endian::native == std::endian::little || std::endian::native == std::endian::big);

template <typename T>
T to_little_endian(T value) {
    if constexpr (std::endian::native == std::endian::big) {
        T swapped = 0;
        for (size_t i = 0; i < sizeof(T); ++i) {
            swapped = static_cast<T>((swapped << 8) | (value & 0xff));
            value = static_cast<T>(value >> 8);
        }
        return swapped;
    }
    return value;
}

class Writer {
public:
    explicit Writer(size_t expected) { bytes_.reserve(expected); }

    template <typename T>
    void put(T value) {
        value = to_little_endian(value);
        const auto* raw = reinterpret_cast<const uint8_t*>(&value);
        bytes_.insert(bytes_.end(), raw, raw + sizeof(T));
    }
    void put_bytes(const void* data, size_t size) {
        const auto* raw = static_cast<const uint8_t*>(data);
        bytes_.insert(bytes_.end(), raw, raw + size);
    }
    // Fills in the header's body_length once the body is written.
    void finish_body_length() {
        uint32_t length = to_little_endian(static_cast<uint32_t>(bytes_.size() - kHeaderSize));
        std::memcpy(bytes_.data() + 4, &length, sizeof length);
    }
    std::vector<uint8_t> take() { return std::move(bytes_); }

private:
    std::vector<uint8_t> bytes_;
};

// Reads little-endian fields from a span, failing (with the field's name) instead of reading past
// its end.
class Reader {
public:
    explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

    template <typename T>
    Result<T> get(const char* field) {
        if (remaining() < sizeof(T)) return truncated(field);
        T value;
        std::memcpy(&value, bytes_.data() + position_, sizeof(T));
        position_ += sizeof(T);
        return to_little_endian(value);
    }
    Result<std::span<const uint8_t>> get_bytes(size_t size, const char* field) {
        if (remaining() < size) return truncated(field);
        auto bytes = bytes_.subspan(position_, size);
        position_ += size;
        return bytes;
    }
    size_t remaining() const { return bytes_.size() - position_; }

private:
    Error truncated(const char* field) const {
        return Error(ErrorKind::InvalidArgument)
               << "channel frame truncated at " << field << " (" << remaining() << " bytes left)";
    }

    std::span<const uint8_t> bytes_;
    size_t position_ = 0;
};

Error malformed() { return Error(ErrorKind::InvalidArgument); }

// Error's operator<< formats each value on its own, so stream manipulators do not carry over.
std::string hex(uint32_t value) {
    char text[16];
    std::snprintf(text, sizeof text, "0x%x", value);
    return text;
}

bool is_request(FrameType type) { return type == FrameType::Invoke; }
bool is_reply(FrameType type) {
    return type == FrameType::InvokeReply || type == FrameType::ErrorReply;
}

void put_header(Writer& out, FrameType type, uint64_t tag) {
    out.put<uint8_t>(kVersion);
    out.put<uint8_t>(static_cast<uint8_t>(type));
    out.put<uint16_t>(0);
    out.put<uint32_t>(0);  // body length, filled in at the end
    out.put<uint64_t>(tag);
}

size_t params_size(const std::vector<FrameParam>& params) {
    size_t size = 0;
    for (const auto& p : params) size += kParamFixedSize + p.data.size() + p.shm.size();
    return size;
}

void put_params(Writer& out, const std::vector<FrameParam>& params) {
    out.put<uint32_t>(static_cast<uint32_t>(params.size()));
    for (const auto& p : params) {
        out.put<uint32_t>(p.type);
        out.put<uint32_t>(0);
        out.put<uint64_t>(p.a);
        out.put<uint64_t>(p.b);
        out.put<uint64_t>(p.offset);
        out.put<uint64_t>(p.size);
        out.put<uint32_t>(static_cast<uint32_t>(p.data.size()));
        out.put<uint32_t>(static_cast<uint32_t>(p.shm.size()));
        out.put_bytes(p.data.data(), p.data.size());
        out.put_bytes(p.shm.data(), p.shm.size());
    }
}

struct Encoder {
    Writer& out;
    void operator()(const InvokeRequest& request) const {
        out.put<uint32_t>(request.command);
        out.put<uint32_t>(request.cancel_id ? kFlagCancelId : 0);
        out.put<uint32_t>(request.cancel_id.value_or(0));
        put_params(out, request.params);
    }
    void operator()(const InvokeReply& reply) const {
        out.put<uint32_t>(reply.return_origin);
        out.put<uint32_t>(reply.return_code);
        put_params(out, reply.params);
    }
    void operator()(const ErrorReply& error) const {
        out.put<uint32_t>(static_cast<uint32_t>(error.name.size()));
        out.put<uint32_t>(static_cast<uint32_t>(error.message.size()));
        out.put_bytes(error.name.data(), error.name.size());
        out.put_bytes(error.message.data(), error.message.size());
    }
};

FrameType type_of(const Frame& frame) {
    switch (frame.body.index()) {
        case 0: return FrameType::Invoke;
        case 1: return FrameType::InvokeReply;
        default: return FrameType::ErrorReply;
    }
}

size_t expected_size(const Frame& frame) {
    if (const auto* request = std::get_if<InvokeRequest>(&frame.body))
        return kHeaderSize + body_overhead(0) + params_size(request->params);
    if (const auto* reply = std::get_if<InvokeReply>(&frame.body))
        return kHeaderSize + body_overhead(0) + params_size(reply->params);
    const auto& error = std::get<ErrorReply>(frame.body);
    return kHeaderSize + 8 + error.name.size() + error.message.size();
}

Result<FrameParam> read_param(Reader& in) {
    FrameParam p;
    p.type = TEED_TRY(in.get<uint32_t>("param.type"));
    if (TEED_TRY(in.get<uint32_t>("param.reserved")) != 0)
        return malformed() << "channel frame: param.reserved is not 0";
    p.a = TEED_TRY(in.get<uint64_t>("param.a"));
    p.b = TEED_TRY(in.get<uint64_t>("param.b"));
    p.offset = TEED_TRY(in.get<uint64_t>("param.offset"));
    p.size = TEED_TRY(in.get<uint64_t>("param.size"));
    uint32_t data_length = TEED_TRY(in.get<uint32_t>("param.data_length"));
    uint32_t shm_length = TEED_TRY(in.get<uint32_t>("param.shm_length"));
    if (shm_length > kMaxShmPathBytes)
        return malformed() << "channel frame: param.shm_length " << shm_length << " exceeds "
                           << kMaxShmPathBytes;
    auto data = TEED_TRY(in.get_bytes(data_length, "param.data"));
    auto shm = TEED_TRY(in.get_bytes(shm_length, "param.shm"));
    p.data.assign(data.begin(), data.end());
    p.shm.assign(shm.begin(), shm.end());
    if (p.shm.find('\0') != std::string::npos)
        return malformed() << "channel frame: param.shm contains a NUL byte";
    return p;
}

Result<std::vector<FrameParam>> read_params(Reader& in) {
    uint32_t count = TEED_TRY(in.get<uint32_t>("param_count"));
    if (count > kMaxParams)
        return malformed() << "channel frame: " << count << " params, at most " << kMaxParams;
    std::vector<FrameParam> params;
    params.reserve(count);
    for (uint32_t i = 0; i < count; ++i) params.push_back(TEED_TRY(read_param(in)));
    return params;
}

Result<InvokeRequest> read_invoke(Reader& in) {
    InvokeRequest request;
    request.command = TEED_TRY(in.get<uint32_t>("command"));
    uint32_t flags = TEED_TRY(in.get<uint32_t>("flags"));
    uint32_t cancel_id = TEED_TRY(in.get<uint32_t>("cancel_id"));
    if ((flags & ~kFlagCancelId) != 0)
        return malformed() << "channel frame: unknown flags " << hex(flags);
    if (flags & kFlagCancelId)
        request.cancel_id = cancel_id;
    else if (cancel_id != 0)
        return malformed() << "channel frame: cancel_id set without its flag";
    request.params = TEED_TRY(read_params(in));
    return request;
}

Result<InvokeReply> read_invoke_reply(Reader& in) {
    InvokeReply reply;
    reply.return_origin = TEED_TRY(in.get<uint32_t>("return_origin"));
    reply.return_code = TEED_TRY(in.get<uint32_t>("return_code"));
    reply.params = TEED_TRY(read_params(in));
    return reply;
}

Result<ErrorReply> read_error(Reader& in) {
    uint32_t name_length = TEED_TRY(in.get<uint32_t>("name_length"));
    uint32_t message_length = TEED_TRY(in.get<uint32_t>("message_length"));
    if (name_length == 0 || name_length > kMaxErrorNameBytes || message_length > kMaxErrorMessageBytes)
        return malformed() << "channel frame: error name or message length out of range";
    auto name = TEED_TRY(in.get_bytes(name_length, "name"));
    auto message = TEED_TRY(in.get_bytes(message_length, "message"));
    return ErrorReply{std::string(name.begin(), name.end()),
                      std::string(message.begin(), message.end())};
}

}  // namespace

size_t body_overhead(size_t param_count) { return 16 + param_count * (kParamFixedSize + kMaxShmPathBytes); }

std::vector<uint8_t> encode(const Frame& frame) {
    Writer out(expected_size(frame));
    put_header(out, type_of(frame), frame.tag);
    std::visit(Encoder{out}, frame.body);
    out.finish_body_length();
    return out.take();
}

Result<Header> decode_header(std::span<const uint8_t> bytes, const Limits& limits) {
    Reader in(bytes);
    Header header;
    header.version = TEED_TRY(in.get<uint8_t>("version"));
    if (header.version != kVersion)
        return malformed() << "channel frame: unknown version " << int{header.version}
                           << " (this end speaks " << int{kVersion} << ")";
    auto type = static_cast<FrameType>(TEED_TRY(in.get<uint8_t>("type")));
    bool known = is_request(type) || is_reply(type);
    if (!known || (is_request(type) && !limits.accept_requests) ||
        (is_reply(type) && !limits.accept_replies))
        return malformed() << "channel frame: unexpected type " << hex(static_cast<uint8_t>(type));
    header.type = type;
    if (TEED_TRY(in.get<uint16_t>("reserved")) != 0)
        return malformed() << "channel frame: reserved header bits are set";
    header.body_length = TEED_TRY(in.get<uint32_t>("body_length"));
    if (header.body_length > limits.max_body_bytes)
        return Error(ErrorKind::LimitExceeded)
               << "channel frame: body of " << header.body_length << " bytes exceeds the limit of "
               << limits.max_body_bytes;
    header.tag = TEED_TRY(in.get<uint64_t>("tag"));
    return header;
}

Result<Frame> decode_body(const Header& header, std::span<const uint8_t> body) {
    if (body.size() != header.body_length)
        return malformed() << "channel frame: body is " << body.size() << " bytes, header says "
                           << header.body_length;
    Reader in(body);
    Frame frame{.tag = header.tag};
    switch (header.type) {
        case FrameType::Invoke: frame.body = TEED_TRY(read_invoke(in)); break;
        case FrameType::InvokeReply: frame.body = TEED_TRY(read_invoke_reply(in)); break;
        case FrameType::ErrorReply: frame.body = TEED_TRY(read_error(in)); break;
    }
    if (in.remaining() != 0)
        return malformed() << "channel frame: " << in.remaining() << " bytes after the body's end";
    return frame;
}

Result<Frame> decode(std::span<const uint8_t> bytes, const Limits& limits) {
    auto header = TEED_TRY(decode_header(bytes.first(std::min(bytes.size(), kHeaderSize)), limits));
    return decode_body(header, bytes.subspan(std::min(bytes.size(), kHeaderSize)));
}

size_t FrameReader::bytes_needed() const {
    size_t frame_size = kHeaderSize + (header_ ? header_->body_length : 0);
    return frame_size - filled_;
}

std::span<uint8_t> FrameReader::prepare(size_t wanted) {
    size_t count = std::min(wanted, bytes_needed());
    if (buffer_.size() < filled_ + count) buffer_.resize(filled_ + count);
    return {buffer_.data() + filled_, count};
}

void FrameReader::commit(size_t count) { filled_ = std::min(filled_ + count, buffer_.size()); }

std::optional<Result<Frame>> FrameReader::next() {
    if (!header_) {
        if (filled_ < kHeaderSize) return std::nullopt;
        auto header = decode_header({buffer_.data(), kHeaderSize}, limits_);
        if (!header.ok()) return Result<Frame>(std::move(header).error());
        header_ = header.value();
    }
    if (filled_ < kHeaderSize + header_->body_length) return std::nullopt;
    auto frame = decode_body(*header_, {buffer_.data() + kHeaderSize, header_->body_length});
    header_.reset();
    filled_ = 0;
    // Keep a small buffer for the next frame, but do not hold on to a large one.
    constexpr size_t kKeptCapacity = 64 * 1024;
    if (buffer_.capacity() > kKeptCapacity) std::vector<uint8_t>().swap(buffer_);
    return frame;
}

}  // namespace teed::channel
