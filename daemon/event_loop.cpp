#include "daemon/event_loop.h"

#include <signal.h>
#include <sys/eventfd.h>

#include <systemd/sd-event.h>

#include "common/log.h"

namespace teed {

Result<std::unique_ptr<EventLoop>> EventLoop::create() {
    auto loop = std::make_unique<EventLoop>(Key{});
    int r = sd_event_new(&loop->event_);
    if (r < 0) return ErrnoError(-r) << "creating the event loop";
    loop->wakeup_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!loop->wakeup_.valid()) return ErrnoError() << "creating the loop's eventfd";
    auto on_wakeup = [](sd_event_source*, int fd, uint32_t, void* userdata) -> int {
        uint64_t count;
        [[maybe_unused]] ssize_t n = read(fd, &count, sizeof count);
        static_cast<EventLoop*>(userdata)->drain_posted();
        return 0;
    };
    r = sd_event_add_io(loop->event_, &loop->wakeup_source_, loop->wakeup_.get(), EPOLLIN,
                        on_wakeup, loop.get());
    if (r < 0) return ErrnoError(-r) << "watching the loop's eventfd";
    return loop;
}

EventLoop::~EventLoop() {
    sd_event_source_disable_unref(wakeup_source_);
    sd_event_unref(event_);
}

void EventLoop::post(std::function<void()> task) {
    {
        std::lock_guard lock(mutex_);
        posted_.push_back(std::move(task));
    }
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wakeup_.get(), &one, sizeof one);
}

void EventLoop::drain_posted() {
    std::deque<std::function<void()>> tasks;
    {
        std::lock_guard lock(mutex_);
        tasks.swap(posted_);
    }
    for (auto& task : tasks) {
        try {
            task();
        } catch (const std::exception& e) {
            log_error("a posted task failed, ignoring", {{"TEED_ERROR", e.what()}});
        }
    }
}

Result<void> EventLoop::on_signal(int signal, std::function<void()> handler) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, signal);
    if (pthread_sigmask(SIG_BLOCK, &mask, nullptr) != 0) return ErrnoError() << "blocking signal";
    signal_handlers_.push_back(std::make_unique<std::function<void()>>(std::move(handler)));
    auto dispatch = [](sd_event_source*, const signalfd_siginfo*, void* userdata) -> int {
        (*static_cast<std::function<void()>*>(userdata))();
        return 0;
    };
    int r = sd_event_add_signal(event_, nullptr, signal, dispatch, signal_handlers_.back().get());
    if (r < 0) return ErrnoError(-r) << "watching signal " << signal;
    return {};
}

Result<void> EventLoop::enable_watchdog() {
    int r = sd_event_set_watchdog(event_, 1);
    if (r < 0) return ErrnoError(-r) << "enabling the watchdog";
    return {};
}

Result<int> EventLoop::run() {
    int r = sd_event_loop(event_);
    if (r < 0) return ErrnoError(-r) << "running the event loop";
    return r;
}

void EventLoop::exit(int code) { sd_event_exit(event_, code); }

void EventLoop::discard_posted() {
    std::deque<std::function<void()>> tasks;
    std::lock_guard lock(mutex_);
    tasks.swap(posted_);
}

}  // namespace teed
