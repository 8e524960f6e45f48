#pragma once
// The client's bus connection, and the IProxy through which the generated proxies call.
//
// Why not sdbus-c++'s plain synchronous calls: in 1.2 a synchronous call on a connection with no
// event loop holds the connection's lock until its reply arrives, so a second thread's call waits
// for the first (measured: a Ping sent 0.2 s into a 2 s call returned at 2 s). A
// RequestCancellation would then wait for the very Invoke it should cancel, and it cannot use
// another connection because teed serves a session only to the connection that opened it.
// Why not sdbus-c++'s own event loop thread: in 1.2 that loop is woken after a send only when the
// new call's deadline is earlier than every pending one; otherwise the part of a large message
// that did not fit in the socket buffer waits in sd-bus's write queue until something arrives.
// It would also cost every call two thread switches.
//
// So each call is sent asynchronously on the caller's thread, and the callers take turns driving
// the connection (leader/followers): if nobody is reading the bus, the caller does it itself until
// its reply is in; otherwise it wakes the thread that is reading, so that it also writes what is
// left of the new message and watches the new deadline, and waits for it to deliver the reply.
// When the reading thread has its own reply, it hands the bus to a waiting caller.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <sdbus-c++/sdbus-c++.h>

#include "common/unique_fd.h"

namespace teed::client::detail {

inline constexpr const char* kBusName = "org.teed.Teed1";
inline constexpr const char* kRootPath = "/org/teed/Teed1";

struct PendingReply;

class Bus {
public:
    // Throw sdbus::Error when the bus cannot be reached.
    static std::shared_ptr<Bus> open_system(std::chrono::milliseconds long_call_timeout);
    static std::shared_ptr<Bus> open_address(const std::string& address,
                                             std::chrono::milliseconds long_call_timeout);

    Bus(std::unique_ptr<sdbus::IConnection> connection, std::chrono::milliseconds long_call_timeout);
    ~Bus();
    Bus(const Bus&) = delete;
    Bus& operator=(const Bus&) = delete;

    sdbus::IConnection& connection() { return *connection_; }
    const std::string& unique_name() const { return unique_name_; }
    uint64_t long_call_timeout_usec() const { return long_call_timeout_usec_; }

    // Sends `message` through `proxy` and returns its reply. Throws sdbus::Error for an error
    // reply, a timeout (`timeout_usec` 0 is the bus default) or a lost connection. Any number of
    // threads may call this at once.
    sdbus::MethodReply call(sdbus::IProxy& proxy, const sdbus::MethodCall& message,
                            uint64_t timeout_usec);

private:
    void wait_for(PendingReply& pending);
    // Reads and dispatches bus traffic until `pending` completes or the connection fails.
    void drive_until(const PendingReply& pending);
    void drive_step(const PendingReply& pending);
    bool is_done(const PendingReply& pending);
    void complete(PendingReply& pending, sdbus::MethodReply& reply, const sdbus::Error* error);
    // Ends every pending call with `error`; later calls fail at once with it too.
    void fail_all(const sdbus::Error& error);
    // Makes the driving thread recompute what to wait for (output left to write, deadlines).
    void wake_driver();

    std::unique_ptr<sdbus::IConnection> connection_;
    std::string unique_name_;
    uint64_t long_call_timeout_usec_;
    UniqueFd wake_fd_;

    std::mutex mutex_;  // guards everything below and every PendingReply
    std::condition_variable changed_;  // a reply completed, or the driver stepped down
    std::set<PendingReply*> pending_;
    std::unique_ptr<sdbus::Error> closed_error_;
    bool driving_ = false;
};

// An IProxy for one object that sends every method call through Bus::call(). Members named in
// `long_members` (OpenSession, Invoke) get the Bus's long timeout unless the caller set one.
// Signals are never subscribed (the client needs none, and AddMatch would be a synchronous call
// behind the Bus's back) and asynchronous calls are refused: nothing would deliver their replies
// while no synchronous call is waiting.
class CallProxy final : public sdbus::IProxy {
public:
    CallProxy(std::shared_ptr<Bus> bus, const std::string& object_path,
              std::set<std::string> long_members = {});

    sdbus::MethodCall createMethodCall(const std::string& interface_name,
                                       const std::string& method_name) override;
    sdbus::MethodReply callMethod(const sdbus::MethodCall& message, uint64_t timeout) override;
    sdbus::PendingAsyncCall callMethod(const sdbus::MethodCall& message,
                                       sdbus::async_reply_handler callback,
                                       uint64_t timeout) override;
    void registerSignalHandler(const std::string& interface_name, const std::string& signal_name,
                               sdbus::signal_handler handler) override;
    void unregisterSignalHandler(const std::string& interface_name,
                                 const std::string& signal_name) override;
    void finishRegistration() override {}
    void unregister() override;
    sdbus::IConnection& getConnection() const override;
    const std::string& getObjectPath() const override;
    const sdbus::Message* getCurrentlyProcessedMessage() const override;

private:
    std::shared_ptr<Bus> bus_;
    std::unique_ptr<sdbus::IProxy> proxy_;  // sdbus-c++'s proxy: it sends and routes replies
    std::set<std::string> long_members_;
};

}  // namespace teed::client::detail
