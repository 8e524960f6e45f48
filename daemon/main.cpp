// teed: the TEE daemon. Publishes the kernel's TEE devices (and simulated ones) on the bus as
// org.teed.Teed1 and serves GlobalPlatform sessions to clients under policy.

#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <systemd/sd-daemon.h>

#include "backends/kernel/discovery.h"
#include "backends/kernel/kernel_device.h"
#include "backends/sim/sim_device.h"
#include "common/build_config.h"
#include "common/log.h"
#include "daemon/config.h"
#include "daemon/device_registry.h"
#include "daemon/event_loop.h"
#include "daemon/manager.h"
#include "daemon/policy_loader.h"
#include "daemon/supplicant_host.h"
#include "daemon/worker_pool.h"
#include "dbus/bus_connection.h"
#include "dbus/service.h"

namespace teed {
namespace {

// A supplicant device teed cannot serve is left to whoever can (tee-supplicant, say): the
// clients' TEE still works for TAs that need no normal-world services.
void serve_supplicant_device(const Config& config, SupplicantHost& supplicants, DeviceNode& node,
                             const std::string& client_device,
                             supplicant::TaInstanceIdentifier identify = {}) {
    if (!config.supplicant.enabled) {
        log_info("found a supplicant device; left alone (supplicant disabled)",
                 {{"TEED_DEVICE", node.path()}});
        return;
    }
    auto served = supplicants.serve(node, client_device, std::move(identify));
    if (served.ok()) return;
    const bool busy = served.error().sys_errno() == EBUSY;
    log_warning(busy ? "another supplicant (tee-supplicant?) holds the supplicant device; TAs that "
                       "need storage, loading from disk or RPMB will fail until it is stopped"
                     : "cannot serve the supplicant device",
                {{"TEED_DEVICE", node.path()}, {"TEED_ERROR", served.error().message()}});
}

std::vector<DiscoveredNode> by_number(std::vector<DiscoveredNode> nodes) {
    std::stable_sort(nodes.begin(), nodes.end(), [](const auto& a, const auto& b) {
        return tee_node_number(a.name) < tee_node_number(b.name);
    });
    return nodes;
}

// The OP-TEE client devices among those added, lowest number first.
std::vector<std::string> optee_clients(const DeviceRegistry& devices,
                                       const std::vector<DiscoveredNode>& nodes) {
    std::vector<std::string> names;
    for (const auto& node : nodes) {
        const PublishedDevice* device = node.privileged ? nullptr : devices.find(node.name);
        if (device != nullptr && device->description.implementation() == "optee")
            names.push_back(node.name);
    }
    return names;
}

// Client devices first: a supplicant device is paired with its OP-TEE client device by rank
// (optee_client_for_supplicant), which needs each client's implementation.
void add_hardware_devices(const Config& config, DeviceRegistry& devices,
                          SupplicantHost& supplicants) {
    auto found = discover_tee_nodes();
    if (!found.ok()) {
        log_warning("looking for TEE devices failed, ignoring", {{"TEED_ERROR", found.error().message()}});
        return;
    }
    const std::vector<DiscoveredNode> nodes = by_number(std::move(found).value());
    for (const auto& node : nodes) {
        if (node.privileged) continue;
        auto added = devices.add(make_kernel_node(node.name, node.path));
        if (!added.ok())
            log_warning("cannot use TEE device, ignoring",
                        {{"TEED_DEVICE", node.path}, {"TEED_ERROR", added.error().message()}});
        else
            log_info("found TEE device", {{"TEED_DEVICE", node.path},
                                          {"TEED_FOUND_BY", std::string(to_string(node.found_by))}});
    }
    const std::vector<std::string> clients = optee_clients(devices, nodes);
    size_t rank = 0;
    for (const auto& node : nodes) {
        if (!node.privileged) continue;
        const std::string client = optee_client_for_supplicant(rank++, clients);
        log_info("found TEE supplicant device",
                 {{"TEED_DEVICE", node.path},
                  {"TEED_FOUND_BY", std::string(to_string(node.found_by))},
                  {"TEED_CLIENT_DEVICE", client.empty() ? "none" : client}});
        auto kernel_node = make_kernel_node(node.name, node.path);
        serve_supplicant_device(config, supplicants, *kernel_node, client);
        devices.add_supplicant_node(std::move(kernel_node));
    }
}

Result<void> add_devices(const Config& config, DeviceRegistry& devices, SupplicantHost& supplicants) {
    if (config.hardware) add_hardware_devices(config, devices, supplicants);
    for (uint32_t i = 0; i < config.simulate; ++i) {
        SimOptions options;
        options.name = "simtee" + std::to_string(i);
        options.supplicant_name = "simteepriv" + std::to_string(i);
        SimTee tee = make_simulated_tee(options);
        TEED_TRY(devices.add(std::move(tee.client)));
        // The simulator says which TA a socket request comes from; the node outlives the
        // supplicants (the registry is destroyed after them).
        auto& node = dynamic_cast<SimDeviceNode&>(*tee.supplicant);
        serve_supplicant_device(config, supplicants, node, client_device_for(node.name()),
                                [&node](uint32_t instance) { return node.ta_of_instance(instance); });
        devices.add_supplicant_node(std::move(tee.supplicant));
    }
    return {};
}

// teed --check-policy: the daemon's own loader, offline. Exit 0 when valid, 1 when not.
int check_policy(std::vector<std::string> paths) {
    bool named = !paths.empty();
    if (!named) paths = default_policy_directories();
    LoadedPolicy loaded = load_policy(paths, named ? MissingPath::IsError : MissingPath::Ignore);
    const PolicyLoadReport& report = loaded.report;
    for (const auto& e : report.errors) fprintf(stderr, "%s\n", e.to_string().c_str());
    for (const auto& w : report.warnings) fprintf(stderr, "%s (warning)\n", w.to_string().c_str());
    if (!report.ok()) {
        printf("policy not valid: %zu error(s), %zu warning(s)\n", report.errors.size(),
               report.warnings.size());
        return 1;
    }
    printf("policy valid: %zu file(s), %zu rule(s), %zu warning(s)\n", report.files.size(),
           report.rules, report.warnings.size());
    return 0;
}

Result<int> run(const Config& config) {
    auto started = std::chrono::steady_clock::now();
    auto loop = TEED_TRY(EventLoop::create());
    // Signals first: threads created later inherit the blocked mask.
    TEED_TRY(loop->on_signal(SIGTERM, [&loop] { loop->exit(EXIT_SUCCESS); }));
    TEED_TRY(loop->on_signal(SIGINT, [&loop] { loop->exit(EXIT_SUCCESS); }));
    // The policy in force from the start: a client is never served before it is loaded.
    PolicyStore policy(config.policy_directories.empty() ? default_policy_directories()
                                                         : config.policy_directories);
    log_policy_report(policy.reload());
    Manager* reloader = nullptr;  // set once the manager exists; SIGHUP waits in the loop until then
    TEED_TRY(loop->on_signal(SIGHUP, [&reloader] {
        log_info("SIGHUP received: reloading the policy");
        if (reloader != nullptr) reloader->reload_policy([](const PolicyLoadReport&) {});
    }));
    signal(SIGPIPE, SIG_IGN);
    // A file grown past RLIMIT_FSIZE is a full disk to the secure world (EFBIG), not a reason
    // to die.
    signal(SIGXFSZ, SIG_IGN);

    DeviceRegistry devices;
    // Before the devices' clients can call: a TA that needs the normal world never waits for it.
    auto supplicants = std::make_unique<SupplicantHost>(config.supplicant);
    TEED_TRY(add_devices(config, devices, *supplicants));
    auto bus = TEED_TRY(BusConnection::open(config.bus_address));
    auto workers = std::make_unique<WorkerPool>(config.workers);
    auto manager = std::make_unique<Manager>(config, devices, *loop, *workers, *bus, policy);
    reloader = manager.get();
    auto service = std::make_unique<DbusService>(*bus, *manager, devices, *supplicants, config, *loop);
    TEED_TRY(bus->attach(*loop));
    TEED_TRY(loop->enable_watchdog());
    TEED_TRY(service->request_name());

    auto ready_ms = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - started).count() / 1000.0;
    std::string status = devices.status();
    if (size_t found = devices.supplicant_node_count(); found > 0) {
        size_t served = supplicants->served().size();
        status += "; serving " + std::to_string(served) + " of " + std::to_string(found) +
                  " supplicant device(s)";
    }
    sd_notifyf(0, "READY=1\nSTATUS=%s", status.c_str());
    log_info("teed ready", {{"TEED_STATUS", status}, {"TEED_READY_MS", std::to_string(ready_ms)}});

