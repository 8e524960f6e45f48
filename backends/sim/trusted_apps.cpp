// The built-in TAs of the simulated secure world (docs/simulator.md has their contracts). Each
// checks its parameter types exactly, as GP TAs do with TEE_PARAM_TYPES, and answers unknown
// commands with BAD_PARAMETERS, as OP-TEE's examples do.

#include <algorithm>
#include <cstring>
#include <vector>

#include "backends/kernel/gp.h"
#include "backends/sim/rpmb_ta.h"
#include "backends/sim/secure_storage_ta.h"
#include "backends/sim/plugin_ta.h"
#include "backends/sim/profile_ta.h"
#include "backends/sim/socket_ta.h"
#include "backends/sim/trusted_app.h"

namespace teed::sim {

bool has_types(const TaParams& params, uint32_t t0, uint32_t t1, uint32_t t2, uint32_t t3) {
    return params[0].type == t0 && params[1].type == t1 && params[2].type == t2 &&
           params[3].type == t3;
}

namespace {

// A TA with a fixed UUID and name whose sessions take any open-session parameters.
template <typename SessionType>
class SimpleApp : public TrustedApp {
public:
    SimpleApp(const char* uuid, std::string_view name)
        : uuid_(Uuid::parse(uuid).value()), name_(name) {}
    const Uuid& uuid() const override { return uuid_; }
    std::string_view name() const override { return name_; }
    std::unique_ptr<TaSession> open_session(const TaClient& client, TaParams& /*params*/,
                                            const CancelToken& /*cancel*/,
                                            uint32_t& /*ret_code*/) override {
        return std::make_unique<SessionType>(client);
    }

private:
    Uuid uuid_;
    std::string_view name_;
};

// OP-TEE's hello_world example: increments or decrements a value.
class HelloWorldSession : public TaSession {
public:
    explicit HelloWorldSession(const TaClient& /*client*/) {}
    TaResult invoke(uint32_t command, TaParams& params, const CancelToken& /*cancel*/) override {
        if (command > 1 || !has_types(params, kValueInout)) return code(gp::kErrorBadParameters);
        params[0].a = command == 0 ? params[0].a + 1 : params[0].a - 1;
        return code(gp::kSuccess);
    }
};

class HelloWorldApp : public SimpleApp<HelloWorldSession> {
public:
    HelloWorldApp() : SimpleApp("8aaaf200-2450-11e4-abe2-0002a5d5c51b", "hello_world") {}
    std::unique_ptr<TaSession> open_session(const TaClient& client, TaParams& params,
                                            const CancelToken& cancel,
                                            uint32_t& ret_code) override {
        if (!has_types(params, kNone)) {
            ret_code = gp::kErrorBadParameters;
            return nullptr;
        }
        return SimpleApp::open_session(client, params, cancel, ret_code);
    }
};

// Writes its input reversed into its output.
class EchoSession : public TaSession {
public:
    explicit EchoSession(const TaClient& /*client*/) {}
    TaResult invoke(uint32_t command, TaParams& params, const CancelToken& /*cancel*/) override {
        if (command != 0 || !has_types(params, kMemrefInput, kMemrefOutput))
            return code(gp::kErrorBadParameters);
        const TaParam& in = params[0];
        TaParam& out = params[1];
        if (in.buffer == nullptr && in.size != 0) return code(gp::kErrorBadParameters);
        if (out.size < in.size) {
            out.size = in.size;  // tells the client how much room it needs
            return code(gp::kErrorShortBuffer);
        }
        if (out.buffer == nullptr && in.size != 0) return code(gp::kErrorBadParameters);
        // Copied first: input and output may be the same memory.
        std::vector<uint8_t> data(in.buffer, in.buffer + in.size);
        std::reverse_copy(data.begin(), data.end(), out.buffer);
        out.size = in.size;
        return code(gp::kSuccess);
    }
};

// Copies its input into its output with one memmove: a TA whose own cost is one copy of the bytes,
// so that benchmarks of memrefs measure the transport around it (bench/, docs/performance.md).
class CopySession : public TaSession {
public:
    explicit CopySession(const TaClient& /*client*/) {}
    TaResult invoke(uint32_t command, TaParams& params, const CancelToken& /*cancel*/) override {
        // A MEMREF_WHOLE of memory shared both ways reaches the TA as INOUT, so either direction
        // that still reads the input and writes the output is accepted.
        bool reads = params[0].type == kMemrefInput || params[0].type == kMemrefInout;
        bool writes = params[1].type == kMemrefOutput || params[1].type == kMemrefInout;
        bool nothing_else = params[2].type == kNone && params[3].type == kNone;
        if (command != 0 || !reads || !writes || !nothing_else)
            return code(gp::kErrorBadParameters);
        const TaParam& in = params[0];
        TaParam& out = params[1];
        if (in.buffer == nullptr && in.size != 0) return code(gp::kErrorBadParameters);
        if (out.size < in.size) {
            out.size = in.size;  // tells the client how much room it needs
            return code(gp::kErrorShortBuffer);
        }
        if (in.size != 0) {
            if (out.buffer == nullptr) return code(gp::kErrorBadParameters);
            // memmove, not memcpy: both memrefs may name overlapping parts of one shm. For
            // disjoint buffers it runs glibc's memcpy path, so the cost is the same.
            std::memmove(out.buffer, in.buffer, in.size);
        }
        out.size = in.size;
        return code(gp::kSuccess);
    }
};

// Waits params[0].a milliseconds, or until the operation is cancelled.
class SleepSession : public TaSession {
public:
    explicit SleepSession(const TaClient& /*client*/) {}
    // Command 0 sleeps; command 1 sleeps holding a memref in/out (so the client's memory is in
    // use meanwhile), then adds 1 to each of its bytes.
    TaResult invoke(uint32_t command, TaParams& params, const CancelToken& cancel) override {
        bool plain = command == 0 && has_types(params, kValueInput);
        bool with_memory = command == 1 && has_types(params, kValueInput, kMemrefInout);
        if (!plain && !with_memory) return code(gp::kErrorBadParameters);
        if (!cancel.wait_for(std::chrono::milliseconds(params[0].a))) return code(gp::kErrorCancel);
        if (with_memory && params[1].buffer != nullptr)
            for (size_t i = 0; i < params[1].size; ++i) ++params[1].buffer[i];
        return code(gp::kSuccess);
    }
};

// Command 0 panics (TEE_Panic), which kills the session.
class PanicSession : public TaSession {
public:
    explicit PanicSession(const TaClient& /*client*/) {}
    TaResult invoke(uint32_t command, TaParams& /*params*/,
                    const CancelToken& /*cancel*/) override {
        if (command != 0) return code(gp::kErrorBadParameters);
        return {.code = gp::kErrorGeneric, .panicked = true};
    }
};

// Reports the login method and the identity the session was opened with.
class WhoamiSession : public TaSession {
public:
    explicit WhoamiSession(const TaClient& client) : client_(client) {}
    TaResult invoke(uint32_t command, TaParams& params, const CancelToken& /*cancel*/) override {
        if (command != 0 || !has_types(params, kValueOutput, kMemrefOutput))
            return code(gp::kErrorBadParameters);
        params[0].a = client_.login;
        params[0].b = 0;
        TaParam& out = params[1];
        const size_t needed = client_.identity.bytes.size();
        if (out.size < needed) {
            out.size = needed;
            return code(gp::kErrorShortBuffer);
        }
        if (out.buffer == nullptr) return code(gp::kErrorBadParameters);
        std::memcpy(out.buffer, client_.identity.bytes.data(), needed);
        out.size = needed;
        return code(gp::kSuccess);
    }

private:
    const TaClient client_;
};

}  // namespace

std::vector<std::unique_ptr<TrustedApp>> builtin_trusted_apps(SupplicantRpc& supplicant,
                                                              TaInstances& instances) {
    std::vector<std::unique_ptr<TrustedApp>> apps;
    apps.push_back(std::make_unique<HelloWorldApp>());
    apps.push_back(
        std::make_unique<SimpleApp<EchoSession>>("4cbe901c-6d6c-4b1d-8ecd-fa9216ce5fe6", "echo"));
    apps.push_back(
        std::make_unique<SimpleApp<SleepSession>>("ab86ff20-02df-4d53-acee-341029557c38", "sleep"));
    apps.push_back(
        std::make_unique<SimpleApp<PanicSession>>("f71671d9-735f-4dd7-82d2-6f108c84a7e5", "panic"));
    apps.push_back(std::make_unique<SimpleApp<WhoamiSession>>(
        "4839ae89-dd05-41d8-bd50-0e6109a44689", "whoami"));
    apps.push_back(
        std::make_unique<SimpleApp<CopySession>>("82110af0-5dff-4c5b-8e60-94810e550ce9", "copy"));
    apps.push_back(make_rpmb_ta(supplicant));
    apps.push_back(make_secure_storage_ta(supplicant));
    apps.push_back(make_plugin_ta(supplicant));
    apps.push_back(make_socket_ta(supplicant, instances));
    apps.push_back(make_profile_ta(supplicant));
    return apps;
}

}  // namespace teed::sim
