#include "backends/optee/supplicant/socket_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace teed::supplicant {
namespace {

using ::testing::HasSubstr;

constexpr const char* kTa = "8a420beb-5132-46f7-b0c0-f049917c2317";
constexpr const char* kOtherTa = "f4e750bb-1437-4fbf-8785-8d3580c34994";

DestinationPattern pattern(std::string_view text) {
    auto parsed = DestinationPattern::parse(text);
    EXPECT_TRUE(parsed.ok()) << text << ": " << (parsed.ok() ? "" : parsed.error().message());
    return parsed.ok() ? *parsed : DestinationPattern::parse("*:1").value();
}

std::string refusal(std::string_view text) {
    auto parsed = DestinationPattern::parse(text);
    EXPECT_FALSE(parsed.ok()) << text << " was accepted";
    return parsed.ok() ? "" : parsed.error().message();
}

TEST(ADestinationPattern, MatchesAnAddressAndItsPortsOnly) {
    auto local = pattern("127.0.0.1:7000-7010");
    EXPECT_TRUE(local.matches("127.0.0.1", 7000));
    EXPECT_TRUE(local.matches("127.0.0.1", 7010));
    EXPECT_FALSE(local.matches("127.0.0.1", 7011));
    EXPECT_FALSE(local.matches("127.0.0.2", 7000));
    EXPECT_FALSE(local.matches("localhost", 7000)) << "a name is not the address it may resolve to";
}

TEST(ADestinationPattern, MatchesANetworkByPrefix) {
    auto net = pattern("10.1.0.0/16:*");
    EXPECT_TRUE(net.matches("10.1.255.3", 1));
    EXPECT_TRUE(net.matches("10.1.0.0", 65535));
    EXPECT_FALSE(net.matches("10.2.0.1", 443));
    EXPECT_FALSE(net.matches("10.1.evil.com", 443)) << "a name never passes for an address";
    auto odd = pattern("192.168.4.0/23:53");
    EXPECT_TRUE(odd.matches("192.168.5.200", 53));
    EXPECT_FALSE(odd.matches("192.168.6.1", 53));
}

TEST(ADestinationPattern, ComparesIpv6AddressesAsAddresses) {
    auto loopback = pattern("[::1]:8000");
    EXPECT_TRUE(loopback.matches("0:0:0:0:0:0:0:1", 8000));
    EXPECT_FALSE(loopback.matches("127.0.0.1", 8000));
    auto ula = pattern("[fd00::/8]:443");
    EXPECT_TRUE(ula.matches("fd12:3456::7", 443));
    EXPECT_FALSE(ula.matches("fe80::1", 443));
}

TEST(ADestinationPattern, MatchesNamesWholeOrBySuffix) {
    auto exact = pattern("NTP.example.com:123");
    EXPECT_TRUE(exact.matches("ntp.Example.COM", 123));
    EXPECT_FALSE(exact.matches("ntp.example.com.evil", 123));
    auto suffix = pattern("*.example.com:443");
    EXPECT_TRUE(suffix.matches("api.example.com", 443));
    EXPECT_TRUE(suffix.matches("a.b.example.com", 443));
    EXPECT_FALSE(suffix.matches("example.com", 443)) << "*.NAME needs a label before NAME";
    EXPECT_FALSE(suffix.matches("badexample.com", 443));
    auto any = pattern("*:443");
    EXPECT_TRUE(any.matches("192.0.2.1", 443));
    EXPECT_TRUE(any.matches("anything.example", 443));
    EXPECT_FALSE(any.matches("anything.example", 80));
}

TEST(ADestinationPattern, RefusesWhatItCannotMeanWithAReason) {
    EXPECT_THAT(refusal("127.0.0.1"), HasSubstr("PORTS"));
    EXPECT_THAT(refusal("127.0.0.1:0"), HasSubstr("not a port"));
    EXPECT_THAT(refusal("127.0.0.1:70000"), HasSubstr("not a port"));
    EXPECT_THAT(refusal("127.0.0.1:9-3"), HasSubstr("reversed"));
    EXPECT_THAT(refusal("::1:80"), HasSubstr("[ADDRESS]:PORTS"));
    EXPECT_THAT(refusal("[::1:80"), HasSubstr("[ADDRESS]:PORTS"));
    EXPECT_THAT(refusal("10.*:80"), HasSubstr("neither"));
    EXPECT_THAT(refusal("10.1:80"), HasSubstr("no address"));
    EXPECT_THAT(refusal("10.0.0.0/33:80"), HasSubstr("longer than the address"));
    EXPECT_THAT(refusal("example.com/8:80"), HasSubstr("needs a numeric address"));
    EXPECT_THAT(refusal("bad host:80"), HasSubstr("neither"));
    EXPECT_THAT(refusal("*.:80"), HasSubstr("neither"));
}

TEST(AHost, IsValidOnlyAsAnAddressOrAPlainName) {
    EXPECT_TRUE(is_valid_host("127.0.0.1"));
    EXPECT_TRUE(is_valid_host("fe80::1"));
    EXPECT_TRUE(is_valid_host("ntp-1.example.com"));
    EXPECT_FALSE(is_valid_host(""));
    EXPECT_FALSE(is_valid_host("a b"));
    EXPECT_FALSE(is_valid_host("evil.com\n"));
    EXPECT_FALSE(is_valid_host(std::string(254, 'a')));
}

TEST(ASocketRule, ChecksItsFields) {
    EXPECT_THAT(SocketRule::make("not-a-uuid", {}, {"*:1"}).error().message(), HasSubstr("'ta'"));
    EXPECT_THAT(SocketRule::make("*", {"sctp"}, {"*:1"}).error().message(), HasSubstr("sctp"));
    EXPECT_THAT(SocketRule::make("*", {}, {}).error().message(), HasSubstr("at least one"));
    EXPECT_THAT(SocketRule::make("*", {}, {"*"}).error().message(), HasSubstr("destination '*'"));
    auto rule = SocketRule::make(kTa, {"udp"}, {"*:53"});
    ASSERT_TRUE(rule.ok());
    EXPECT_FALSE(rule->allows(SocketProtocol::Tcp));
    EXPECT_TRUE(rule->allows(SocketProtocol::Udp));
}

TEST(ASocketPolicy, AllowsNothingByDefault) {
    SocketPolicy none;
    EXPECT_TRUE(none.empty());
    EXPECT_FALSE(none.allows(Uuid::parse(kTa).value(), SocketProtocol::Tcp, "127.0.0.1", 80));
    EXPECT_FALSE(none.allows(std::nullopt, SocketProtocol::Udp, "127.0.0.1", 53));
}

TEST(ASocketPolicy, AppliesARuleToItsTaOnlyAndAnyTaRulesToAll) {
    SocketPolicy policy({SocketRule::make(kTa, {"tcp"}, {"127.0.0.1:7000"}).value(),
                         SocketRule::make("*", {}, {"127.0.0.1:9000"}).value()});
    const Uuid ta = Uuid::parse(kTa).value();
    const Uuid other = Uuid::parse(kOtherTa).value();
    EXPECT_TRUE(policy.names_tas());
    EXPECT_TRUE(policy.allows(ta, SocketProtocol::Tcp, "127.0.0.1", 7000));
    EXPECT_FALSE(policy.allows(ta, SocketProtocol::Udp, "127.0.0.1", 7000)) << "tcp only";
    EXPECT_FALSE(policy.allows(other, SocketProtocol::Tcp, "127.0.0.1", 7000));
    EXPECT_FALSE(policy.allows(std::nullopt, SocketProtocol::Tcp, "127.0.0.1", 7000))
        << "a TA the TEE does not name is not the TA a rule names";
    EXPECT_TRUE(policy.allows(other, SocketProtocol::Udp, "127.0.0.1", 9000));
    EXPECT_TRUE(policy.allows(std::nullopt, SocketProtocol::Tcp, "127.0.0.1", 9000));
}

}  // namespace
}  // namespace teed::supplicant
