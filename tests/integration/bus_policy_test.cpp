// The shipped bus policy (systemd/org.teed.Teed1.conf) on a private system-type bus with teed
// running: who may own the name, who may use the TEE, and what everyone else may see.
//
// Denials are checked with dbus-send, which prints the D-Bus error name and the bus's message
// ("Rejected send message" means the bus refused, not teed). Every deny test has an allow twin,
// so a policy file that failed to load (everything denied) cannot pass.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/build_config.h"
#include "tests/integration/harness.h"

namespace teed::test {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr const char* kBusName = "org.teed.Teed1";
constexpr const char* kRootPath = "/org/teed/Teed1";
constexpr const char* kDevicePath = "/org/teed/Teed1/devices/simtee0";
constexpr const char* kHelloWorld = "8aaaf200-2450-11e4-abe2-0002a5d5c51b";
constexpr const char* kDest = "--dest=org.teed.Teed1";

// busctl arguments for a call of org.teed.Teed1.Manager.
std::vector<std::string> manager_call(const std::string& method, const std::string& signature,
                                      const std::vector<std::string>& args) {
    std::vector<std::string> argv{"call", kBusName, kRootPath, "org.teed.Teed1.Manager",
                                  method, signature};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

// OpenSession on hello_world: any device, public login, no connection data, parameters or options
// (hello_world's open entry point takes no parameters).
const std::vector<std::string> kOpenHelloWorld =
    manager_call("OpenSession", "ssuua(uttayott)a{sv}", {"", kHelloWorld, "0", "0", "0", "0"});
// A session object came back with return code 0 (TEEC_SUCCESS), whatever the origin.
constexpr const char* kOpened = R"(^ouua\(uttayott\) "/org/teed/Teed1/sessions/[^"]+" [0-9]+ 0 0)";
// hello_world's command 0 increments a VALUE_INOUT: the whole path, Manager and Session.
const std::vector<std::string> kIncrement{"invoke", kHelloWorld, "0", "--value-inout", "42"};

::testing::AssertionResult Succeeded(const ProcessResult& r) {
    if (r.exit_code() == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "expected success\n" << r.describe();
}

// Refused by dbus-daemon's policy (not by teed, and not for another reason).
::testing::AssertionResult DeniedByBus(const ProcessResult& r) {
    if (r.exit_code() != 0 &&
        r.err.find("org.freedesktop.DBus.Error.AccessDenied") != std::string::npos &&
        r.err.find("Rejected send message") != std::string::npos)
        return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "expected the bus to reject the call\n" << r.describe();
}

::testing::AssertionResult NotAllowedToOwn(const ProcessResult& r) {
    if (r.exit_code() != 0 &&
        r.err.find("org.freedesktop.DBus.Error.AccessDenied") != std::string::npos &&
        r.err.find("is not allowed to own the service") != std::string::npos)
        return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "expected the bus to refuse ownership\n"
                                         << r.describe();
}

std::vector<std::string> request_name() {
    // DBUS_NAME_FLAG_DO_NOT_QUEUE: an allowed caller gets reply 3 (EXISTS) since teed owns it.
    return {"--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
            "org.freedesktop.DBus.RequestName", std::string("string:") + kBusName, "uint32:4"};
}

std::vector<std::string> set_version() {
    return {kDest,
            kRootPath,
            "org.freedesktop.DBus.Properties.Set",
            "string:org.teed.Teed1.Manager",
            "string:Version",
            "variant:string:0.0.0"};
}

std::vector<std::string> get_property(const char* path, const char* interface, const char* name) {
    return {kDest, path, "org.freedesktop.DBus.Properties.Get", std::string("string:") + interface,
            std::string("string:") + name};
}

class ABusPolicy : public ::testing::Test {
protected:
    void SetUp() override {
        TEED_REQUIRE_TEST_USERS();
        bus_ = std::make_unique<TestBus>();
        teed_ = std::make_unique<TeedDaemon>(*bus_);
    }

    TestBus& bus() { return *bus_; }

    std::unique_ptr<TestBus> bus_;
    std::unique_ptr<TeedDaemon> teed_;
};

TEST_F(ABusPolicy, LoadsWithoutErrors) {
    EXPECT_THAT(bus().configuration_problems(), IsEmpty()) << bus().log();
}

TEST_F(ABusPolicy, LetsRootCallTheManager) {
    auto opened = busctl(bus(), std::nullopt, kOpenHelloWorld);
    ASSERT_TRUE(Succeeded(opened));
    EXPECT_THAT(opened.out, ContainsRegex(kOpened));

    auto version = dbus_send(bus(), std::nullopt,
                             get_property(kRootPath, "org.teed.Teed1.Manager", "Version"));
    ASSERT_TRUE(Succeeded(version));
    EXPECT_THAT(version.out, HasSubstr(std::string("string \"") + TEED_VERSION + "\""));
}

TEST_F(ABusPolicy, LetsTeeMembersUseTheManagerAndSessions) {
    auto opened = busctl(bus(), member(), kOpenHelloWorld);
    ASSERT_TRUE(Succeeded(opened));
    EXPECT_THAT(opened.out, ContainsRegex(kOpened));

    auto invoked = teectl(bus(), member(), kIncrement);
    ASSERT_TRUE(Succeeded(invoked));
    EXPECT_THAT(invoked.out, HasSubstr("param 0: value a=43 b=0"));

    EXPECT_TRUE(Succeeded(dbus_send(bus(), member(),
                                    {kDest, kRootPath, "org.freedesktop.DBus.Properties.GetAll",
                                     "string:org.teed.Teed1.Manager"})));
    EXPECT_TRUE(Succeeded(
        dbus_send(bus(), member(), {kDest, kRootPath, "org.freedesktop.DBus.Peer.Ping"})));
}

// Release on a path that is not the caller's reaches teed from a member (which answers that
// there is no such object) and is stopped by the bus for an outsider.
TEST_F(ABusPolicy, LetsTeeMembersReleaseSharedMemory) {
    const std::vector<std::string> release{kDest, "/org/teed/Teed1/shm/none",
                                           "org.teed.Teed1.SharedMemory.Release"};
    auto from_member = dbus_send(bus(), member(), release);
    EXPECT_NE(from_member.exit_code(), 0) << from_member.describe();
    EXPECT_THAT(from_member.err, Not(HasSubstr("Rejected send message"))) << from_member.describe();
    EXPECT_THAT(from_member.err, HasSubstr("org.freedesktop.DBus.Error.UnknownObject"))
        << from_member.describe();
    EXPECT_TRUE(DeniedByBus(dbus_send(bus(), outsider(), release)));
}

TEST_F(ABusPolicy, RejectsManagerCallsFromOutsiders) {
    // The same malformed call (no params, no options) reaches teed from a member, which answers
    // InvalidArgs, and is stopped by the bus for an outsider: the refusal is about who calls.
    std::vector<std::string> open{kDest,
                                  kRootPath,
                                  "org.teed.Teed1.Manager.OpenSession",
                                  "string:",
                                  std::string("string:") + kHelloWorld,
                                  "uint32:0",
                                  "uint32:0"};
    auto from_member = dbus_send(bus(), member(), open);
    EXPECT_THAT(from_member.err, HasSubstr("org.freedesktop.DBus.Error.InvalidArgs"))
        << from_member.describe();
    EXPECT_TRUE(DeniedByBus(dbus_send(bus(), outsider(), open)));

    // A well-formed call fails too (busctl prints only the errno text).
    auto opened = busctl(bus(), outsider(), kOpenHelloWorld);
    EXPECT_NE(opened.exit_code(), 0) << opened.describe();
    EXPECT_THAT(opened.err, HasSubstr("Access denied")) << opened.describe();

    EXPECT_TRUE(DeniedByBus(dbus_send(bus(), outsider(),
                                      {kDest, kRootPath, "org.teed.Teed1.Manager.CloseSession",
                                       "objpath:/org/teed/Teed1/sessions/x"})));
    EXPECT_TRUE(DeniedByBus(dbus_send(
        bus(), outsider(), {kDest, "/org/teed/Teed1/sessions/x", "org.teed.Teed1.Session.Close"})));

    auto invoked = teectl(bus(), outsider(), kIncrement);
    EXPECT_EQ(invoked.exit_code(), 3) << invoked.describe();  // teectl's "D-Bus error"
    EXPECT_THAT(invoked.err, HasSubstr("org.freedesktop.DBus.Error.AccessDenied"))
        << invoked.describe();
}

TEST_F(ABusPolicy, LetsOutsidersSeeTheDevices) {
    auto introspection = dbus_send(
        bus(), outsider(), {kDest, kRootPath, "org.freedesktop.DBus.Introspectable.Introspect"});
    ASSERT_TRUE(Succeeded(introspection));
    EXPECT_THAT(introspection.out, HasSubstr("org.teed.Teed1.Manager"));

    auto objects =
        dbus_send(bus(), outsider(),
                  {kDest, kRootPath, "org.freedesktop.DBus.ObjectManager.GetManagedObjects"});
    ASSERT_TRUE(Succeeded(objects));
    EXPECT_THAT(objects.out, HasSubstr(kDevicePath));

    auto name =
        dbus_send(bus(), outsider(), get_property(kDevicePath, "org.teed.Teed1.Device", "Name"));
    ASSERT_TRUE(Succeeded(name));
    EXPECT_THAT(name.out, HasSubstr("string \"simtee0\""));

    EXPECT_TRUE(Succeeded(dbus_send(bus(), outsider(),
                                    {kDest, kDevicePath, "org.freedesktop.DBus.Properties.GetAll",
                                     "string:org.teed.Teed1.Device"})));
    EXPECT_TRUE(Succeeded(
        dbus_send(bus(), outsider(), {kDest, kRootPath, "org.freedesktop.DBus.Peer.Ping"})));
}

TEST_F(ABusPolicy, LetsOnlyRootAndTheServiceUserOwnTheName) {
    EXPECT_TRUE(NotAllowedToOwn(dbus_send(bus(), outsider(), request_name())));
    EXPECT_TRUE(NotAllowedToOwn(dbus_send(bus(), member(), request_name())));

    for (const auto& who : {std::optional<Identity>(), std::optional<Identity>(service_user())}) {
        auto reply = dbus_send(bus(), who, request_name());
        ASSERT_TRUE(Succeeded(reply));
        EXPECT_THAT(reply.out, HasSubstr("uint32 3")) << reply.describe();  // EXISTS: teed has it
    }
}

TEST_F(ABusPolicy, RejectsSettingPropertiesFromEveryone) {
    EXPECT_TRUE(DeniedByBus(dbus_send(bus(), std::nullopt, set_version())));
    EXPECT_TRUE(DeniedByBus(dbus_send(bus(), member(), set_version())));
    EXPECT_TRUE(DeniedByBus(dbus_send(bus(), outsider(), set_version())));
}

// teed as systemd/teed.service runs it: user teed, only CAP_SETUID and CAP_SETGID. READY=1 is
// sent once the name is owned, so this start tests the policy's `own` rule for user teed.
TEST(ABusPolicyForTheServiceUser, LetsTeedRunAsItsOwnUser) {
    TEED_REQUIRE_TEST_USERS();
    TestBus bus;
    Identity teed_user = service_user();
    TeedDaemon teed(
        bus, TeedOptions{{"--simulate", "--no-hardware"}, teed_user, {}, std::chrono::seconds(10)});

    auto owner = dbus_send(
        bus, std::nullopt,
        {"--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
         "org.freedesktop.DBus.GetConnectionUnixUser", std::string("string:") + kBusName});
    ASSERT_TRUE(Succeeded(owner));
    EXPECT_THAT(owner.out, HasSubstr("uint32 " + std::to_string(teed_user.uid)));

    auto invoked = teectl(bus, member(), kIncrement);
    ASSERT_TRUE(Succeeded(invoked));
    EXPECT_THAT(invoked.out, HasSubstr("param 0: value a=43 b=0"));
}

}  // namespace
}  // namespace teed::test
