#pragma once
// A TA that reaches the network through the supplicant, as a TA using the GP TEE Sockets API does
// on OP-TEE (its socket PTA sends OPTEE_RPC_CMD_SOCKET; the layout is in
// backends/optee/supplicant/sockets.h). The client names the destination; teed's socket policy
// decides whether the TA may reach it (docs/simulator.md, "socket"; docs/supplicant.md, section
// sockets).
//
//   apps.push_back(make_socket_ta(rpc, instances));   // in builtin_trusted_apps()
//
// Each session is one TA instance with its own socket table in the supplicant; closing the
// session closes its sockets (CLOSE_ALL), as OP-TEE's socket PTA does.

#include <cstdint>
#include <memory>

namespace teed::sim {

class SupplicantRpc;
class TaInstances;
class TrustedApp;

inline constexpr const char* kSocketTaUuid = "8a420beb-5132-46f7-b0c0-f049917c2317";

// Every command starts with VALUE_INPUT {a = port, b = protocol: 0x65 TCP, 0x66 UDP} and
// MEMREF_INPUT host (an address or a name, without a NUL).
//
// ECHO: + MEMREF_INPUT data, MEMREF_OUTPUT reply. Connects, sends the data, receives until as
// many bytes have come back (one datagram for UDP) and closes. TEEC_ERROR_SHORT_BUFFER with the
// data's size when the reply buffer is smaller.
inline constexpr uint32_t kSocketTaEcho = 0;
// RECEIVE: + VALUE_INPUT {a = timeout ms}, MEMREF_OUTPUT buffer. Connects, receives once within
// the timeout (TEE_ISOCKET_ERROR_TIMEOUT when nothing comes) and closes.
inline constexpr uint32_t kSocketTaReceive = 1;
// OPEN: + VALUE_OUTPUT {a = handle}. Connects and keeps the socket until the session closes.
inline constexpr uint32_t kSocketTaOpen = 2;
// Failures are the supplicant's codes: TEEC_ERROR_ACCESS_DENIED when teed's policy refuses the
// destination, TEE_ISOCKET_ERROR_HOSTNAME, TEE_ISOCKET_ERROR_TIMEOUT, TEEC_ERROR_COMMUNICATION
// (refused, unreachable) and so on.

// How long ECHO waits for each send and receive.
inline constexpr uint32_t kSocketTaEchoTimeoutMs = 5000;

std::unique_ptr<TrustedApp> make_socket_ta(SupplicantRpc& rpc, TaInstances& instances);

}  // namespace teed::sim
