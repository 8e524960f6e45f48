#include "client/teectl_output.h"

#include <string>

#include <gtest/gtest.h>
#include <json/reader.h>

namespace teed::teectl {
namespace {

std::vector<uint8_t> bytes(std::string_view text) { return {text.begin(), text.end()}; }

client::Param returned(uint32_t type, uint64_t size, std::vector<uint8_t> data) {
    client::Param p;
    p.type = type;
    p.size = size;
    p.data = std::move(data);
    return p;
}

client::Reply echo_reply() {
    client::Reply reply;
    reply.return_code = 0;
    reply.return_origin = 4;
    reply.params = {client::Param::value_inout(43),
                    returned(client::kParamMemrefTempOutput, 5, bytes("olleh")),
                    client::Param::temp_in(bytes("hello")), client::Param::none()};
    return reply;
}

Json::Value parse_json(const std::string& text) {
    Json::CharReaderBuilder builder;
    std::unique_ptr<Json::CharReader> reader(builder.newCharReader());
    Json::Value value;
    std::string errors;
    EXPECT_TRUE(reader->parse(text.data(), text.data() + text.size(), &value, &errors)) << errors;
    return value;
}

TEST(AReplyFormatter, PrintsTheResultAndEachOutputParameter) {
    EXPECT_EQ(format_reply(echo_reply()),
              "result: TEEC_SUCCESS (origin TEEC_ORIGIN_TRUSTED_APP)\n"
              "param 0: value a=43 b=0\n"
              "param 1: memref size=5 data=\"olleh\"\n");
}

TEST(AReplyFormatter, NamesUnknownCodesInHex) {
    client::Reply reply;
    reply.return_code = 0xFFFF1234;
    reply.return_origin = 9;
    EXPECT_EQ(format_reply(reply, "open session"), "open session: 0xffff1234 (origin 0x00000009)\n");
    reply.return_code = 0xFFFF0010;
    reply.return_origin = 3;
    EXPECT_EQ(format_reply(reply), "result: TEEC_ERROR_SHORT_BUFFER (origin TEEC_ORIGIN_TEE)\n");
}

// After an error other than SHORT_BUFFER the outputs are undefined: the result line alone.
TEST(AReplyFormatter, PrintsNoOutputsAfterAnErrorOtherThanShortBuffer) {
    client::Reply reply = echo_reply();
    reply.return_code = 0xFFFF0006;  // TEEC_ERROR_BAD_PARAMETERS
    EXPECT_EQ(format_reply(reply),
              "result: TEEC_ERROR_BAD_PARAMETERS (origin TEEC_ORIGIN_TRUSTED_APP)\n");
    EXPECT_EQ(parse_json(json_line(reply_json(reply)))["params"].size(), 0u);

    reply.return_code = 0xFFFF0010;  // TEEC_ERROR_SHORT_BUFFER: the needed sizes are the answer
    EXPECT_EQ(format_reply(reply),
              "result: TEEC_ERROR_SHORT_BUFFER (origin TEEC_ORIGIN_TRUSTED_APP)\n"
              "param 0: value a=43 b=0\n"
              "param 1: memref size=5 data=\"olleh\"\n");
    EXPECT_EQ(parse_json(json_line(reply_json(reply)))["params"].size(), 2u);
}

TEST(AReplyFormatter, ShowsBinaryDataInHexAndAShortBufferWithoutData) {
    client::Reply reply;
    reply.params = {returned(client::kParamMemrefTempInout, 3, {0x00, 0x7F, 0x41}),
                    returned(client::kParamMemrefTempOutput, 128, {})};
    EXPECT_EQ(format_reply(reply),
              "result: TEEC_SUCCESS (origin 0x00000000)\n"
              "param 0: memref size=3 data=hex:007f41\n"
              "param 1: memref size=128\n");
}

TEST(AReplyFormatter, EscapesQuotesAndBackslashesInText) {
    EXPECT_EQ(data_for_people(bytes("say \"hi\" \\o/")), "\"say \\\"hi\\\" \\\\o/\"");
    EXPECT_EQ(data_for_people({}), "\"\"");
    EXPECT_EQ(data_for_people({'a', '\n'}), "hex:610a");
}

TEST(AReplyFormatter, ShowsRegisteredMemoryByObjectPath) {
    client::Reply reply;
    client::Param p;
    p.type = client::kParamMemrefPartialOutput;
    p.shm = "/org/teed/Teed1/shm/1";
    p.offset = 16;
    p.size = 32;
    reply.params = {p};
    EXPECT_NE(format_reply(reply).find("param 0: memref shm=/org/teed/Teed1/shm/1 offset=16 size=32\n"),
              std::string::npos);
}

TEST(AReplyFormatter, ShowsOnlyTypesTheTaMayWrite) {
    EXPECT_TRUE(shows_output(client::kParamValueOutput));
    EXPECT_TRUE(shows_output(client::kParamValueInout));
    EXPECT_TRUE(shows_output(client::kParamMemrefTempOutput));
    EXPECT_TRUE(shows_output(client::kParamMemrefTempInout));
    EXPECT_TRUE(shows_output(client::kParamMemrefWhole));
    EXPECT_TRUE(shows_output(client::kParamMemrefPartialInout));
    EXPECT_FALSE(shows_output(client::kParamNone));
    EXPECT_FALSE(shows_output(client::kParamValueInput));
    EXPECT_FALSE(shows_output(client::kParamMemrefTempInput));
    EXPECT_FALSE(shows_output(client::kParamMemrefPartialInput));
    EXPECT_FALSE(shows_output(0xA));  // not a GP type
}

TEST(AJsonReply, CarriesTheSameFactsAsTheText) {
    auto line = json_line(reply_json(echo_reply()));
    ASSERT_FALSE(line.empty());
    EXPECT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1) << "not one line: " << line;

