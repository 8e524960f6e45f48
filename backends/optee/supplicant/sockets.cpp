#include "backends/optee/supplicant/sockets.h"

#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "backends/kernel/tee_uapi.h"
#include "backends/optee/supplicant/rpc_protocol.h"
#include "common/unique_fd.h"

namespace teed::supplicant {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

std::string destination(SocketProtocol protocol, const std::string& host, uint16_t port) {
    const bool ipv6 = host.find(':') != std::string::npos;
    return std::string(protocol_name(protocol)) + " " + (ipv6 ? "[" + host + "]" : host) + ":" +
           std::to_string(port);
}

std::string describe(const std::optional<Uuid>& ta, uint32_t instance) {
    if (ta) return "TA " + ta->to_string() + " (instance " + std::to_string(instance) + ")";
    return "TA instance " + std::to_string(instance) + " (the TEE does not say which TA)";
}

enum class Readiness { Ready, TimedOut, Stopping };

// Waits until `fd` is ready for `events`, `wait` has passed (signals do not cut it short) or
// `stopping` is readable.
Readiness wait_for(int fd, short events, milliseconds wait, int stopping) {
    const auto deadline = Clock::now() + wait;
    for (;;) {
        const auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now());
        std::array<pollfd, 2> entries{pollfd{.fd = fd, .events = events, .revents = 0},
                                      pollfd{.fd = stopping, .events = POLLIN, .revents = 0}};
        const int ready = ::poll(entries.data(), entries.size(),
                                 static_cast<int>(std::max<int64_t>(left.count(), 0)));
        if (ready > 0 && entries[1].revents != 0) return Readiness::Stopping;
        if (ready > 0) return Readiness::Ready;
        if (ready == 0) return Readiness::TimedOut;
        // Only EINTR or ENOMEM can fail a poll of valid fds: wait again, the deadline holds.
    }
}

RpcOutcome stopping_outcome(const std::string& what) {
    return RpcOutcome::answer(gp::kErrorCommunication, what + ": the supplicant is stopping");
}

// The answer for a failed send() or recv().
RpcOutcome transfer_failure(const std::string& what, int err) {
    const std::string reason = what + ": " + std::strerror(err);
    switch (err) {
        case EAGAIN: return RpcOutcome::answer(gp::kSocketErrorTimeout, reason);
        case EPIPE:
        case ECONNRESET: return RpcOutcome::answer(gp::kSocketErrorRemoteClosed, reason);
        case EMSGSIZE: return RpcOutcome::answer(gp::kSocketErrorLargeBuffer, reason);
        case ENOBUFS:
        case ENOMEM: return RpcOutcome::fail(gp::kSocketErrorOutOfResources, reason);
        default: return RpcOutcome::fail(gp::kErrorCommunication, reason);
    }
}

struct AddrinfoFree {
    void operator()(addrinfo* list) const { ::freeaddrinfo(list); }
};

struct Connection {
    UniqueFd fd;
    RpcOutcome failure;  // when fd is not valid
};

// Resolves host:port and connects a new socket to the first address that answers within `wait`.
Connection connect_to(const std::string& host, uint16_t port, SocketProtocol protocol, int family,
                      milliseconds wait, int stopping, const std::string& what) {
    addrinfo hints{};
    hints.ai_family = family;
    hints.ai_socktype = protocol == SocketProtocol::Tcp ? SOCK_STREAM : SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV | (is_numeric_host(host) ? AI_NUMERICHOST : 0);
    addrinfo* found = nullptr;
    const int resolved = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
    if (resolved != 0)
        return {UniqueFd(), RpcOutcome::fail(gp::kSocketErrorHostname,
                                             what + ": cannot resolve '" + host +
                                                 "': " + ::gai_strerror(resolved))};
    std::unique_ptr<addrinfo, AddrinfoFree> addresses(found);

    const auto deadline = Clock::now() + wait;
    RpcOutcome failure = RpcOutcome::fail(gp::kSocketErrorHostname, what + ": no address");
    for (const addrinfo* address = addresses.get(); address; address = address->ai_next) {
        UniqueFd fd(::socket(address->ai_family, address->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                             address->ai_protocol));
        if (!fd.valid()) {
            const int err = errno;
            const bool exhausted = err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
            failure = RpcOutcome::fail(
                exhausted ? gp::kSocketErrorOutOfResources : gp::kErrorGeneric,
                what + ": socket: " + std::strerror(err) +
                    (exhausted ? "" : " (does teed's sandbox allow this address family? "
                                      "docs/deployment.md, \"No network\")"));
            continue;
        }
        if (::connect(fd.get(), address->ai_addr, address->ai_addrlen) == 0)
            return {std::move(fd), {}};
        if (errno != EINPROGRESS) {
            failure = RpcOutcome::fail(gp::kErrorCommunication,
                                       what + ": connect: " + std::strerror(errno));
            continue;
        }
        const auto left = std::max(std::chrono::ceil<milliseconds>(deadline - Clock::now()),
                                   milliseconds(0));
        const Readiness connected = wait_for(fd.get(), POLLOUT, left, stopping);
        if (connected == Readiness::Stopping) return {UniqueFd(), stopping_outcome(what)};
        if (connected == Readiness::TimedOut) {
            failure = RpcOutcome::fail(gp::kSocketErrorTimeout,
                                       what + ": no connection within " +
                                           std::to_string(wait.count()) + " ms");
            break;  // the time is spent; the next address would get none
        }
        int err = 0;
        socklen_t length = sizeof(err);
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &length) != 0) err = errno;
        if (err == 0) return {std::move(fd), {}};
        failure = RpcOutcome::fail(gp::kErrorCommunication,
                                   what + ": connect: " + std::strerror(err));
    }
    return {UniqueFd(), std::move(failure)};
}

}  // namespace

