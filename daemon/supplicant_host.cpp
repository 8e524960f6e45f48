#include "daemon/supplicant_host.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <set>

#include "backends/optee/supplicant/profile_dump.h"
#include "backends/optee/supplicant/ree_fs.h"
#include "backends/optee/supplicant/rpc_protocol.h"
#include "backends/optee/supplicant/rpmb.h"
#include "backends/optee/supplicant/ta_loader.h"
#include "common/log.h"

namespace teed {
namespace {

// Where teed keeps state only it may read (the emulated RPMB file holds the device key).
Result<void> make_private_directory(const std::string& path) {
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
        return ErrnoError() << "create directory '" << path << "'";
    return {};
}

}  // namespace

std::string client_device_for(const std::string& supplicant_device) {
    const std::string priv = "priv";
    auto at = supplicant_device.find(priv);
    if (at == std::string::npos) return supplicant_device;
    return supplicant_device.substr(0, at) + supplicant_device.substr(at + priv.size());
}

std::string optee_client_for_supplicant(size_t rank, const std::vector<std::string>& optee_clients) {
    return rank < optee_clients.size() ? optee_clients[rank] : "";
}

uint32_t tee_node_number(const std::string& name) {
    size_t digits = name.find_first_of("0123456789");
    if (digits == std::string::npos) return 0;
    return static_cast<uint32_t>(std::strtoul(name.c_str() + digits, nullptr, 10));
}

namespace {

// The bytes each device's profiling dumps may hold together.
constexpr uint64_t kDumpBytes = 64ull << 20;

}  // namespace

std::shared_ptr<supplicant::PluginService> SupplicantHost::plugins() {
    if (plugins_loaded_ || config_.plugin_directory.empty()) return plugins_;
    plugins_loaded_ = true;
    auto loaded = supplicant::PluginService::load(config_.plugin_directory);
    if (!loaded) {
        // The devices are still served; a TA calling a plugin gets TEEC_ERROR_NOT_SUPPORTED.
        log_warning("supplicant plugins not loaded",
                    {{"TEED_PLUGIN_DIRECTORY", config_.plugin_directory},
                     {"TEED_REASON", loaded.error().message()}});
        return nullptr;
    }
    plugins_ = std::move(loaded).value();
    return plugins_;
}

Result<supplicant::Supplicant::Services> SupplicantHost::make_services(
    const DeviceNode& node, ServedSupplicant& ret_served, supplicant::TaInstanceIdentifier identify) {
    using namespace supplicant;
    Supplicant::Services services;
    SupplicantPaths& ret_paths = ret_served.paths;

    ret_paths.ta_path = parse_ta_path(config_.ta_path);
    TaLoaderOptions loading{.ta_path = ret_paths.ta_path};
    if (config_.loadable_tas) {
        std::set<Uuid> allowed;
        for (const auto& text : *config_.loadable_tas) allowed.insert(Uuid::parse(text).value());
        loading.may_load = [allowed = std::move(allowed)](const Uuid& uuid) {
            return allowed.contains(uuid);
        };
    }
    services[kCmdLoadTa] = std::make_shared<TaLoader>(std::move(loading));

    ret_paths.storage_directory = config_.state_directory + "/storage/" + node.name();
    services[kCmdFs] = TEED_TRY(ReeFs::open({.root = ret_paths.storage_directory}));

    // Simulated TEEs always get an emulated partition (their rpmb TA needs one); hardware gets
    // what `rpmb` configures.
    const std::string rpmb = node.path().starts_with("sim:") ? "emulated" : config_.rpmb;
    ret_paths.rpmb = rpmb;
    if (rpmb == "emulated") {
        const std::string directory = config_.state_directory + "/rpmb";
        TEED_TRY(make_private_directory(config_.state_directory));
        TEED_TRY(make_private_directory(directory));
        const std::string file = directory + "/" + node.name() + ".img";
        services[kCmdRpmb] = std::make_shared<RpmbService>(TEED_TRY(open_emulated_rpmb(file, {})));
        ret_paths.rpmb = "emulated:" + file;
    } else if (rpmb != "none") {
        services[kCmdRpmb] = std::make_shared<RpmbService>(TEED_TRY(open_mmc_rpmb(rpmb)));
    }

    std::shared_ptr<ProfileDumps> dumps = TEED_TRY(ProfileDumps::open(
        {.directory = config_.state_directory + "/dumps/" + node.name(), .max_bytes = kDumpBytes}));
    services[kCmdGprof] = dumps;  // one instance: both kinds share the bound
    services[kCmdFtrace] = dumps;

    if (auto loaded = plugins()) services[kCmdPlugin] = loaded;

    // Always served, so that every refused socket is answered ACCESS_DENIED and logged.
    SocketPolicy policy(config_.ta_sockets);
    if (!identify && policy.names_tas())
        log_warning("socket rules naming a TA cannot apply to this device: OP-TEE's socket "
                    "requests name a TA instance, not the TA; only rules with \"ta\": \"*\" do",
                    {{"TEED_DEVICE", node.path()}});
    ret_served.sockets = std::make_shared<SocketService>(SocketOptions{
        .policy = std::move(policy),
        .identify = std::move(identify),
        .max_wait = std::chrono::milliseconds(config_.socket_max_wait_ms),
        // One worker always stays free of socket waits for storage and TA loading.
        .max_waiting = config_.workers > 1 ? config_.workers - 1 : 0,
    });
    services[kCmdSocket] = ret_served.sockets;
    return services;
}

Result<void> SupplicantHost::serve(DeviceNode& node, const std::string& client_device,
                                   supplicant::TaInstanceIdentifier identify) {
    auto served = std::make_unique<ServedSupplicant>();
    served->client_device = client_device;
    served->device_path = node.path();
    auto services = TEED_TRY(make_services(node, *served, std::move(identify)));
    auto device = TEED_TRY(node.open());
    served->supplicant = TEED_TRY(supplicant::Supplicant::start(
        std::move(device), std::move(services),
        {.device_path = node.path(), .workers = config_.workers, .shm_bytes = config_.shm_bytes}));
    log_info("serving the secure world's requests",
             {{"TEED_DEVICE", node.path()},
              {"TEED_STORAGE_DIRECTORY", served->paths.storage_directory},
              {"TEED_RPMB", served->paths.rpmb}});
    served_.push_back(std::move(served));
    return {};
}

}  // namespace teed
