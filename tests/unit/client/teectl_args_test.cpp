#include "client/teectl_args.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

namespace teed::teectl {
namespace {

constexpr const char* kUuid = "8aaaf200-2450-11e4-abe2-0002a5d5c51b";

std::vector<uint8_t> bytes(std::string_view text) { return {text.begin(), text.end()}; }

Arguments parse_ok(const std::vector<std::string>& args) {
    auto result = parse_arguments(args);
    EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message());
    return result.ok() ? std::move(result).value() : Arguments{};
}

std::string parse_error(const std::vector<std::string>& args) {
    auto result = parse_arguments(args);
    EXPECT_FALSE(result.ok()) << "parsed without error";
    if (result.ok()) return "";
    EXPECT_EQ(result.error().kind(), ErrorKind::InvalidArgument);
    return result.error().message();
}

TEST(ATeectlParser, ParsesTheOneShotInvokeOfTheBrief) {
    auto args = parse_ok({"--bus-address", "unix:path=/tmp/bus", "invoke", kUuid, "0",
                          "--value-inout", "42"});
    EXPECT_EQ(args.command, Command::Invoke);
    EXPECT_EQ(args.bus_address, "unix:path=/tmp/bus");
    EXPECT_FALSE(args.json);
    EXPECT_EQ(args.uuid, kUuid);
    EXPECT_EQ(args.ta_command, 0u);
    ASSERT_EQ(args.params.size(), 1u);
    EXPECT_EQ(args.params[0], client::Param::value_inout(42));
}

TEST(ATeectlParser, KeepsParametersInCommandLineOrder) {
    auto args = parse_ok({"invoke", kUuid, "0x10", "--in", "hello", "--value-in", "1,2",
                          "--out", "64", "--value-out"});
    EXPECT_EQ(args.ta_command, 16u);
    ASSERT_EQ(args.params.size(), 4u);
    EXPECT_EQ(args.params[0], client::Param::temp_in(bytes("hello")));
    EXPECT_EQ(args.params[1], client::Param::value_in(1, 2));
    EXPECT_EQ(args.params[2], client::Param::temp_out(64));
    EXPECT_EQ(args.params[3], client::Param::value_out());
}

TEST(ATeectlParser, RejectsAFifthParameter) {
    auto message = parse_error({"invoke", kUuid, "0", "--value-out", "--value-out", "--value-out",
                                "--value-out", "--value-in", "5"});
    EXPECT_NE(message.find("at most 4"), std::string::npos) << message;
}

TEST(ATeectlParser, AcceptsGlobalOptionsAfterTheCommandAndInEqualsForm) {
    auto args = parse_ok({"devices", "--json", "--bus-address=unix:path=/run/x"});
    EXPECT_EQ(args.command, Command::Devices);
    EXPECT_TRUE(args.json);
    EXPECT_EQ(args.bus_address, "unix:path=/run/x");
}

TEST(ATeectlParser, NormalizesTheUuidToLowerCase) {
    auto args = parse_ok({"open", "8AAAF200-2450-11E4-ABE2-0002A5D5C51B"});
    EXPECT_EQ(args.command, Command::Open);
    EXPECT_EQ(args.uuid, kUuid);
}

TEST(ATeectlParser, RejectsAMalformedUuid) {
    auto message = parse_error({"open", "8aaaf200-2450-11e4-abe2"});
    EXPECT_NE(message.find("is not a UUID"), std::string::npos) << message;
}

TEST(ATeectlParser, RejectsABadCommandNumber) {
    EXPECT_NE(parse_error({"invoke", kUuid, "twelve"}).find("COMMAND"), std::string::npos);
    EXPECT_NE(parse_error({"invoke", kUuid, "4294967296"}).find("larger than"), std::string::npos);
    EXPECT_NE(parse_error({"invoke", kUuid, "-1"}).find("unknown option"), std::string::npos);
}

TEST(ATeectlParser, RejectsMissingAndExtraPositionalArguments) {
    EXPECT_NE(parse_error({"invoke", kUuid}).find("needs a UUID and a COMMAND"), std::string::npos);
    EXPECT_NE(parse_error({"open"}).find("needs a UUID"), std::string::npos);
    EXPECT_NE(parse_error({"status", "extra"}).find("unexpected argument 'extra'"), std::string::npos);
    EXPECT_NE(parse_error({}).find("no command"), std::string::npos);
    EXPECT_NE(parse_error({"frobnicate"}).find("unknown command"), std::string::npos);
}

TEST(ATeectlParser, RejectsUnknownOptionsAndMissingValues) {
    EXPECT_NE(parse_error({"devices", "--colour"}).find("unknown option '--colour'"), std::string::npos);
    EXPECT_NE(parse_error({"open", kUuid, "--device"}).find("needs a value"), std::string::npos);
    EXPECT_NE(parse_error({"devices", "--json=yes"}).find("takes no value"), std::string::npos);
}

TEST(ATeectlParser, RejectsSessionOptionsOnCommandsWithoutASession) {
    auto message = parse_error({"devices", "--device", "tee0"});
    EXPECT_NE(message.find("does not take '--device'"), std::string::npos) << message;
}

TEST(ATeectlParser, ParsesLoginsAndGroups) {
    auto user = parse_ok({"open", kUuid, "--login", "user"});
    EXPECT_EQ(user.login, client::kLoginUser);
    auto group = parse_ok({"open", kUuid, "--login", "group", "--group", "1000", "--device", "tee1"});
    EXPECT_EQ(group.login, client::kLoginGroup);
    EXPECT_EQ(group.connection_data, 1000u);
    EXPECT_EQ(group.device, "tee1");
    auto numeric = parse_ok({"open", kUuid, "--login", "0x6", "--group", "7"});
    EXPECT_EQ(numeric.login, client::kLoginGroupApplication);
    EXPECT_EQ(numeric.connection_data, 7u);
}

TEST(ATeectlParser, RejectsInconsistentLogins) {
    EXPECT_NE(parse_error({"open", kUuid, "--login", "group"}).find("needs --group"), std::string::npos);
    EXPECT_NE(parse_error({"open", kUuid, "--group", "5"}).find("group logins only"), std::string::npos);
    EXPECT_NE(parse_error({"open", kUuid, "--login", "root"}).find("unknown login"), std::string::npos);
}

TEST(ATeectlParser, ParsesTheCancelId) {
    auto args = parse_ok({"invoke", kUuid, "1", "--cancel-id", "77"});
    ASSERT_TRUE(args.cancel_id.has_value());
    EXPECT_EQ(*args.cancel_id, 77u);
    EXPECT_FALSE(parse_ok({"invoke", kUuid, "1"}).cancel_id.has_value());
}

TEST(ATeectlParser, TreatsHelpAsACommand) {
    EXPECT_EQ(parse_ok({"--help"}).command, Command::Help);
    EXPECT_EQ(parse_ok({"-h"}).command, Command::Help);
    EXPECT_EQ(parse_ok({"help"}).command, Command::Help);
}

TEST(ATeectlParser, ParsesClientInfoAndReloadPolicy) {
    EXPECT_EQ(parse_ok({"client-info"}).command, Command::ClientInfo);
    auto json = parse_ok({"client-info", "--json", "--bus-address=unix:path=/tmp/bus"});
    EXPECT_EQ(json.command, Command::ClientInfo);
    EXPECT_TRUE(json.json);
    EXPECT_EQ(json.bus_address, "unix:path=/tmp/bus");
    EXPECT_EQ(parse_ok({"--json", "reload-policy"}).command, Command::ReloadPolicy);
}

TEST(ATeectlParser, RejectsArgumentsAndSessionOptionsOnClientInfoAndReloadPolicy) {
    EXPECT_NE(parse_error({"client-info", "me"}).find("unexpected argument 'me'"),
              std::string::npos);
    EXPECT_NE(parse_error({"reload-policy", "/etc/teed/policy.d"}).find("unexpected argument"),
              std::string::npos);
    auto message = parse_error({"client-info", "--login", "user"});
    EXPECT_NE(message.find("'client-info' does not take '--login'"), std::string::npos) << message;
    message = parse_error({"reload-policy", "--value-in", "1"});
    EXPECT_NE(message.find("'reload-policy' does not take '--value-in'"), std::string::npos)
        << message;
}

TEST(ATeectlParser, ParsesSupplicantWithAndWithoutADevice) {
    auto first = parse_ok({"supplicant"});
    EXPECT_EQ(first.command, Command::Supplicant);
    EXPECT_EQ(first.device, "") << "no DEVICE: the library picks the first";
    auto named = parse_ok({"--json", "supplicant", "simtee1", "--bus-address", "unix:path=/tmp/b"});
    EXPECT_EQ(named.command, Command::Supplicant);
    EXPECT_EQ(named.device, "simtee1");
    EXPECT_TRUE(named.json);
    EXPECT_EQ(named.bus_address, "unix:path=/tmp/b");
    EXPECT_EQ(parse_ok({"supplicant", "--", "-odd-name"}).device, "-odd-name");
}

TEST(ATeectlParser, RejectsASecondDeviceAndSessionOptionsOnSupplicant) {
    EXPECT_NE(parse_error({"supplicant", "tee0", "tee1"}).find("unexpected argument 'tee1'"),
              std::string::npos);
    auto message = parse_error({"supplicant", "--device", "tee0"});
    EXPECT_NE(message.find("'supplicant' does not take '--device'"), std::string::npos) << message;
    EXPECT_NE(parse_error({"supplicant", "--value-out"}).find("does not take '--value-out'"),
              std::string::npos);
}

TEST(ATeectlParser, StillRefusesADeviceArgumentOnOtherCommands) {
    EXPECT_NE(parse_error({"devices", "tee0"}).find("unexpected argument 'tee0'"), std::string::npos);
    EXPECT_NE(parse_error({"open", kUuid, "tee0"}).find("unexpected argument 'tee0'"),
              std::string::npos);
}

TEST(ATeectlUsage, NamesEveryCommand) {
    for (const char* command :
         {"devices", "status", "open", "invoke", "client-info", "reload-policy", "supplicant"}) {
        EXPECT_NE(usage().find(std::string("\n  ") + command + " "), std::string::npos) << command;
    }
}

TEST(ATeectlParser, TakesInoutDataVerbatimAndItsCapacityOnlyFromInoutSized) {
    auto text = parse_ok({"invoke", kUuid, "0", "--inout", "abc:16"});
    ASSERT_EQ(text.params.size(), 1u);
    EXPECT_EQ(text.params[0], client::Param::temp_inout(bytes("abc:16"), 6))
        << "a colon in DATA is DATA";

    auto hex = parse_ok({"invoke", kUuid, "0", "--inout", "hex:0011"});
    EXPECT_EQ(hex.params[0].data, (std::vector<uint8_t>{0x00, 0x11}));
    EXPECT_EQ(hex.params[0].size, 2u);

    auto sized = parse_ok({"invoke", kUuid, "0", "--inout-sized", "16,a:b,c"});
    EXPECT_EQ(sized.params[0], client::Param::temp_inout(bytes("a:b,c"), 16))
        << "SIZE ends at the first comma; the rest is DATA";
    auto sized_hex = parse_ok({"invoke", kUuid, "0", "--inout-sized=0x10,hex:ff"});
    EXPECT_EQ(sized_hex.params[0], client::Param::temp_inout({0xff}, 16));
}

TEST(ATeectlParser, RejectsAnInoutCapacitySmallerThanItsDataOrMissing) {
    auto message = parse_error({"invoke", kUuid, "0", "--inout-sized", "2,hello"});
    EXPECT_NE(message.find("smaller than"), std::string::npos) << message;
    message = parse_error({"invoke", kUuid, "0", "--inout-sized", "hello"});
    EXPECT_NE(message.find("is not SIZE,DATA"), std::string::npos) << message;
    message = parse_error({"invoke", kUuid, "0", "--inout-sized", "x,hello"});
    EXPECT_NE(message.find("'x' is not a number"), std::string::npos) << message;
}

// /dev/zero never ends: teectl stops at what one call can carry instead of reading until it
// runs out of memory.
TEST(ATeectlParser, RefusesDataFilesLargerThanOneCallCanCarry) {
    auto endless = parse_error({"invoke", kUuid, "0", "--in", "@/dev/zero"});
    EXPECT_NE(endless.find("'@/dev/zero' holds more than 33554432 bytes"), std::string::npos)
        << endless;

    char path[] = "/tmp/teectl-large-XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, (32 << 20) + 1), 0);
    ::close(fd);
    auto large = parse_error({"invoke", kUuid, "0", "--inout", std::string("@") + path});
    EXPECT_NE(large.find("holds more than"), std::string::npos) << large;
    ASSERT_EQ(::truncate(path, 32 << 20), 0);
    auto fits = parse_ok({"invoke", kUuid, "0", "--in", std::string("@") + path});
    EXPECT_EQ(fits.params[0].data.size(), 32u << 20);
    ::unlink(path);
}

TEST(ATeectlParser, RejectsBadValuesInValueParameters) {
    EXPECT_NE(parse_error({"invoke", kUuid, "0", "--value-in", "1,x"}).find("'x' is not a number"),
              std::string::npos);
    EXPECT_NE(parse_error({"invoke", kUuid, "0", "--value-in", ""}).find("is not a number"),
              std::string::npos);
    EXPECT_NE(parse_error({"invoke", kUuid, "0", "--out", "0x"}).find("is not a number"),
              std::string::npos);
}

TEST(ADataDecoder, DecodesTextHexAndFiles) {
    EXPECT_EQ(decode_data("hello").value(), bytes("hello"));
    EXPECT_EQ(decode_data("").value(), std::vector<uint8_t>{});
    EXPECT_EQ(decode_data("hex:00a1FF").value(), (std::vector<uint8_t>{0x00, 0xA1, 0xFF}));
    EXPECT_EQ(decode_data("hex:").value(), std::vector<uint8_t>{});

    std::string path = ::testing::TempDir() + "teectl_args_test_" + std::to_string(::getpid());
    {
        std::ofstream file(path, std::ios::binary);
        file.write("\x00\x01\x02 tail", 8);
    }
    auto from_file = decode_data("@" + path);
    std::remove(path.c_str());
    ASSERT_TRUE(from_file.ok()) << from_file.error().message();
    EXPECT_EQ(from_file.value(), (std::vector<uint8_t>{0, 1, 2, ' ', 't', 'a', 'i', 'l'}));
}

TEST(ADataDecoder, RejectsBadHexAndMissingFiles) {
    EXPECT_NE(decode_data("hex:123").error().message().find("odd number"), std::string::npos);
    EXPECT_NE(decode_data("hex:zz").error().message().find("not hexadecimal"), std::string::npos);
    auto missing = decode_data("@/nonexistent/teectl-data");
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().message().find("cannot read '/nonexistent/teectl-data'"),
              std::string::npos);
}

TEST(ANumberParser, AcceptsDecimalAndHexWithinTheLimit) {
    EXPECT_EQ(parse_number("0", 10).value(), 0u);
    EXPECT_EQ(parse_number("0x1F", 100).value(), 31u);
    EXPECT_EQ(parse_number("18446744073709551615", UINT64_MAX).value(), UINT64_MAX);
    EXPECT_FALSE(parse_number("18446744073709551616", UINT64_MAX).ok());
    EXPECT_FALSE(parse_number("11", 10).ok());
    EXPECT_FALSE(parse_number(" 1", 10).ok());
    EXPECT_FALSE(parse_number("+1", 10).ok());
    EXPECT_FALSE(parse_number("1k", 10).ok());
}

}  // namespace
}  // namespace teed::teectl
