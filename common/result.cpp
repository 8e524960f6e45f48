#include "common/result.h"

#include <array>

namespace teed {
namespace {

struct KindName {
    ErrorKind kind;
    std::string_view name;
};

constexpr std::array kKindNames{
    KindName{ErrorKind::AccessDenied, "AccessDenied"},
    KindName{ErrorKind::InvalidArgument, "InvalidArgument"},
    KindName{ErrorKind::NotFound, "NotFound"},
    KindName{ErrorKind::LimitExceeded, "LimitExceeded"},
    KindName{ErrorKind::Busy, "Busy"},
    KindName{ErrorKind::DeviceUnavailable, "DeviceUnavailable"},
    KindName{ErrorKind::Cancelled, "Cancelled"},
    KindName{ErrorKind::NotSupported, "NotSupported"},
    KindName{ErrorKind::Internal, "Internal"},
};

}  // namespace

std::string_view to_string(ErrorKind kind) {
    for (const auto& entry : kKindNames)
        if (entry.kind == kind) return entry.name;
    return "Internal";
}

bool error_kind_from_string(std::string_view text, ErrorKind& ret_kind) {
    for (const auto& entry : kKindNames) {
        if (entry.name == text) {
            ret_kind = entry.kind;
            return true;
        }
    }
    return false;
}

ErrorKind error_kind_from_errno(int err) {
    switch (err) {
        case EPERM:
        case EACCES:
            return ErrorKind::AccessDenied;
        case EINVAL:
        case EFAULT:
        case E2BIG:
        case ERANGE:
        case EBADF:
        case ENAMETOOLONG:
            return ErrorKind::InvalidArgument;
        case ENOENT:
        case ESRCH:
            return ErrorKind::NotFound;
        case ENOMEM:
        case ENOSPC:
        case EMFILE:
        case ENFILE:
        case EDQUOT:
            return ErrorKind::LimitExceeded;
        case EBUSY:
        case EAGAIN:
            return ErrorKind::Busy;
        case ENODEV:
        case ENXIO:
        case EIO:
        case ESHUTDOWN:
            return ErrorKind::DeviceUnavailable;
        case EINTR:
        case ECANCELED:
            return ErrorKind::Cancelled;
        case ENOTSUP:
        case ENOTTY:
        case ENOSYS:
            return ErrorKind::NotSupported;
        default:
            return ErrorKind::Internal;
    }
}

std::string Error::message() const {
    if (sys_errno_ == 0) return message_;
    std::string text = message_;
    if (!text.empty()) text += ": ";
    text += std::strerror(sys_errno_);
    return text;
}

}  // namespace teed
