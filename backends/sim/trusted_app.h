#pragma once
// What a simulated Trusted Application sees: the GP TA API's view of a session, with parameters
// already translated by the simulated driver (values as 32-bit a/b, memrefs as pointers into the
// shared memory the client sees).

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "common/uuid.h"

namespace teed::sim {

// Type codes as in the GP TA API (TEE_PARAM_TYPE_*), which equal the UAPI attr types 0-7.
struct TaParam {
    uint32_t type = 0;
    uint32_t a = 0;
    uint32_t b = 0;
    uint8_t* buffer = nullptr;  // memrefs: nullptr for a NULL memref
    size_t size = 0;            // memrefs: capacity in; the TA sets the size out
};
using TaParams = std::array<TaParam, 4>;

// TEE_PARAM_TYPE_* codes, which equal the UAPI attr types.
inline constexpr uint32_t kNone = 0;
inline constexpr uint32_t kValueInput = 1;
inline constexpr uint32_t kValueOutput = 2;
inline constexpr uint32_t kValueInout = 3;
inline constexpr uint32_t kMemrefInput = 5;
inline constexpr uint32_t kMemrefOutput = 6;
inline constexpr uint32_t kMemrefInout = 7;

// Returns true if params have exactly these types (TEE_PARAM_TYPES(t0, t1, t2, t3)).
bool has_types(const TaParams& params, uint32_t t0, uint32_t t1 = 0, uint32_t t2 = 0,
               uint32_t t3 = 0);

struct TaClient {
    uint32_t login = 0;  // TEE_LOGIN_*
    Uuid identity;       // gpd.client.identity, as the kernel computed it
};

// The cancellation flag of the operation in progress (TEE_GetCancellationFlag / TEE_Wait).
class CancelToken {
public:
    virtual ~CancelToken() = default;
    virtual bool cancelled() const = 0;
    // Sleeps up to `duration`; returns false if cancelled first (TEE_Wait's TEE_ERROR_CANCEL).
    virtual bool wait_for(std::chrono::milliseconds duration) const = 0;
};

struct TaResult {
    uint32_t code = 0;
    bool panicked = false;  // TEE_Panic: the session is dead from now on
};

// The result of a call that returns `value` without panicking.
inline TaResult code(uint32_t value) {
    return {.code = value};
}

class TaSession {
public:
    virtual ~TaSession() = default;
    virtual TaResult invoke(uint32_t command, TaParams& params, const CancelToken& cancel) = 0;
};

class TrustedApp {
public:
    virtual ~TrustedApp() = default;
    virtual const Uuid& uuid() const = 0;
    virtual std::string_view name() const = 0;
    // On success returns a session; on failure sets ret_code (origin TRUSTED_APP) and returns null.
    virtual std::unique_ptr<TaSession> open_session(const TaClient& client, TaParams& params,
                                                    const CancelToken& cancel,
                                                    uint32_t& ret_code) = 0;
};

class SupplicantRpc;

class TaInstances;

// hello_world, echo, sleep, panic, whoami, copy, rpmb, secure_storage, plugin, socket, profile
// (docs/simulator.md). TAs that need the normal world send their requests through `supplicant`;
// those that name their instance to it (socket) register it in `instances`. Both must outlive
// the TAs.
std::vector<std::unique_ptr<TrustedApp>> builtin_trusted_apps(SupplicantRpc& supplicant,
                                                              TaInstances& instances);

}  // namespace teed::sim
