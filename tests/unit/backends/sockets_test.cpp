// The supplicant's socket service through the whole simulated path: the socket TA (or a request
// sent as a TA would send it) -> driver queue -> teed's Supplicant -> SocketService -> a real
// loopback socket, and back.

#include "backends/optee/supplicant/sockets.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstring>
#include <future>
#include <string>
#include <thread>

#include "backends/kernel/gp.h"
#include "backends/optee/supplicant/rpc_protocol.h"
#include "backends/sim/rpc.h"
#include "backends/sim/socket_ta.h"
#include "common/unique_fd.h"
#include "tests/unit/backends/sim_test_support.h"
#include "tests/loopback_server.h"
#include "tests/unit/backends/supplicant_test_support.h"

namespace teed::supplicant {
namespace {

using namespace std::chrono_literals;
using simtest::eventually;
using simtest::MappedShm;
using test::LoopbackServer;

constexpr uint32_t kTcp = kSocketProtocolTcp;
constexpr uint32_t kUdp = kSocketProtocolUdp;

std::vector<SocketRule> rules(std::initializer_list<std::tuple<std::string, std::string>> entries) {
    std::vector<SocketRule> out;
    for (const auto& [ta, destination] : entries)
        out.push_back(SocketRule::make(ta, {}, {destination}).value());
    return out;
}

std::string local(uint16_t port) {
    return "127.0.0.1:" + std::to_string(port);
}

// A simulated OP-TEE whose supplicant serves sockets under `policy`, the simulator telling which
// TA each instance is, as teed wires it.
class ServedSockets {
public:
    explicit ServedSockets(std::vector<SocketRule> policy, SocketOptions options = {},
                           uint32_t workers = 4)
        : tee_(Supplicant::Services{}, {}, {}) {
        options.policy = SocketPolicy(std::move(policy));
        options.identify = [this](uint32_t instance) { return tee_.node().ta_of_instance(instance); };
        service_ = std::make_shared<SocketService>(std::move(options));
        tee_.restart_supplicant({{kCmdSocket, service_}}, {.workers = workers});
    }

    simtest::ServedTee& tee() { return tee_; }
    SocketService& service() { return *service_; }

    struct Answer {
        uint32_t ret = 0;
        std::string data;
        uint64_t value = 0;
    };

    uint32_t open_session() { return simtest::open_ok(tee_.client(), sim::kSocketTaUuid); }
    void close_session(uint32_t session) {
        tee_ioctl_close_session_arg arg{.session = session};
        ASSERT_TRUE(tee_.client().close_session(arg).ok());
    }

    Answer echo(uint32_t session, uint32_t protocol, uint16_t port, const std::string& data,
                const std::string& host = "127.0.0.1", size_t reply_room = 0) {
        MappedShm host_shm(tee_.client(), host.size());
        MappedShm data_shm(tee_.client(), std::max<size_t>(data.size(), 1));
        MappedShm reply(tee_.client(), std::max<size_t>({reply_room, data.size(), 1}));
        std::memcpy(host_shm.data(), host.data(), host.size());
        std::memcpy(data_shm.data(), data.data(), data.size());
        auto arg = simtest::invoke_arg(session, sim::kSocketTaEcho, 4);
        arg.param(0) = {.attr = simtest::kValueIn, .a = port, .b = protocol, .c = 0};
        arg.param(1) = simtest::memref(simtest::kMemrefIn, host_shm, 0, host.size());
        arg.param(2) = simtest::memref(simtest::kMemrefIn, data_shm, 0, data.size());
        arg.param(3) = simtest::memref(simtest::kMemrefOut, reply, 0,
                                       reply_room != 0 ? reply_room : data.size());
        EXPECT_EQ(simtest::err(tee_.client().invoke(arg.buf())), 0);
        const size_t got = std::min<uint64_t>(arg.param(3).b, reply.size());
        return {arg.header().ret, std::string(reinterpret_cast<char*>(reply.data()), got),
                arg.param(3).b};
    }