struct SocketService::Socket {
    UniqueFd fd;
    SocketProtocol protocol = SocketProtocol::Tcp;
    int family = AF_UNSPEC;  // the socket's: CHANGEADDR resolves within it
    std::optional<Uuid> ta;
    uint32_t instance = 0;
    std::mutex mutex;
    std::string host;  // guarded by mutex: UDP's CHANGEADDR and CHANGEPORT change them
    uint16_t port = 0;
};

// A share of the waiting the service allows: `wait()` is what the request may wait, and the
// share is given back when the slot is destroyed.
class SocketService::WaitSlot {
public:
    WaitSlot(std::atomic<uint32_t>* waiting, milliseconds wait) : waiting_(waiting), wait_(wait) {}
    WaitSlot(WaitSlot&& other) noexcept : waiting_(other.waiting_), wait_(other.wait_) {
        other.waiting_ = nullptr;
    }
    WaitSlot& operator=(WaitSlot&&) = delete;
    ~WaitSlot() {
        if (waiting_ != nullptr) waiting_->fetch_sub(1);
    }
    milliseconds wait() const { return wait_; }

private:
    std::atomic<uint32_t>* waiting_;
    milliseconds wait_;
};

SocketService::SocketService(SocketOptions options)
    : options_(std::move(options)), stopping_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

void SocketService::cancel_waits() {
    // Never read: the eventfd stays readable, so every wait from now on ends at once too.
    const uint64_t one = 1;
    (void)::write(stopping_.get(), &one, sizeof(one));
}

SocketService::~SocketService() = default;

size_t SocketService::open_count() const {
    std::lock_guard lock(mutex_);
    return open_;
}

SocketService::WaitSlot SocketService::wait_slot(uint32_t requested_ms) {
    const milliseconds wanted = requested_ms == kSocketTimeoutBlocking
                                    ? options_.max_wait
                                    : std::min(milliseconds(requested_ms), options_.max_wait);
    if (wanted.count() == 0) return WaitSlot(nullptr, wanted);
    uint32_t now = waiting_.load();
    while (now < options_.max_waiting) {
        if (waiting_.compare_exchange_weak(now, now + 1)) return WaitSlot(&waiting_, wanted);
    }
    return WaitSlot(nullptr, milliseconds(0));  // only an immediate try: workers stay free
}

RpcOutcome SocketService::serve(RpcRequest& request) {
    if (request.params.empty() || request.params[0].type != kValueIn)
        return RpcOutcome::refuse(gp::kErrorBadParameters,
                                  "socket: the first param is not the opcode's VALUE_INPUT");
    switch (request.params[0].a) {
        case kSocketOpen: return open(request);
        case kSocketClose: return close(request);
        case kSocketCloseAll: return close_all(request);
        case kSocketSend: return send(request);
        case kSocketRecv: return receive(request);
        case kSocketIoctl: return control(request);
        default:
            return RpcOutcome::refuse(gp::kErrorBadParameters,
                                      "socket: unknown opcode " + std::to_string(request.params[0].a));
    }
}

RpcOutcome SocketService::deny(const std::optional<Uuid>& ta, uint32_t instance,
                               SocketProtocol protocol, const std::string& host, uint16_t port) {
    denied_.fetch_add(1);
    std::string reason = "socket: " + describe(ta, instance) + " may not reach " +
                         destination(protocol, host, port);
    if (ta)
        reason += "; a ta_sockets rule in teed.conf can allow it";
    else if (options_.policy.names_tas())
        reason += "; rules naming a TA cannot apply here, only rules with \"ta\": \"*\"";
    return RpcOutcome::refuse(gp::kErrorAccessDenied, std::move(reason));
}

