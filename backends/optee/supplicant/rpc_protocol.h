#pragma once
// The OP-TEE RPC protocol between the secure world and its supplicant: the command numbers the
// kernel forwards through TEE_IOC_SUPPL_RECV (optee_os core/include/optee_rpc_cmd.h, equal to
// tee-supplicant's OPTEE_MSG_RPC_CMD_*), and the sub-protocols' opcodes.

#include <cstdint>
#include <string_view>

namespace teed::supplicant {

// Commands (func of a received request).
constexpr uint32_t kCmdLoadTa = 0;
constexpr uint32_t kCmdRpmb = 1;
constexpr uint32_t kCmdFs = 2;
constexpr uint32_t kCmdShmAlloc = 6;
constexpr uint32_t kCmdShmFree = 7;
constexpr uint32_t kCmdGprof = 9;
constexpr uint32_t kCmdSocket = 10;
constexpr uint32_t kCmdFtrace = 11;
constexpr uint32_t kCmdPlugin = 12;

// "load-ta", "fs", ... for logs and the Supplicant interface's counters; "unknown" otherwise.
std::string_view command_name(uint32_t command);

// SHM_ALLOC / SHM_FREE value[0].a: only APPL reaches the supplicant (the kernel serves the rest).
constexpr uint64_t kShmTypeAppl = 0;
constexpr uint64_t kShmTypeKernel = 1;
constexpr uint64_t kShmTypeGlobal = 2;

// REE file system opcodes (value[0].a of kCmdFs).
constexpr uint64_t kFsOpen = 0;
constexpr uint64_t kFsCreate = 1;
constexpr uint64_t kFsClose = 2;
constexpr uint64_t kFsRead = 3;
constexpr uint64_t kFsWrite = 4;
constexpr uint64_t kFsTruncate = 5;
constexpr uint64_t kFsRemove = 6;
constexpr uint64_t kFsRename = 7;
constexpr uint64_t kFsOpendir = 8;
constexpr uint64_t kFsClosedir = 9;
constexpr uint64_t kFsReaddir = 10;

// RPMB request commands (struct rpmb_req.cmd of kCmdRpmb).
constexpr uint16_t kRpmbCmdDataRequest = 0;
constexpr uint16_t kRpmbCmdGetDevInfo = 1;

// Socket opcodes (value[0].a of kCmdSocket).
constexpr uint64_t kSocketOpen = 0;
constexpr uint64_t kSocketClose = 1;
constexpr uint64_t kSocketCloseAll = 2;
constexpr uint64_t kSocketSend = 3;
constexpr uint64_t kSocketRecv = 4;
constexpr uint64_t kSocketIoctl = 5;

// Plugin opcode (value[0].a of kCmdPlugin).
constexpr uint64_t kPluginInvoke = 0;

}  // namespace teed::supplicant
