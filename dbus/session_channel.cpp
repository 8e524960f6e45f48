#include "dbus/session_channel.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <vector>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "common/channel_frame.h"
#include "common/log.h"
#include "daemon/config.h"
#include "daemon/event_loop.h"
#include "daemon/manager.h"
#include "dbus/errors.h"

namespace teed {

namespace {

// Reads per wake-up before other sources get their turn; the socket stays readable, so the loop
// comes back.
constexpr int kFramesPerWakeup = 16;
constexpr size_t kReadChunk = 256 * 1024;

// Takes the reply's parameter apart: its output bytes move into the frame, uncopied.
channel::FrameParam to_frame(GpParam&& p) {
    return {.type = p.type, .a = p.a, .b = p.b, .data = std::move(p.data),
            .shm = p.shm == "/" ? std::string() : std::move(p.shm), .offset = p.offset,
            .size = p.size};
}

Result<GpParam> from_frame(channel::FrameParam p, size_t index) {
    if (p.shm.empty()) p.shm = "/";
    if (!sd_bus_object_path_is_valid(p.shm.c_str()))
        return Error(ErrorKind::InvalidArgument)
               << "param " << index << ": shm '" << p.shm << "' is not an object path";
    GpParam param;
    param.type = p.type;
    param.a = p.a;
    param.b = p.b;
    param.data = std::move(p.data);
    param.shm = std::move(p.shm);
    param.offset = p.offset;
    param.size = p.size;
    return param;
}

channel::Frame error_frame(uint64_t tag, const Error& error) {
    std::string message = error.message();
    if (message.size() > channel::kMaxErrorMessageBytes) message.resize(channel::kMaxErrorMessageBytes);
    return {.tag = tag, .body = channel::ErrorReply{dbus_error_name(error.kind()), std::move(message)}};
}

}  // namespace

// One channel: the daemon's end of the socket, the frame being read and the replies not yet
// written.
class SessionChannel : public std::enable_shared_from_this<SessionChannel> {
public:
    SessionChannel(uint64_t id, UniqueFd socket, std::string owner, std::shared_ptr<Session> session,
                   Manager& manager, ChannelHub& hub)
        : id_(id),
          socket_(std::move(socket)),
          owner_(std::move(owner)),
          session_(std::move(session)),
          manager_(manager),
          hub_(hub),
          // The owner's own limit, as it stood when the channel opened.
          reader_({.max_body_bytes = manager.limits_for(owner_).max_call_memref_bytes +
                                     channel::body_overhead(channel::kMaxParams),
                   .accept_requests = true,
                   .accept_replies = false}) {}

    ~SessionChannel() { sd_event_source_disable_unref(source_); }

    Result<void> start(sd_event* event) {
        int r = sd_event_add_io(event, &source_, socket_.get(), EPOLLIN, on_io, this);
        if (r < 0) return ErrnoError(-r) << "watching a session channel";
        return {};
    }

    // Stops serving at once and gives the socket back; replies still due are dropped.
    void close(const std::string& why, bool malformed) {
        if (closed_) return;
        closed_ = true;
        source_ = sd_event_source_disable_unref(source_);
        socket_.reset();
        output_.clear();
        output_bytes_ = 0;
        reader_ = channel::FrameReader({});
        std::initializer_list<LogField> fields{{"TEED_CLIENT", owner_},
                                               {"TEED_SESSION", session_->id()},
                                               {"TEED_CHANNEL_CLOSE_REASON", why}};
        if (malformed)
            log_warning("session channel closed: malformed frame", fields);
        else
            log_debug("session channel closed", fields);
        hub_.retire(id_);
    }

    bool closed() const { return closed_; }
    const std::string& session_id() const { return session_->id(); }
    size_t buffered() const { return reader_.buffered() + output_bytes_; }

private:
    static int on_io(sd_event_source*, int, uint32_t events, void* userdata) {
        auto self = static_cast<SessionChannel*>(userdata)->shared_from_this();
        try {
            if (events & EPOLLOUT) self->flush();
            if (!self->closed_ && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) self->read_frames();
        } catch (const std::exception& e) {
            self->close(std::string("internal error: ") + e.what(), false);
        }
        return 0;
    }