std::shared_ptr<SocketService::Socket> SocketService::find(uint32_t instance,
                                                           uint32_t handle) const {
    std::lock_guard lock(mutex_);
    auto sockets = instances_.find(instance);
    if (sockets == instances_.end()) return nullptr;
    auto socket = sockets->second.find(handle);
    return socket == sockets->second.end() ? nullptr : socket->second;
}

RpcOutcome SocketService::open(RpcRequest& request) {
    if (auto typed = request.expect_types({kValueIn, kValueIn, kMemrefIn, kValueOut}); !typed)
        return RpcOutcome::refuse(gp::kErrorBadParameters, "socket open: " + typed.error().message());
    const auto instance = static_cast<uint32_t>(request.params[0].b);
    const RpcParam& setup = request.params[1];
    if (setup.a == 0 || setup.a > 65535)
        return RpcOutcome::refuse(gp::kErrorBadParameters,
                                  "socket open: port " + std::to_string(setup.a));
    const auto port = static_cast<uint16_t>(setup.a);
    if (setup.b != kSocketProtocolTcp && setup.b != kSocketProtocolUdp)
        return RpcOutcome::refuse(gp::kErrorBadParameters,
                                  "socket open: protocol " + std::to_string(setup.b) +
                                      " is neither TCP (0x65) nor UDP (0x66)");
    const SocketProtocol protocol =
        setup.b == kSocketProtocolTcp ? SocketProtocol::Tcp : SocketProtocol::Udp;
    int family = AF_UNSPEC;
    if (setup.c == kIpVersion4) {
        family = AF_INET;
    } else if (setup.c == kIpVersion6) {
        family = AF_INET6;
    } else if (setup.c != kIpVersionAny) {
        return RpcOutcome::refuse(gp::kErrorBadParameters,
                                  "socket open: IP version " + std::to_string(setup.c));
    }
    auto host = request.string_param(2);
    if (!host)
        return RpcOutcome::refuse(gp::kSocketErrorHostname, "socket open: " + host.error().message());
    if (!is_valid_host(*host))
        return RpcOutcome::refuse(gp::kSocketErrorHostname,
                                  "socket open: '" + *host + "' is neither an address nor a host name");

    const std::optional<Uuid> ta = options_.identify ? options_.identify(instance) : std::nullopt;
    if (!options_.policy.allows(ta, protocol, *host, port))
        return deny(ta, instance, protocol, *host, port);
    auto full = [&]() -> std::optional<RpcOutcome> {
        auto sockets = instances_.find(instance);
        const size_t mine = sockets == instances_.end() ? 0 : sockets->second.size();
        if (open_ < options_.max_total && mine < options_.max_per_instance) return std::nullopt;
        return RpcOutcome::refuse(gp::kSocketErrorOutOfResources,
                                  "socket open: " + describe(ta, instance) + " has " +
                                      std::to_string(mine) + " sockets open, the device " +
                                      std::to_string(open_) + " (at most " +
                                      std::to_string(options_.max_per_instance) + " and " +
                                      std::to_string(options_.max_total) + ")");
    };
    {
        std::lock_guard lock(mutex_);
        if (auto refused = full()) return *refused;
    }

    const std::string what = "socket open: " + describe(ta, instance) + " to " +
                             destination(protocol, *host, port);
    Connection connection = [&] {
        WaitSlot slot = wait_slot(kSocketTimeoutBlocking);
        return connect_to(*host, port, protocol, family, slot.wait(), stopping_.get(), what);
    }();
    if (!connection.fd.valid()) return connection.failure;

    auto socket = std::make_shared<Socket>();
    socket->fd = std::move(connection.fd);
    socket->protocol = protocol;
    socklen_t length = sizeof(socket->family);
    if (::getsockopt(socket->fd.get(), SOL_SOCKET, SO_DOMAIN, &socket->family, &length) != 0)
        socket->family = family;
    socket->ta = ta;
    socket->instance = instance;
    socket->host = *host;
    socket->port = port;

    std::lock_guard lock(mutex_);
    if (auto refused = full()) return *refused;  // others opened meanwhile
    auto& sockets = instances_[instance];
    uint32_t handle = next_handle_;
    while (handle == 0 || sockets.contains(handle)) ++handle;
    next_handle_ = handle + 1;
    sockets.emplace(handle, std::move(socket));
    ++open_;
    request.params[3].a = handle;
    return {gp::kSuccess, what + ": connected as handle " + std::to_string(handle), LogLevel::Info};
}

