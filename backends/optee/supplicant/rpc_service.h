#pragma once
// What serves one RPC command of the secure world (REE FS, TA loading, RPMB, sockets, plugins).
// The supplicant loop decodes and validates the request, calls serve() on a worker thread, and
// sends the answer; services only see requests whose memrefs point into the supplicant's own
// buffers. serve() may run on several workers at once.

#include <cstdint>
#include <string>

#include "backends/kernel/gp.h"
#include "backends/optee/supplicant/rpc_request.h"
#include "common/log.h"

namespace teed::supplicant {

// The answer to the secure world and, when it is not success, why: the loop logs `reason` with
// the command at `level` and counts the request as failed. A success may carry a reason too, when
// the request was carried out but what it met deserves a line (RPMB: the card refused the
// request, which the secure world learns from the frames): logged the same way, counted as served.
struct RpcOutcome {
    uint32_t code = gp::kSuccess;
    std::string reason;
    LogLevel level = LogLevel::Debug;

    static RpcOutcome success() { return {}; }
    // An ordinary negative answer the secure world expects and acts on (a file that does not
    // exist, a buffer to grow): logged at debug level.
    static RpcOutcome answer(uint32_t code, std::string reason) {
        return {code, std::move(reason), LogLevel::Debug};
    }
    // Bad input from the secure world or a file, or a refusal by policy: logged as a warning.
    static RpcOutcome refuse(uint32_t code, std::string reason) {
        return {code, std::move(reason), LogLevel::Warning};
    }
    // A failure of the normal world (disk full, I/O error): logged as a warning.
    static RpcOutcome fail(uint32_t code, std::string reason) {
        return {code, std::move(reason), LogLevel::Warning};
    }
};

class RpcService {
public:
    virtual ~RpcService() = default;
    virtual RpcOutcome serve(RpcRequest& request) = 0;
    // The supplicant is stopping: ends at once every wait serve() is in, and every later one,
    // for services whose requests may wait long (sockets). Any thread.
    virtual void cancel_waits() {}
};

}  // namespace teed::supplicant
