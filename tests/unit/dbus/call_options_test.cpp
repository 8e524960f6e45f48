#include "dbus/call_options.h"

#include <gtest/gtest.h>

namespace teed {
namespace {

TEST(CallOptions, ReadCancelId) {
    auto parsed = parse_call_options({{"cancel_id", sdbus::Variant(uint32_t{7})}});
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->cancel_id, 7u);
    EXPECT_FALSE(parse_call_options({})->cancel_id.has_value());
}

TEST(CallOptions, RejectUnknownKeysAndWrongTypes) {
    auto unknown = parse_call_options({{"timeout", sdbus::Variant(uint32_t{1})}});
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.error().kind(), ErrorKind::InvalidArgument);
    auto wrong = parse_call_options({{"cancel_id", sdbus::Variant(std::string("7"))}});
    ASSERT_FALSE(wrong.ok());
    EXPECT_NE(wrong.error().message().find("'u'"), std::string::npos);
}

}  // namespace
}  // namespace teed
