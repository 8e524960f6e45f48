#pragma once
// A fixed-window rate limit for log lines that outside parties can cause (refused D-Bus calls,
// bad requests from the secure world): at most `burst` lines per `window`, and the next line let
// through says how many were dropped before it.
//
//   LogRateLimit limit(20, std::chrono::seconds(10));
//   int64_t dropped = limit.admit();
//   if (dropped >= 0) log_warning(dropped == 0 ? "..." : "... (N more not logged)", ...);
//
// Thread-safe.

#include <chrono>
#include <cstdint>
#include <mutex>

namespace teed {

class LogRateLimit {
public:
    LogRateLimit(uint32_t burst, std::chrono::steady_clock::duration window)
        : burst_(burst), window_(window) {}

    // How many lines were dropped since the last one written, or -1 when this one is dropped too.
    int64_t admit() {
        std::lock_guard lock(mutex_);
        auto now = std::chrono::steady_clock::now();
        if (written_ == 0 || now - start_ >= window_) {
            start_ = now;
            written_ = 0;
        }
        if (written_ >= burst_) {
            ++suppressed_;
            return -1;
        }
        ++written_;
        auto dropped = static_cast<int64_t>(suppressed_);
        suppressed_ = 0;
        return dropped;
    }

private:
    const uint32_t burst_;
    const std::chrono::steady_clock::duration window_;
    std::mutex mutex_;
    std::chrono::steady_clock::time_point start_;
    uint32_t written_ = 0;
    uint64_t suppressed_ = 0;
};

}  // namespace teed
