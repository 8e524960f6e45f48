#pragma once
// UniqueFd owns one file descriptor and closes it exactly once.
//
//   UniqueFd fd(::open(path, O_RDWR | O_CLOEXEC));
//   if (!fd.valid()) return ErrnoError() << "open '" << path << "'";
//   ioctl(fd.get(), ...);

#include <cerrno>
#include <unistd.h>

namespace teed {

class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) reset(other.release());
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    bool operator!() const = delete;

    // Closes the current fd (keeping errno intact) and takes `fd`.
    void reset(int fd = -1) {
        if (fd_ >= 0) {
            int saved = errno;
            ::close(fd_);
            errno = saved;
        }
        fd_ = fd;
    }
    [[nodiscard]] int release() {
        int fd = fd_;
        fd_ = -1;
        return fd;
    }

private:
    int fd_ = -1;
};

}  // namespace teed
