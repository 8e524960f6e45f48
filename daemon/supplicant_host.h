#pragma once
// The supplicant devices teed serves (docs/supplicant.md): for each OP-TEE /dev/teeprivN (and
// each simulated one) a Supplicant with its services, configured from SupplicantConfig.
//
//   SupplicantHost host(config.supplicant);
//   TEED_TRY(host.serve(*node, "tee0"));   // EBUSY: another supplicant holds the device

#include <memory>
#include <string>
#include <vector>

#include "backends/kernel/device.h"
#include "backends/optee/supplicant/plugins.h"
#include "backends/optee/supplicant/sockets.h"
#include "backends/optee/supplicant/supplicant.h"
#include "daemon/config.h"

namespace teed {

// What one served device uses, as the Supplicant interface reports it.
struct SupplicantPaths {
    std::vector<std::string> ta_path;
    std::string storage_directory;
    std::string rpmb;  // "none", "emulated:FILE" or a device path
};

struct ServedSupplicant {
    std::string client_device;  // the client node of the same TEE: "tee0", "simtee0"
    std::string device_path;    // "/dev/teepriv0", "sim:simteepriv0"
    SupplicantPaths paths;
    std::shared_ptr<supplicant::SocketService> sockets;  // the TAs' sockets, for the status
    std::unique_ptr<supplicant::Supplicant> supplicant;
};

class SupplicantHost {
public:
    explicit SupplicantHost(const SupplicantConfig& config) : config_(config) {}

    // Opens `node` and serves it. `client_device` names the TEE's client node, whose D-Bus
    // object carries the Supplicant interface. `identify` tells which TA a socket request's
    // instance id belongs to, where the TEE can tell (the simulator); empty on hardware.
    Result<void> serve(DeviceNode& node, const std::string& client_device,
                       supplicant::TaInstanceIdentifier identify = {});
    const std::vector<std::unique_ptr<ServedSupplicant>>& served() const { return served_; }

private:
    Result<supplicant::Supplicant::Services> make_services(const DeviceNode& node,
                                                           ServedSupplicant& ret_served,
                                                           supplicant::TaInstanceIdentifier identify);

    // Loaded once, on the first device, and shared by all: a plugin is one library in teed's
    // process, whichever TEE calls it.
    std::shared_ptr<supplicant::PluginService> plugins();

    const SupplicantConfig config_;
    std::vector<std::unique_ptr<ServedSupplicant>> served_;
    bool plugins_loaded_ = false;
    std::shared_ptr<supplicant::PluginService> plugins_;  // null: none loaded
};

// "simteepriv3" -> "simtee3": the simulator names a TEE's two devices with the same number.
std::string client_device_for(const std::string& supplicant_device);

// The kernel's client device of its `rank`-th supplicant device (0 for the lowest numbered), or
// "" when there is none. The OP-TEE driver registers each OP-TEE's client and supplicant devices
// together but numbers them apart (tee_device_alloc keeps one range per kind), so the numbers
// need not match: with two Trusted Services partitions probed first, OP-TEE is tee2 and
// teepriv0. Only OP-TEE has supplicant devices, so the k-th supplicant device belongs to the k-th
// OP-TEE client device; `optee_clients` are those, lowest number first.
std::string optee_client_for_supplicant(size_t rank, const std::vector<std::string>& optee_clients);

// 3 for "tee3" and "teepriv3": for ordering devices by number ("tee10" after "tee9").
uint32_t tee_node_number(const std::string& name);

}  // namespace teed
