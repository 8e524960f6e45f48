#include "common/result.h"

#include <gtest/gtest.h>

#include <cstring>
#include <iomanip>
#include <memory>
#include <set>
#include <string>

#include "common/unique_fd.h"

namespace teed {
namespace {

Result<int> parse_digit(char c) {
    if (c < '0' || c > '9') return Error(ErrorKind::InvalidArgument) << "'" << c << "' is no digit";
    return c - '0';
}

Result<int> add_digits(char a, char b) {
    int first = TEED_TRY(parse_digit(a));
    int second = TEED_TRY(parse_digit(b));
    return first + second;
}

Result<void> check_digit(char c) {
    TEED_TRY(parse_digit(c));
    return {};
}

TEST(AResult, HoldsAValue) {
    Result<int> result = 42;
    ASSERT_TRUE(result.ok());
    EXPECT_TRUE(static_cast<bool>(result));
    EXPECT_EQ(result.value(), 42);
    EXPECT_EQ(*result, 42);
}

TEST(AResult, HoldsAnErrorWithKindAndMessage) {
    Result<int> result = Error(ErrorKind::NotFound) << "session " << 7 << " is gone";
    ASSERT_FALSE(result.ok());
    EXPECT_FALSE(static_cast<bool>(result));
    EXPECT_EQ(result.error().kind(), ErrorKind::NotFound);
    EXPECT_EQ(result.error().sys_errno(), 0);
    EXPECT_EQ(result.error().message(), "session 7 is gone");
}

TEST(AResult, MovesOutMoveOnlyValues) {
    Result<std::unique_ptr<int>> result = std::make_unique<int>(5);
    ASSERT_TRUE(result.ok());
    std::unique_ptr<int> value = std::move(result).value();
    ASSERT_NE(value, nullptr);
    EXPECT_EQ(*value, 5);
}

TEST(AResult, OfVoidIsOkByDefault) {
    Result<void> result;
    EXPECT_TRUE(result.ok());
    Result<void> failed = Error(ErrorKind::Busy) << "later";
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.error().kind(), ErrorKind::Busy);
}

TEST(TeedTry, YieldsTheValueOnSuccess) {
    auto sum = add_digits('3', '4');
    ASSERT_TRUE(sum.ok());
    EXPECT_EQ(*sum, 7);
    EXPECT_TRUE(check_digit('1').ok());
}

TEST(TeedTry, ReturnsTheFirstErrorUnchanged) {
    auto sum = add_digits('x', 'y');
    ASSERT_FALSE(sum.ok());
    EXPECT_EQ(sum.error().kind(), ErrorKind::InvalidArgument);
    EXPECT_EQ(sum.error().message(), "'x' is no digit");
    auto checked = check_digit('z');
    ASSERT_FALSE(checked.ok());
    EXPECT_EQ(checked.error().message(), "'z' is no digit");
}

TEST(TeedTry, EvaluatesItsExpressionOnce) {
    int calls = 0;
    auto counted = [&]() -> Result<int> {
        ++calls;
        return 1;
    };
    auto body = [&]() -> Result<int> { return TEED_TRY(counted()) + 1; };
    EXPECT_EQ(*body(), 2);
    EXPECT_EQ(calls, 1);
}

TEST(AnError, KeepsStreamManipulatorsForTheRestOfItsMessage) {
    Error error = Error(ErrorKind::InvalidArgument)
                  << "type 0x" << std::hex << 255u << ", then " << 4096 << std::dec << " and " << 10;
    EXPECT_EQ(error.message(), "type 0xff, then 1000 and 10");
    Error padded = Error(ErrorKind::InvalidArgument)
                   << "code 0x" << std::hex << std::setw(8) << std::setfill('0') << 0xc0u << " ok";
    EXPECT_EQ(padded.message(), "code 0x000000c0 ok") << "the width reaches only the next value";
}

TEST(AnErrnoError, TakesItsKindFromErrnoAndEndsWithStrerror) {
    Error error = ErrnoError(ENOENT) << "open '/dev/tee0'";
    EXPECT_EQ(error.kind(), ErrorKind::NotFound);
    EXPECT_EQ(error.sys_errno(), ENOENT);
    EXPECT_EQ(error.message(), std::string("open '/dev/tee0': ") + std::strerror(ENOENT));
}

TEST(AnErrnoError, WithoutContextIsJustStrerror) {
    EXPECT_EQ(ErrnoError(EPERM).message(), std::strerror(EPERM));
}

TEST(AnErrnoError, ReadsErrnoByDefault) {
    errno = EBUSY;
    Error error = ErrnoError();
    EXPECT_EQ(error.sys_errno(), EBUSY);
    EXPECT_EQ(error.kind(), ErrorKind::Busy);
}

TEST(AnErrnoError, CarriesThroughResultAndTeedTry) {
    auto failing = []() -> Result<UniqueFd> { return ErrnoError(EMFILE) << "dup"; };
    auto outer = [&]() -> Result<void> {
        UniqueFd fd = TEED_TRY(failing());
        return {};
    };
    auto result = outer();
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().sys_errno(), EMFILE);
    EXPECT_EQ(result.error().kind(), ErrorKind::LimitExceeded);
}