    Answer receive(uint32_t session, uint32_t protocol, uint16_t port, uint32_t timeout_ms) {
        const std::string host = "127.0.0.1";
        MappedShm host_shm(tee_.client(), host.size());
        MappedShm buffer(tee_.client(), 64);
        std::memcpy(host_shm.data(), host.data(), host.size());
        auto arg = simtest::invoke_arg(session, sim::kSocketTaReceive, 4);
        arg.param(0) = {.attr = simtest::kValueIn, .a = port, .b = protocol, .c = 0};
        arg.param(1) = simtest::memref(simtest::kMemrefIn, host_shm, 0, host.size());
        arg.param(2) = {.attr = simtest::kValueIn, .a = timeout_ms, .b = 0, .c = 0};
        arg.param(3) = simtest::memref(simtest::kMemrefOut, buffer, 0, 64);
        EXPECT_EQ(simtest::err(tee_.client().invoke(arg.buf())), 0);
        return {arg.header().ret, {}, 0};
    }

    Answer keep_open(uint32_t session, uint32_t protocol, uint16_t port) {
        const std::string host = "127.0.0.1";
        MappedShm host_shm(tee_.client(), host.size());
        std::memcpy(host_shm.data(), host.data(), host.size());
        auto arg = simtest::invoke_arg(session, sim::kSocketTaOpen, 3);
        arg.param(0) = {.attr = simtest::kValueIn, .a = port, .b = protocol, .c = 0};
        arg.param(1) = simtest::memref(simtest::kMemrefIn, host_shm, 0, host.size());
        arg.param(2) = {.attr = simtest::kValueOut, .a = 0, .b = 0, .c = 0};
        EXPECT_EQ(simtest::err(tee_.client().invoke(arg.buf())), 0);
        return {arg.header().ret, {}, arg.param(2).a};
    }

private:
    simtest::ServedTee tee_;
    std::shared_ptr<SocketService> service_;
};

// Requests as the socket PTA sends them, for the shapes a TA cannot produce.
class RawSocketRpc {
public:
    explicit RawSocketRpc(sim::SupplicantRpc& rpc) : rpc_(rpc) {}

    uint32_t open(uint32_t instance, uint64_t port, uint64_t protocol, const std::string& host,
                  uint64_t version = kIpVersionAny, bool terminate = true, uint32_t* ret_handle = nullptr) {
        uint32_t code = 0;
        auto buffer = rpc_.allocate(host.size() + 1, code);
        if (!buffer) return code;
        std::memcpy(buffer->data(), host.data(), host.size());
        buffer->data()[host.size()] = '\0';
        std::array<sim::RpcParam, 4> params{
            sim::RpcParam::value(simtest::kValueIn, kSocketOpen, instance),
            sim::RpcParam::value(simtest::kValueIn, port, protocol, version),
            sim::RpcParam::memref(simtest::kMemrefIn, buffer.get(), 0, host.size() + (terminate ? 1 : 0)),
            sim::RpcParam::value(simtest::kValueOut),
        };
        code = rpc_.call(kCmdSocket, params);
        if (ret_handle != nullptr) *ret_handle = static_cast<uint32_t>(params[3].a);
        return code;
    }

    uint32_t send(uint32_t instance, uint32_t handle, const std::string& data, uint32_t timeout) {
        uint32_t code = 0;
        auto buffer = rpc_.allocate(std::max<size_t>(data.size(), 1), code);
        if (!buffer) return code;
        std::memcpy(buffer->data(), data.data(), data.size());
        std::array<sim::RpcParam, 3> params{
            sim::RpcParam::value(simtest::kValueIn, kSocketSend, instance, handle),
            sim::RpcParam::memref(simtest::kMemrefIn, buffer.get(), 0, data.size()),
            sim::RpcParam::value(simtest::kValueInout, timeout),
        };
        return rpc_.call(kCmdSocket, params);
    }

    uint32_t receive(uint32_t instance, uint32_t handle, uint32_t timeout, std::string* ret_data = nullptr) {
        uint32_t code = 0;
        auto buffer = rpc_.allocate(256, code);
        if (!buffer) return code;
        std::array<sim::RpcParam, 3> params{
            sim::RpcParam::value(simtest::kValueIn, kSocketRecv, instance, handle),
            sim::RpcParam::memref(simtest::kMemrefOut, buffer.get(), 0, 256),
            sim::RpcParam::value(simtest::kValueIn, timeout),
        };
        code = rpc_.call(kCmdSocket, params);
        if (ret_data != nullptr && code == gp::kSuccess)
            ret_data->assign(reinterpret_cast<char*>(buffer->data()), params[1].size);
        return code;
    }

