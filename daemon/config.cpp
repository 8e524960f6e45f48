#include "daemon/config.h"

#include <getopt.h>

#include <fstream>
#include <limits>
#include <sstream>

#include <json/json.h>

#include "common/uuid.h"

namespace teed {
namespace {

Result<uint64_t> parse_unsigned(const std::string& text, const std::string& what, uint64_t max) {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
        return Error(ErrorKind::InvalidArgument) << what << ": '" << text << "' is not a number";
    errno = 0;
    unsigned long long value = std::strtoull(text.c_str(), nullptr, 10);
    if (errno == ERANGE || value > max)
        return Error(ErrorKind::InvalidArgument) << what << ": " << text << " is above " << max;
    return static_cast<uint64_t>(value);
}

template <typename T>
Result<void> read_unsigned(const Json::Value& root, const char* key, const std::string& origin,
                           T& ret_value) {
    const Json::Value& v = root[key];
    if (!v.isUInt64() || v.asUInt64() > std::numeric_limits<T>::max())
        return Error(ErrorKind::InvalidArgument)
               << origin << ": '" << key << "' must be a non-negative integer of at most "
               << std::numeric_limits<T>::max();
    ret_value = static_cast<T>(v.asUInt64());
    return {};
}

Result<void> read_directories(const Json::Value& root, const std::string& key,
                              const std::string& origin, std::vector<std::string>& ret_dirs) {
    const Json::Value& v = root[key];
    auto bad = [&] {
        return Error(ErrorKind::InvalidArgument)
               << origin << ": '" << key << "' must be a list of absolute directory paths";
    };
    if (!v.isArray()) return bad();
    std::vector<std::string> dirs;
    for (const Json::Value& entry : v) {
        if (!entry.isString() || entry.asString().empty() || entry.asString()[0] != '/') return bad();
        dirs.push_back(entry.asString());
    }
    ret_dirs = std::move(dirs);
    return {};
}

Result<void> read_bool(const Json::Value& root, const std::string& key, const std::string& origin,
                       bool& ret_value) {
    if (!root[key].isBool())
        return Error(ErrorKind::InvalidArgument) << origin << ": '" << key << "' must be true or false";
    ret_value = root[key].asBool();
    return {};
}

Result<void> read_string(const Json::Value& root, const std::string& key, const std::string& origin,
                         std::string& ret_value) {
    if (!root[key].isString())
        return Error(ErrorKind::InvalidArgument) << origin << ": '" << key << "' must be a string";
    ret_value = root[key].asString();
    return {};
}

Result<void> read_absolute_path(const Json::Value& root, const std::string& key,
                                const std::string& origin, std::string& ret_value) {
    std::string path;
    TEED_TRY(read_string(root, key, origin, path));
    if (path.empty() || path[0] != '/')
        return Error(ErrorKind::InvalidArgument) << origin << ": '" << key << "' must be an absolute path";
    ret_value = std::move(path);
    return {};
}

Result<std::vector<std::string>> read_strings(const Json::Value& v) {
    std::vector<std::string> out;
    if (!v.isArray()) return Error(ErrorKind::InvalidArgument) << "not a list of strings";
    for (const Json::Value& entry : v) {
        if (!entry.isString()) return Error(ErrorKind::InvalidArgument) << "not a list of strings";
        out.push_back(entry.asString());
    }
    return out;
}

// "ta_sockets": [{"ta": UUID or "*", "protocols": ["tcp", "udp"], "destinations": [...]}, ...]
Result<void> read_socket_rules(const Json::Value& v, const std::string& origin,
                               std::vector<supplicant::SocketRule>& ret_rules) {
    auto bad = [&](size_t index, const std::string& why) {
        return Error(ErrorKind::InvalidArgument)
               << origin << ": 'ta_sockets' rule " << index << ": " << why;
    };
    if (!v.isArray()) return Error(ErrorKind::InvalidArgument) << origin << ": 'ta_sockets' must be a list of rules";
    std::vector<supplicant::SocketRule> rules;
    for (Json::ArrayIndex i = 0; i < v.size(); ++i) {
        const Json::Value& entry = v[i];
        if (!entry.isObject()) return bad(i, "not an object");
        for (const std::string& member : entry.getMemberNames()) {
            if (member != "ta" && member != "protocols" && member != "destinations")
                return bad(i, "unknown key '" + member + "' (ta, protocols, destinations)");
        }
        if (!entry["ta"].isString()) return bad(i, "'ta' must be a TA UUID or \"*\"");
        std::vector<std::string> protocols;
        if (entry.isMember("protocols")) {
            auto read = read_strings(entry["protocols"]);
            if (!read) return bad(i, "'protocols': " + read.error().message());
            protocols = std::move(read).value();
        }
        auto destinations = read_strings(entry["destinations"]);
        if (!destinations) return bad(i, "'destinations': " + destinations.error().message());
        auto rule = supplicant::SocketRule::make(entry["ta"].asString(), protocols, *destinations);
        if (!rule) return bad(i, rule.error().message());
        rules.push_back(std::move(rule).value());
    }
    ret_rules = std::move(rules);
    return {};
}

Result<void> apply_key(const Json::Value& root, const std::string& key, const std::string& origin,
                       Config& config) {
    Limits& l = config.limits;
    if (key == "simulate") return read_unsigned(root, "simulate", origin, config.simulate);
    if (key == "workers") return read_unsigned(root, "workers", origin, config.workers);
    if (key == "max_memref_bytes") return read_unsigned(root, "max_memref_bytes", origin, l.max_memref_bytes);
    if (key == "max_call_memref_bytes")
        return read_unsigned(root, "max_call_memref_bytes", origin, l.max_call_memref_bytes);
    if (key == "max_clients") return read_unsigned(root, "max_clients", origin, l.max_clients);
    if (key == "max_sessions_per_client")
        return read_unsigned(root, "max_sessions_per_client", origin, l.max_sessions_per_client);
    if (key == "max_sessions_total")
        return read_unsigned(root, "max_sessions_total", origin, l.max_sessions_total);
    if (key == "max_concurrent_calls_per_client")
        return read_unsigned(root, "max_concurrent_calls_per_client", origin,
                             l.max_concurrent_calls_per_client);
    if (key == "max_shm_bytes") return read_unsigned(root, "max_shm_bytes", origin, l.max_shm_bytes);
    if (key == "max_shm_per_client")
        return read_unsigned(root, "max_shm_per_client", origin, l.max_shm_per_client);
    if (key == "max_shm_bytes_per_client")
        return read_unsigned(root, "max_shm_bytes_per_client", origin, l.max_shm_bytes_per_client);
    if (key == "max_shm_bytes_total")
        return read_unsigned(root, "max_shm_bytes_total", origin, l.max_shm_bytes_total);
    if (key == "max_concurrent_calls_total")
        return read_unsigned(root, "max_concurrent_calls_total", origin, l.max_concurrent_calls_total);
    if (key == "policy_directories") return read_directories(root, key, origin, config.policy_directories);
    if (key == "max_channels_per_session")
        return read_unsigned(root, "max_channels_per_session", origin, l.max_channels_per_session);
    if (key == "supplicant") return read_bool(root, key, origin, config.supplicant.enabled);
    if (key == "supplicant_workers") {
        TEED_TRY(read_unsigned(root, "supplicant_workers", origin, config.supplicant.workers));
        if (config.supplicant.workers == 0)
            return Error(ErrorKind::InvalidArgument) << origin << ": 'supplicant_workers' must be at least 1";
        return {};
    }
    if (key == "supplicant_shm_bytes")
        return read_unsigned(root, "supplicant_shm_bytes", origin, config.supplicant.shm_bytes);
    if (key == "ta_path") return read_string(root, key, origin, config.supplicant.ta_path);
    if (key == "state_directory")
        return read_absolute_path(root, key, origin, config.supplicant.state_directory);
    if (key == "rpmb") {
        TEED_TRY(read_string(root, key, origin, config.supplicant.rpmb));
        const std::string& rpmb = config.supplicant.rpmb;
        if (rpmb != "none" && rpmb != "emulated" && (rpmb.empty() || rpmb[0] != '/'))
            return Error(ErrorKind::InvalidArgument)
                   << origin << ": 'rpmb' must be \"none\", \"emulated\" or a device path";
        return {};
    }
    if (key == "loadable_tas") {
        const Json::Value& v = root[key];
        auto bad = [&] {
            return Error(ErrorKind::InvalidArgument)
                   << origin << ": 'loadable_tas' must be a list of TA UUIDs";
        };
        if (!v.isArray()) return bad();
        std::vector<std::string> uuids;
        for (const Json::Value& entry : v) {
            if (!entry.isString() || !Uuid::parse(entry.asString()).ok()) return bad();
            uuids.push_back(entry.asString());
        }
        config.supplicant.loadable_tas = std::move(uuids);
        return {};
    }
    if (key == "ta_sockets") return read_socket_rules(root[key], origin, config.supplicant.ta_sockets);
    if (key == "socket_max_wait_ms")
        return read_unsigned(root, "socket_max_wait_ms", origin, config.supplicant.socket_max_wait_ms);
    if (key == "plugin_directory") {
        TEED_TRY(read_string(root, key, origin, config.supplicant.plugin_directory));
        const std::string& directory = config.supplicant.plugin_directory;
        if (!directory.empty() && directory[0] != '/')
            return Error(ErrorKind::InvalidArgument)
                   << origin << ": 'plugin_directory' must be an absolute path, or empty for none";
        return {};
    }
    if (key == "hardware") return read_bool(root, key, origin, config.hardware);
    if (key == "log_level") {
        if (!root[key].isString() || !log_level_from_string(root[key].asString(), config.log_level))
            return Error(ErrorKind::InvalidArgument)
                   << origin << ": 'log_level' must be one of error, warning, notice, info, debug";
        return {};
    }
    return Error(ErrorKind::InvalidArgument) << origin << ": unknown key '" << key << "'";
}

Result<void> apply_config_file(const std::string& path, bool must_exist, Config& config) {
    std::ifstream in(path);
    if (!in) {
        if (!must_exist && errno == ENOENT) return {};
        return ErrnoError() << "reading configuration file '" << path << "'";
    }
    std::stringstream text;
    text << in.rdbuf();
    return apply_config_json(text.str(), path, config);
}

enum Option { kSimulate = 1000, kNoHardware, kBusAddress, kConfig, kLogLevel, kWorkers, kCheckPolicy,
              kPolicyDir, kStateDirectory, kTaPath, kNoSupplicant };

}  // namespace

Result<void> apply_config_json(const std::string& text, const std::string& origin, Config& config) {
    Json::CharReaderBuilder builder;
    Json::CharReaderBuilder::strictMode(&builder.settings_);  // no trailing commas, no duplicates
    builder["allowComments"] = true;
    std::unique_ptr<Json::CharReader> reader(builder.newCharReader());
    Json::Value root;
    std::string errors;
    if (!reader->parse(text.data(), text.data() + text.size(), &root, &errors))
        return Error(ErrorKind::InvalidArgument) << origin << ": " << errors;
    if (!root.isObject())
        return Error(ErrorKind::InvalidArgument) << origin << ": the top level must be an object";
    for (const std::string& key : root.getMemberNames()) TEED_TRY(apply_key(root, key, origin, config));
    return {};
}

const char* usage_text() {
    return "Usage: teed [OPTION]...\n"
           "       teed --check-policy [PATH]...\n"
           "The TEE daemon: publishes the kernel's TEE devices as D-Bus objects (org.teed.Teed1).\n\n"
           "  --simulate[=N]        publish N simulated OP-TEE devices (default 1)\n"
           "  --no-hardware         do not look for /dev/tee* devices\n"
           "  --bus-address=ADDR    connect to this bus instead of the system bus\n"
           "  --config=FILE         configuration file (default /etc/teed/teed.conf)\n"
           "  --workers=N           threads that run TEE calls (default 16)\n"
           "  --log-level=LEVEL     error, warning, notice, info or debug\n"
           "  --policy-dir=DIR      read the policy from DIR instead of the installed policy.d\n"
           "                        directories; repeat for more, later ones override earlier\n"
           "  --state-directory=DIR where secure storage and emulated RPMB live\n"
           "                        (default /var/lib/teed)\n"
           "  --ta-path=DIRS        colon-separated directories to load TAs from\n"
           "                        (default /lib/optee_armtz)\n"
           "  --no-supplicant       leave /dev/teeprivN alone (another supplicant serves it)\n"
           "  --check-policy [PATH]...\n"
           "                        validate policy files (files or directories; default the\n"
           "                        installed policy.d directories), print each problem as\n"
           "                        FILE:LINE: REASON and exit 0 if valid, 1 if not\n"
           "  --version             print the version and exit\n"
           "  --help                print this help and exit\n";
}

Result<CommandLine> load_config(int argc, char** argv) {
    static const option kOptions[] = {
        {"simulate", optional_argument, nullptr, kSimulate},
        {"no-hardware", no_argument, nullptr, kNoHardware},
        {"bus-address", required_argument, nullptr, kBusAddress},
        {"config", required_argument, nullptr, kConfig},
        {"log-level", required_argument, nullptr, kLogLevel},
        {"workers", required_argument, nullptr, kWorkers},
        {"check-policy", no_argument, nullptr, kCheckPolicy},
        {"policy-dir", required_argument, nullptr, kPolicyDir},
        {"state-directory", required_argument, nullptr, kStateDirectory},
        {"ta-path", required_argument, nullptr, kTaPath},
        {"no-supplicant", no_argument, nullptr, kNoSupplicant},
        {"version", no_argument, nullptr, 'V'},
        {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0},
    };
    // Options are read twice: first to find the file, then to let the command line win over it.
    CommandLine line;
    bool config_named = false;
    optind = 1;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "hV", kOptions, nullptr)) != -1;) {
        if (c == kConfig) {
            line.config.config_path = optarg;
            config_named = true;
        } else if (c == '?') {
            return Error(ErrorKind::InvalidArgument)
                   << "unknown or incomplete option '" << argv[optind - 1] << "' (see --help)";
        }
    }
    TEED_TRY(apply_config_file(line.config.config_path, config_named, line.config));

    optind = 1;
    bool policy_dirs_named = false;
    for (int c; (c = getopt_long(argc, argv, "hV", kOptions, nullptr)) != -1;) {
        Config& config = line.config;
        switch (c) {
            case 'h': line.action = CommandLineAction::ShowHelp; break;
            case 'V': line.action = CommandLineAction::ShowVersion; break;
            case kCheckPolicy: line.action = CommandLineAction::CheckPolicy; break;
            case kSimulate:
                config.simulate = optarg ? static_cast<uint32_t>(TEED_TRY(parse_unsigned(optarg, "--simulate", 64))) : 1;
                break;
            case kNoHardware: config.hardware = false; break;
            case kPolicyDir:
                if (!policy_dirs_named) config.policy_directories.clear();  // replaces the file's
                policy_dirs_named = true;
                config.policy_directories.push_back(optarg);
                break;
            case kBusAddress: config.bus_address = optarg; break;
            case kStateDirectory:
                if (optarg[0] != '/')
                    return Error(ErrorKind::InvalidArgument) << "--state-directory must be absolute";
                config.supplicant.state_directory = optarg;
                break;
            case kTaPath: config.supplicant.ta_path = optarg; break;
            case kNoSupplicant: config.supplicant.enabled = false; break;
            case kWorkers:
                config.workers = static_cast<uint32_t>(TEED_TRY(parse_unsigned(optarg, "--workers", 1024)));
                if (config.workers == 0)
                    return Error(ErrorKind::InvalidArgument) << "--workers must be at least 1";
                break;
            case kLogLevel:
                if (!log_level_from_string(optarg, config.log_level))
                    return Error(ErrorKind::InvalidArgument)
                           << "--log-level: '" << optarg << "' is not error, warning, notice, info or debug";
                break;
            default: break;
        }
    }
    if (line.action == CommandLineAction::CheckPolicy) {
        line.policy_paths.assign(argv + optind, argv + argc);
        return line;
    }
    if (optind < argc)
        return Error(ErrorKind::InvalidArgument) << "unexpected argument '" << argv[optind] << "'";
    return line;
}

}  // namespace teed
