#pragma once
// teed client library: GlobalPlatform sessions through the teed daemon (org.teed.Teed1).
//
//   #include <teed/client.h>
//
//   auto client = teed::client::Client::connect_system();
//   auto [session, opened] = client.open_session("8aaaf200-2450-11e4-abe2-0002a5d5c51b");
//   if (!session) {
//       // The TA or the TEE refused: opened.return_code / opened.return_origin say why.
//       return;
//   }
//   auto reply = session->invoke(/*command=*/0, {teed::client::Param::value_inout(42)});
//   if (reply.ok()) use(reply.params[0].a);   // 43
//   session->close();                           // or let the destructor do it
//
// A TA's own failure is a normal Reply with return_code != 0. What the daemon refuses or cannot
// do (no such device, access denied, limits, a vanished daemon) throws teed::client::Error,
// whose name() is the D-Bus error name, e.g. "org.teed.Teed1.Error.NotFound".
//
// Threads: a Client and its Sessions may be used from several threads at once. In particular one
// thread may block in a long Session::invoke() while another calls request_cancellation() on the
// same Session; both calls travel on the Client's one bus connection, which is what the daemon
// requires (only the connection that opened a session may use it). Moving or destroying a Client
// or a Session must not race with other calls on that same object. A Session keeps the bus
// connection alive, so it may outlive the Client that opened it.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace teed::client {

// GlobalPlatform parameter types (TEEC_NONE, TEEC_VALUE_INPUT, ...), as Param::type carries them.
constexpr uint32_t kParamNone = 0x0;
constexpr uint32_t kParamValueInput = 0x1;
constexpr uint32_t kParamValueOutput = 0x2;
constexpr uint32_t kParamValueInout = 0x3;
constexpr uint32_t kParamMemrefTempInput = 0x5;
constexpr uint32_t kParamMemrefTempOutput = 0x6;
constexpr uint32_t kParamMemrefTempInout = 0x7;
constexpr uint32_t kParamMemrefWhole = 0xC;
constexpr uint32_t kParamMemrefPartialInput = 0xD;
constexpr uint32_t kParamMemrefPartialOutput = 0xE;
constexpr uint32_t kParamMemrefPartialInout = 0xF;

// GlobalPlatform login methods (TEEC_LOGIN_*), for OpenOptions::login.
constexpr uint32_t kLoginPublic = 0;
constexpr uint32_t kLoginUser = 1;
constexpr uint32_t kLoginGroup = 2;  // OpenOptions::connection_data is the group id
constexpr uint32_t kLoginApplication = 4;
constexpr uint32_t kLoginUserApplication = 5;
constexpr uint32_t kLoginGroupApplication = 6;

// One GlobalPlatform parameter, as it travels on the bus: (u type, t a, t b, ay data, o shm,
// t offset, t size).
struct Param {
    uint32_t type = kParamNone;
    uint64_t a = 0;
    uint64_t b = 0;
    // Temporary memrefs: the input bytes going out, the output bytes coming back.
    std::vector<uint8_t> data;
    // A registered shared memory object; "/" (or empty) means none.
    std::string shm = "/";
    uint64_t offset = 0;
    // Temporary memrefs: the capacity going out, the size the TA reports coming back (also on
    // TEEC_ERROR_SHORT_BUFFER, where it is the size the TA needs).
    uint64_t size = 0;

    static Param none();
    static Param value_in(uint64_t a, uint64_t b = 0);
    static Param value_out();
    static Param value_inout(uint64_t a, uint64_t b = 0);
    static Param temp_in(std::vector<uint8_t> bytes);  // size = bytes.size()
    static Param temp_out(uint64_t capacity);
    // capacity below bytes.size() is raised to bytes.size().
    static Param temp_inout(std::vector<uint8_t> bytes, uint64_t capacity);

    friend bool operator==(const Param&, const Param&) = default;
};

// The GlobalPlatform outcome of an OpenSession or an Invoke, with the parameters as the TA left
// them.
struct Reply {
    uint32_t return_origin = 0;  // TEEC_ORIGIN_*
    uint32_t return_code = 0;    // TEEC_SUCCESS or TEEC_ERROR_*
    std::vector<Param> params;

    bool ok() const { return return_code == 0; }
};

// A D-Bus error: what the daemon refused or could not do, or a failure to reach it.
class Error : public std::runtime_error {
public:
    Error(std::string name, std::string message);
    // The D-Bus error name, e.g. "org.teed.Teed1.Error.AccessDenied".
    const std::string& name() const { return name_; }
    const std::string& message() const { return message_; }

private:
    std::string name_;
    std::string message_;
};

struct DeviceInfo {
    std::string name;            // "tee0"
    std::string implementation;  // "optee", "amdtee", "tstee", "qtee" or "unknown"
    std::string device_path;     // "/dev/tee0", or "sim:optee" for a simulated device
    std::string object_path;     // "/org/teed/Teed1/devices/tee0"
    uint32_t implementation_id = 0;
    uint32_t implementation_caps = 0;
    std::vector<std::string> capabilities;  // "gp", "reg-mem", ...
    bool simulated = false;
};

