#pragma once
// teed's configuration: defaults, then the JSON file, then the command line.
//
//   Config config = TEED_TRY(load_config(argc, argv));

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backends/optee/supplicant/socket_policy.h"
#include "common/log.h"
#include "common/result.h"
#include "daemon/limits.h"

namespace teed {

struct Limits {
    uint64_t max_memref_bytes = defaults::kMaxMemrefBytes;
    uint64_t max_call_memref_bytes = defaults::kMaxCallMemrefBytes;
    uint32_t max_clients = defaults::kMaxClients;
    uint32_t max_sessions_per_client = defaults::kMaxSessionsPerClient;
    uint32_t max_sessions_total = defaults::kMaxSessionsTotal;
    uint32_t max_concurrent_calls_per_client = defaults::kMaxConcurrentCallsPerClient;
    uint32_t max_concurrent_calls_total = defaults::kMaxConcurrentCallsTotal;
    uint64_t max_shm_bytes = defaults::kMaxSharedMemoryBytes;
    uint32_t max_shm_per_client = defaults::kMaxSharedMemoryPerClient;
    uint64_t max_shm_bytes_per_client = defaults::kMaxSharedMemoryBytesPerClient;
    uint64_t max_shm_bytes_total = defaults::kMaxSharedMemoryBytesTotal;
    uint32_t max_channels_per_session = defaults::kMaxChannelsPerSession;
};

// teed as the OP-TEE supplicant (docs/supplicant.md).
struct SupplicantConfig {
    bool enabled = true;              // serve /dev/teeprivN (and the simulated ones)
    uint32_t workers = defaults::kSupplicantWorkers;
    uint64_t shm_bytes = defaults::kSupplicantShmBytes;  // buffers the secure world may hold
    std::string ta_path = "/lib/optee_armtz";             // colon-separated directories
    // Per supplicant device: storage/teepriv0/ (REE FS), rpmb/teepriv0.img (emulated RPMB),
    // dumps/teepriv0/ (TA profiling dumps).
    std::string state_directory = "/var/lib/teed";
    // For hardware devices: "none", "emulated" (a file under the state directory: development
    // only, no rollback protection), or an eMMC RPMB partition such as "/dev/mmcblk0rpmb".
    // Simulated devices always use an emulated one.
    std::string rpmb = "none";
    // Supplicant plugins (docs/supplicant.md, section plugins): the `*.so` files here, owned by
    // root and writable by no one else, are loaded at start. Empty: no plugins.
    std::string plugin_directory = "/usr/lib/teed/plugins";
    // The TAs that may be loaded from the TA path; unset: any. Others are refused
    // (TEEC_ERROR_ACCESS_DENIED to the secure world) with a log line naming the UUID.
    std::optional<std::vector<std::string>> loadable_tas;
    // Which TAs may open which sockets (docs/supplicant.md, section sockets); none: sockets off.
    std::vector<supplicant::SocketRule> ta_sockets;
    // The longest a TA's socket request may wait (connect, send, receive), whatever it asks.
    uint32_t socket_max_wait_ms = defaults::kSocketMaxWaitMs;
};

struct Config {
    std::string config_path = "/etc/teed/teed.conf";
    std::string bus_address;  // empty: the system bus
    uint32_t simulate = 0;    // simulated OP-TEE devices to publish
    bool hardware = true;     // scan for /dev/tee* and /dev/teepriv*
    uint32_t workers = defaults::kWorkers;
    LogLevel log_level = LogLevel::Info;
    Limits limits;
    // Where teed's policy files are (docs/policy.md); empty: the installed policy.d directories.
    std::vector<std::string> policy_directories;
    SupplicantConfig supplicant;
};

enum class CommandLineAction { Run, ShowHelp, ShowVersion, CheckPolicy };

struct CommandLine {
    CommandLineAction action = CommandLineAction::Run;
    Config config;
    // --check-policy: the files and directories to validate; empty means teed's own directories.
    std::vector<std::string> policy_paths;
};

// Reads the command line, and the configuration file it names (or the default one, if present).
// A file that does not parse, an unknown key or a value of the wrong type is InvalidArgument
// naming the file and the key.
Result<CommandLine> load_config(int argc, char** argv);

// Applies a JSON document (the configuration file's content) to `config`.
Result<void> apply_config_json(const std::string& text, const std::string& origin, Config& config);

const char* usage_text();

}  // namespace teed
