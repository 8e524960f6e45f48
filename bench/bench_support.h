#pragma once
// What benchmarks that fork need: a child process that cannot outlive its owner, memory shared
// with children, pipes, and whole-buffer reads and writes.
//
//   ForkedChild echo([&] { return serve(socket.get()); });   // runs in the child, then _exit()
//   ...                                                      // echo is killed and reaped at scope
//   end

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>

#include "common/unique_fd.h"

namespace teed::bench {

// A forked child running `body`; the child ends with _exit(body()) (1 if it throws), so it never
// returns into the benchmark or runs the parent's destructors and atexit handlers. It also gets
// SIGKILL if the benchmark process dies. The destructor kills the child unless it was reaped and
// always reaps it.
//
// Fork only while the process has one thread (see thread_count()): the child may allocate, and
// another thread could hold the allocator's lock at the moment of the fork.
class ForkedChild {
public:
    // Throws std::runtime_error if fork fails.
    explicit ForkedChild(const std::function<int()>& body);
    ~ForkedChild();
    ForkedChild(ForkedChild&& other) noexcept : pid_(std::exchange(other.pid_, -1)) {}
    ForkedChild& operator=(ForkedChild&&) = delete;
    ForkedChild(const ForkedChild&) = delete;
    ForkedChild& operator=(const ForkedChild&) = delete;

    // Waits up to `limit` for the child to exit by itself; its exit code, or nullopt if it was
    // killed by a signal or is still running (the destructor then kills it).
    std::optional<int> wait_for(std::chrono::milliseconds limit);

private:
    pid_t pid_ = -1;
};

// Anonymous memory shared with children forked after it was made (MAP_SHARED), zero-filled.
class SharedMapping {
public:
    explicit SharedMapping(size_t bytes);  // throws std::runtime_error if mmap fails
    ~SharedMapping();
    SharedMapping(const SharedMapping&) = delete;
    SharedMapping& operator=(const SharedMapping&) = delete;

    void* data() const { return data_; }

private:
    void* data_ = nullptr;
    size_t bytes_ = 0;
};

struct Pipe {
    UniqueFd read;
    UniqueFd write;
};
Pipe make_pipe();  // O_CLOEXEC; throws std::runtime_error on failure

// Write or read exactly `bytes` bytes, retrying on EINTR and short transfers. False on an error
// or (reads) end of file first.
bool write_all(int fd, const void* data, size_t bytes);
bool read_all(int fd, void* data, size_t bytes);

// The number of threads in this process (from /proc/self/status), 0 if it cannot be read.
int thread_count();

// CLOCK_MONOTONIC in nanoseconds: the same clock in every process of the machine.
int64_t monotonic_ns();

}  // namespace teed::bench
