// The socket TA: a client's destination reached through OPTEE_RPC_CMD_SOCKET, as optee_os's socket
// PTA sends it on behalf of a TA's TEE_tcpSocket / TEE_udpSocket calls.

#include "backends/sim/socket_ta.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "backends/kernel/gp.h"
#include "backends/kernel/tee_uapi.h"
#include "backends/sim/rpc.h"
#include "backends/sim/ta_instances.h"
#include "backends/sim/trusted_app.h"
#include "common/uuid.h"

namespace teed::sim {
namespace {

constexpr uint32_t kCmdSocket = 10;  // OPTEE_RPC_CMD_SOCKET
constexpr uint64_t kOpen = 0;        // OPTEE_RPC_SOCKET_*
constexpr uint64_t kClose = 1;
constexpr uint64_t kCloseAll = 2;
constexpr uint64_t kSend = 3;
constexpr uint64_t kRecv = 4;
constexpr uint64_t kProtocolTcp = 0x65;
constexpr uint64_t kProtocolUdp = 0x66;
constexpr uint64_t kIpVersionAny = 0;

constexpr uint32_t kMaxHost = 255;

// The socket PTA's side of the RPCs, for one TA instance.
class SocketRpc {
public:
    SocketRpc(SupplicantRpc& rpc, uint32_t instance) : rpc_(rpc), instance_(instance) {}

    uint32_t open(std::string_view host, uint64_t port, uint64_t protocol, uint32_t& ret_handle) {
        uint32_t ret = gp::kSuccess;
        auto name = copy_in(std::span(reinterpret_cast<const uint8_t*>(host.data()), host.size()),
                            /*terminate=*/true, ret);
        if (!name) return ret;
        std::array<RpcParam, 4> params{
            RpcParam::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, kOpen, instance_),
            RpcParam::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, port, protocol, kIpVersionAny),
            RpcParam::memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT, name.get(), 0, host.size() + 1),
            RpcParam::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT),
        };
        ret = rpc_.call(kCmdSocket, params);
        if (ret == gp::kSuccess) {
            ret_handle = static_cast<uint32_t>(params[3].a);
            ++open_;
        }
        return ret;
    }

    uint32_t send(uint32_t handle, std::span<const uint8_t> data, uint32_t timeout_ms,
                  size_t& ret_sent) {
        uint32_t ret = gp::kSuccess;
        auto buffer = copy_in(data, /*terminate=*/false, ret);
        if (!buffer) return ret;
        std::array<RpcParam, 3> params{
            RpcParam::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, kSend, instance_, handle),
            RpcParam::memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT, buffer.get(), 0, data.size()),
            RpcParam::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT, timeout_ms),
        };
        ret = rpc_.call(kCmdSocket, params);
        if (ret == gp::kSuccess && params[2].b > data.size()) return gp::kErrorGeneric;
        ret_sent = params[2].b;
        return ret;
    }

    uint32_t receive(uint32_t handle, std::span<uint8_t> out, uint32_t timeout_ms,
                     size_t& ret_received) {
        uint32_t ret = gp::kSuccess;
        auto buffer = rpc_.allocate(std::max<size_t>(out.size(), 1), ret);
        if (!buffer) return ret;
        std::array<RpcParam, 3> params{
            RpcParam::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, kRecv, instance_, handle),
            RpcParam::memref(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT, buffer.get(), 0, out.size()),
            RpcParam::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, timeout_ms),
        };
        ret = rpc_.call(kCmdSocket, params);
        if (ret != gp::kSuccess) return ret;
        if (params[1].size > out.size()) return gp::kErrorGeneric;  // more than it was offered
        std::memcpy(out.data(), buffer->data(), params[1].size);
        ret_received = params[1].size;
        return ret;
    }

    uint32_t close(uint32_t handle) {
        std::array<RpcParam, 1> params{
            RpcParam::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, kClose, instance_, handle)};
        const uint32_t ret = rpc_.call(kCmdSocket, params);
        if (ret == gp::kSuccess) --open_;
        return ret;
    }

    // What the socket PTA does when its session closes; only while sockets are open, so that a
    // session holding none never waits for a supplicant to close.
    void close_all() {
        if (open_ == 0) return;
        std::array<RpcParam, 1> params{
            RpcParam::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, kCloseAll, instance_)};
        (void)rpc_.call(kCmdSocket, params);
    }

private:
    std::unique_ptr<RpcSharedBuffer> copy_in(std::span<const uint8_t> bytes, bool terminate,
                                             uint32_t& ret_code) {
        auto buffer = rpc_.allocate(std::max<size_t>(bytes.size() + (terminate ? 1 : 0), 1), ret_code);
        if (!buffer) return nullptr;
        if (!bytes.empty()) std::memcpy(buffer->data(), bytes.data(), bytes.size());
        if (terminate) buffer->data()[bytes.size()] = '\0';
        return buffer;
    }

    SupplicantRpc& rpc_;
    const uint32_t instance_;
    size_t open_ = 0;  // sockets opened and not closed
};

struct Destination {
    std::string host;
    uint64_t port = 0;
    uint64_t protocol = 0;
};