RpcOutcome SocketService::close(RpcRequest& request) {
    if (auto typed = request.expect_types({kValueIn}); !typed)
        return RpcOutcome::refuse(gp::kErrorBadParameters, "socket close: " + typed.error().message());
    const auto instance = static_cast<uint32_t>(request.params[0].b);
    const auto handle = static_cast<uint32_t>(request.params[0].c);
    std::lock_guard lock(mutex_);
    auto sockets = instances_.find(instance);
    if (sockets == instances_.end() || sockets->second.erase(handle) == 0)
        return RpcOutcome::refuse(gp::kErrorBadParameters,
                                  "socket close: TA instance " + std::to_string(instance) +
                                      " has no socket " + std::to_string(handle));
    --open_;
    if (sockets->second.empty()) instances_.erase(sockets);
    return RpcOutcome::success();
}

RpcOutcome SocketService::close_all(RpcRequest& request) {
    if (auto typed = request.expect_types({kValueIn}); !typed)
        return RpcOutcome::refuse(gp::kErrorBadParameters,
                                  "socket close-all: " + typed.error().message());
    const auto instance = static_cast<uint32_t>(request.params[0].b);
    std::lock_guard lock(mutex_);
    if (auto sockets = instances_.find(instance); sockets != instances_.end()) {
        open_ -= sockets->second.size();
        instances_.erase(sockets);
    }
    return RpcOutcome::success();
}

RpcOutcome SocketService::send(RpcRequest& request) {
    if (auto typed = request.expect_types({kValueIn, kMemrefIn, kValueInout}); !typed)
        return RpcOutcome::refuse(gp::kErrorBadParameters, "socket send: " + typed.error().message());
    const auto instance = static_cast<uint32_t>(request.params[0].b);
    const auto handle = static_cast<uint32_t>(request.params[0].c);
    auto socket = find(instance, handle);
    if (!socket)
        return RpcOutcome::refuse(gp::kErrorBadParameters,
                                  "socket send: TA instance " + std::to_string(instance) +
                                      " has no socket " + std::to_string(handle));
    const std::span<const uint8_t> data = request.params[1].memory.bytes();
    RpcParam& timing = request.params[2];
    WaitSlot slot = wait_slot(static_cast<uint32_t>(timing.a));
    const Readiness ready = wait_for(socket->fd.get(), POLLOUT, slot.wait(), stopping_.get());
    if (ready == Readiness::Stopping) return stopping_outcome("socket send");
    if (ready == Readiness::TimedOut)
        return RpcOutcome::answer(gp::kSocketErrorTimeout, "socket send: no room within " +
                                                               std::to_string(slot.wait().count()) +
                                                               " ms");
    const ssize_t sent = ::send(socket->fd.get(), data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0) return transfer_failure("socket send", errno);
    timing.b = static_cast<uint64_t>(sent);
    return RpcOutcome::success();
}

RpcOutcome SocketService::receive(RpcRequest& request) {
    if (auto typed = request.expect_types({kValueIn, kMemrefOut, kValueIn}); !typed)
        return RpcOutcome::refuse(gp::kErrorBadParameters, "socket recv: " + typed.error().message());
    const auto instance = static_cast<uint32_t>(request.params[0].b);
    const auto handle = static_cast<uint32_t>(request.params[0].c);
    auto socket = find(instance, handle);
    if (!socket)
        return RpcOutcome::refuse(gp::kErrorBadParameters,
                                  "socket recv: TA instance " + std::to_string(instance) +
                                      " has no socket " + std::to_string(handle));
    RpcParam& buffer = request.params[1];
    if (!buffer.has_buffer())
        return RpcOutcome::refuse(gp::kErrorBadParameters, "socket recv: no buffer to receive into");
    WaitSlot slot = wait_slot(static_cast<uint32_t>(request.params[2].a));
    const Readiness ready = wait_for(socket->fd.get(), POLLIN, slot.wait(), stopping_.get());
    if (ready == Readiness::Stopping) return stopping_outcome("socket recv");
    if (ready == Readiness::TimedOut)
        return RpcOutcome::answer(gp::kSocketErrorTimeout, "socket recv: nothing within " +
                                                               std::to_string(slot.wait().count()) +
                                                               " ms");
    const ssize_t received =
        ::recv(socket->fd.get(), buffer.memory.data(), buffer.memory.size(), MSG_DONTWAIT);
    if (received < 0) return transfer_failure("socket recv", errno);
    buffer.b = static_cast<uint64_t>(received);  // 0: the peer closed a TCP connection
    return RpcOutcome::success();
}

