// teed-rig-client: drives teed's rig TA (tests/real-optee/ta) through teed on a real OP-TEE and
// checks what optee_examples do not exercise: cancellation reaching the TA, 4 MiB temporary
// memrefs, registered shared memory (whole, partial, released) and the client identity the TA
// sees.
//
//   teed-rig-client [--bus-address ADDRESS] [--device NAME] [--check NAME]... [--list]
//
// Prints "rig-client: PASS <check>" or "rig-client: FAIL <check>: <why>" for each check and exits
// 1 if any failed (2 on a usage error). Without --bus-address it uses the system bus.

#include <openssl/evp.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <teed/client.h>

#include "teed_rig_ta.h"

namespace {

using teed::client::Client;
using teed::client::Param;
using teed::client::Reply;
using teed::client::Session;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kTeecSuccess = 0;
constexpr uint32_t kTeecErrorCancel = 0xFFFF0002;
constexpr uint32_t kTeecErrorShortBuffer = 0xFFFF0010;
constexpr uint32_t kTeecOriginApi = 1;
constexpr uint32_t kTeecOriginTee = 3;
constexpr uint32_t kTeecOriginTrustedApp = 4;

// The kernel's namespace for TEE client identities (drivers/tee/tee_core.c).
constexpr uint8_t kClientUuidNamespace[16] = {0x58, 0xac, 0x9c, 0xa0, 0x20, 0x86, 0x46, 0x83,
                                              0xa1, 0xb8, 0xec, 0x4b, 0xc0, 0x8e, 0x01, 0xb6};

using Uuid = std::vector<uint8_t>;

// A check failed: the message says why.
struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

template <typename... Parts>
[[noreturn]] void fail(const Parts&... parts) {
    std::ostringstream out;
    (out << ... << parts);
    throw Failure(out.str());
}

std::string hex32(uint32_t value) {
    char text[16];
    std::snprintf(text, sizeof(text), "0x%08" PRIx32, value);
    return text;
}

std::string outcome(const Reply& reply) {
    return hex32(reply.return_code) + " (origin " + std::to_string(reply.return_origin) + ")";
}

std::string uuid_string(const Uuid& uuid) {
    std::string text;
    for (size_t i = 0; i < uuid.size(); ++i) {
        char byte[4];
        std::snprintf(byte, sizeof(byte), "%02x", uuid[i]);
        text += byte;
        if (i == 3 || i == 5 || i == 7 || i == 9) text += '-';
    }
    return text;
}

// UUIDv5 of `name` in the kernel's client namespace, as tee_session_calc_client_uuid() makes it.
Uuid client_uuid(const std::string& name) {
    EVP_MD_CTX* context = EVP_MD_CTX_new();
    uint8_t hash[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    bool done =
        context && EVP_DigestInit_ex(context, EVP_sha1(), nullptr) == 1 &&
        EVP_DigestUpdate(context, kClientUuidNamespace, sizeof(kClientUuidNamespace)) == 1 &&
        EVP_DigestUpdate(context, name.data(), name.size()) == 1 &&
        EVP_DigestFinal_ex(context, hash, &length) == 1;
    EVP_MD_CTX_free(context);
    if (!done || length < 16) throw std::runtime_error("SHA-1 failed");
    Uuid uuid(hash, hash + 16);
    uuid[6] = (uuid[6] & 0x0f) | 0x50;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    return uuid;
}

Uuid id_uuid(const char* key, unsigned value) {
    char name[32];
    std::snprintf(name, sizeof(name), "%s=%x", key, value);
    return client_uuid(name);
}

// Session::invoke, with what the call was for in front of a D-Bus error.
Reply call(Session& session, const char* what, uint32_t command, const std::vector<Param>& params,
           const teed::client::InvokeOptions& options = {}) {
    try {
        return session.invoke(command, params, options);
    } catch (const teed::client::Error& e) {
        fail(what, ": ", e.name(), ": ", e.message());
    }
}

struct Options {
    std::string bus_address;
    std::string device;
    std::vector<std::string> only;
};

class Rig {
public:
    Rig(Client& client, const Options& options) : client_(client), options_(options) {}

    Session open(uint32_t login = teed::client::kLoginPublic, uint32_t connection_data = 0) {
        auto [session, opened] = client_.open_session(
            TEED_RIG_TA_UUID_STRING,
            {.device = options_.device, .login = login, .connection_data = connection_data});
        if (!session)
            fail("OpenSession of the rig TA (login ", login, "): ", outcome(opened),
                 opened.return_code == 0xFFFF0008 ? ": is " TEED_RIG_TA_UUID_STRING
                                                    ".ta in the TA path?"
                                                  : "");
        return std::move(*session);
    }

    std::string device() const { return options_.device; }
    Client& client() { return client_; }

private:
    Client& client_;
    const Options& options_;
};

// cancel: an invoke of the sleep command ends with TEEC_ERROR_CANCEL soon after
// RequestCancellation, from the TA (not from teed's queue), and the session works afterwards.
void check_cancel(Rig& rig) {
    constexpr uint32_t kCancelId = 7;
    constexpr uint32_t kTaLimitMs = 20000;
    constexpr auto kCancelAfter = std::chrono::milliseconds(500);
    constexpr auto kPromptly = std::chrono::seconds(5);

    Session session = rig.open();
    std::optional<Reply> reply;
    std::exception_ptr error;
    std::atomic<bool> finished{false};
    Clock::time_point ended;
    const auto started = Clock::now();
    std::thread worker([&] {
        try {
            reply = session.invoke(TEED_RIG_CMD_SLEEP,
                                   {Param::value_in(kTaLimitMs, 100), Param::value_out()},
                                   {.cancel_id = kCancelId});
        } catch (...) {
            error = std::current_exception();
        }
        ended = Clock::now();
        finished = true;
    });

    std::this_thread::sleep_for(kCancelAfter);
    const auto requested = Clock::now();
    std::string request_error;
    if (finished) {
        request_error = "the sleep ended before the cancellation was requested";
    } else {
        // NotFound: the call has not reached teed yet; try again for a moment.
        for (;;) {
            try {
                session.request_cancellation(kCancelId);
                break;
            } catch (const teed::client::Error& e) {
                if (e.name() != "org.teed.Teed1.Error.NotFound" || finished ||
                    Clock::now() - requested > std::chrono::seconds(3)) {
                    request_error = "RequestCancellation: " + e.name() + ": " + e.message();
                    break;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
        }
    }
    worker.join();
    auto ms = [](Clock::duration d) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    };

    if (error) std::rethrow_exception(error);
    if (!request_error.empty()) fail(request_error, "; the sleep returned ", outcome(*reply));
    if (reply->return_code != kTeecErrorCancel)
        fail("expected TEEC_ERROR_CANCEL, got ", outcome(*reply), " after ", ms(ended - started),
             " ms");
    if (reply->return_origin == kTeecOriginApi)
        fail("TEEC_ERROR_CANCEL came from teed (origin API), not from the TA");
    if (reply->return_origin != kTeecOriginTrustedApp && reply->return_origin != kTeecOriginTee)
        fail("TEEC_ERROR_CANCEL with origin ", reply->return_origin, ", expected TEE or TA");
    if (ended - requested > kPromptly)
        fail("the call ended ", ms(ended - requested), " ms after the cancellation request");
    if (ended - started < kCancelAfter)
        fail("the call ended after ", ms(ended - started), " ms, before it was cancelled");

    // The cancellation is over: a later call on the session runs to its end.
    auto again = call(session, "a 200 ms sleep after the cancelled call", TEED_RIG_CMD_SLEEP,
                      {Param::value_in(200, 50), Param::value_out()});
    if (again.return_code != kTeecSuccess)
        fail("a 200 ms sleep after the cancelled call returned ", outcome(again));
    if (again.params.size() < 2 || again.params[1].a < 200)
        fail("a 200 ms sleep after the cancelled call slept ",
             again.params.size() < 2 ? 0 : again.params[1].a, " ms");
    std::printf(
        "rig-client: cancel: TEEC_ERROR_CANCEL (origin %u) %lld ms after the request, "
        "%lld ms after the start\n",
        reply->return_origin, static_cast<long long>(ms(ended - requested)),
        static_cast<long long>(ms(ended - started)));
}

// temp-4MiB: 4 MiB in, 4 MiB out as temporary memrefs, every byte transformed by the TA.
void check_temp_4mib(Rig& rig) {
    constexpr uint32_t kSize = 4 * 1024 * 1024;
    constexpr uint32_t kSeed = 0x1234;
    Session session = rig.open();
    std::vector<uint8_t> input(kSize);
    for (uint32_t i = 0; i < kSize; ++i) input[i] = teed_rig_pattern(kSeed, i);
    const uint32_t checksum = teed_rig_checksum(input.data(), kSize);

    auto reply = call(session, "XOR with 4 MiB in and 4 MiB out", TEED_RIG_CMD_XOR,
                      {Param::temp_in(input), Param::temp_out(kSize), Param::value_out()});
    if (!reply.ok()) fail("XOR of 4 MiB: ", outcome(reply));
    if (reply.params.size() < 3) fail("the reply has ", reply.params.size(), " params");
    const Param& out = reply.params[1];
    if (out.size != kSize || out.data.size() != kSize)
        fail("output size ", out.size, " with ", out.data.size(), " bytes, expected ", kSize);
    for (uint32_t i = 0; i < kSize; ++i) {
        const uint8_t expected = input[i] ^ TEED_RIG_XOR_BYTE;
        if (out.data[i] != expected)
            fail("output byte ", i, " is ", unsigned{out.data[i]}, ", expected ",
                 unsigned{expected});
    }
    if (reply.params[2].a != checksum || reply.params[2].b != kSize)
        fail("the TA read checksum ", hex32(static_cast<uint32_t>(reply.params[2].a)), " of ",
             reply.params[2].b, " bytes, expected ", hex32(checksum), " of ", kSize);

    // One byte short: the TA asks for the full size.
    auto short_reply =
        call(session, "XOR with an output one byte short", TEED_RIG_CMD_XOR,
             {Param::temp_in(input), Param::temp_out(kSize - 1), Param::value_out()});
    if (short_reply.return_code != kTeecErrorShortBuffer)
        fail("an output one byte short: expected TEEC_ERROR_SHORT_BUFFER, got ",
             outcome(short_reply));
    if (short_reply.params.size() < 2 || short_reply.params[1].size != kSize)
        fail("TEEC_ERROR_SHORT_BUFFER without the size needed (", kSize, ")");
}

void fill(teed::client::SharedMemory& shm, uint64_t offset, uint64_t size, uint32_t seed) {
    for (uint64_t i = 0; i < size; ++i)
        shm.data()[offset + i] = teed_rig_pattern(seed, static_cast<uint32_t>(i));
}

void expect_pattern(teed::client::SharedMemory& shm, uint64_t offset, uint64_t size, uint32_t seed,
                    const std::string& what) {
    for (uint64_t i = 0; i < size; ++i) {
        const uint8_t expected = teed_rig_pattern(seed, static_cast<uint32_t>(i));
        const uint8_t actual = shm.data()[offset + i];
        if (actual != expected)
            fail(what, ": byte ", i, " (offset ", offset + i, ") is ", unsigned{actual},
                 ", expected ", unsigned{expected});
    }
}

// shm-whole: MEMREF_WHOLE of three registered memfds (input, output, both): the TA reads what
// the client wrote in the input ones and its writes land in the output ones.
void check_shm_whole(Rig& rig) {
    constexpr uint32_t kSeedIn = 0x100;
    constexpr uint32_t kSeedOut = 0x200;
    constexpr uint64_t kInSize = 64 * 1024 + 100;
    constexpr uint64_t kOutSize = 128 * 1024 + 7;
    constexpr uint64_t kInoutSize = 1024 * 1024;
    auto& client = rig.client();
    auto in = client.register_shared_memory(kInSize, teed::client::kMemInput, rig.device());
    auto out = client.register_shared_memory(kOutSize, teed::client::kMemOutput, rig.device());
    auto inout = client.register_shared_memory(
        kInoutSize, teed::client::kMemInput | teed::client::kMemOutput, rig.device());
    fill(in, 0, kInSize, kSeedIn + 1);
    std::memset(out.data(), 0, kOutSize);
    fill(inout, 0, kInoutSize, kSeedIn + 3);

    Session session = rig.open();
    auto reply = call(session, "PATTERN on three whole memfds", TEED_RIG_CMD_PATTERN,
                      {Param::value_inout(kSeedIn, kSeedOut), teed::client::whole(in),
                       teed::client::whole(out), teed::client::whole(inout)});
    if (!reply.ok()) fail("PATTERN: ", outcome(reply));
    if (reply.params.size() < 4) fail("the reply has ", reply.params.size(), " params");
    if (reply.params[0].a != kInSize + kInoutSize || reply.params[0].b != 0)
        fail("the TA checked ", reply.params[0].a, " bytes (expected ", kInSize + kInoutSize,
             ") and found ", reply.params[0].b, " that did not match");
    if (reply.params[2].size != kOutSize || reply.params[3].size != kInoutSize)
        fail("output sizes ", reply.params[2].size, " and ", reply.params[3].size, ", expected ",
             kOutSize, " and ", kInoutSize);
    expect_pattern(in, 0, kInSize, kSeedIn + 1, "the input memfd");
    expect_pattern(out, 0, kOutSize, kSeedOut + 2, "the output memfd");
    expect_pattern(inout, 0, kInoutSize, kSeedOut + 3, "the inout memfd");
    std::printf("rig-client: shm-whole: zero copy %s\n", inout.zero_copy() ? "yes" : "no");
}

// shm-partial: MEMREF_PARTIAL_INPUT, _OUTPUT and _INOUT at unaligned offsets of one registered
// memfd: the TA reads and writes those ranges and nothing else.
void check_shm_partial(Rig& rig) {
    constexpr uint32_t kSeedIn = 0x300;
    constexpr uint32_t kSeedOut = 0x400;
    constexpr uint32_t kSeedBackground = 0x500;
    constexpr uint64_t kSize = 256 * 1024 + 100;
    struct Range {
        uint64_t offset;
        uint64_t size;
    };
    constexpr Range kIn{2 * 4096 + 123, 30000};
    constexpr Range kOut{64 * 1024 + 17, 40000};
    constexpr Range kInout{128 * 1024 + 4095, 50001};

    auto shm = rig.client().register_shared_memory(
        kSize, teed::client::kMemInput | teed::client::kMemOutput, rig.device());
    fill(shm, 0, kSize, kSeedBackground);
    fill(shm, kIn.offset, kIn.size, kSeedIn + 1);
    fill(shm, kInout.offset, kInout.size, kSeedIn + 3);
    std::vector<uint8_t> before(shm.data(), shm.data() + kSize);

    Session session = rig.open();
    auto reply = call(
        session, "PATTERN on three ranges of a memfd", TEED_RIG_CMD_PATTERN,
        {Param::value_inout(kSeedIn, kSeedOut), teed::client::partial_in(shm, kIn.offset, kIn.size),
         teed::client::partial_out(shm, kOut.offset, kOut.size),
         teed::client::partial_inout(shm, kInout.offset, kInout.size)});
    if (!reply.ok()) fail("PATTERN: ", outcome(reply));
    if (reply.params.size() < 4) fail("the reply has ", reply.params.size(), " params");
    if (reply.params[0].a != kIn.size + kInout.size || reply.params[0].b != 0)
        fail("the TA checked ", reply.params[0].a, " bytes (expected ", kIn.size + kInout.size,
             ") and found ", reply.params[0].b, " that did not match");
    if (reply.params[2].size != kOut.size || reply.params[3].size != kInout.size)
        fail("output sizes ", reply.params[2].size, " and ", reply.params[3].size, ", expected ",
             kOut.size, " and ", kInout.size);
    expect_pattern(shm, kOut.offset, kOut.size, kSeedOut + 2, "the PARTIAL_OUTPUT range");
    expect_pattern(shm, kInout.offset, kInout.size, kSeedOut + 3, "the PARTIAL_INOUT range");
    for (uint64_t i = 0; i < kSize; ++i) {
        const bool written = (i >= kOut.offset && i < kOut.offset + kOut.size) ||
                             (i >= kInout.offset && i < kInout.offset + kInout.size);
        if (!written && shm.data()[i] != before[i])
            fail("byte ", i, " outside the output ranges changed from ", unsigned{before[i]},
                 " to ", unsigned{shm.data()[i]});
    }
}

// shm-release: a client releases its registered memory (SharedMemory.Release) after the TA used
// it, and a call naming it afterwards is refused with NotFound.
void check_shm_release(Rig& rig) {
    constexpr uint32_t kSeedIn = 0x600;
    constexpr uint32_t kSeedOut = 0x700;
    constexpr uint64_t kSize = 8192;
    auto shm = rig.client().register_shared_memory(
        kSize, teed::client::kMemInput | teed::client::kMemOutput, rig.device());
    fill(shm, 0, kSize, kSeedIn + 1);
    Session session = rig.open();
    auto reply = call(session, "PATTERN on the memfd", TEED_RIG_CMD_PATTERN,
                      {Param::value_inout(kSeedIn, kSeedOut), teed::client::whole(shm)});
    if (!reply.ok()) fail("PATTERN: ", outcome(reply));
    expect_pattern(shm, 0, kSize, kSeedOut + 1, "the memfd");

    const Param stale = teed::client::whole(shm);
    try {
        shm.release();
    } catch (const teed::client::Error& e) {
        fail("SharedMemory.Release after the call: ", e.name(), ": ", e.message());
    }
    try {
        auto after =
            session.invoke(TEED_RIG_CMD_PATTERN, {Param::value_inout(kSeedIn, kSeedOut), stale});
        fail("a call naming the released memory returned ", outcome(after));
    } catch (const teed::client::Error& e) {
        if (e.name() != "org.teed.Teed1.Error.NotFound")
            fail("a call naming the released memory: ", e.name(), ": ", e.message(),
                 ", expected org.teed.Teed1.Error.NotFound");
    }
}

// What the TA reports as gpd.client.identity for a session opened with `login`.
std::pair<uint32_t, Uuid> identity(Rig& rig, uint32_t login, uint32_t connection_data = 0) {
    Session session = rig.open(login, connection_data);
    auto reply = call(session, "IDENTITY", TEED_RIG_CMD_IDENTITY,
                      {Param::value_out(), Param::temp_out(TEED_RIG_UUID_BYTES)});
    if (!reply.ok()) fail("IDENTITY: ", outcome(reply));
    if (reply.params.size() < 2 || reply.params[1].data.size() != TEED_RIG_UUID_BYTES)
        fail("IDENTITY returned no UUID");
    return {static_cast<uint32_t>(reply.params[0].a), reply.params[1].data};
}

void expect_identity(Rig& rig, uint32_t login, uint32_t connection_data, const Uuid& expected,
                     const std::string& derivation) {
    auto [seen_login, seen_uuid] = identity(rig, login, connection_data);
    if (seen_login != login) fail("the TA sees login type ", seen_login, ", expected ", login);
    if (seen_uuid != expected)
        fail("the TA sees client UUID ", uuid_string(seen_uuid), ", expected ",
             uuid_string(expected), " (", derivation, ")");
    std::printf("rig-client: login %u: %s\n", login, uuid_string(seen_uuid).c_str());
}

// identity-user: a USER login shows the TA login type 1 and the kernel's UUIDv5 of the caller's
// uid, which teed took from the bus.
void check_identity_user(Rig& rig) {
    const uid_t uid = ::geteuid();
    const auto info = rig.client().client_info();
    if (info.uid != uid) fail("teed sees uid ", info.uid, ", this process runs as ", uid);
    char derivation[32];
    std::snprintf(derivation, sizeof(derivation), "uid=%x", static_cast<unsigned>(uid));
    expect_identity(rig, teed::client::kLoginUser, 0, id_uuid("uid", uid), derivation);
}

// identity-public: a PUBLIC login shows the TA login type 0 and the nil UUID.
void check_identity_public(Rig& rig) {
    expect_identity(rig, teed::client::kLoginPublic, 0, Uuid(16, 0), "nil");
}

// identity-group: a GROUP login with the caller's effective gid shows login type 2 and the
// UUIDv5 of that gid.
void check_identity_group(Rig& rig) {
    const gid_t gid = ::getegid();
    char derivation[32];
    std::snprintf(derivation, sizeof(derivation), "gid=%x", static_cast<unsigned>(gid));
    expect_identity(rig, teed::client::kLoginGroup, gid, id_uuid("gid", gid), derivation);
}

struct Check {
    const char* name;
    void (*run)(Rig&);
};

constexpr Check kChecks[] = {
    {"cancel", check_cancel},
    {"temp-4MiB", check_temp_4mib},
    {"shm-whole", check_shm_whole},
    {"shm-partial", check_shm_partial},
    {"shm-release", check_shm_release},
    {"identity-user", check_identity_user},
    {"identity-public", check_identity_public},
    {"identity-group", check_identity_group},
};

void usage(FILE* to) {
    std::fprintf(to,
                 "usage: teed-rig-client [--bus-address ADDRESS] [--device NAME] [--check NAME]... "
                 "[--list]\n"
                 "Runs checks of teed against the rig TA %s on a real OP-TEE.\n",
                 TEED_RIG_TA_UUID_STRING);
}

bool selected(const Options& options, const std::string& name) {
    if (options.only.empty()) return true;
    for (const auto& only : options.only)
        if (only == name) return true;
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "rig-client: %s needs a value\n", arg.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (arg == "--bus-address") {
            options.bus_address = value();
        } else if (arg == "--device") {
            options.device = value();
        } else if (arg == "--check") {
            options.only.push_back(value());
        } else if (arg == "--list") {
            for (const auto& check : kChecks) std::printf("%s\n", check.name);
            return 0;
        } else if (arg == "--help" || arg == "-h") {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    for (const auto& only : options.only) {
        bool known = false;
        for (const auto& check : kChecks) known = known || only == check.name;
        if (!known) {
            std::fprintf(stderr, "rig-client: no check named '%s' (--list)\n", only.c_str());
            return 2;
        }
    }

    std::optional<Client> client;
    try {
        // No rig call takes long; a hung call should fail the check, not the whole run's budget.
        teed::client::ClientOptions client_options{.long_call_timeout = std::chrono::seconds(120)};
        client = options.bus_address.empty() ? Client::connect_system(client_options)
                                             : Client::connect(options.bus_address, client_options);
        std::printf("rig-client: teed %s: %s; TA %s; uid %u\n", client->daemon_version().c_str(),
                    client->daemon_status().c_str(), TEED_RIG_TA_UUID_STRING,
                    static_cast<unsigned>(::geteuid()));
    } catch (const teed::client::Error& e) {
        std::printf("rig-client: FAIL connect: %s: %s\n", e.name().c_str(), e.message().c_str());
        return 1;
    } catch (const std::exception& e) {
        std::printf("rig-client: FAIL connect: %s\n", e.what());
        return 1;
    }
    std::fflush(stdout);

    Rig rig(*client, options);
    int failed = 0;
    int passed = 0;
    for (const auto& check : kChecks) {
        if (!selected(options, check.name)) continue;
        std::string why;
        try {
            check.run(rig);
        } catch (const Failure& e) {
            why = e.what();
        } catch (const teed::client::Error& e) {
            why = e.name() + ": " + e.message();
        } catch (const std::exception& e) {
            why = e.what();
        }
        if (why.empty()) {
            ++passed;
            std::printf("rig-client: PASS %s\n", check.name);
        } else {
            ++failed;
            std::printf("rig-client: FAIL %s: %s\n", check.name, why.c_str());
        }
        std::fflush(stdout);
    }
    std::printf("rig-client: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