struct OpenOptions {
    std::string device;  // empty: teed picks a device that can serve the UUID
    uint32_t login = kLoginPublic;
    uint32_t connection_data = 0;
    std::vector<Param> params;
    std::optional<uint32_t> cancel_id;  // lets request_cancellation() reach this open
    // Calls Session::use_channel() on the new session.
    bool use_channel = false;
};

struct InvokeOptions {
    std::optional<uint32_t> cancel_id;  // lets Session::request_cancellation() reach this invoke
};

struct ClientOptions {
    // Timeout of OpenSession and Invoke: a TA may legitimately run for minutes. Other calls keep
    // the bus library's default (25 s).
    std::chrono::milliseconds long_call_timeout = std::chrono::minutes(10);
};

// What teed knows of the calling connection (Manager.GetClientInfo): its identity as teed
// resolved it, the policy rules that match it, its effective limits and what it uses now; the
// facts behind an AccessDenied or LimitExceeded. A field teed did not send keeps its default
// here, and keys this library does not know are ignored.
struct ClientInfo {
    uint32_t uid = UINT32_MAX;     // UINT32_MAX: not reported
    uint32_t gid = UINT32_MAX;     // the effective (primary) gid; UINT32_MAX when teed cannot tell
    std::vector<uint32_t> groups;  // every group the bus reports, the primary one included
    uint32_t pid = 0;              // 0: not reported
    std::string unit;              // the systemd unit of its cgroup; empty when none
    std::string executable;        // its executable's path; empty when teed cannot read it
    // The UUID teed gives this executable for the APPLICATION logins; the nil UUID when unknown.
    std::string application_identity;
    // Whether the policy enables the APPLICATION logins for anyone.
    bool application_logins = false;
    // The names of the policy rules that match this client, in the policy's order.
    std::vector<std::string> rules;
    // Its effective limits by name, e.g. "max_sessions_per_client" (docs/configuration.md); the
    // global ones ("max_clients", "..._total") are included.
    std::map<std::string, uint64_t> limits;
    // What it holds now: "sessions", "shared_memory", "shared_memory_bytes", "calls_in_flight".
    std::map<std::string, uint64_t> usage;
};

// The outcome of a policy reload (Manager.ReloadPolicy) that teed put in force.
struct PolicyReload {
    uint32_t files = 0;  // policy files read
    uint32_t rules = 0;  // rules now in force
    // Problems that did not stop the reload, each "FILE:LINE: REASON" (e.g. an unknown user).
    std::vector<std::string> warnings;
};

// teed serving the secure world's requests for one OP-TEE (org.teed.Teed1.Supplicant on the
// object of the TEE's client device; docs/dbus/org.teed.Teed1.Supplicant.md). A value teed did
// not send keeps its default here.
struct SupplicantInfo {
    std::string device;       // the client device it serves, e.g. "simtee0"
    std::string device_path;  // the supplicant device: "/dev/teepriv0", or "sim:simteepriv0"
    uint32_t workers = 0;     // requests served at once
    std::vector<std::string> ta_path;  // directories TAs are loaded from, in search order
    std::string storage_directory;     // where this TEE's REE file system lives
    std::string rpmb;  // "none", "emulated:FILE", or the RPMB partition's device path
    struct Counters {
        uint64_t served = 0;     // answered with success
        uint64_t failed = 0;     // answered with an error, or the answer was not delivered
        uint64_t in_flight = 0;  // received, not yet answered
        friend bool operator==(const Counters&, const Counters&) = default;
    };
    // Per command seen so far: "fs", "load-ta", "rpmb", "shm-alloc", ..., "command-N".
    std::map<std::string, Counters> counters;
    uint64_t shared_memory_bytes = 0;    // shared memory the secure world holds now
    uint64_t shared_memory_buffers = 0;  // buffers it holds now
    std::string shared_memory_source;    // how teed makes them: "register" or "allocate"
    uint64_t send_failures = 0;          // answers the kernel did not take since teed started
    uint64_t sockets_open = 0;           // sockets the TAs hold open now
    uint64_t sockets_denied = 0;         // socket requests the policy refused since teed started
};

class Client;
class SharedMemory;

// Registered-memory parameters (MEMREF_WHOLE, MEMREF_PARTIAL_*) naming a SharedMemory.
Param whole(const SharedMemory& memory);
Param partial_in(const SharedMemory& memory, uint64_t offset, uint64_t size);
Param partial_out(const SharedMemory& memory, uint64_t offset, uint64_t size);
Param partial_inout(const SharedMemory& memory, uint64_t offset, uint64_t size);

constexpr uint32_t kMemInput = 0x1;   // TEEC_MEM_INPUT
constexpr uint32_t kMemOutput = 0x2;  // TEEC_MEM_OUTPUT