    auto json = parse_json(line);
    EXPECT_EQ(json["return_code"].asUInt(), 0u);
    EXPECT_EQ(json["return_name"].asString(), "TEEC_SUCCESS");
    EXPECT_EQ(json["return_origin"].asUInt(), 4u);
    EXPECT_EQ(json["return_origin_name"].asString(), "TEEC_ORIGIN_TRUSTED_APP");
    const auto& params = json["params"];
    ASSERT_EQ(params.size(), 2u);
    EXPECT_EQ(params[0]["index"].asUInt(), 0u);
    EXPECT_EQ(params[0]["type"].asString(), "value_inout");
    EXPECT_EQ(params[0]["a"].asUInt64(), 43u);
    EXPECT_EQ(params[0]["b"].asUInt64(), 0u);
    EXPECT_EQ(params[1]["index"].asUInt(), 1u);
    EXPECT_EQ(params[1]["type"].asString(), "memref");
    EXPECT_EQ(params[1]["direction"].asString(), "out");
    EXPECT_EQ(params[1]["size"].asUInt64(), 5u);
    EXPECT_EQ(params[1]["data_hex"].asString(), "6f6c6c6568");
    EXPECT_EQ(params[1]["data_text"].asString(), "olleh");
}

TEST(AJsonReply, KeepsFullSixtyFourBitValuesAndOmitsTextForBinaryData) {
    client::Reply reply;
    reply.params = {client::Param::value_inout(UINT64_MAX, 1ULL << 40),
                    returned(client::kParamMemrefTempOutput, 2, {0xFF, 0x00})};
    auto json = parse_json(json_line(reply_json(reply)));
    EXPECT_EQ(json["params"][0]["a"].asUInt64(), UINT64_MAX);
    EXPECT_EQ(json["params"][0]["b"].asUInt64(), 1ULL << 40);
    EXPECT_EQ(json["params"][1]["data_hex"].asString(), "ff00");
    EXPECT_FALSE(json["params"][1].isMember("data_text"));
}

client::DeviceInfo sim_device() {
    client::DeviceInfo d;
    d.name = "tee0";
    d.implementation = "optee";
    d.device_path = "sim:optee";
    d.object_path = "/org/teed/Teed1/devices/tee0";
    d.implementation_id = 1;
    d.implementation_caps = 3;
    d.capabilities = {"gp", "reg-mem"};
    d.simulated = true;
    return d;
}

TEST(ADeviceList, PrintsAlignedColumns) {
    auto second = sim_device();
    second.name = "tee10";
    second.implementation = "amdtee";
    second.capabilities = {};
    second.simulated = false;
    second.device_path = "/dev/tee10";
    EXPECT_EQ(format_devices({sim_device(), second}),
              "NAME   IMPLEMENTATION  CAPABILITIES  SIMULATED  DEVICE\n"
              "tee0   optee           gp,reg-mem    yes        sim:optee\n"
              "tee10  amdtee          -             no         /dev/tee10\n");
    EXPECT_EQ(format_devices({}), "no TEE devices\n");
}

TEST(ADeviceList, IsAJsonArrayOfDevices) {
    auto json = parse_json(json_line(devices_json({sim_device()})));
    ASSERT_TRUE(json.isArray());
    ASSERT_EQ(json.size(), 1u);
    EXPECT_EQ(json[0]["name"].asString(), "tee0");
    EXPECT_EQ(json[0]["implementation"].asString(), "optee");
    EXPECT_EQ(json[0]["implementation_id"].asUInt(), 1u);
    EXPECT_EQ(json[0]["implementation_caps"].asUInt(), 3u);
    EXPECT_EQ(json[0]["capabilities"][1].asString(), "reg-mem");
    EXPECT_TRUE(json[0]["simulated"].asBool());
    EXPECT_EQ(json[0]["device_path"].asString(), "sim:optee");
    EXPECT_EQ(json[0]["object_path"].asString(), "/org/teed/Teed1/devices/tee0");
    EXPECT_TRUE(parse_json(json_line(devices_json({}))).isArray());
}

TEST(AStatusReport, PrintsVersionAndStatus) {
    EXPECT_EQ(format_status("0.1.0", "1 device (1 simulated)"),
              "version: 0.1.0\nstatus: 1 device (1 simulated)\n");
    auto json = parse_json(json_line(status_json("0.1.0", "ok")));
    EXPECT_EQ(json["version"].asString(), "0.1.0");
    EXPECT_EQ(json["status"].asString(), "ok");
}

client::ClientInfo member_info() {
    client::ClientInfo info;
    info.uid = 1000;
    info.gid = 1000;
    info.groups = {1000, 995};
    info.pid = 4242;
    info.executable = "/usr/bin/teectl";
    info.application_identity = "3c1b3f5e-8b1e-5a43-9c0a-2f4e0d6b7a11";
    info.rules = {"tee-group-sessions"};
    info.limits = {{"max_sessions_per_client", 16}, {"max_clients", 64},
                   {"max_shm_bytes_total", UINT64_MAX}};
    info.usage = {{"sessions", 1}, {"calls_in_flight", 0}};
    return info;
}

TEST(AClientInfoReport, PrintsIdentityRulesThenLimitsAndUsageSortedByName) {
    EXPECT_EQ(format_client_info(member_info()),
              "uid: 1000\n"
              "gid: 1000\n"
              "groups: 1000 995\n"
              "pid: 4242\n"
              "unit: -\n"
              "executable: /usr/bin/teectl\n"
              "application_identity: 3c1b3f5e-8b1e-5a43-9c0a-2f4e0d6b7a11\n"
              "application_logins: no\n"
              "rules: tee-group-sessions\n"
              "limits:\n"
              "  max_clients: 64\n"
              "  max_sessions_per_client: 16\n"
              "  max_shm_bytes_total: 18446744073709551615\n"
              "usage:\n"
              "  calls_in_flight: 0\n"
              "  sessions: 1\n");
}

TEST(AClientInfoReport, ShowsADashForWhatTeedDoesNotKnow) {
    client::ClientInfo info;  // nothing reported
    info.application_logins = true;
    EXPECT_EQ(format_client_info(info),
              "uid: -\ngid: -\ngroups: -\npid: -\nunit: -\nexecutable: -\n"
              "application_identity: -\napplication_logins: yes\nrules: -\nlimits: -\nusage: -\n");
    auto several = member_info();
    several.rules = {"tee-group-sessions", "test-runner"};
    several.unit = "session-2.scope";
    auto text = format_client_info(several);
    EXPECT_NE(text.find("\nrules: tee-group-sessions test-runner\n"), std::string::npos) << text;
    EXPECT_NE(text.find("\nunit: session-2.scope\n"), std::string::npos) << text;
}

TEST(AClientInfoReport, IsAJsonObjectWithTheSameFacts) {
    auto json = parse_json(json_line(client_info_json(member_info())));
    ASSERT_TRUE(json.isObject());
    EXPECT_EQ(json["uid"].asUInt(), 1000u);
    EXPECT_EQ(json["gid"].asUInt(), 1000u);
    ASSERT_EQ(json["groups"].size(), 2u);
    EXPECT_EQ(json["groups"][1].asUInt(), 995u);
    EXPECT_EQ(json["pid"].asUInt(), 4242u);
    EXPECT_EQ(json["unit"].asString(), "") << "JSON keeps teed's empty string";
    EXPECT_EQ(json["executable"].asString(), "/usr/bin/teectl");
    EXPECT_EQ(json["application_identity"].asString(), "3c1b3f5e-8b1e-5a43-9c0a-2f4e0d6b7a11");
    EXPECT_FALSE(json["application_logins"].asBool());
    ASSERT_TRUE(json["rules"].isArray());
    EXPECT_EQ(json["rules"][0].asString(), "tee-group-sessions");
    EXPECT_EQ(json["limits"]["max_sessions_per_client"].asUInt64(), 16u);
    EXPECT_EQ(json["limits"]["max_shm_bytes_total"].asUInt64(), UINT64_MAX);
    EXPECT_EQ(json["usage"]["sessions"].asUInt64(), 1u);
    auto empty = parse_json(json_line(client_info_json({})));
    EXPECT_TRUE(empty["rules"].isArray());
    EXPECT_TRUE(empty["limits"].isObject());
    EXPECT_TRUE(empty["usage"].isObject());
}

TEST(APolicyReloadReport, PrintsTheCountsAndEachWarning) {
    client::PolicyReload reload{2, 3, {"/etc/teed/policy.d/10-x.json:4: unknown user 'ghost'"}};
    EXPECT_EQ(format_policy_reload(reload),
              "policy reloaded: 2 file(s), 3 rule(s)\n"
              "warning: /etc/teed/policy.d/10-x.json:4: unknown user 'ghost'\n");
    EXPECT_EQ(format_policy_reload({1, 1, {}}), "policy reloaded: 1 file(s), 1 rule(s)\n");
    auto json = parse_json(json_line(policy_reload_json(reload)));
    EXPECT_EQ(json["files"].asUInt(), 2u);
    EXPECT_EQ(json["rules"].asUInt(), 3u);
    ASSERT_TRUE(json["warnings"].isArray());
    ASSERT_EQ(json["warnings"].size(), 1u);
    EXPECT_EQ(json["warnings"][0].asString(), reload.warnings[0]);
    EXPECT_TRUE(parse_json(json_line(policy_reload_json({}))).isMember("warnings"));
}

client::SupplicantInfo busy_supplicant() {
    client::SupplicantInfo info;
    info.device = "simtee0";
    info.device_path = "sim:simteepriv0";
    info.workers = 4;
    info.ta_path = {"/usr/lib/optee_armtz", "/lib/optee_armtz"};
    info.storage_directory = "/var/lib/teed/storage/simteepriv0";
    info.rpmb = "emulated:/var/lib/teed/rpmb/simteepriv0.img";
    info.counters = {{"shm-alloc", {4, 0, 0}}, {"fs", {12, 2, 1}}, {"load-ta", {1, 0, 0}}};
    info.shared_memory_bytes = 8192;
    info.shared_memory_buffers = 2;
    info.send_failures = 1;
    info.sockets_open = 3;
    info.sockets_denied = 7;
    info.shared_memory_source = "register";
    return info;
}

TEST(ASupplicantReport, PrintsPathsThenCountersByCommandThenTheStatusLine) {
    EXPECT_EQ(format_supplicant(busy_supplicant()),
              "device: simtee0\n"
              "device_path: sim:simteepriv0\n"
              "workers: 4\n"
              "ta_path: /usr/lib/optee_armtz /lib/optee_armtz\n"
              "storage_directory: /var/lib/teed/storage/simteepriv0\n"
              "rpmb: emulated:/var/lib/teed/rpmb/simteepriv0.img\n"
              "COMMAND    SERVED  FAILED  IN FLIGHT\n"
              "fs         12      2       1\n"
              "load-ta    1       0       0\n"
              "shm-alloc  4       0       0\n"
              "status: the secure world holds 2 shared memory buffer(s), 8192 byte(s) (register); "
              "1 answer(s) not taken by the kernel; 3 TA socket(s) open, 7 refused by policy\n");
}

TEST(ASupplicantReport, SaysWhenNoRequestCameYetAndDashesWhatTeedDidNotReport) {
    EXPECT_EQ(format_supplicant({}),
              "device: -\ndevice_path: -\nworkers: 0\nta_path: -\nstorage_directory: -\nrpmb: -\n"
              "requests: none yet\n"
              "status: the secure world holds 0 shared memory buffer(s), 0 byte(s) (-); "
              "0 answer(s) not taken by the kernel; 0 TA socket(s) open, 0 refused by policy\n");
    auto wide = busy_supplicant();
    wide.counters = {{"command-4294967295", {UINT64_MAX, 0, 0}}};
    auto text = format_supplicant(wide);
    EXPECT_NE(text.find("COMMAND             SERVED                FAILED  IN FLIGHT\n"
                        "command-4294967295  18446744073709551615  0       0\n"),
              std::string::npos)
        << text;
}

TEST(ASupplicantReport, IsAJsonObjectWithTheSameFacts) {
    auto json = parse_json(json_line(supplicant_json(busy_supplicant())));
    ASSERT_TRUE(json.isObject());
    EXPECT_EQ(json["device"].asString(), "simtee0");
    EXPECT_EQ(json["device_path"].asString(), "sim:simteepriv0");
    EXPECT_EQ(json["workers"].asUInt(), 4u);
    ASSERT_TRUE(json["ta_path"].isArray());
    ASSERT_EQ(json["ta_path"].size(), 2u);
    EXPECT_EQ(json["ta_path"][1].asString(), "/lib/optee_armtz");
    EXPECT_EQ(json["storage_directory"].asString(), "/var/lib/teed/storage/simteepriv0");
    EXPECT_EQ(json["rpmb"].asString(), "emulated:/var/lib/teed/rpmb/simteepriv0.img");
    ASSERT_TRUE(json["counters"].isObject());
    EXPECT_EQ(json["counters"].size(), 3u);
    EXPECT_EQ(json["counters"]["fs"]["served"].asUInt64(), 12u);
    EXPECT_EQ(json["counters"]["fs"]["failed"].asUInt64(), 2u);
    EXPECT_EQ(json["counters"]["fs"]["in_flight"].asUInt64(), 1u);
    EXPECT_EQ(json["counters"]["shm-alloc"]["served"].asUInt64(), 4u);
    EXPECT_EQ(json["shared_memory_bytes"].asUInt64(), 8192u);
    EXPECT_EQ(json["shared_memory_buffers"].asUInt64(), 2u);
    EXPECT_EQ(json["shared_memory_source"].asString(), "register");
    EXPECT_EQ(json["send_failures"].asUInt64(), 1u);
    EXPECT_EQ(json["sockets_open"].asUInt64(), 3u);
    EXPECT_EQ(json["sockets_denied"].asUInt64(), 7u);

    auto wide = busy_supplicant();
    wide.shared_memory_bytes = UINT64_MAX;
    EXPECT_EQ(parse_json(json_line(supplicant_json(wide)))["shared_memory_bytes"].asUInt64(),
              UINT64_MAX);
    auto empty = parse_json(json_line(supplicant_json({})));
    EXPECT_TRUE(empty["ta_path"].isArray());
    EXPECT_TRUE(empty["counters"].isObject());
    EXPECT_EQ(empty["rpmb"].asString(), "") << "JSON keeps teed's empty string";
}

TEST(AnErrorReport, NamesTheDbusError) {
    auto json = parse_json(json_line(error_json("org.teed.Teed1.Error.NotFound", "no TA 'x'")));
    EXPECT_EQ(json["error"].asString(), "org.teed.Teed1.Error.NotFound");
    EXPECT_EQ(json["message"].asString(), "no TA 'x'");
}

}  // namespace
}  // namespace teed::teectl
