#include "daemon/worker_pool.h"

#include "common/log.h"

namespace teed {

WorkerPool::WorkerPool(size_t threads) {
    threads_.reserve(threads);
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { run_worker(); });
}

WorkerPool::~WorkerPool() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    ready_.notify_all();
    for (auto& thread : threads_) thread.join();
}

void WorkerPool::submit(std::function<void()> task) {
    {
        std::lock_guard lock(mutex_);
        tasks_.push_back(std::move(task));
    }
    ready_.notify_one();
}

void WorkerPool::submit_urgent(std::function<void()> task) {
    {
        std::lock_guard lock(mutex_);
        tasks_.push_front(std::move(task));
    }
    ready_.notify_one();
}

size_t WorkerPool::queued() const {
    std::lock_guard lock(mutex_);
    return tasks_.size();
}

size_t WorkerPool::busy() const {
    std::lock_guard lock(mutex_);
    return busy_;
}

void WorkerPool::run_worker() {
    std::unique_lock lock(mutex_);
    for (;;) {
        ready_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
        if (tasks_.empty()) return;  // stopping, and nothing left to run
        auto task = std::move(tasks_.front());
        tasks_.pop_front();
        ++busy_;
        lock.unlock();
        try {
            task();
        } catch (const std::exception& e) {
            log_error("a worker task failed, ignoring", {{"TEED_ERROR", e.what()}});
        }
        task = nullptr;  // release what the task held before taking the lock again
        lock.lock();
        --busy_;
    }
}

}  // namespace teed