    int code = TEED_TRY(loop->run());

    sd_notify(0, "STOPPING=1\nSTATUS=stopping");
    log_info("teed stopping");
    service.reset();
    workers.reset();          // finishes running calls; their replies are dropped below
    loop->discard_posted();
    reloader = nullptr;
    manager.reset();          // closes the sessions: a TA that ends may need the normal world
    supplicants.reset();      // after the calls and the sessions, for the same reason
    bus.reset();
    return code;
}

}  // namespace
}  // namespace teed

namespace {

// glibc serves a large block from its own mapping, but each time such a block is freed it raises
// the threshold to that block's size (up to 32 MiB), after which large blocks come from the heap
// and arenas and are not returned: after bursts of 12 MiB calls teed kept 282 MB with no client
// left. Fixed thresholds turn that off. Blocks from 4 MiB up (the memrefs of large calls) get
// mappings of their own, unmapped when freed; smaller ones stay in the heap, where the next call
// reuses them: at 256 KiB every 1 MiB call paid for fresh pages, and its copying path lost a
// quarter of its speed (bench/invoke_bench, BM_Teed_TempMemref/1048576). The heap's top is given
// back past 32 MiB.
void give_large_buffers_back_when_freed() {
    mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 32 * 1024 * 1024);
}

}  // namespace

int main(int argc, char** argv) {
    using namespace teed;
    give_large_buffers_back_when_freed();
    set_log_to_journal(!isatty(STDERR_FILENO) && getenv("JOURNAL_STREAM") != nullptr);
    auto line = load_config(argc, argv);
    if (!line.ok()) {
        fprintf(stderr, "teed: %s\n", line.error().message().c_str());
        return 2;
    }
    if (line->action == CommandLineAction::ShowHelp) {
        fputs(usage_text(), stdout);
        return 0;
    }
    if (line->action == CommandLineAction::ShowVersion) {
        printf("teed %s\n", TEED_VERSION);
        return 0;
    }
    if (line->action == CommandLineAction::CheckPolicy) return check_policy(line->policy_paths);
    set_log_level(line->config.log_level);
    auto code = run(line->config);
    if (!code.ok()) {
        log_error("teed failed", {{"TEED_ERROR", code.error().message()}});
        sd_notifyf(0, "STATUS=failed: %s", code.error().message().c_str());
        return 1;
    }
    return code.value();
}
