#include "common/uuid.h"

#include <gtest/gtest.h>

#include <string>

namespace teed {
namespace {

TEST(AUuid, FormatsWhatItParsed) {
    const std::string text = "8aaaf200-2450-11e4-abe2-0002a5d5c51b";
    auto uuid = Uuid::parse(text);
    ASSERT_TRUE(uuid.ok()) << uuid.error().message();
    EXPECT_EQ(uuid->to_string(), text);
}

TEST(AUuid, KeepsOctetsInNetworkOrder) {
    auto uuid = Uuid::parse("00112233-4455-6677-8899-aabbccddeeff");
    ASSERT_TRUE(uuid.ok());
    for (size_t i = 0; i < 16; ++i) EXPECT_EQ(uuid->bytes[i], i * 0x11) << "octet " << i;
}

TEST(AUuid, AcceptsUpperCaseAndFormatsLowerCase) {
    auto uuid = Uuid::parse("4CBE901C-6D6C-4B1D-8ECD-FA9216CE5FE6");
    ASSERT_TRUE(uuid.ok());
    EXPECT_EQ(uuid->to_string(), "4cbe901c-6d6c-4b1d-8ecd-fa9216ce5fe6");
}

TEST(AUuid, RejectsMalformedText) {
    const char* malformed[] = {
        "",
        "8aaaf200-2450-11e4-abe2-0002a5d5c51",     // one digit short
        "8aaaf200-2450-11e4-abe2-0002a5d5c51b0",   // one digit long
        "8aaaf200-2450-11e4-abe2-0002a5d5c51g",    // not hex
        "8aaaf200-2450-11e4-abe2 0002a5d5c51b",    // space for a dash
        "8aaaf2002-450-11e4-abe2-0002a5d5c51b",    // dash moved
        "8aaaf200-2450-11e4-abe20-002a5d5c51b",    // dash moved
        "8aaaf200245011e4abe20002a5d5c51b",        // no dashes
        "{8aaaf200-2450-11e4-abe2-0002a5d5c51b}",  // braces
        "-8aaaf20-2450-11e4-abe2-0002a5d5c51b",    // leading dash
    };
    for (const char* text : malformed) {
        auto uuid = Uuid::parse(text);
        ASSERT_FALSE(uuid.ok()) << "'" << text << "'";
        EXPECT_EQ(uuid.error().kind(), ErrorKind::InvalidArgument);
        EXPECT_NE(uuid.error().message().find("is not a UUID"), std::string::npos);
    }
}

TEST(AUuid, RejectsTextWithAnEmbeddedNul) {
    const std::string text("8aaaf200-2450-11e4-abe2-0002a5d5\0c51b", 36);
    EXPECT_FALSE(Uuid::parse(text).ok());
}

TEST(AUuid, IsNilOnlyWhenAllOctetsAreZero) {
    EXPECT_TRUE(Uuid{}.is_nil());
    EXPECT_EQ(Uuid{}.to_string(), "00000000-0000-0000-0000-000000000000");
    EXPECT_FALSE(Uuid::parse("00000000-0000-0000-0000-000000000001")->is_nil());
}

TEST(AUuid, ComputesVersion5AsRfc4122Does) {
    // RFC 4122's DNS namespace and the name Python's documentation uses as its example.
    auto dns = Uuid::parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8");
    ASSERT_TRUE(dns.ok());
    EXPECT_EQ(Uuid::v5(*dns, "python.org").to_string(), "886313e1-3b8a-5372-9b90-0c9aee199e5d");
}

TEST(AUuid, ComputesTheKernelsClientIdentities) {
    // Expected values computed with Python's uuid.uuid5 in the kernel's namespace.
    auto ns = Uuid::parse("58ac9ca0-2086-4683-a1b8-ec4bc08e01b6");
    ASSERT_TRUE(ns.ok());
    EXPECT_EQ(Uuid::v5(*ns, "uid=0").to_string(), "ef0180a3-13f3-5d1c-b7f5-888c0e21059a");
    EXPECT_EQ(Uuid::v5(*ns, "uid=fffe").to_string(), "38a74241-5cff-5d47-aadb-674ee89bf466");
}

TEST(AUuid, OrdersAndComparesByOctets) {
    auto low = Uuid::parse("00000000-0000-0000-0000-000000000001").value();
    auto high = Uuid::parse("01000000-0000-0000-0000-000000000000").value();
    EXPECT_LT(low, high);
    EXPECT_EQ(low, Uuid::parse("00000000-0000-0000-0000-000000000001").value());
    EXPECT_NE(low, high);
}

}  // namespace
}  // namespace teed
