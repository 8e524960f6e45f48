#include "client/bus.h"

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace teed::client::detail {

namespace {

constexpr const char* kDisconnected = "org.freedesktop.DBus.Error.Disconnected";
constexpr const char* kFailed = "org.freedesktop.DBus.Error.Failed";
constexpr const char* kNotSupported = "org.freedesktop.DBus.Error.NotSupported";

// What sdbus-c++ throws when sending on a connection the peer has closed.
bool is_disconnection(const sdbus::Error& e) {
    return e.getName() == "System.Error.ENOTCONN" || e.getName() == "System.Error.ECONNRESET" ||
           e.getName() == "System.Error.EPIPE";
}

sdbus::Error errno_error(const std::string& what) {
    return sdbus::Error(kFailed, what + ": " + std::strerror(errno));
}

}  // namespace

// One call's outcome. Guarded by Bus::mutex_.
struct PendingReply {
    bool done = false;
    sdbus::MethodReply reply;
    std::unique_ptr<sdbus::Error> error;
};

std::shared_ptr<Bus> Bus::open_system(std::chrono::milliseconds long_call_timeout) {
    return std::make_shared<Bus>(sdbus::createSystemBusConnection(), long_call_timeout);
}

std::shared_ptr<Bus> Bus::open_address(const std::string& address,
                                       std::chrono::milliseconds long_call_timeout) {
    // A bus client connection (Hello, unique name) to an explicit address. sdbus-c++ marks it
    // trusted, which matters only for objects we would export; we export none.
    return std::make_shared<Bus>(sdbus::createSessionBusConnectionWithAddress(address),
                                 long_call_timeout);
}

Bus::Bus(std::unique_ptr<sdbus::IConnection> connection,
         std::chrono::milliseconds long_call_timeout)
    : connection_(std::move(connection)),
      unique_name_(connection_->getUniqueName()),
      long_call_timeout_usec_(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(long_call_timeout).count())),
      wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (!wake_fd_.valid()) throw errno_error("Cannot create the client's wake-up eventfd");
}

Bus::~Bus() = default;

sdbus::MethodReply Bus::call(sdbus::IProxy& proxy, const sdbus::MethodCall& message,
                             uint64_t timeout_usec) {
    auto pending = std::make_shared<PendingReply>();
    {
        std::lock_guard lock(mutex_);
        if (closed_error_) throw *closed_error_;
        pending_.insert(pending.get());
    }
    struct Forget {
        Bus& bus;
        PendingReply* pending;
        ~Forget() {
            std::lock_guard lock(bus.mutex_);
            bus.pending_.erase(pending);
        }
    } forget{*this, pending.get()};

    // sd-bus writes what the socket takes now and queues the rest for whoever drives the bus.
    // The callback holds `pending` because it may run after fail_all() has released this call.
    try {
        (void)proxy.callMethod(
            message,
            [this, pending](sdbus::MethodReply& reply, const sdbus::Error* error) {
                complete(*pending, reply, error);
            },
            timeout_usec);
    } catch (const sdbus::Error& e) {
        if (!is_disconnection(e)) throw;
        fail_all(sdbus::Error(kDisconnected, "Lost the connection to the bus: " + e.getMessage()));
        std::lock_guard lock(mutex_);
        throw *closed_error_;
    }
    wait_for(*pending);

    std::lock_guard lock(mutex_);
    if (pending->error) throw *pending->error;
    return std::move(pending->reply);
}

void Bus::wait_for(PendingReply& pending) {
    std::unique_lock lock(mutex_);
    bool woke_driver = false;
    while (!pending.done) {
        if (!driving_) {
            driving_ = true;
            lock.unlock();
            drive_until(pending);
            lock.lock();
            driving_ = false;
            changed_.notify_all();  // a waiting caller takes over the bus
            continue;
        }
        if (!woke_driver) {
            wake_driver();
            woke_driver = true;
        }
        changed_.wait(lock);
    }
}

