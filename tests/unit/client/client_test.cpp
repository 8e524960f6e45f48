#include "teed/client.h"

#include <string>

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
