#pragma once
// Session channels: the per-session fast path (docs/channel.md). Session.OpenChannel hands the
// client one end of a socketpair bound to that session; invoke frames arriving on the other end
// go through the same Manager::invoke as Session.Invoke, as the same caller, under the same limits
// and with the same errors, and their replies go back on the socket.
//
// A malformed frame ends that channel (logged), never anything else. A client that stops reading
// is not read from either: teed holds at most the replies of the calls already running, which
// the per-client call limit bounds. A channel closes when the client closes its end, when its
// session closes, and when its client leaves the bus.
//
// Everything here runs on the loop thread.

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace teed {

struct Config;
class EventLoop;
class Manager;
class Session;
class SessionChannel;

struct ChannelStatistics {
    size_t channels = 0;
    size_t buffered_bytes = 0;  // frames being read plus replies the clients have not read yet
};

class ChannelHub {
public:
    ChannelHub(const Config& config, Manager& manager, EventLoop& loop);
    ~ChannelHub();
    ChannelHub(const ChannelHub&) = delete;
    ChannelHub& operator=(const ChannelHub&) = delete;

    // A new channel on `session` for its owner `caller`; the client's end of the socket.
    Result<UniqueFd> open(const std::string& caller, const std::shared_ptr<Session>& session);
    ChannelStatistics statistics() const;

    // For the channels themselves: forget a channel once it has closed (deferred, so a channel
    // is never destroyed inside its own callback).
    void retire(uint64_t id);

private:
    const Config& config_;
    Manager& manager_;
    EventLoop& loop_;
    uint64_t next_id_ = 1;
    std::map<uint64_t, std::shared_ptr<SessionChannel>> channels_;
    std::set<std::string> hooked_sessions_;  // sessions whose closing closes their channels
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace teed
