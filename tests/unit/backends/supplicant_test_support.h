#pragma once
// A simulated OP-TEE whose supplicant device teed's Supplicant serves, for tests of the services
// and of the simulated TAs that send requests: the whole path a TA's request takes on hardware
// (secure world -> driver queue -> SUPPL_RECV -> service -> SUPPL_SEND -> secure world).
//
//   ServedTee tee({{supplicant::kCmdFs, ree_fs}});
//   auto session = open_session(tee.client(), kSecureStorage);   // sim_test_support.h
//   ... or send requests as a TA would: tee.rpc().call(...)

#include <memory>

#include "backends/optee/supplicant/supplicant.h"
#include "backends/sim/rpc.h"
#include "backends/sim/sim_device.h"

namespace teed::simtest {

class ServedTee {
public:
    explicit ServedTee(supplicant::Supplicant::Services services,
                       supplicant::SupplicantOptions options = {}, const SimOptions& sim = {})
        : tee_(make_simulated_tee(sim)) {
        options.device_path = tee_.supplicant->path();
        supplicant_ = supplicant::Supplicant::start(tee_.supplicant->open().value(),
                                                    std::move(services), options)
                          .value();
        client_ = tee_.client->open().value();
    }

    Device& client() { return *client_; }
    DeviceNode& client_node() { return *tee_.client; }
    SimDeviceNode& node() { return dynamic_cast<SimDeviceNode&>(*tee_.client); }
    sim::SupplicantRpc& rpc() { return node().secure_world_rpc(); }
    supplicant::Supplicant& supplicant() { return *supplicant_; }
    // Stops teed's supplicant and closes the device, as a daemon exit does.
    void stop_supplicant() { supplicant_.reset(); }
    // Starts a new supplicant on the device, as a restarted daemon does.
    void restart_supplicant(supplicant::Supplicant::Services services,
                            supplicant::SupplicantOptions options = {}) {
        supplicant_.reset();
        options.device_path = tee_.supplicant->path();
        supplicant_ = supplicant::Supplicant::start(tee_.supplicant->open().value(),
                                                    std::move(services), options)
                          .value();
    }

private:
    SimTee tee_;
    // Destroyed in reverse: the client's sessions close while the supplicant still serves, as
    // teed closes them before it stops its supplicants (a TA that ends may need the normal world).
    std::unique_ptr<supplicant::Supplicant> supplicant_;
    std::unique_ptr<Device> client_;
};

}  // namespace teed::simtest
