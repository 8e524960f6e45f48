#include "client/channel.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace teed::client::detail {
namespace {

constexpr const char* kDisconnected = "org.freedesktop.DBus.Error.Disconnected";
constexpr size_t kReadChunk = 256 * 1024;

channel::FrameParam to_frame(const Param& p) {
    return {.type = p.type, .a = p.a, .b = p.b, .data = p.data,
            .shm = p.shm == "/" ? std::string() : p.shm, .offset = p.offset, .size = p.size};
}

Param from_frame(channel::FrameParam p) {
    Param param;
    param.type = p.type;
    param.a = p.a;
    param.b = p.b;
    param.data = std::move(p.data);
    param.shm = p.shm.empty() ? "/" : std::move(p.shm);
    param.offset = p.offset;
    param.size = p.size;
    return param;
}

constexpr const char* kInvalidArgument = "org.teed.Teed1.Error.InvalidArgument";
constexpr const char* kLimitExceeded = "org.teed.Teed1.Error.LimitExceeded";
constexpr size_t kMaxRequestBytes = 128u << 20;

// What the frame format cannot carry is refused here, with the error teed gives on D-Bus, rather
// than sent as a frame teed would have to treat as malformed (closing the channel).
void check_request(const std::vector<Param>& params) {
    if (params.size() > channel::kMaxParams)
        throw Error(kInvalidArgument, "at most " + std::to_string(channel::kMaxParams) +
                                          " parameters, got " + std::to_string(params.size()));
    size_t bytes = channel::body_overhead(params.size());
    for (size_t i = 0; i < params.size(); ++i) {
        if (params[i].shm.size() > channel::kMaxShmPathBytes)
            throw Error(kInvalidArgument, "param " + std::to_string(i) + ": shm path longer than " +
                                              std::to_string(channel::kMaxShmPathBytes) + " bytes");
        bytes += params[i].data.size();
    }
    if (bytes > kMaxRequestBytes)
        throw Error(kLimitExceeded, "a channel frame carries at most " +
                                        std::to_string(kMaxRequestBytes) + " bytes");
}

}  // namespace

// Replies only, and as large as anything the system bus could carry.
Channel::Channel(UniqueFd socket)
    : socket_(std::move(socket)),
      reader_({.max_body_bytes = 128u << 20, .accept_requests = false, .accept_replies = true}) {}

Reply Channel::invoke(uint32_t command, const std::vector<Param>& params,
                      const InvokeOptions& options) {
    if (closed()) fail("the channel is closed");
    check_request(params);
    channel::InvokeRequest request{.command = command, .cancel_id = options.cancel_id};
    request.params.reserve(params.size());
    for (const auto& p : params) request.params.push_back(to_frame(p));
    uint64_t tag = next_tag_++;
    write_frame(channel::encode({.tag = tag, .body = std::move(request)}));

    channel::Frame frame = read_frame();
    if (frame.tag != tag) fail("a reply arrived for another call");
    if (auto* error = std::get_if<channel::ErrorReply>(&frame.body))
        throw Error(error->name, error->message);
    auto& reply = std::get<channel::InvokeReply>(frame.body);
    Reply result{reply.return_origin, reply.return_code, {}};
    result.params.reserve(reply.params.size());
    for (auto& p : reply.params) result.params.push_back(from_frame(std::move(p)));
    return result;
}

void Channel::write_frame(const std::vector<uint8_t>& bytes) {
    size_t written = 0;
    while (written < bytes.size()) {
        ssize_t n = send(socket_.get(), bytes.data() + written, bytes.size() - written, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail(std::string("writing to the session channel failed: ") + strerror(errno));
        }
        written += static_cast<size_t>(n);
    }
}

channel::Frame Channel::read_frame() {
    for (;;) {
        if (auto frame = reader_.next()) {
            if (!frame->ok()) fail("teed sent a malformed frame: " + frame->error().message());
            return std::move(*frame).value();
        }
        auto room = reader_.prepare(kReadChunk);
        ssize_t n = read(socket_.get(), room.data(), room.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            fail(std::string("reading the session channel failed: ") + strerror(errno));
        }
        if (n == 0) fail("teed closed the session channel");
        reader_.commit(static_cast<size_t>(n));
    }
}

void Channel::fail(const std::string& why) {
    socket_.reset();
    throw Error(kDisconnected, why);
}

}  // namespace teed::client::detail