RpcOutcome SocketService::control(RpcRequest& request) {
    if (auto typed = request.expect_types({kValueIn, kMemrefInout, kValueIn}); !typed)
        return RpcOutcome::refuse(gp::kErrorBadParameters, "socket ioctl: " + typed.error().message());
    const auto instance = static_cast<uint32_t>(request.params[0].b);
    const auto handle = static_cast<uint32_t>(request.params[0].c);
    auto socket = find(instance, handle);
    if (!socket)
        return RpcOutcome::refuse(gp::kErrorBadParameters,
                                  "socket ioctl: TA instance " + std::to_string(instance) +
                                      " has no socket " + std::to_string(handle));
    const std::span<const uint8_t> argument = request.params[1].memory.bytes();
    const uint64_t command = request.params[2].a;
    auto wrong_size = [&](size_t expected) {
        return RpcOutcome::refuse(gp::kErrorBadParameters,
                                  "socket ioctl " + std::to_string(command) + ": argument of " +
                                      std::to_string(argument.size()) + " bytes, not " +
                                      std::to_string(expected));
    };

    if (socket->protocol == SocketProtocol::Tcp &&
        (command == kTcpSetRecvBuf || command == kTcpSetSendBuf)) {
        int bytes = 0;
        if (argument.size() != sizeof(bytes)) return wrong_size(sizeof(bytes));
        std::memcpy(&bytes, argument.data(), sizeof(bytes));
        const int option = command == kTcpSetRecvBuf ? SO_RCVBUF : SO_SNDBUF;
        if (::setsockopt(socket->fd.get(), SOL_SOCKET, option, &bytes, sizeof(bytes)) != 0)
            return RpcOutcome::refuse(gp::kErrorBadParameters,
                                      std::string("socket ioctl: setsockopt: ") + std::strerror(errno));
        return RpcOutcome::success();
    }
    if (socket->protocol == SocketProtocol::Udp && command == kUdpChangeAddr) {
        auto host = request.string_param(1);
        if (!host)
            return RpcOutcome::refuse(gp::kSocketErrorHostname, "socket ioctl: " + host.error().message());
        if (!is_valid_host(*host))
            return RpcOutcome::refuse(gp::kSocketErrorHostname,
                                      "socket ioctl: '" + *host + "' is neither an address nor a host name");
        std::lock_guard lock(socket->mutex);
        return change_destination(*socket, *host, socket->port);
    }
    if (socket->protocol == SocketProtocol::Udp && command == kUdpChangePort) {
        uint16_t port = 0;
        if (argument.size() != sizeof(port)) return wrong_size(sizeof(port));
        std::memcpy(&port, argument.data(), sizeof(port));
        if (port == 0) return RpcOutcome::refuse(gp::kErrorBadParameters, "socket ioctl: port 0");
        std::lock_guard lock(socket->mutex);
        return change_destination(*socket, socket->host, port);
    }
    return RpcOutcome::answer(gp::kErrorNotSupported,
                              "socket ioctl: command " + std::to_string(command) + " on a " +
                                  std::string(protocol_name(socket->protocol)) + " socket");
}

// For UDP: the datagrams' new destination, under the same policy as OPEN. Called with the
// socket's mutex held.
RpcOutcome SocketService::change_destination(Socket& socket, const std::string& host, uint16_t port) {
    if (!options_.policy.allows(socket.ta, socket.protocol, host, port))
        return deny(socket.ta, socket.instance, socket.protocol, host, port);
    const std::string what = "socket ioctl: " + describe(socket.ta, socket.instance) + " to " +
                             destination(socket.protocol, host, port);
    addrinfo hints{};
    hints.ai_family = socket.family;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV | (is_numeric_host(host) ? AI_NUMERICHOST : 0);
    addrinfo* found = nullptr;
    const int resolved = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
    if (resolved != 0)
        return RpcOutcome::fail(gp::kSocketErrorHostname,
                                what + ": cannot resolve: " + ::gai_strerror(resolved));
    std::unique_ptr<addrinfo, AddrinfoFree> addresses(found);
    int err = EAFNOSUPPORT;
    for (const addrinfo* address = addresses.get(); address; address = address->ai_next) {
        if (::connect(socket.fd.get(), address->ai_addr, address->ai_addrlen) == 0) {
            socket.host = host;
            socket.port = port;
            return {gp::kSuccess, what, LogLevel::Info};
        }
        err = errno;
    }
    return RpcOutcome::fail(gp::kErrorCommunication, what + ": connect: " + std::strerror(err));
}

}  // namespace teed::supplicant