    void read_frames() {
        for (int frames = 0; frames < kFramesPerWakeup && !closed_ && output_.empty();) {
            auto room = reader_.prepare(kReadChunk);
            ssize_t n = read(socket_.get(), room.data(), room.size());
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN) return;
                return close(std::string("read failed: ") + strerror(errno), false);
            }
            if (n == 0) {
                if (reader_.buffered() > 0)
                    return close("the client closed its end in the middle of a frame", true);
                return close("the client closed its end", false);
            }
            reader_.commit(static_cast<size_t>(n));
            while (auto frame = reader_.next()) {
                if (!frame->ok()) return close(frame->error().message(), true);
                handle(std::move(*frame).value());
                ++frames;
            }
        }
    }

    void handle(channel::Frame frame) {
        // The reader accepts requests only, and Invoke is the one request.
        auto& request = std::get<channel::InvokeRequest>(frame.body);
        GpParams params;
        for (size_t i = 0; i < request.params.size(); ++i) {
            auto param = from_frame(std::move(request.params[i]), i);
            if (!param.ok()) return reply(error_frame(frame.tag, param.error()));
            params.push_back(std::move(param).value());
        }
        manager_.invoke(owner_, session_, request.command, std::move(params), request.cancel_id,
                        [weak = weak_from_this(), tag = frame.tag](Result<GpReply> result) {
                            auto self = weak.lock();
                            if (!self || self->closed_) return;
                            self->reply(reply_frame(tag, std::move(result)));
                        });
    }

    static channel::Frame reply_frame(uint64_t tag, Result<GpReply> result) {
        if (!result.ok()) return error_frame(tag, result.error());
        GpReply& gp = result.value();
        channel::InvokeReply reply{.return_origin = gp.return_origin, .return_code = gp.return_code};
        reply.params.reserve(gp.params.size());
        for (auto& p : gp.params) reply.params.push_back(to_frame(std::move(p)));
        return {.tag = tag, .body = std::move(reply)};
    }

    void reply(const channel::Frame& frame) {
        if (closed_) return;
        auto bytes = channel::encode(frame);
        output_bytes_ += bytes.size();
        output_.push_back(std::move(bytes));
        flush();
    }

    // Writes what the socket takes without blocking. While replies wait, no requests are read:
    // a client that does not read its replies gets no more calls run.
    void flush() {
        while (!output_.empty() && !closed_) {
            auto& front = output_.front();
            ssize_t n = send(socket_.get(), front.data() + output_offset_, front.size() - output_offset_,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN) break;
                return close(std::string("write failed: ") + strerror(errno), false);
            }
            output_offset_ += static_cast<size_t>(n);
            output_bytes_ -= static_cast<size_t>(n);
            if (output_offset_ == front.size()) {
                output_.pop_front();
                output_offset_ = 0;
            }
        }
        if (!closed_) sd_event_source_set_io_events(source_, output_.empty() ? EPOLLIN : EPOLLOUT);
    }

    uint64_t id_;
    UniqueFd socket_;
    std::string owner_;
    std::shared_ptr<Session> session_;
    Manager& manager_;
    ChannelHub& hub_;
    sd_event_source* source_ = nullptr;
    channel::FrameReader reader_;
    std::deque<std::vector<uint8_t>> output_;
    size_t output_offset_ = 0;
    size_t output_bytes_ = 0;
    bool closed_ = false;
};

ChannelHub::ChannelHub(const Config& config, Manager& manager, EventLoop& loop)
    : config_(config), manager_(manager), loop_(loop) {}

ChannelHub::~ChannelHub() {
    *alive_ = false;
    auto channels = std::move(channels_);
    for (auto& [id, channel] : channels) channel->close("teed is stopping", false);
}

Result<UniqueFd> ChannelHub::open(const std::string& caller, const std::shared_ptr<Session>& session) {
    if (session->closing())
        return Error(ErrorKind::NotFound) << "session '" << session->id() << "' is closed";
    size_t open_on_session = 0;
    for (const auto& [id, channel] : channels_)
        if (!channel->closed() && channel->session_id() == session->id()) ++open_on_session;
    uint32_t limit = manager_.limits_for(caller).max_channels_per_session;
    if (open_on_session >= limit)
        return Error(ErrorKind::LimitExceeded)
               << "session '" << session->id() << "' already has " << open_on_session
               << " channels (max_channels_per_session=" << limit << ")";

    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
        return ErrnoError() << "creating a session channel";
    UniqueFd ours(fds[0]);
    UniqueFd theirs(fds[1]);
    // Only teed's end is non-blocking: the client decides how it waits.
    if (fcntl(ours.get(), F_SETFL, O_NONBLOCK) < 0) return ErrnoError() << "creating a session channel";

    uint64_t id = next_id_++;
    auto channel = std::make_shared<SessionChannel>(id, std::move(ours), caller, session,
                                                    manager_, *this);
    TEED_TRY(channel->start(loop_.event()));
    channels_.emplace(id, std::move(channel));
    // One hook per session, however many channels it has over time.
    if (hooked_sessions_.insert(session->id()).second)
        session->on_closing([this, alive = alive_, session_id = session->id()] {
            if (!*alive) return;
            hooked_sessions_.erase(session_id);
            for (auto& [channel_id, c] : channels_)
                if (c->session_id() == session_id) c->close("its session closed", false);
        });
    log_info("session channel opened", {{"TEED_CLIENT", caller}, {"TEED_SESSION", session->id()}});
    return theirs;
}

void ChannelHub::retire(uint64_t id) {
    // The channel may be running one of its own methods right now: drop it afterwards.
    loop_.post([this, alive = alive_, id] {
        if (*alive) channels_.erase(id);
    });
}

ChannelStatistics ChannelHub::statistics() const {
    ChannelStatistics stats;
    for (const auto& [id, channel] : channels_) {
        if (channel->closed()) continue;
        ++stats.channels;
        stats.buffered_bytes += channel->buffered();
    }
    return stats;
}

}  // namespace teed
