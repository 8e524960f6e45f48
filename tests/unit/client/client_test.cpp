#include "teed/client.h"

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "client/wire.h"

namespace teed::client {
namespace {

std::vector<uint8_t> bytes(std::string_view text) { return {text.begin(), text.end()}; }

TEST(AParam, FactoriesSetTheGlobalPlatformTypeAndSizes) {
    EXPECT_EQ(Param::none().type, kParamNone);
    auto in = Param::value_in(7, 8);
    EXPECT_EQ(in.type, kParamValueInput);
    EXPECT_EQ(in.a, 7u);
    EXPECT_EQ(in.b, 8u);
    EXPECT_EQ(Param::value_out().type, kParamValueOutput);
    EXPECT_EQ(Param::value_inout(1).type, kParamValueInout);

    auto temp_in = Param::temp_in(bytes("abc"));
    EXPECT_EQ(temp_in.type, kParamMemrefTempInput);
    EXPECT_EQ(temp_in.size, 3u);
    EXPECT_EQ(temp_in.data, bytes("abc"));
    EXPECT_EQ(temp_in.shm, "/");

    auto temp_out = Param::temp_out(4096);
    EXPECT_EQ(temp_out.type, kParamMemrefTempOutput);
    EXPECT_EQ(temp_out.size, 4096u);
    EXPECT_TRUE(temp_out.data.empty());

    EXPECT_EQ(Param::temp_inout(bytes("abc"), 10).size, 10u);
    EXPECT_EQ(Param::temp_inout(bytes("abc"), 1).size, 3u) << "capacity below the data";
    EXPECT_EQ(Param::temp_inout(bytes("abc"), 10).type, kParamMemrefTempInout);
}

TEST(AParam, SurvivesTheRoundTripThroughItsWireForm) {
    Param registered;
    registered.type = kParamMemrefPartialInout;
    registered.shm = "/org/teed/Teed1/shm/9";
    registered.offset = 4;
    registered.size = 12;
    std::vector<Param> params = {Param::value_inout(UINT64_MAX, 5), Param::temp_inout(bytes("xy"), 8),
                                 registered, Param::none()};

    auto wire = detail::to_wire(params);
    ASSERT_EQ(wire.size(), 4u);
    EXPECT_EQ(wire[0].get<0>(), kParamValueInout);
    EXPECT_EQ(wire[0].get<1>(), UINT64_MAX);
    EXPECT_EQ(wire[1].get<3>(), bytes("xy"));
    EXPECT_EQ(wire[1].get<6>(), 8u);
    EXPECT_EQ(std::string(wire[2].get<4>()), "/org/teed/Teed1/shm/9");
    EXPECT_EQ(std::string(wire[3].get<4>()), "/");

    EXPECT_EQ(detail::from_wire(std::move(wire)), params);
}

TEST(AParam, SendsAnEmptyShmPathAsNone) {
    Param p = Param::value_in(1);
    p.shm = "";
    EXPECT_EQ(std::string(detail::to_wire({p})[0].get<4>()), "/");
}

TEST(CallOptions, CarryTheCancelIdOnlyWhenSet) {
    EXPECT_TRUE(detail::call_options(std::nullopt).empty());
    auto options = detail::call_options(42u);
    ASSERT_EQ(options.size(), 1u);
    ASSERT_TRUE(options.count("cancel_id"));
    EXPECT_TRUE(options.at("cancel_id").containsValueOfType<uint32_t>()) << "must travel as 'u'";
    EXPECT_EQ(options.at("cancel_id").get<uint32_t>(), 42u);
}

TEST(DeviceProperties, ComeFromTheListWhenPresentAndTyped) {
    detail::PropertyMap props;
    props.emplace("Name", sdbus::Variant(std::string("tee0")));
    props.emplace("ImplementationId", sdbus::Variant(std::string("not a u")));
    int fetched = 0;
    auto fetch_name = [&] { ++fetched; return std::string("fetched"); };
    EXPECT_EQ(detail::property_or<std::string>(props, "Name", fetch_name), "tee0");
    EXPECT_EQ(fetched, 0);
    EXPECT_EQ(detail::property_or<std::string>(props, "Implementation", fetch_name), "fetched");
    EXPECT_EQ(fetched, 1);
    EXPECT_EQ(detail::property_or<uint32_t>(props, "ImplementationId", [] { return 7u; }), 7u)
        << "a property of the wrong type is read again from the object";
}

TEST(ClientInfoFromWire, ReadsEveryDocumentedKey) {
    std::map<std::string, sdbus::Variant> wire;
    wire.emplace("uid", sdbus::Variant(uint32_t{1000}));
    wire.emplace("gid", sdbus::Variant(uint32_t{1001}));
    wire.emplace("groups", sdbus::Variant(std::vector<uint32_t>{1001, 995}));
    wire.emplace("pid", sdbus::Variant(uint32_t{4242}));
    wire.emplace("unit", sdbus::Variant(std::string("session-2.scope")));
    wire.emplace("executable", sdbus::Variant(std::string("/usr/bin/teectl")));
    wire.emplace("application_identity",
                 sdbus::Variant(std::string("3c1b3f5e-8b1e-5a43-9c0a-2f4e0d6b7a11")));
    wire.emplace("application_logins", sdbus::Variant(true));
    wire.emplace("rules", sdbus::Variant(std::vector<std::string>{"tee-group-sessions"}));
    wire.emplace("limits", sdbus::Variant(std::map<std::string, uint64_t>{{"max_clients", 64}}));
    wire.emplace("usage", sdbus::Variant(std::map<std::string, uint64_t>{{"sessions", 2}}));

    ClientInfo info = detail::client_info_from_wire(wire);
    EXPECT_EQ(info.uid, 1000u);
    EXPECT_EQ(info.gid, 1001u);
    EXPECT_EQ(info.groups, (std::vector<uint32_t>{1001, 995}));
    EXPECT_EQ(info.pid, 4242u);
    EXPECT_EQ(info.unit, "session-2.scope");
    EXPECT_EQ(info.executable, "/usr/bin/teectl");
    EXPECT_EQ(info.application_identity, "3c1b3f5e-8b1e-5a43-9c0a-2f4e0d6b7a11");
    EXPECT_TRUE(info.application_logins);
    EXPECT_EQ(info.rules, std::vector<std::string>{"tee-group-sessions"});
    EXPECT_EQ(info.limits, (std::map<std::string, uint64_t>{{"max_clients", 64}}));
    EXPECT_EQ(info.usage, (std::map<std::string, uint64_t>{{"sessions", 2}}));
}

TEST(ClientInfoFromWire, IgnoresUnknownKeysAndKeepsDefaultsForMissingOrMistypedOnes) {
    std::map<std::string, sdbus::Variant> wire;
    wire.emplace("uid", sdbus::Variant(uint32_t{1000}));
    wire.emplace("gid", sdbus::Variant(std::string("1000")));  // not a 'u'
    wire.emplace("seat", sdbus::Variant(std::string("seat0")));  // a key from a newer teed
    wire.emplace("quota", sdbus::Variant(std::map<std::string, uint64_t>{{"x", 1}}));

    ClientInfo info = detail::client_info_from_wire(wire);
    EXPECT_EQ(info.uid, 1000u);
    EXPECT_EQ(info.gid, UINT32_MAX) << "a mistyped key counts as missing";
    EXPECT_TRUE(info.groups.empty());
    EXPECT_EQ(info.pid, 0u);
    EXPECT_TRUE(info.unit.empty());
    EXPECT_FALSE(info.application_logins);
    EXPECT_TRUE(info.rules.empty());
    EXPECT_TRUE(info.limits.empty());
    EXPECT_TRUE(info.usage.empty());
    EXPECT_EQ(detail::client_info_from_wire({}).uid, UINT32_MAX);
}

TEST(SupplicantCountersFromWire, KeepEachCommandsThreeCounts) {
    detail::WireCounters wire;
    wire.emplace("fs", sdbus::Struct<uint64_t, uint64_t, uint64_t>(12, 2, 1));
    wire.emplace("command-77", sdbus::Struct<uint64_t, uint64_t, uint64_t>(0, UINT64_MAX, 0));
    auto counters = detail::counters_from_wire(wire);
    ASSERT_EQ(counters.size(), 2u);
    EXPECT_EQ(counters.at("fs"), (SupplicantInfo::Counters{12, 2, 1}));
    EXPECT_EQ(counters.at("command-77"), (SupplicantInfo::Counters{0, UINT64_MAX, 0}));
    EXPECT_TRUE(detail::counters_from_wire({}).empty());
}

TEST(SupplicantStatusFromWire, ReadsTheDocumentedKeysAndKeepsDefaultsForOthers) {
    std::map<std::string, sdbus::Variant> wire;
    wire.emplace("shared_memory_bytes", sdbus::Variant(uint64_t{8192}));
    wire.emplace("shared_memory_buffers", sdbus::Variant(uint64_t{2}));
    wire.emplace("send_failures", sdbus::Variant(uint64_t{3}));
    wire.emplace("sockets_open", sdbus::Variant(uint64_t{4}));
    wire.emplace("sockets_denied", sdbus::Variant(uint64_t{6}));
    SupplicantInfo info;
    detail::read_supplicant_status(wire, info);
    EXPECT_EQ(info.shared_memory_bytes, 8192u);
    EXPECT_EQ(info.shared_memory_buffers, 2u);
    EXPECT_EQ(info.send_failures, 3u);
    EXPECT_EQ(info.sockets_open, 4u);
    EXPECT_EQ(info.sockets_denied, 6u);

    std::map<std::string, sdbus::Variant> partial;
    partial.emplace("shared_memory_bytes", sdbus::Variant(uint32_t{4096}));  // not a 't'
    partial.emplace("send_failures", sdbus::Variant(uint64_t{5}));
    partial.emplace("queue_depth", sdbus::Variant(uint64_t{9}));  // a key from a newer teed
    SupplicantInfo other;
    detail::read_supplicant_status(partial, other);
    EXPECT_EQ(other.shared_memory_bytes, 0u) << "a mistyped key counts as missing";
    EXPECT_EQ(other.shared_memory_buffers, 0u);
    EXPECT_EQ(other.send_failures, 5u);
}

TEST(AnError, KeepsTheDbusNameAndMessage) {
    Error error("org.teed.Teed1.Error.NotFound", "no such session");
    EXPECT_EQ(error.name(), "org.teed.Teed1.Error.NotFound");
    EXPECT_EQ(error.message(), "no such session");
    EXPECT_STREQ(error.what(), "org.teed.Teed1.Error.NotFound: no such session");
}

TEST(AClient, ThrowsANamedErrorWhenTheBusIsNotThere) {
    try {
        auto client = Client::connect("unix:path=/nonexistent/teed-client-test-bus");
        FAIL() << "connected to a bus that does not exist";
    } catch (const Error& e) {
        EXPECT_FALSE(e.name().empty());
        EXPECT_FALSE(e.message().empty());
    }
}

}  // namespace
}  // namespace teed::client