void Bus::drive_until(const PendingReply& pending) {
    try {
        while (!is_done(pending)) drive_step(pending);
    } catch (const sdbus::Error& e) {
        fail_all(sdbus::Error(kDisconnected, "Lost the connection to the bus: " + e.getMessage()));
    } catch (const std::exception& e) {
        fail_all(sdbus::Error(kFailed, std::string("The client's bus connection failed: ") + e.what()));
    }
}

void Bus::drive_step(const PendingReply& pending) {
    // Dispatch what sd-bus has (replies complete their callers), stopping once ours is in.
    while (connection_->processPendingRequest()) {
        if (is_done(pending)) return;
    }
    if (is_done(pending)) return;
    auto poll_data = connection_->getEventLoopPollData();
    pollfd fds[] = {{poll_data.fd, poll_data.events, 0}, {wake_fd_.get(), POLLIN, 0}};
    if (::poll(fds, 2, poll_data.getPollTimeout()) < 0) {
        if (errno == EINTR) return;
        throw errno_error("Cannot poll the bus connection");
    }
    if ((fds[1].revents & POLLIN) != 0) {
        uint64_t count = 0;
        (void)!::read(wake_fd_.get(), &count, sizeof(count));
    }
}

bool Bus::is_done(const PendingReply& pending) {
    std::lock_guard lock(mutex_);
    return pending.done;
}

void Bus::complete(PendingReply& pending, sdbus::MethodReply& reply, const sdbus::Error* error) {
    std::lock_guard lock(mutex_);
    if (pending.done) return;
    if (error != nullptr) {
        pending.error = std::make_unique<sdbus::Error>(*error);
    } else {
        pending.reply = std::move(reply);
    }
    pending.done = true;
    changed_.notify_all();
}

void Bus::fail_all(const sdbus::Error& error) {
    std::lock_guard lock(mutex_);
    if (!closed_error_) closed_error_ = std::make_unique<sdbus::Error>(error);
    for (PendingReply* pending : pending_) {
        if (pending->done) continue;
        pending->error = std::make_unique<sdbus::Error>(*closed_error_);
        pending->done = true;
    }
    changed_.notify_all();
}

void Bus::wake_driver() {
    uint64_t one = 1;
    // EAGAIN means the counter is already non-zero: the driver wakes anyway.
    (void)!::write(wake_fd_.get(), &one, sizeof(one));
}

CallProxy::CallProxy(std::shared_ptr<Bus> bus, const std::string& object_path,
                     std::set<std::string> long_members)
    : bus_(std::move(bus)),
      proxy_(sdbus::createProxy(bus_->connection(), kBusName, object_path)),
      long_members_(std::move(long_members)) {}

sdbus::MethodCall CallProxy::createMethodCall(const std::string& interface_name,
                                              const std::string& method_name) {
    return proxy_->createMethodCall(interface_name, method_name);
}

sdbus::MethodReply CallProxy::callMethod(const sdbus::MethodCall& message, uint64_t timeout) {
    if (timeout == 0 && long_members_.count(message.getMemberName()) != 0) {
        timeout = bus_->long_call_timeout_usec();
    }
    return bus_->call(*proxy_, message, timeout);
}

sdbus::PendingAsyncCall CallProxy::callMethod(const sdbus::MethodCall& message,
                                              sdbus::async_reply_handler, uint64_t) {
    throw sdbus::Error(kNotSupported, "The teed client makes no asynchronous calls (" +
                                          message.getMemberName() + ")");
}

void CallProxy::registerSignalHandler(const std::string&, const std::string&,
                                      sdbus::signal_handler) {
    // Generated proxies register their signals in their constructors; see the class comment.
}

void CallProxy::unregisterSignalHandler(const std::string&, const std::string&) {}

void CallProxy::unregister() { proxy_->unregister(); }

sdbus::IConnection& CallProxy::getConnection() const { return proxy_->getConnection(); }

const std::string& CallProxy::getObjectPath() const { return proxy_->getObjectPath(); }

const sdbus::Message* CallProxy::getCurrentlyProcessedMessage() const {
    return proxy_->getCurrentlyProcessedMessage();
}

}  // namespace teed::client::detail