// params[0] and params[1], which every command starts with.
bool read_destination(const TaParams& params, Destination& ret) {
    const TaParam& host = params[1];
    if (params[0].b != kProtocolTcp && params[0].b != kProtocolUdp) return false;
    if (host.buffer == nullptr || host.size == 0 || host.size > kMaxHost) return false;
    ret.host.assign(reinterpret_cast<const char*>(host.buffer), host.size);
    if (ret.host.find('\0') != std::string::npos) return false;
    ret.port = params[0].a;
    ret.protocol = params[0].b;
    return true;
}

class SocketSession : public TaSession {
public:
    SocketSession(SupplicantRpc& rpc, TaInstances& instances, const Uuid& uuid)
        : instances_(instances), instance_(instances.add(uuid)), sockets_(rpc, instance_) {}
    ~SocketSession() override {
        sockets_.close_all();
        instances_.remove(instance_);
    }

    TaResult invoke(uint32_t command, TaParams& params, const CancelToken& /*cancel*/) override {
        Destination to;
        switch (command) {
            case kSocketTaEcho:
                if (!has_types(params, kValueInput, kMemrefInput, kMemrefInput, kMemrefOutput) ||
                    !read_destination(params, to))
                    return code(gp::kErrorBadParameters);
                return echo(to, params[2], params[3]);
            case kSocketTaReceive:
                if (!has_types(params, kValueInput, kMemrefInput, kValueInput, kMemrefOutput) ||
                    !read_destination(params, to))
                    return code(gp::kErrorBadParameters);
                return receive(to, params[2].a, params[3]);
            case kSocketTaOpen: {
                if (!has_types(params, kValueInput, kMemrefInput, kValueOutput) ||
                    !read_destination(params, to))
                    return code(gp::kErrorBadParameters);
                uint32_t handle = 0;
                const uint32_t ret = sockets_.open(to.host, to.port, to.protocol, handle);
                if (ret == gp::kSuccess) params[2].a = handle;
                return code(ret);
            }
            default: return code(gp::kErrorBadParameters);
        }
    }

private:
    TaResult echo(const Destination& to, const TaParam& data, TaParam& reply) {
        if (data.buffer == nullptr && data.size != 0) return code(gp::kErrorBadParameters);
        if (reply.size < data.size || (reply.buffer == nullptr && data.size != 0)) {
            reply.size = data.size;
            return code(gp::kErrorShortBuffer);
        }
        uint32_t handle = 0;
        uint32_t ret = sockets_.open(to.host, to.port, to.protocol, handle);
        if (ret != gp::kSuccess) return code(ret);
        ret = exchange(handle, to, std::span<const uint8_t>(data.buffer, data.size), reply);
        const uint32_t closed = sockets_.close(handle);
        return code(ret != gp::kSuccess ? ret : closed);
    }

    uint32_t exchange(uint32_t handle, const Destination& to, std::span<const uint8_t> data,
                      TaParam& reply) {
        if (data.empty()) {
            reply.size = 0;
            return gp::kSuccess;
        }
        for (size_t offset = 0; offset < data.size();) {
            size_t sent = 0;
            uint32_t ret = sockets_.send(handle, data.subspan(offset), kSocketTaEchoTimeoutMs, sent);
            if (ret != gp::kSuccess) return ret;
            if (sent == 0) return gp::kErrorCommunication;
            offset += sent;
        }
        size_t received = 0;
        do {
            size_t got = 0;
            uint32_t ret = sockets_.receive(handle, std::span(reply.buffer + received, data.size() - received),
                                            kSocketTaEchoTimeoutMs, got);
            if (ret != gp::kSuccess) return ret;
            received += got;
            if (got == 0 || to.protocol == kProtocolUdp) break;  // closed, or one datagram
        } while (received < data.size());
        reply.size = received;
        return gp::kSuccess;
    }

    TaResult receive(const Destination& to, uint32_t timeout_ms, TaParam& out) {
        if (out.buffer == nullptr || out.size == 0) return code(gp::kErrorBadParameters);
        uint32_t handle = 0;
        uint32_t ret = sockets_.open(to.host, to.port, to.protocol, handle);
        if (ret != gp::kSuccess) return code(ret);
        size_t got = 0;
        ret = sockets_.receive(handle, std::span(out.buffer, out.size), timeout_ms, got);
        if (ret == gp::kSuccess) out.size = got;
        const uint32_t closed = sockets_.close(handle);
        return code(ret != gp::kSuccess ? ret : closed);
    }

    TaInstances& instances_;
    const uint32_t instance_;
    SocketRpc sockets_;
};

class SocketApp : public TrustedApp {
public:
    SocketApp(SupplicantRpc& rpc, TaInstances& instances)
        : uuid_(Uuid::parse(kSocketTaUuid).value()), rpc_(rpc), instances_(instances) {}
    const Uuid& uuid() const override { return uuid_; }
    std::string_view name() const override { return "socket"; }
    std::unique_ptr<TaSession> open_session(const TaClient& /*client*/, TaParams& /*params*/,
                                            const CancelToken& /*cancel*/,
                                            uint32_t& /*ret_code*/) override {
        return std::make_unique<SocketSession>(rpc_, instances_, uuid_);
    }

private:
    Uuid uuid_;
    SupplicantRpc& rpc_;
    TaInstances& instances_;
};

}  // namespace

std::unique_ptr<TrustedApp> make_socket_ta(SupplicantRpc& rpc, TaInstances& instances) {
    return std::make_unique<SocketApp>(rpc, instances);
}

}  // namespace teed::sim
