#pragma once
// What teectl prints, as text for people and as JSON for scripts; the same facts in both.
//
//   std::cout << format_reply(reply);               // "result: TEEC_SUCCESS (origin ...)\n..."
//   std::cout << json_line(reply_json(reply));      // {"return_code":0,...}

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <json/value.h>

#include "teed/client.h"

namespace teed::teectl {

// "TEEC_ERROR_SHORT_BUFFER", or "0xffff1234" for a code without a name.
std::string result_name(uint32_t code);
// "TEEC_ORIGIN_TRUSTED_APP", or "0x00000009" for an origin without a name.
std::string origin_name(uint32_t origin);

std::string hex_string(const std::vector<uint8_t>& bytes);
// Whether every byte is printable ASCII, so the bytes read as text.
bool is_printable_text(const std::vector<uint8_t>& bytes);
// `"text"` (with " and \ escaped) when printable, else `hex:0011ff`.
std::string data_for_people(const std::vector<uint8_t>& bytes);

// Whether the TA may have written to a parameter of this type; teectl shows only those.
bool shows_output(uint32_t type);

// "<label>: TEEC_SUCCESS (origin TEEC_ORIGIN_TRUSTED_APP)\n", then one "param N: ..." line per
// output parameter.
std::string format_reply(const client::Reply& reply, std::string_view label = "result");
// {"return_code", "return_name", "return_origin", "return_origin_name", "params": [...]}.
Json::Value reply_json(const client::Reply& reply);

std::string format_devices(const std::vector<client::DeviceInfo>& devices);
Json::Value devices_json(const std::vector<client::DeviceInfo>& devices);

std::string format_status(const std::string& version, const std::string& status);
Json::Value status_json(const std::string& version, const std::string& status);

// "uid: 1000", "groups: 1000 995", "unit: -" (- for what teed does not know), ..., "rules: a b",
// then a "limits:" and a "usage:" block with one indented "name: value" line each, by name.
std::string format_client_info(const client::ClientInfo& info);
// {"uid", "gid", "groups": [...], "pid", "unit", "executable", "application_identity",
//  "application_logins", "rules": [...], "limits": {...}, "usage": {...}}, as teed reported them.
Json::Value client_info_json(const client::ClientInfo& info);

// "policy reloaded: 2 file(s), 3 rule(s)\n", then one "warning: FILE:LINE: REASON" line each.
std::string format_policy_reload(const client::PolicyReload& reload);
// {"files", "rules", "warnings": [...]}
Json::Value policy_reload_json(const client::PolicyReload& reload);

// "device: simtee0", "device_path: ...", "workers: 4", "ta_path: A B", "storage_directory: ...",
// "rpmb: none" (- for what teed did not report), then a table of the counters by command
// (COMMAND, SERVED, FAILED, IN FLIGHT) or "requests: none yet", then one "status:" line with the
// shared memory the secure world holds, the answers the kernel did not take and the TAs' sockets
// (open, refused by policy).
std::string format_supplicant(const client::SupplicantInfo& info);
// {"device", "device_path", "workers", "ta_path": [...], "storage_directory", "rpmb",
//  "counters": {"fs": {"served", "failed", "in_flight"}, ...}, "shared_memory_bytes",
//  "shared_memory_buffers", "send_failures", "sockets_open", "sockets_denied"}, as teed reported
//  them.
Json::Value supplicant_json(const client::SupplicantInfo& info);

// {"error": name, "message": message}
Json::Value error_json(const std::string& name, const std::string& message);

// One line of compact JSON, newline-terminated.
std::string json_line(const Json::Value& value);

}  // namespace teed::teectl
