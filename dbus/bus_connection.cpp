#include "dbus/bus_connection.h"

#include <poll.h>
#include <sys/epoll.h>

#include <cstdlib>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <sdbus-c++/sdbus-c++.h>

#include "common/log.h"
#include "daemon/event_loop.h"
#include "daemon/peer_process.h"
#include "dbus/sdbus_bulk.h"

namespace teed {
namespace {

uint32_t to_epoll_events(short poll_events) {
    uint32_t events = 0;
    if (poll_events & POLLIN) events |= EPOLLIN;
    if (poll_events & POLLOUT) events |= EPOLLOUT;
    return events;
}

Result<Credentials> parse_credentials(sd_bus_message* reply) {
    Credentials creds;
    bool have_uid = false;
    auto malformed = [](int r) { return ErrnoError(-r) << "malformed GetConnectionCredentials reply"; };
    int r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, "{sv}");
    if (r < 0) return malformed(r);
    while ((r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_DICT_ENTRY, "sv")) > 0) {
        const char* key = nullptr;
        if ((r = sd_bus_message_read(reply, "s", &key)) < 0) return malformed(r);
        std::string name = key;
        if (name == "UnixUserID") {
            if ((r = sd_bus_message_read(reply, "v", "u", &creds.uid)) < 0) return malformed(r);
            have_uid = true;
        } else if (name == "ProcessID") {
            uint32_t pid = 0;
            if ((r = sd_bus_message_read(reply, "v", "u", &pid)) < 0) return malformed(r);
            creds.pid = static_cast<pid_t>(pid);
        } else if (name == "UnixGroupIDs") {
            if ((r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_VARIANT, "au")) < 0) return malformed(r);
            const void* data = nullptr;
            size_t size = 0;
            if ((r = sd_bus_message_read_array(reply, 'u', &data, &size)) < 0) return malformed(r);
            const auto* gids = static_cast<const uint32_t*>(data);
            creds.groups.assign(gids, gids + size / sizeof(uint32_t));
            if ((r = sd_bus_message_exit_container(reply)) < 0) return malformed(r);
        } else if ((r = sd_bus_message_skip(reply, "v")) < 0) {
            return malformed(r);
        }
        if ((r = sd_bus_message_exit_container(reply)) < 0) return malformed(r);
    }
    if (r < 0) return malformed(r);
    if (!have_uid) return Error(ErrorKind::Internal) << "the bus did not report the caller's uid";
    return creds;
}

}  // namespace

Result<std::unique_ptr<BusConnection>> BusConnection::open(const std::string& address) {
    // sd_bus_open_system() reads DBUS_SYSTEM_BUS_ADDRESS: a bus given by address then gets the
    // same untrusted treatment as the real system bus (createSessionBusConnectionWithAddress
    // would mark it trusted).
    if (!address.empty() && setenv("DBUS_SYSTEM_BUS_ADDRESS", address.c_str(), 1) != 0)
        return ErrnoError() << "setting the bus address";
    auto bus = std::make_unique<BusConnection>();
    try {
        bus->connection_ = sdbus::createSystemBusConnection();
        // 1.2 has no accessor for the sd_bus; any message it creates knows it.
        auto driver = sdbus::createProxy(*bus->connection_, "org.freedesktop.DBus", "/org/freedesktop/DBus");
        auto probe = driver->createMethodCall("org.freedesktop.DBus", "GetId");
        bus->raw_bus_ = sd_bus_message_get_bus(dbus_raw::raw_message(probe));
    } catch (const sdbus::Error& e) {
        return Error(ErrorKind::DeviceUnavailable)
               << "cannot connect to the " << (address.empty() ? "system bus" : "bus '" + address + "'")
               << ": " << e.getMessage();
    }
    return bus;
}

BusConnection::~BusConnection() {
    sd_event_source_disable_unref(io_source_);
    sd_event_source_disable_unref(time_source_);
}

Result<void> BusConnection::attach(EventLoop& loop) {
    loop_ = &loop;
    auto poll = connection_->getEventLoopPollData();
    auto on_io = [](sd_event_source*, int, uint32_t, void* userdata) -> int {
        static_cast<BusConnection*>(userdata)->process();
        return 0;
    };
    auto on_time = [](sd_event_source*, uint64_t, void* userdata) -> int {
        static_cast<BusConnection*>(userdata)->process();
        return 0;
    };
    auto on_prepare = [](sd_event_source*, void* userdata) -> int {
        static_cast<BusConnection*>(userdata)->update_event_sources();
        return 0;
    };
    int r = sd_event_add_io(loop.event(), &io_source_, poll.fd, EPOLLIN, on_io, this);
    if (r < 0) return ErrnoError(-r) << "watching the bus";
    r = sd_event_add_time(loop.event(), &time_source_, CLOCK_MONOTONIC, UINT64_MAX, 0, on_time, this);
    if (r < 0) return ErrnoError(-r) << "adding the bus timer";
    // Before every poll: take in what sd-bus has queued, then wait for what it needs next
    // (POLLOUT while replies are still queued, so large replies are flushed by the loop).
    r = sd_event_source_set_prepare(io_source_, on_prepare);
    if (r < 0) return ErrnoError(-r) << "preparing the bus source";
    return {};
}

