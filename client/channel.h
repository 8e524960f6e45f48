#pragma once
// The client's end of a session channel (docs/channel.md): invoke frames written to the socket
// Session.OpenChannel returned, and their replies read back. One call at a time; the Session
// serializes its callers.

#include <cstdint>
#include <string>
#include <vector>

#include "common/channel_frame.h"
#include "common/unique_fd.h"
#include "teed/client.h"

namespace teed::client::detail {

class Channel {
public:
    explicit Channel(UniqueFd socket);

    // Throws Error: the daemon's ErrorReply as it is, or org.freedesktop.DBus.Error.Disconnected
    // when the channel broke (it is then closed()), in which case the call may or may not have
    // run.
    Reply invoke(uint32_t command, const std::vector<Param>& params, const InvokeOptions& options);
    bool closed() const { return !socket_.valid(); }

private:
    void write_frame(const std::vector<uint8_t>& bytes);
    channel::Frame read_frame();
    [[noreturn]] void fail(const std::string& why);

    UniqueFd socket_;
    channel::FrameReader reader_;
    uint64_t next_tag_ = 1;
};

}  // namespace teed::client::detail
