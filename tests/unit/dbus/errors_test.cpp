#include "dbus/errors.h"

#include <gtest/gtest.h>

namespace teed {
namespace {

struct KindCase {
    ErrorKind kind;
    const char* name;
};

TEST(TheErrorTable, NamesEveryKindAsTheBriefDoes) {
    const KindCase cases[] = {
        {ErrorKind::AccessDenied, "org.teed.Teed1.Error.AccessDenied"},
        {ErrorKind::InvalidArgument, "org.teed.Teed1.Error.InvalidArgument"},
        {ErrorKind::NotFound, "org.teed.Teed1.Error.NotFound"},
        {ErrorKind::LimitExceeded, "org.teed.Teed1.Error.LimitExceeded"},
        {ErrorKind::Busy, "org.teed.Teed1.Error.Busy"},
        {ErrorKind::DeviceUnavailable, "org.teed.Teed1.Error.DeviceUnavailable"},
        {ErrorKind::Cancelled, "org.teed.Teed1.Error.Cancelled"},
        {ErrorKind::NotSupported, "org.teed.Teed1.Error.NotSupported"},
        {ErrorKind::Internal, "org.teed.Teed1.Error.Internal"},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(dbus_error_name(c.kind), c.name);
        ErrorKind back{};
        ASSERT_TRUE(error_kind_from_string(to_string(c.kind), back));
        EXPECT_EQ(back, c.kind);
    }
}

struct ErrnoCase {
    int err;
    ErrorKind kind;
};

TEST(TheErrorTable, MapsKernelErrnoToTheConditionAClientCanActOn) {
    const ErrnoCase cases[] = {
        {EPERM, ErrorKind::AccessDenied},       {EACCES, ErrorKind::AccessDenied},
        {EINVAL, ErrorKind::InvalidArgument},   {ENOENT, ErrorKind::NotFound},
        {ENOMEM, ErrorKind::LimitExceeded},     {EBUSY, ErrorKind::Busy},
        {ENODEV, ErrorKind::DeviceUnavailable}, {EINTR, ErrorKind::Cancelled},
        {ENOTTY, ErrorKind::NotSupported},      {EXDEV, ErrorKind::Internal},
    };
    for (const auto& c : cases) EXPECT_EQ(error_kind_from_errno(c.err), c.kind) << c.err;
}

TEST(TheErrorTable, CarriesTheMessageIntoTheDbusError) {
    auto e = to_dbus_error(Error(ErrorKind::NotFound) << "no TEE device named 'x'");
    EXPECT_EQ(e.getName(), "org.teed.Teed1.Error.NotFound");
    EXPECT_EQ(e.getMessage(), "no TEE device named 'x'");
}

}  // namespace
}  // namespace teed
