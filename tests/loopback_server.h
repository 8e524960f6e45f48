#pragma once
// A loopback server on an ephemeral port for the tests of TAs' sockets: echoes what it receives
// (TCP: per connection, UDP: per datagram), or stays silent, and counts the connections it
// accepted and those whose peer closed them.
//
//   LoopbackServer server(SOCK_STREAM, LoopbackServer::Mode::Echo);
//   ... connect to 127.0.0.1:server.port() ...

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <thread>
#include <vector>

#include "common/unique_fd.h"

namespace teed::test {

class LoopbackServer {
public:
    enum class Mode { Echo, Silent };

    LoopbackServer(int type, Mode mode) : type_(type), mode_(mode) {
        listener_ = UniqueFd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
        sockaddr_in address{.sin_family = AF_INET, .sin_port = 0, .sin_addr = {htonl(INADDR_LOOPBACK)}, .sin_zero = {}};
        EXPECT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
        socklen_t length = sizeof(address);
        ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&address), &length);
        port_ = ntohs(address.sin_port);
        if (type == SOCK_STREAM) {
            EXPECT_EQ(::listen(listener_.get(), 16), 0);
        }
        thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
    }

    uint16_t port() const { return port_; }
    int accepted() const { return accepted_.load(); }
    int closed_by_peer() const { return closed_by_peer_.load(); }

private:
    void run(const std::stop_token& stop) {
        std::vector<UniqueFd> connections;
        while (!stop.stop_requested()) {
            std::vector<pollfd> fds{{listener_.get(), POLLIN, 0}};
            for (const auto& c : connections) fds.push_back({c.get(), POLLIN, 0});
            if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
            if (fds[0].revents & POLLIN) serve_listener(connections);
            for (size_t i = 1; i < fds.size(); ++i) {
                if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
                std::array<char, 4096> data{};
                ssize_t n = ::recv(fds[i].fd, data.data(), data.size(), 0);
                if (n <= 0) {
                    ++closed_by_peer_;
                    connections[i - 1].reset();
                } else if (mode_ == Mode::Echo) {
                    (void)::send(fds[i].fd, data.data(), static_cast<size_t>(n), MSG_NOSIGNAL);
                }
            }
            std::erase_if(connections, [](const UniqueFd& c) { return !c.valid(); });
        }
    }

    void serve_listener(std::vector<UniqueFd>& connections) {
        if (type_ == SOCK_STREAM) {
            connections.emplace_back(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
            ++accepted_;
            return;
        }
        std::array<char, 4096> data{};
        sockaddr_storage from{};
        socklen_t length = sizeof(from);
        ssize_t n = ::recvfrom(listener_.get(), data.data(), data.size(), 0,
                               reinterpret_cast<sockaddr*>(&from), &length);
        if (n >= 0 && mode_ == Mode::Echo)
            (void)::sendto(listener_.get(), data.data(), static_cast<size_t>(n), 0,
                           reinterpret_cast<sockaddr*>(&from), length);
    }

    const int type_;
    const Mode mode_;
    UniqueFd listener_;
    uint16_t port_ = 0;
    std::atomic<int> accepted_{0};
    std::atomic<int> closed_by_peer_{0};
    std::jthread thread_;
};

}  // namespace teed::test