void BusConnection::process() {
    try {
        while (connection_->processPendingRequest()) {
        }
    } catch (const std::exception& e) {
        log_error("lost the bus connection; stopping", {{"TEED_ERROR", e.what()}});
        if (loop_ != nullptr) loop_->exit(EXIT_FAILURE);
    }
}

void BusConnection::update_event_sources() {
    process();
    auto poll = connection_->getEventLoopPollData();
    sd_event_source_set_io_events(io_source_, to_epoll_events(poll.events));
    if (poll.timeout_usec == UINT64_MAX) {
        sd_event_source_set_enabled(time_source_, SD_EVENT_OFF);
    } else {
        sd_event_source_set_time(time_source_, poll.timeout_usec);
        sd_event_source_set_enabled(time_source_, SD_EVENT_ONESHOT);
    }
}

void BusConnection::watch_disconnects(std::function<void(const std::string&)> vanished) {
    connection_->addMatch(
        "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
        "interface='org.freedesktop.DBus',member='NameOwnerChanged'",
        [vanished = std::move(vanished)](sdbus::Message& message) {
            try {
                std::string name, old_owner, new_owner;
                message >> name >> old_owner >> new_owner;
                if (!name.empty() && name[0] == ':' && new_owner.empty()) vanished(name);
            } catch (const std::exception& e) {
                log_warning("unreadable NameOwnerChanged signal, ignoring", {{"TEED_ERROR", e.what()}});
            }
        },
        sdbus::floating_slot);
}

void BusConnection::lookup(const std::string& unique_name,
                           std::function<void(Result<Credentials>)> done) {
    uint64_t id = next_lookup_++;
    auto& pending = lookups_[id];
    pending = PendingLookup{this, id, std::move(done)};
    auto on_reply = [](sd_bus_message* reply, void* userdata, sd_bus_error*) -> int {
        auto* lookup = static_cast<PendingLookup*>(userdata);
        BusConnection* self = lookup->self;
        auto callback = std::move(lookup->done);
        self->lookups_.erase(lookup->id);
        const sd_bus_error* error = sd_bus_message_get_error(reply);
        if (error != nullptr)
            callback(Error(ErrorKind::NotFound) << "the bus does not know the caller: " << error->message);
        else
            callback(parse_credentials(reply));
        return 0;
    };
    int r = sd_bus_call_method_async(raw_bus_, nullptr, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                     "org.freedesktop.DBus", "GetConnectionCredentials", on_reply,
                                     &pending, "s", unique_name.c_str());
    if (r < 0) {
        auto failed = std::move(pending.done);
        lookups_.erase(id);
        failed(ErrnoError(-r) << "asking the bus for the caller's credentials");
    }
}

namespace {

Result<PeerProcess> read_peer_process_as_teed(const Credentials& creds) {
    auto peer = read_peer_process(creds.pid, creds.uid);
    if (!peer.ok())
        return Error(peer.error().kind() == ErrorKind::NotFound ? ErrorKind::Cancelled
                                                                : ErrorKind::AccessDenied)
               << "cannot verify the calling process (pid " << creds.pid
               << "): " << peer.error().message();
    return peer;
}

// /proc/PID/exe needs ptrace access to the process, which teed's own user has only to its own
// processes. The client's uid and gid have it to the client (unless it made itself non-dumpable
// or runs setuid), so teed reads the link again as the client, on this thread only.
std::string executable_read_as_client(const Credentials& creds, const PeerProcess& first) {
    auto scope = ScopedThreadCredentials::assume(creds, first.gid);
    if (!scope.ok()) return "";
    auto again = read_peer_process(creds.pid, creds.uid);
    if (!again.ok() || again->start_time != first.start_time) return "";
    return again->executable;
}

}  // namespace

Result<Credentials> BusConnection::complete(Credentials creds) {
    PeerProcess peer = TEED_TRY(read_peer_process_as_teed(creds));
    creds.gid = peer.gid;
    creds.unit = std::move(peer.unit);
    creds.executable = peer.executable.empty() && creds.uid != geteuid()
                           ? executable_read_as_client(creds, peer)
                           : std::move(peer.executable);
    return creds;
}

}  // namespace teed
