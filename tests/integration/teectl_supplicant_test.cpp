// teectl's supplicant command against the real teed: `teectl supplicant [DEVICE]` shows the
// org.teed.Teed1.Supplicant of a simulated TEE's device object (paths, counters, status), the
// same facts busctl reads from the interface itself; an unknown device, a device without a
// supplicant and a teed without any are NotFound; the bus lets members of group "tee" and root
// read the counters, and refuses everyone else.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <json/writer.h>

#include "tests/integration/harness.h"
#include "tests/integration/teectl_json.h"

namespace teed::test {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr int kExitBusError = 3;
constexpr const char* kSupplicantInterface = "org.teed.Teed1.Supplicant";

std::string device_object(const std::string& device) { return "/org/teed/Teed1/devices/" + device; }

class TeectlSupplicant : public testing::Test {
protected:
    void SetUp() override { TEED_REQUIRE_TEST_USERS(); }
    void TearDown() override {
        if (teed_) {
            EXPECT_TRUE(teed_->running()) << "teed exited:\n" << teed_->log();
        }
    }

    // teed --simulate=N with its state directory in state_, where the test can name it.
    void start_teed(int simulated_devices, std::vector<std::string> extra_args = {}) {
        bus_ = std::make_unique<TestBus>();
        TeedOptions options;
        options.args = {"--simulate=" + std::to_string(simulated_devices), "--no-hardware"};
        options.args.insert(options.args.end(), extra_args.begin(), extra_args.end());
        options.state_directory = state_.path();
        teed_ = std::make_unique<TeedDaemon>(*bus_, options);
    }

    ProcessResult as_member(const std::vector<std::string>& args) {
        return teectl(*bus_, member(), args);
    }

    // What busctl, as root, reads from the interface on `device`'s object (`verb` "get-property"
    // or "call", `name` the property or method): the "data" of busctl's JSON answer.
    Json::Value raw(const std::string& device, const std::string& verb, const std::string& name) {
        auto r = busctl(*bus_, std::nullopt,
                        {"--json=short", verb, "org.teed.Teed1", device_object(device),
                         kSupplicantInterface, name});
        EXPECT_EQ(r.exit_code(), 0) << r.describe();
        return parse_json(r.out)["data"];
    }

