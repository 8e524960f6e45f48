#pragma once
// The daemon's one event loop (sd-event) on the main thread. All daemon state and all bus traffic
// live on it; workers hand results back with post().
//
//   auto loop = TEED_TRY(EventLoop::create());
//   pool.submit([&loop] { auto r = slow_call(); loop.post([r] { reply(r); }); });
//   return loop.run();

#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "common/result.h"
#include "common/unique_fd.h"

struct sd_event;
struct sd_event_source;

namespace teed {

class EventLoop {
public:
    static Result<std::unique_ptr<EventLoop>> create();
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    sd_event* event() const { return event_; }

    // Thread-safe: queues `task` to run on the loop thread.
    void post(std::function<void()> task);
    // Runs `handler` on the loop thread when `signal` arrives (the signal is blocked for all threads
    // created afterwards; call before starting any).
    Result<void> on_signal(int signal, std::function<void()> handler);
    // Sends WATCHDOG=1 from the loop itself when the service manager asked for a watchdog, so a
    // wedged loop is noticed.
    Result<void> enable_watchdog();

    Result<int> run();
    void exit(int code);
    // Drops queued tasks unrun (at shutdown, before what they refer to goes away).
    void discard_posted();

private:
    struct Key {};  // only create() constructs: a loop without its eventfd would not work

public:
    explicit EventLoop(Key) {}

private:
    void drain_posted();

    sd_event* event_ = nullptr;
    UniqueFd wakeup_;
    sd_event_source* wakeup_source_ = nullptr;
    std::mutex mutex_;
    std::deque<std::function<void()>> posted_;
    std::deque<std::unique_ptr<std::function<void()>>> signal_handlers_;
};

}  // namespace teed
