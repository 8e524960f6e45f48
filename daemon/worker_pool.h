#pragma once
// Threads that run blocking TEE calls, so that the bus thread never waits for a TA.
//
//   WorkerPool pool(16);
//   pool.submit([] { device.invoke(...); });

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace teed {

class WorkerPool {
public:
    explicit WorkerPool(size_t threads);
    // Runs every queued task, then joins the threads.
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    void submit(std::function<void()> task);
    // Runs before queued work: cancellations must not wait behind the calls they cancel.
    void submit_urgent(std::function<void()> task);

    size_t queued() const;
    size_t busy() const;

private:
    void run_worker();

    mutable std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<std::function<void()>> tasks_;
    size_t busy_ = 0;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace teed
