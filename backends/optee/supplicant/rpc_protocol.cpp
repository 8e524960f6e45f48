#include "backends/optee/supplicant/rpc_protocol.h"

namespace teed::supplicant {

std::string_view command_name(uint32_t command) {
    switch (command) {
        case kCmdLoadTa: return "load-ta";
        case kCmdRpmb: return "rpmb";
        case kCmdFs: return "fs";
        case kCmdShmAlloc: return "shm-alloc";
        case kCmdShmFree: return "shm-free";
        case kCmdGprof: return "gprof";
        case kCmdSocket: return "socket";
        case kCmdFtrace: return "ftrace";
        case kCmdPlugin: return "plugin";
        default: return "unknown";
    }
}

}  // namespace teed::supplicant