TEST(AnErrorKind, MapsErrnoValues) {
    const struct {
        int err;
        ErrorKind kind;
    } cases[] = {
        {EPERM, ErrorKind::AccessDenied},
        {EACCES, ErrorKind::AccessDenied},
        {EINVAL, ErrorKind::InvalidArgument},
        {EFAULT, ErrorKind::InvalidArgument},
        {EBADF, ErrorKind::InvalidArgument},
        {ENOENT, ErrorKind::NotFound},
        {ENOMEM, ErrorKind::LimitExceeded},
        {ENOSPC, ErrorKind::LimitExceeded},
        {EBUSY, ErrorKind::Busy},
        {EAGAIN, ErrorKind::Busy},
        {ENODEV, ErrorKind::DeviceUnavailable},
        {EIO, ErrorKind::DeviceUnavailable},
        {EINTR, ErrorKind::Cancelled},
        {ECANCELED, ErrorKind::Cancelled},
        {ENOTSUP, ErrorKind::NotSupported},
        {ENOTTY, ErrorKind::NotSupported},
        {EDOM, ErrorKind::Internal},
        {0, ErrorKind::Internal},
    };
    for (const auto& c : cases)
        EXPECT_EQ(error_kind_from_errno(c.err), c.kind) << std::strerror(c.err);
}

TEST(AnErrorKind, RoundTripsThroughItsName) {
    // Internal is the last kind; every kind before it must have a name of its own.
    std::set<std::string_view> names;
    for (int i = 0; i <= static_cast<int>(ErrorKind::Internal); ++i) {
        const auto kind = static_cast<ErrorKind>(i);
        const std::string_view name = to_string(kind);
        EXPECT_TRUE(names.insert(name).second) << "duplicate name " << name;
        ErrorKind parsed = kind == ErrorKind::Internal ? ErrorKind::Busy : ErrorKind::Internal;
        ASSERT_TRUE(error_kind_from_string(name, parsed)) << name;
        EXPECT_EQ(parsed, kind) << name;
    }
    EXPECT_EQ(names.size(), 9u);
    EXPECT_EQ(to_string(ErrorKind::AccessDenied), "AccessDenied");
    EXPECT_EQ(to_string(ErrorKind::LimitExceeded), "LimitExceeded");
}

TEST(AnErrorKind, RejectsUnknownNamesAndLeavesTheOutputAlone) {
    ErrorKind kind = ErrorKind::Busy;
    EXPECT_FALSE(error_kind_from_string("accessdenied", kind));
    EXPECT_FALSE(error_kind_from_string("", kind));
    EXPECT_FALSE(error_kind_from_string("org.teed.Teed1.Error.Busy", kind));
    EXPECT_EQ(kind, ErrorKind::Busy);
}

}  // namespace
}  // namespace teed