// Memory shared with the TEE (GlobalPlatform's TEEC_SharedMemory), mapped in this process: the
// TA reads and writes these bytes. Releases itself in its destructor (ignoring errors) unless
// release() was called; move-only.
class SharedMemory {
public:
    SharedMemory(SharedMemory&&) noexcept;
    SharedMemory& operator=(SharedMemory&&) noexcept;
    ~SharedMemory();

    const std::string& path() const;
    uint64_t size() const;
    uint32_t flags() const;
    uint8_t* data();
    // Whether the TEE works on these pages itself (false: teed copies around each call).
    bool zero_copy();
    // SharedMemory.Release: org.teed.Teed1.Error.Busy while a call uses it.
    void release();

private:
    friend class Client;
    struct Impl;
    explicit SharedMemory(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// An open GlobalPlatform session. Closes itself in its destructor (ignoring errors) unless
// close() was called. Moved-from sessions may only be destroyed or assigned to.
class Session {
public:
    Session(Session&&) noexcept;
    Session& operator=(Session&&) noexcept;
    ~Session();

    // The session's object path, e.g. "/org/teed/Teed1/sessions/3f1c...".
    const std::string& path() const;

    // Session.Invoke. Throws Error for D-Bus errors; a TA failure is a Reply with ok() false.
    Reply invoke(uint32_t command, const std::vector<Param>& params = {},
                 const InvokeOptions& options = {});
    // Session.OpenChannel: from now on invoke() sends its calls over a socket bound to this
    // session (the fast path, docs/channel.md) instead of as D-Bus method calls, with the same
    // semantics and errors. Returns false, and invoke() goes on using D-Bus, when teed does not
    // open one (an older teed, or max_channels_per_session). If the channel breaks, the call in
    // progress throws org.freedesktop.DBus.Error.Disconnected (it may or may not have run) and
    // later calls use D-Bus again. Invokes on one channel run one at a time.
    bool use_channel();
    bool using_channel() const;
    // Session.RequestCancellation: cancels the running invoke that named `cancel_id`.
    void request_cancellation(uint32_t cancel_id);
    // Session.Close. The session counts as closed afterwards even if this throws.
    void close();

private:
    friend class Client;
    struct Impl;
    explicit Session(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// One bus connection to teed.
class Client {
public:
    // The system bus; honours DBUS_SYSTEM_BUS_ADDRESS.
    static Client connect_system(const ClientOptions& options = {});
    // A bus at an explicit address, e.g. "unix:path=/tmp/teed-test-bus" (tests, development).
    static Client connect(const std::string& bus_address, const ClientOptions& options = {});

    Client(Client&&) noexcept;
    Client& operator=(Client&&) noexcept;
    ~Client();

    // The devices teed serves, from ObjectManager.GetManagedObjects on /org/teed/Teed1.
    std::vector<DeviceInfo> devices();
    // Manager properties Version and Status.
    std::string daemon_version();
    std::string daemon_status();

    // Manager.OpenSession. A TA/TEE failure (return_code != 0) is not an exception: the result
    // is {nullopt, reply}. D-Bus errors throw Error.
    std::pair<std::optional<Session>, Reply> open_session(const std::string& uuid,
                                                          const OpenOptions& options = {});
    // Manager.CloseSession: the same as Session::close() on the session at `session_path`.
    void close_session(const std::string& session_path);

    // Creates a sealed memfd of `size` bytes, maps it and registers it with teed
    // (Manager.RegisterSharedMemory). `flags`: kMemInput, kMemOutput or both.
    SharedMemory register_shared_memory(uint64_t size, uint32_t flags, const std::string& device = "");
    // Device memory from teed (Manager.AllocateSharedMemory), mapped through the fd it returns.
    SharedMemory allocate_shared_memory(uint64_t size, uint32_t flags, const std::string& device = "");

    // Manager.GetClientInfo: what teed knows of this connection (see ClientInfo).
    ClientInfo client_info();
    // Manager.ReloadPolicy: teed reads its policy files again and puts them in force, as on
    // SIGHUP. Only root and teed's own user may call it (org.teed.Teed1.Error.AccessDenied for
    // others). When a file is invalid the previous policy stays and this throws
    // org.teed.Teed1.Error.InvalidArgument whose message lists each problem as FILE:LINE: REASON.
    PolicyReload reload_policy();

    // teed's supplicant for `device` (a client device's name, e.g. "simtee0"), or for the first
    // device that has one when `device` is empty: its properties, GetCounters and GetStatus.
    // org.teed.Teed1.Error.NotFound when teed serves no such device, the device has no
    // supplicant, or (empty `device`) no device has one. The bus lets members of group "tee" and
    // root read the counters; others get org.freedesktop.DBus.Error.AccessDenied.
    SupplicantInfo supplicant(const std::string& device = "");

    // This connection's unique bus name, e.g. ":1.42".
    std::string unique_name() const;

private:
    struct Impl;
    explicit Client(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace teed::client
