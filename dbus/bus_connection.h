#pragma once
// teed's connection to the bus, driven by the daemon's sd-event loop.
//
// sdbus-c++ 1.2 runs its own loop or none; teed drives it from sd-event instead, so that everything
// (bus traffic, posted worker results, signals, the watchdog) happens on one thread, and replies are
// flushed by the loop itself: 1.2's own loop stalls on large replies sent from other threads
// (upstream issue #126, fixed in 1.3).

#include <functional>
#include <map>
#include <memory>
#include <string>

#include <sdbus-c++/IConnection.h>

#include "common/result.h"
#include "daemon/manager.h"

struct sd_bus;
struct sd_event_source;

namespace teed {

class EventLoop;

class BusConnection final : public CredentialsSource {
public:
    // `address` empty: the system bus. Otherwise that bus, with the system bus's (untrusted)
    // semantics, so tests exercise what production does.
    static Result<std::unique_ptr<BusConnection>> open(const std::string& address);
    BusConnection() = default;  // use open()
    ~BusConnection() override;

    sdbus::IConnection& connection() { return *connection_; }
    sd_bus* raw_bus() const { return raw_bus_; }

    Result<void> attach(EventLoop& loop);
    // Calls `vanished` with each unique name that leaves the bus.
    void watch_disconnects(std::function<void(const std::string&)> vanished);
    // Asks the bus driver (GetConnectionCredentials) without blocking the loop.
    void lookup(const std::string& unique_name,
                std::function<void(Result<Credentials>)> done) override;
    // Reads the client's /proc (daemon/peer_process.h): its primary gid, unit and executable.
    Result<Credentials> complete(Credentials creds) override;

    struct PendingLookup {
        BusConnection* self;
        uint64_t id;
        std::function<void(Result<Credentials>)> done;
    };

private:
    void process();
    void update_event_sources();

    std::unique_ptr<sdbus::IConnection> connection_;
    sd_bus* raw_bus_ = nullptr;
    EventLoop* loop_ = nullptr;
    sd_event_source* io_source_ = nullptr;
    sd_event_source* time_source_ = nullptr;
    std::map<uint64_t, PendingLookup> lookups_;
    uint64_t next_lookup_ = 1;
};

}  // namespace teed
