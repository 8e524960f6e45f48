// TAs' sockets through teed, seen from a client: the simulated socket TA reaches a loopback
// server through teed's supplicant where teed.conf's ta_sockets allows it, and is refused, with a
// log line naming it, where it does not.

#include <sys/socket.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness.h"
#include "policy_clients.h"  // eventually()
#include "teed/client.h"
#include "tests/loopback_server.h"

namespace teed::test {
namespace {

using ::testing::HasSubstr;

constexpr const char* kSocketTa = "8a420beb-5132-46f7-b0c0-f049917c2317";
constexpr const char* kOtherTa = "f4e750bb-1437-4fbf-8785-8d3580c34994";
constexpr uint32_t kEcho = 0;
constexpr uint32_t kOpen = 2;
constexpr uint64_t kTcp = 0x65;
constexpr uint64_t kUdp = 0x66;
constexpr uint32_t kErrorAccessDenied = 0xFFFF0001;
constexpr uint32_t kOriginTrustedApp = 4;

std::vector<uint8_t> bytes(const std::string& text) {
    return {text.begin(), text.end()};
}

// teed with `ta_sockets` as its configuration's (a JSON list); none: the key is absent.
class TeedWithSockets {
public:
    explicit TeedWithSockets(const std::string& rules = "")
        : conf_("teed-conf-"),
          teed_(bus_, TeedOptions{.args = {"--simulate", "--no-hardware",
                                           "--config=" + write_config(rules)}}),
          client_(client::Client::connect(bus_.address())) {}

    client::Client& client() { return client_; }
    TeedDaemon& teed() { return teed_; }

    client::Reply echo(client::Session& session, uint64_t protocol, uint16_t port,
                       const std::string& data) {
        return session.invoke(kEcho, {client::Param::value_in(port, protocol),
                                      client::Param::temp_in(bytes("127.0.0.1")),
                                      client::Param::temp_in(bytes(data)),
                                      client::Param::temp_out(data.size())});
    }

private:
    std::string write_config(const std::string& rules) {
        const std::string path = conf_.path() + "/teed.conf";
        std::ofstream(path) << (rules.empty() ? "{}" : R"({"ta_sockets": )" + rules + "}");
        return path;
    }

