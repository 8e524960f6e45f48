#pragma once
// TCP and UDP sockets for Trusted Applications (OPTEE_RPC_CMD_SOCKET, the GP TEE Sockets API that
// OP-TEE's socket PTA forwards; docs/supplicant.md, section sockets). Off unless the policy allows
// a destination; every refusal is logged with the TA's UUID where the TEE says which TA asks.
//
//   auto sockets = std::make_shared<SocketService>(SocketOptions{.policy = policy, ...});
//   services[kCmdSocket] = sockets;
//
// Requests (params after the meta param; value[0] = {a: opcode, b: TA instance id, c: handle}):
//   OPEN      [0] VALUE_INPUT  [1] VALUE_INPUT {a: port, b: protocol 0x65 TCP / 0x66 UDP,
//             c: IP version 0 any, 1 IPv4, 2 IPv6}  [2] MEMREF_INPUT host, NUL-terminated
//             [3] VALUE_OUTPUT {a: handle}
//   CLOSE     [0] VALUE_INPUT
//   CLOSE_ALL [0] VALUE_INPUT                   (every socket of the instance)
//   SEND      [0] VALUE_INPUT  [1] MEMREF_INPUT data  [2] VALUE_INOUT {a: timeout ms, b: sent}
//   RECV      [0] VALUE_INPUT  [1] MEMREF_OUTPUT buffer (size: bytes received)
//             [2] VALUE_INPUT {a: timeout ms}
//   IOCTL     [0] VALUE_INPUT  [1] MEMREF_INOUT argument  [2] VALUE_INPUT {a: command}:
//             TCP SET_RECVBUF/SET_SENDBUF (an int), UDP CHANGEADDR (a host) / CHANGEPORT (a
//             uint16), the last two checked against the policy as an OPEN is.
// Timeouts: 0 = do not wait, 0xffffffff = no limit; teed waits at most `max_wait` in any case,
// and while `max_waiting` requests already wait, a further one only tries at once, so that
// socket waits never take every worker from storage and TA loading. When the supplicant stops,
// every wait ends (TEEC_ERROR_COMMUNICATION).
//
// Answers: malformed requests, unknown handles  TEEC_ERROR_BAD_PARAMETERS; policy refusal
// TEEC_ERROR_ACCESS_DENIED; bad host or no address  TEE_ISOCKET_ERROR_HOSTNAME; out of sockets
// TEE_ISOCKET_ERROR_OUT_OF_RESOURCES; nothing within the wait  TEE_ISOCKET_ERROR_TIMEOUT; peer
// reset  TEE_ISOCKET_ERROR_REMOTE_CLOSED; refused or unreachable  TEEC_ERROR_COMMUNICATION.
//
// Thread-safe: requests on different sockets run in parallel; a socket closed while another
// request waits on it stays open until that request ends.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "backends/optee/supplicant/rpc_service.h"
#include "backends/optee/supplicant/socket_policy.h"
#include "common/unique_fd.h"
#include "common/uuid.h"

namespace teed::supplicant {

// GP TEE Sockets protocol ids (TEE_ISOCKET_PROTOCOLID_*) and IP versions (TEE_IP_VERSION_*).
constexpr uint64_t kSocketProtocolTcp = 0x65;
constexpr uint64_t kSocketProtocolUdp = 0x66;
constexpr uint64_t kIpVersionAny = 0;
constexpr uint64_t kIpVersion4 = 1;
constexpr uint64_t kIpVersion6 = 2;
// IOCTL commands (TEE_TCP_SET_*, TEE_UDP_CHANGE*).
constexpr uint64_t kTcpSetRecvBuf = 0x65f00000;
constexpr uint64_t kTcpSetSendBuf = 0x65f00001;
constexpr uint64_t kUdpChangeAddr = 0x66000001;
constexpr uint64_t kUdpChangePort = 0x66000002;
// SEND/RECV timeouts (OPTEE_MRC_SOCKET_TIMEOUT_*).
constexpr uint32_t kSocketTimeoutNonBlocking = 0;
constexpr uint32_t kSocketTimeoutBlocking = 0xffffffff;

// Which TA an instance id belongs to, if the TEE can tell (nullopt otherwise).
using TaInstanceIdentifier = std::function<std::optional<Uuid>(uint32_t instance)>;

struct SocketOptions {
    SocketPolicy policy;
    // OP-TEE's socket requests name a TA instance, not a TA: on hardware this is empty and only
    // rules for any TA apply. The simulator identifies its instances.
    TaInstanceIdentifier identify;
    std::chrono::milliseconds max_wait{10000};
    uint32_t max_waiting = 3;         // requests that may wait at once (workers - 1 in teed)
    uint32_t max_per_instance = 32;   // open sockets per TA instance
    uint32_t max_total = 256;         // open sockets of the device
};

class SocketService final : public RpcService {
public:
    explicit SocketService(SocketOptions options);
    ~SocketService() override;
    SocketService(const SocketService&) = delete;
    SocketService& operator=(const SocketService&) = delete;

    RpcOutcome serve(RpcRequest& request) override;
    // Ends every wait (connect, send, receive) with TEEC_ERROR_COMMUNICATION, now and from now on.
    void cancel_waits() override;

    size_t open_count() const;
    uint64_t denied_count() const { return denied_.load(); }
    // Requests waiting on the network now, with a share of the waiting.
    uint32_t waiting_count() const { return waiting_.load(); }

private:
    struct Socket;
    class WaitSlot;

    RpcOutcome open(RpcRequest& request);
    RpcOutcome close(RpcRequest& request);
    RpcOutcome close_all(RpcRequest& request);
    RpcOutcome send(RpcRequest& request);
    RpcOutcome receive(RpcRequest& request);
    RpcOutcome control(RpcRequest& request);
    RpcOutcome change_destination(Socket& socket, const std::string& host, uint16_t port);

    RpcOutcome deny(const std::optional<Uuid>& ta, uint32_t instance, SocketProtocol protocol,
                    const std::string& host, uint16_t port);
    std::shared_ptr<Socket> find(uint32_t instance, uint32_t handle) const;
    WaitSlot wait_slot(uint32_t requested_ms);

    const SocketOptions options_;
    const UniqueFd stopping_;  // an eventfd, readable once cancel_waits() was called
    mutable std::mutex mutex_;
    // TA instance -> handle -> socket; guarded by mutex_.
    std::map<uint32_t, std::map<uint32_t, std::shared_ptr<Socket>>> instances_;
    size_t open_ = 0;           // guarded by mutex_
    uint32_t next_handle_ = 1;  // guarded by mutex_
    std::atomic<uint32_t> waiting_{0};
    std::atomic<uint64_t> denied_{0};
};

}  // namespace teed::supplicant
