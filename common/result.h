#pragma once
// Result<T>: a value or an Error, in the manner of libbase's result.h.
//
//   Result<int> parse_port(std::string_view s) {
//       if (s.empty()) return Error(ErrorKind::InvalidArgument) << "empty port";
//       ...
//   }
//   Result<void> connect(...) {
//       int port = TEED_TRY(parse_port(text));
//       ...
//       return {};
//   }

#include <cerrno>
#include <cstring>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace teed {

// The conditions a caller can act on. Each maps to one D-Bus error name (dbus/errors.h).
enum class ErrorKind {
    AccessDenied,
    InvalidArgument,
    NotFound,
    LimitExceeded,
    Busy,
    DeviceUnavailable,
    Cancelled,
    NotSupported,
    Internal,
};

std::string_view to_string(ErrorKind kind);
bool error_kind_from_string(std::string_view text, ErrorKind& ret_kind);

// The kind a system call failure with this errno stands for.
ErrorKind error_kind_from_errno(int err);

class Error {
public:
    explicit Error(ErrorKind kind, int sys_errno = 0) : kind_(kind), sys_errno_(sys_errno) {}

    // Stream manipulators hold for the rest of the message, as on one ostream: `<< "0x" <<
    // std::hex << code` prints hex, and `std::setw`/`std::setfill` reach the next value.
    template <typename T>
    Error& operator<<(const T& value) & {
        std::ostringstream out;
        out.flags(format_.flags);
        out.fill(format_.fill);
        out.width(format_.width);
        out.precision(format_.precision);
        out << value;
        format_ = {out.flags(), out.fill(), out.width(), out.precision()};
        message_ += out.str();
        return *this;
    }
    template <typename T>
    Error&& operator<<(const T& value) && {
        return std::move(*this << value);
    }

    ErrorKind kind() const { return kind_; }
    int sys_errno() const { return sys_errno_; }
    // The context, followed by the errno text when there is one.
    std::string message() const;

private:
    struct Format {
        std::ios_base::fmtflags flags = std::ios_base::dec | std::ios_base::skipws;
        char fill = ' ';
        std::streamsize width = 0;
        std::streamsize precision = 6;
    };

    ErrorKind kind_;
    int sys_errno_;
    std::string message_;
    Format format_;
};

// An Error for a failed system call: its kind follows from errno, and message() ends with strerror.
inline Error ErrnoError(int err = errno) { return Error(error_kind_from_errno(err), err); }

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
    Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

    bool ok() const { return state_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(state_); }
    const T& value() const& { return std::get<0>(state_); }
    T&& value() && { return std::get<0>(std::move(state_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }

    const Error& error() const& { return std::get<1>(state_); }
    Error&& error() && { return std::get<1>(std::move(state_)); }

private:
    std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    void value() const {}

    const Error& error() const& { return error_; }
    Error&& error() && { return std::move(error_); }

private:
    Error error_{ErrorKind::Internal};
    bool ok_ = true;
};

}  // namespace teed

// Evaluates a Result; on error returns the Error from the enclosing function, else yields the value.
#define TEED_TRY(expr)                                               \
    ({                                                               \
        auto&& teed_try_result_ = (expr);                            \
        if (!teed_try_result_.ok()) return std::move(teed_try_result_).error(); \
        std::move(teed_try_result_).value();                         \
    })