    TempDir conf_;
    TestBus bus_;
    TeedDaemon teed_;
    client::Client client_;
};

std::string rule(const std::string& ta, uint16_t port) {
    return R"({"ta": ")" + ta + R"(", "destinations": ["127.0.0.1:)" + std::to_string(port) + R"("]})";
}

std::string received(const client::Reply& reply) {
    const auto& data = reply.params.at(3).data;
    return {data.begin(), data.end()};
}

TEST(ATaSocket, EchoesOverTcpAndUdpWhereTheConfigurationAllows) {
    LoopbackServer tcp(SOCK_STREAM, LoopbackServer::Mode::Echo);
    LoopbackServer udp(SOCK_DGRAM, LoopbackServer::Mode::Echo);
    TeedWithSockets teed("[" + rule(kSocketTa, tcp.port()) + ", " + rule("*", udp.port()) + "]");
    auto [session, opened] = teed.client().open_session(kSocketTa);
    ASSERT_TRUE(session) << std::hex << opened.return_code;

    auto reply = teed.echo(*session, kTcp, tcp.port(), "through teed, over tcp");
    ASSERT_TRUE(reply.ok()) << std::hex << reply.return_code;
    EXPECT_EQ(received(reply), "through teed, over tcp");
    EXPECT_EQ(tcp.accepted(), 1);

    reply = teed.echo(*session, kUdp, udp.port(), "and a datagram");
    ASSERT_TRUE(reply.ok()) << std::hex << reply.return_code;
    EXPECT_EQ(received(reply), "and a datagram");

    auto info = teed.client().supplicant();
    EXPECT_EQ(info.sockets_open, 0u) << "ECHO closes its sockets";
    EXPECT_EQ(info.sockets_denied, 0u);
    EXPECT_GE(info.counters["socket"].served, 8u) << "open, send, recv, close, twice";
    EXPECT_EQ(info.counters["socket"].failed, 0u);
}

TEST(ATaSocket, IsRefusedAForbiddenDestinationAndTeedLogsWhichTaAskedForWhat) {
    LoopbackServer allowed(SOCK_STREAM, LoopbackServer::Mode::Echo);
    LoopbackServer forbidden(SOCK_STREAM, LoopbackServer::Mode::Echo);
    TeedWithSockets teed("[" + rule(kSocketTa, allowed.port()) + ", " +
                         rule(kOtherTa, forbidden.port()) + "]");
    auto [session, opened] = teed.client().open_session(kSocketTa);
    ASSERT_TRUE(session);

    auto reply = teed.echo(*session, kTcp, forbidden.port(), "let me out");
    EXPECT_EQ(reply.return_code, kErrorAccessDenied);
    EXPECT_EQ(reply.return_origin, kOriginTrustedApp) << "the TA passes the supplicant's answer on";
    EXPECT_EQ(forbidden.accepted(), 0) << "nothing was connected";
    const std::string log = teed.teed().log();
    EXPECT_THAT(log, HasSubstr(std::string("TA ") + kSocketTa));
    EXPECT_THAT(log, HasSubstr("may not reach tcp 127.0.0.1:" + std::to_string(forbidden.port())));
    auto info = teed.client().supplicant();
    EXPECT_EQ(info.sockets_denied, 1u);
    EXPECT_EQ(info.counters["socket"].failed, 1u);

    EXPECT_TRUE(teed.echo(*session, kTcp, allowed.port(), "this one is fine").ok())
        << "the TA keeps being served";
}

TEST(ATaSocket, IsRefusedEverythingWhenTheConfigurationSaysNothing) {
    LoopbackServer server(SOCK_STREAM, LoopbackServer::Mode::Echo);
    TeedWithSockets teed;
    auto [session, opened] = teed.client().open_session(kSocketTa);
    ASSERT_TRUE(session);
    EXPECT_EQ(teed.echo(*session, kTcp, server.port(), "x").return_code, kErrorAccessDenied);
    EXPECT_EQ(server.accepted(), 0);
    EXPECT_THAT(teed.teed().log(), HasSubstr(kSocketTa));
}

TEST(ATaSocket, IsClosedWhenItsSessionCloses) {
    LoopbackServer server(SOCK_STREAM, LoopbackServer::Mode::Echo);
    TeedWithSockets teed("[" + rule("*", server.port()) + "]");
    {
        auto [session, opened] = teed.client().open_session(kSocketTa);
        ASSERT_TRUE(session);
        auto reply = session->invoke(kOpen, {client::Param::value_in(server.port(), kTcp),
                                             client::Param::temp_in(bytes("127.0.0.1")),
                                             client::Param::value_out()});
        ASSERT_TRUE(reply.ok()) << std::hex << reply.return_code;
        EXPECT_EQ(teed.client().supplicant().sockets_open, 1u);
        EXPECT_TRUE(eventually([&] { return server.accepted() == 1; }));
        session->close();
    }
    EXPECT_EQ(teed.client().supplicant().sockets_open, 0u);
    EXPECT_TRUE(eventually([&] { return server.closed_by_peer() == 1; }));
}

TEST(ATaSocket, SocketRulesMustBeValidForTeedToStart) {
    TempDir conf("teed-conf-");
    std::ofstream(conf.path() + "/teed.conf")
        << R"({"ta_sockets": [{"ta": "*", "destinations": ["10.*:443"]}]})";
    auto started = run({TEED_BINARY, "--config=" + conf.path() + "/teed.conf", "--simulate",
                        "--no-hardware"});
    EXPECT_EQ(started.exit_code(), 2) << started.describe();
    EXPECT_THAT(started.err, HasSubstr("'ta_sockets' rule 0: destination '10.*:443'"));
}

}  // namespace
}  // namespace teed::test