    uint32_t ioctl(uint32_t instance, uint32_t handle, uint64_t command, std::span<const uint8_t> argument) {
        uint32_t code = 0;
        auto buffer = rpc_.allocate(std::max<size_t>(argument.size(), 1), code);
        if (!buffer) return code;
        std::memcpy(buffer->data(), argument.data(), argument.size());
        std::array<sim::RpcParam, 3> params{
            sim::RpcParam::value(simtest::kValueIn, kSocketIoctl, instance, handle),
            sim::RpcParam::memref(simtest::kMemrefInout, buffer.get(), 0, argument.size()),
            sim::RpcParam::value(simtest::kValueIn, command),
        };
        return rpc_.call(kCmdSocket, params);
    }

    uint32_t simple(uint64_t opcode, uint32_t instance, uint32_t handle) {
        std::array<sim::RpcParam, 1> params{sim::RpcParam::value(simtest::kValueIn, opcode, instance, handle)};
        return rpc_.call(kCmdSocket, params);
    }

private:
    sim::SupplicantRpc& rpc_;
};

template <typename T>
std::span<const uint8_t> bytes_of(const T& value) {
    return {reinterpret_cast<const uint8_t*>(&value), sizeof(value)};
}

TEST(TheSocketTa, EchoesOverTcpToAnAllowedDestination) {
    LoopbackServer server(SOCK_STREAM, LoopbackServer::Mode::Echo);
    ServedSockets sockets(rules({{sim::kSocketTaUuid, local(server.port())}}));
    const uint32_t session = sockets.open_session();
    auto answer = sockets.echo(session, kTcp, server.port(), "hello over tcp");
    EXPECT_EQ(answer.ret, gp::kSuccess) << gp::result_name(answer.ret);
    EXPECT_EQ(answer.data, "hello over tcp");
    EXPECT_EQ(server.accepted(), 1);
    EXPECT_EQ(sockets.service().open_count(), 0u) << "ECHO closes its socket";
    EXPECT_TRUE(eventually([&] { return server.closed_by_peer() == 1; }));
}

TEST(TheSocketTa, EchoesOverUdp) {
    LoopbackServer server(SOCK_DGRAM, LoopbackServer::Mode::Echo);
    ServedSockets sockets(rules({{"*", local(server.port())}}));
    const uint32_t session = sockets.open_session();
    auto answer = sockets.echo(session, kUdp, server.port(), "one datagram");
    EXPECT_EQ(answer.ret, gp::kSuccess) << gp::result_name(answer.ret);
    EXPECT_EQ(answer.data, "one datagram");
}

TEST(TheSocketTa, IsDeniedADestinationThePolicyDoesNotAllowAndNothingIsConnected) {
    LoopbackServer allowed(SOCK_STREAM, LoopbackServer::Mode::Echo);
    LoopbackServer forbidden(SOCK_STREAM, LoopbackServer::Mode::Echo);
    ServedSockets sockets(rules({{sim::kSocketTaUuid, local(allowed.port())}}));
    const uint32_t session = sockets.open_session();
    auto answer = sockets.echo(session, kTcp, forbidden.port(), "let me out");
    EXPECT_EQ(answer.ret, gp::kErrorAccessDenied) << gp::result_name(answer.ret);
    EXPECT_EQ(sockets.service().denied_count(), 1u);
    EXPECT_EQ(forbidden.accepted(), 0);
    EXPECT_EQ(sockets.tee().supplicant().counters()[kCmdSocket].failed, 1u);
    // UDP to the allowed port: the rule allows both protocols, the destination is the same.
    EXPECT_EQ(sockets.echo(session, kTcp, allowed.port(), "fine").ret, gp::kSuccess);
}

TEST(TheSocketTa, IsDeniedByARuleForAnotherTa) {
    LoopbackServer server(SOCK_STREAM, LoopbackServer::Mode::Echo);
    ServedSockets sockets(rules({{"f4e750bb-1437-4fbf-8785-8d3580c34994", local(server.port())}}));
    const uint32_t session = sockets.open_session();
    EXPECT_EQ(sockets.echo(session, kTcp, server.port(), "x").ret, gp::kErrorAccessDenied);
    EXPECT_EQ(server.accepted(), 0);
}

TEST(TheSocketTa, IsDeniedEverythingWithNoRules) {
    LoopbackServer server(SOCK_STREAM, LoopbackServer::Mode::Echo);
    ServedSockets sockets({});
    const uint32_t session = sockets.open_session();
    EXPECT_EQ(sockets.echo(session, kTcp, server.port(), "x").ret, gp::kErrorAccessDenied);
    EXPECT_EQ(sockets.echo(session, kUdp, server.port(), "x").ret, gp::kErrorAccessDenied);
    EXPECT_EQ(sockets.service().denied_count(), 2u);
}

TEST(TheSocketTa, TimesOutWhenThePeerSaysNothing) {
    LoopbackServer server(SOCK_STREAM, LoopbackServer::Mode::Silent);
    ServedSockets sockets(rules({{"*", local(server.port())}}));
    const uint32_t session = sockets.open_session();
    EXPECT_EQ(sockets.receive(session, kTcp, server.port(), 50).ret, gp::kSocketErrorTimeout);
    EXPECT_EQ(sockets.service().open_count(), 0u);
}

TEST(TheSocketTa, WaitsNoLongerThanTeedsLimitWhenItAsksToBlock) {
    LoopbackServer server(SOCK_STREAM, LoopbackServer::Mode::Silent);
    ServedSockets sockets(rules({{"*", local(server.port())}}), {.max_wait = 50ms});
    const uint32_t session = sockets.open_session();
    EXPECT_EQ(sockets.receive(session, kTcp, server.port(), kSocketTimeoutBlocking).ret,
              gp::kSocketErrorTimeout);
}

TEST(TheSocketTa, GetsCommunicationErrorWhenNobodyListens) {
    uint16_t closed_port = 0;
    {
        LoopbackServer gone(SOCK_STREAM, LoopbackServer::Mode::Echo);
        closed_port = gone.port();
    }
    ServedSockets sockets(rules({{"*", local(closed_port)}}));
    const uint32_t session = sockets.open_session();
    EXPECT_EQ(sockets.echo(session, kTcp, closed_port, "x").ret, gp::kErrorCommunication);
}

TEST(TheSocketTa, HasItsSocketsClosedWhenItsSessionCloses) {
    LoopbackServer server(SOCK_STREAM, LoopbackServer::Mode::Echo);
    ServedSockets sockets(rules({{"*", local(server.port())}}));
    const uint32_t first = sockets.open_session();
    const uint32_t second = sockets.open_session();
    EXPECT_EQ(sockets.keep_open(first, kTcp, server.port()).ret, gp::kSuccess);
    EXPECT_EQ(sockets.keep_open(first, kTcp, server.port()).ret, gp::kSuccess);
    EXPECT_EQ(sockets.keep_open(second, kTcp, server.port()).ret, gp::kSuccess);
    EXPECT_EQ(sockets.service().open_count(), 3u);
    EXPECT_TRUE(eventually([&] { return server.accepted() == 3; }));

    sockets.close_session(first);  // CLOSE_ALL for the first instance only
    EXPECT_EQ(sockets.service().open_count(), 1u);
    EXPECT_TRUE(eventually([&] { return server.closed_by_peer() == 2; }));
    sockets.close_session(second);
    EXPECT_EQ(sockets.service().open_count(), 0u);
    EXPECT_TRUE(eventually([&] { return server.closed_by_peer() == 3; }));
}

TEST(TheSocketTa, GetsOutOfResourcesPastItsShareOfSockets) {
    LoopbackServer server(SOCK_STREAM, LoopbackServer::Mode::Echo);
    ServedSockets sockets(rules({{"*", local(server.port())}}), {.max_per_instance = 2, .max_total = 3});
    const uint32_t first = sockets.open_session();
    const uint32_t second = sockets.open_session();
    EXPECT_EQ(sockets.keep_open(first, kTcp, server.port()).ret, gp::kSuccess);
    EXPECT_EQ(sockets.keep_open(first, kTcp, server.port()).ret, gp::kSuccess);
    EXPECT_EQ(sockets.keep_open(first, kTcp, server.port()).ret, gp::kSocketErrorOutOfResources);
    EXPECT_EQ(sockets.keep_open(second, kTcp, server.port()).ret, gp::kSuccess);
    EXPECT_EQ(sockets.keep_open(second, kTcp, server.port()).ret, gp::kSocketErrorOutOfResources)
        << "the device's total";
    EXPECT_EQ(sockets.service().open_count(), 3u);
}

TEST(TheSocketService, OnlyAnyTaRulesApplyWhenTheTeeDoesNotNameTheTa) {
    LoopbackServer server(SOCK_STREAM, LoopbackServer::Mode::Echo);
    // Instance 4242 is no instance the simulator knows: the TA is unknown, as on OP-TEE.
    ServedSockets named(rules({{sim::kSocketTaUuid, local(server.port())}}));
    RawSocketRpc raw(named.tee().rpc());
    EXPECT_EQ(raw.open(4242, server.port(), kTcp, "127.0.0.1"), gp::kErrorAccessDenied);

    ServedSockets any(rules({{"*", local(server.port())}}));
    RawSocketRpc raw_any(any.tee().rpc());
    uint32_t handle = 0;
    ASSERT_EQ(raw_any.open(4242, server.port(), kTcp, "127.0.0.1", kIpVersion4, true, &handle),
              gp::kSuccess);
    EXPECT_EQ(raw_any.send(4242, handle, "raw", 1000), gp::kSuccess);
    std::string reply;
    EXPECT_EQ(raw_any.receive(4242, handle, 1000, &reply), gp::kSuccess);
    EXPECT_EQ(reply, "raw");
    EXPECT_EQ(raw_any.simple(kSocketClose, 4242, handle), gp::kSuccess);
    EXPECT_EQ(any.service().open_count(), 0u);
}

TEST(TheSocketService, AnswersMalformedRequestsWithoutTouchingTheNetwork) {
    LoopbackServer server(SOCK_STREAM, LoopbackServer::Mode::Echo);
    ServedSockets sockets(rules({{"*", "*:*"}}));
    RawSocketRpc raw(sockets.tee().rpc());
    EXPECT_EQ(raw.simple(9, 1, 0), gp::kErrorBadParameters) << "unknown opcode";
    EXPECT_EQ(raw.open(1, 0, kTcp, "127.0.0.1"), gp::kErrorBadParameters) << "port 0";
    EXPECT_EQ(raw.open(1, 70000, kTcp, "127.0.0.1"), gp::kErrorBadParameters) << "port > 65535";
    EXPECT_EQ(raw.open(1, server.port(), 0x67, "127.0.0.1"), gp::kErrorBadParameters) << "protocol";
    EXPECT_EQ(raw.open(1, server.port(), kTcp, "127.0.0.1", 9), gp::kErrorBadParameters) << "IP version";
    EXPECT_EQ(raw.open(1, server.port(), kTcp, "127.0.0.1", kIpVersionAny, false),
              gp::kSocketErrorHostname)
        << "a host without its NUL";
    EXPECT_EQ(raw.open(1, server.port(), kTcp, "bad host\n"), gp::kSocketErrorHostname);
    EXPECT_EQ(raw.open(1, server.port(), kTcp, "127.0.0.1", kIpVersion6), gp::kSocketErrorHostname)
        << "an IPv4 address asked for as IPv6";
    EXPECT_EQ(raw.send(1, 77, "x", 0), gp::kErrorBadParameters) << "unknown handle";
    EXPECT_EQ(raw.receive(1, 77, 0), gp::kErrorBadParameters);
    EXPECT_EQ(raw.simple(kSocketClose, 1, 77), gp::kErrorBadParameters);
    EXPECT_EQ(raw.ioctl(1, 77, kTcpSetRecvBuf, bytes_of(int{4096})), gp::kErrorBadParameters);
    EXPECT_EQ(raw.simple(kSocketCloseAll, 1, 0), gp::kSuccess) << "nothing to close is fine";
    std::array<sim::RpcParam, 2> wrong{sim::RpcParam::value(simtest::kValueIn, kSocketOpen, 1),
                                       sim::RpcParam::value(simtest::kValueIn, server.port(), kTcp)};
    EXPECT_EQ(sockets.tee().rpc().call(kCmdSocket, wrong), gp::kErrorBadParameters) << "2 params";
    std::array<sim::RpcParam, 1> not_value{sim::RpcParam::value(simtest::kValueOut, kSocketOpen)};
    EXPECT_EQ(sockets.tee().rpc().call(kCmdSocket, not_value), gp::kErrorBadParameters);
    EXPECT_EQ(server.accepted(), 0);
    EXPECT_EQ(sockets.service().open_count(), 0u);
}

TEST(TheSocketService, SetsTcpBuffersAndRefusesWhatItDoesNotKnow) {
    LoopbackServer server(SOCK_STREAM, LoopbackServer::Mode::Echo);
    ServedSockets sockets(rules({{"*", local(server.port())}}));
    RawSocketRpc raw(sockets.tee().rpc());
    uint32_t handle = 0;
    ASSERT_EQ(raw.open(5, server.port(), kTcp, "127.0.0.1", kIpVersionAny, true, &handle), gp::kSuccess);
    EXPECT_EQ(raw.ioctl(5, handle, kTcpSetRecvBuf, bytes_of(int{8192})), gp::kSuccess);
    EXPECT_EQ(raw.ioctl(5, handle, kTcpSetSendBuf, bytes_of(int{8192})), gp::kSuccess);
    EXPECT_EQ(raw.ioctl(5, handle, kTcpSetSendBuf, bytes_of(uint16_t{1})), gp::kErrorBadParameters);
    EXPECT_EQ(raw.ioctl(5, handle, kUdpChangePort, bytes_of(uint16_t{1})), gp::kErrorNotSupported)
        << "a UDP command on a TCP socket";
    EXPECT_EQ(raw.ioctl(5, handle, 0x12345678, bytes_of(int{0})), gp::kErrorNotSupported);
}

TEST(TheSocketService, ChecksAUdpSocketsNewDestinationAgainstThePolicy) {
    LoopbackServer first(SOCK_DGRAM, LoopbackServer::Mode::Echo);
    LoopbackServer second(SOCK_DGRAM, LoopbackServer::Mode::Echo);
    LoopbackServer forbidden(SOCK_DGRAM, LoopbackServer::Mode::Echo);
    ServedSockets sockets(rules({{"*", local(first.port())}, {"*", local(second.port())}}));
    RawSocketRpc raw(sockets.tee().rpc());
    uint32_t handle = 0;
    ASSERT_EQ(raw.open(6, first.port(), kUdp, "127.0.0.1", kIpVersionAny, true, &handle), gp::kSuccess);

    EXPECT_EQ(raw.ioctl(6, handle, kUdpChangePort, bytes_of(forbidden.port())), gp::kErrorAccessDenied);
    const std::string elsewhere = "127.0.0.2";
    std::vector<uint8_t> host(elsewhere.begin(), elsewhere.end());
    host.push_back(0);
    EXPECT_EQ(raw.ioctl(6, handle, kUdpChangeAddr, host), gp::kErrorAccessDenied);
    EXPECT_EQ(sockets.service().denied_count(), 2u);

    EXPECT_EQ(raw.ioctl(6, handle, kUdpChangePort, bytes_of(second.port())), gp::kSuccess);
    EXPECT_EQ(raw.send(6, handle, "moved", 1000), gp::kSuccess);
    std::string reply;
    EXPECT_EQ(raw.receive(6, handle, 1000, &reply), gp::kSuccess);
    EXPECT_EQ(reply, "moved") << "the datagram went to the second server, which echoed it";
    EXPECT_EQ(raw.ioctl(6, handle, kTcpSetRecvBuf, bytes_of(int{1})), gp::kErrorNotSupported);
}

TEST(TheSocketService, CutsFurtherWaitsToATryWhileOthersWaitSoWorkersStayFree) {
    LoopbackServer server(SOCK_STREAM, LoopbackServer::Mode::Silent);
    ServedSockets sockets(rules({{"*", local(server.port())}}), {.max_wait = 60s, .max_waiting = 1});
    RawSocketRpc raw(sockets.tee().rpc());
    uint32_t waiting = 0;
    uint32_t other = 0;
    ASSERT_EQ(raw.open(7, server.port(), kTcp, "127.0.0.1", kIpVersionAny, true, &waiting), gp::kSuccess);
    ASSERT_EQ(raw.open(7, server.port(), kTcp, "127.0.0.1", kIpVersionAny, true, &other), gp::kSuccess);

    auto first = std::async(std::launch::async, [&] { return raw.receive(7, waiting, 60000); });
    ASSERT_TRUE(eventually([&] { return sockets.service().waiting_count() == 1; }));
    // The only waiting share is taken: this one tries at once and times out while the first
    // still waits.
    EXPECT_EQ(raw.receive(7, other, 60000), gp::kSocketErrorTimeout);
    EXPECT_EQ(first.wait_for(0s), std::future_status::timeout);
    EXPECT_EQ(raw.simple(kSocketCloseAll, 7, 0), gp::kSuccess);
    EXPECT_EQ(sockets.service().open_count(), 0u);
    EXPECT_EQ(first.wait_for(0s), std::future_status::timeout)
        << "a closed socket stays open for the request still waiting on it";
    // Stopping the supplicant ends the wait at once, though it was allowed a minute. A new
    // supplicant then serves the SHM_FREE of the request's buffer, which the stopped one cannot.
    sockets.tee().stop_supplicant();
    sockets.tee().restart_supplicant({});
    EXPECT_EQ(first.get(), gp::kErrorCommunication);
}

}  // namespace
}  // namespace teed::supplicant