    TempDir state_{"teed-supplicant-state-"};
    std::unique_ptr<TestBus> bus_;
    std::unique_ptr<TeedDaemon> teed_;
};

TEST_F(TeectlSupplicant, ShowsAMemberTheSimulatedTeesPathsAndCounters) {
    start_teed(1);
    auto r = as_member({"supplicant"});
    ASSERT_EQ(r.exit_code(), 0) << r.describe();
    EXPECT_THAT(r.out, StartsWith("device: simtee0\n"
                                  "device_path: sim:simteepriv0\n"
                                  "workers: 4\n"));
    EXPECT_THAT(r.out, HasSubstr("\nta_path: "));
    EXPECT_THAT(r.out, HasSubstr("\nstorage_directory: " + state_.path() + "/storage/"));
    EXPECT_THAT(r.out, HasSubstr("\nrpmb: "));
    // A fresh teed: the secure world has asked nothing yet and holds no shared memory.
    EXPECT_THAT(r.out, HasSubstr("\nrequests: none yet\n"
                                 "status: the secure world holds 0 shared memory buffer(s), 0 "
                                 "byte(s) (register); 0 answer(s) not taken by the kernel; 0 TA socket(s) "
                                 "open, 0 refused by policy\n"));
    EXPECT_TRUE(r.err.empty()) << r.err;

    auto named = as_member({"supplicant", "simtee0"});
    ASSERT_EQ(named.exit_code(), 0) << named.describe();
    EXPECT_EQ(named.out, r.out) << "no DEVICE is the first device, simtee0";
}

// The simulator's rpmb TA (docs/simulator.md) reaches the emulated partition through the
// supplicant: each exchange is an RPMB request in a buffer it allocates and frees through it.
constexpr const char* kRpmbTa = "be35c395-ebf5-4b97-9c59-290cc1126b34";
constexpr const char* kRpmbRead = "1";

TEST_F(TeectlSupplicant, CountsTheRequestsOfATaThatUsesRpmb) {
    start_teed(1);
    auto read = as_member({"invoke", kRpmbTa, kRpmbRead, "--value-in", "3", "--out", "256"});
    ASSERT_EQ(read.exit_code(), 0) << read.describe();
    ASSERT_THAT(read.out, StartsWith("result: TEEC_SUCCESS ")) << read.describe();

    auto r = as_member({"--json", "supplicant"});
    ASSERT_EQ(r.exit_code(), 0) << r.describe();
    auto json = parse_json(r.out);
    EXPECT_THAT(json["rpmb"].asString(), StartsWith("emulated:" + state_.path() + "/"));
    const Json::Value& counters = json["counters"];
    for (const char* command : {"rpmb", "shm-alloc", "shm-free"}) {
        ASSERT_TRUE(counters.isMember(command)) << command << " not counted: " << r.out;
        EXPECT_GT(counters[command]["served"].asUInt64(), 0u) << command;
        EXPECT_EQ(counters[command]["failed"].asUInt64(), 0u) << command;
        EXPECT_EQ(counters[command]["in_flight"].asUInt64(), 0u) << command;
    }
    // Every buffer the TA allocated was freed after its exchange.
    EXPECT_EQ(counters["shm-alloc"]["served"], counters["shm-free"]["served"]) << r.out;
    EXPECT_EQ(json["shared_memory_buffers"].asUInt64(), 0u) << r.out;
    EXPECT_EQ(json["shared_memory_bytes"].asUInt64(), 0u) << r.out;
    EXPECT_EQ(json["shared_memory_source"].asString(), "register")
        << "the simulated OP-TEE has TEE_GEN_CAP_REG_MEM: " << r.out;

    // The text shows the same counts, one row per command in the table.
    auto text = as_member({"supplicant", "simtee0"});
    ASSERT_EQ(text.exit_code(), 0) << text.describe();
    EXPECT_THAT(text.out, HasSubstr("\nCOMMAND    SERVED  FAILED  IN FLIGHT\n")) << text.out;
    auto served = [&](const char* command) {
        return std::to_string(counters[command]["served"].asUInt64()) + "  ";
    };
    EXPECT_THAT(text.out, HasSubstr("\nrpmb       " + served("rpmb"))) << text.out;
    EXPECT_THAT(text.out, HasSubstr("\nshm-alloc  " + served("shm-alloc"))) << text.out;
}

TEST_F(TeectlSupplicant, PrintsOneJsonObjectWithWhatTheInterfaceSays) {
    start_teed(2);
    // Something to count on simtee1.
    auto read = as_member({"invoke", kRpmbTa, kRpmbRead, "--device", "simtee1", "--value-in", "0",
                           "--out", "256"});
    ASSERT_EQ(read.exit_code(), 0) << read.describe();
    auto r = as_member({"--json", "supplicant", "simtee1"});
    ASSERT_EQ(r.exit_code(), 0) << r.describe();
    auto json = parse_json(r.out);
    ASSERT_TRUE(json.isObject()) << r.out;
    EXPECT_EQ(json["device"].asString(), "simtee1");
    EXPECT_EQ(json["device_path"].asString(), "sim:simteepriv1");
    EXPECT_THAT(json["storage_directory"].asString(), StartsWith(state_.path() + "/storage/"));

    EXPECT_EQ(json["device_path"], raw("simtee1", "get-property", "DevicePath"));
    EXPECT_EQ(json["workers"].asUInt(), raw("simtee1", "get-property", "Workers").asUInt());
    EXPECT_EQ(json["ta_path"], raw("simtee1", "get-property", "TaPath"));
    EXPECT_EQ(json["storage_directory"], raw("simtee1", "get-property", "StorageDirectory"));
    EXPECT_EQ(json["rpmb"], raw("simtee1", "get-property", "Rpmb"));

    // busctl shows a{s(ttt)} as [{"command": [served, failed, in flight], ...}] and a{sv} as
    // {"key": {"type": "t", "data": N}}.
    Json::Value counters = raw("simtee1", "call", "GetCounters")[0];
    ASSERT_TRUE(json["counters"].isObject()) << r.out;
    EXPECT_TRUE(counters.isMember("rpmb")) << counters;
    EXPECT_EQ(json["counters"].size(), counters.size()) << r.out;
    for (const auto& command : counters.getMemberNames()) {
        const Json::Value& ours = json["counters"][command];
        EXPECT_EQ(ours["served"].asUInt64(), counters[command][0].asUInt64()) << command;
        EXPECT_EQ(ours["failed"].asUInt64(), counters[command][1].asUInt64()) << command;
        EXPECT_EQ(ours["in_flight"].asUInt64(), counters[command][2].asUInt64()) << command;
    }
    Json::Value status = raw("simtee1", "call", "GetStatus")[0];
    for (const char* key : {"shared_memory_bytes", "shared_memory_buffers", "send_failures",
                            "sockets_open", "sockets_denied"}) {
        ASSERT_TRUE(status.isMember(key)) << key << " missing from GetStatus: " << status;
        EXPECT_EQ(json[key].asUInt64(), status[key]["data"].asUInt64()) << key;
    }
    EXPECT_EQ(json["shared_memory_source"].asString(),
              status["shared_memory_source"]["data"].asString());

    auto first = parse_json(as_member({"--json", "supplicant"}).out);
    EXPECT_EQ(first["device"].asString(), "simtee0");
    EXPECT_EQ(first["device_path"].asString(), "sim:simteepriv0");
    EXPECT_TRUE(first["counters"].empty()) << "each TEE counts its own requests";
}

TEST_F(TeectlSupplicant, RefusesAnUnknownDeviceWithNotFound) {
    start_teed(1);
    auto r = as_member({"supplicant", "nosuchdevice"});
    EXPECT_EQ(r.exit_code(), kExitBusError) << r.describe();
    EXPECT_EQ(r.err, "teectl: org.teed.Teed1.Error.NotFound: teed serves no device 'nosuchdevice'\n");
    EXPECT_TRUE(r.out.empty()) << r.out;

    auto json = as_member({"--json", "supplicant", "nosuchdevice"});
    EXPECT_EQ(json.exit_code(), kExitBusError) << json.describe();
    auto error = parse_json(json.out);
    EXPECT_EQ(error["error"].asString(), "org.teed.Teed1.Error.NotFound");
    EXPECT_EQ(error["message"].asString(), "teed serves no device 'nosuchdevice'");
}

TEST_F(TeectlSupplicant, SaysSoWhenTeedServesNoSupplicant) {
    start_teed(1, {"--no-supplicant"});
    auto any = as_member({"supplicant"});
    EXPECT_EQ(any.exit_code(), kExitBusError) << any.describe();
    EXPECT_EQ(any.err, "teectl: org.teed.Teed1.Error.NotFound: teed serves no supplicant device\n");

    auto named = as_member({"supplicant", "simtee0"});
    EXPECT_EQ(named.exit_code(), kExitBusError) << named.describe();
    EXPECT_EQ(named.err, "teectl: org.teed.Teed1.Error.NotFound: device 'simtee0' has no supplicant\n");

    auto devices = as_member({"devices"});
    ASSERT_EQ(devices.exit_code(), 0) << devices.describe();
    EXPECT_THAT(devices.out, HasSubstr("\nsimtee0 ")) << "the device itself is still served";
}

TEST_F(TeectlSupplicant, IsRefusedByTheBusToUsersOutsideGroupTee) {
    start_teed(1);
    auto r = teectl(*bus_, outsider(), {"supplicant"});
    EXPECT_EQ(r.exit_code(), kExitBusError) << r.describe();
    EXPECT_THAT(r.err, StartsWith("teectl: org.freedesktop.DBus.Error.AccessDenied: "));
    EXPECT_TRUE(r.out.empty()) << r.out;

    // The properties stay readable to everyone; the counters are what the bus refuses.
    auto property = busctl(*bus_, outsider(),
                           {"get-property", "org.teed.Teed1", device_object("simtee0"),
                            kSupplicantInterface, "DevicePath"});
    EXPECT_EQ(property.exit_code(), 0) << property.describe();
    EXPECT_THAT(property.out, HasSubstr("sim:simteepriv0"));
    auto counters = dbus_send(*bus_, outsider(),
                              {"--dest=org.teed.Teed1", device_object("simtee0"),
                               std::string(kSupplicantInterface) + ".GetCounters"});
    EXPECT_NE(counters.exit_code(), 0) << counters.describe();
    EXPECT_THAT(counters.err, HasSubstr("org.freedesktop.DBus.Error.AccessDenied"));
}

TEST_F(TeectlSupplicant, WorksForRoot) {
    start_teed(1);
    auto r = teectl(*bus_, std::nullopt, {"supplicant", "simtee0"});
    ASSERT_EQ(r.exit_code(), 0) << r.describe();
    EXPECT_THAT(r.out, StartsWith("device: simtee0\ndevice_path: sim:simteepriv0\n"));
}

}  // namespace
}  // namespace teed::test
