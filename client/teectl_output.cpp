#include "client/teectl_output.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <sstream>

#include <json/writer.h>

#include "backends/kernel/gp.h"

namespace teed::teectl {

namespace {

std::string hex32(uint32_t value) {
    char text[11];
    std::snprintf(text, sizeof(text), "0x%08x", value);
    return text;
}

const char* direction(uint32_t type) {
    if (type == client::kParamMemrefWhole) return "whole";
    if (gp::is_input(type) && gp::is_output(type)) return "inout";
    return gp::is_output(type) ? "out" : "in";
}

std::string format_param(size_t index, const client::Param& p) {
    std::ostringstream line;
    line << "param " << index << ": ";
    if (gp::is_value(p.type)) {
        line << "value a=" << p.a << " b=" << p.b;
    } else if (gp::is_registered_memref(p.type)) {
        line << "memref shm=" << p.shm << " offset=" << p.offset << " size=" << p.size;
    } else {
        line << "memref size=" << p.size;
        if (!p.data.empty()) line << " data=" << data_for_people(p.data);
    }
    line << '\n';
    return line.str();
}

Json::Value param_json(size_t index, const client::Param& p) {
    Json::Value out(Json::objectValue);
    out["index"] = Json::UInt64(index);
    if (gp::is_value(p.type)) {
        out["type"] = gp::is_input(p.type) ? "value_inout" : "value_out";
        out["a"] = Json::UInt64(p.a);
        out["b"] = Json::UInt64(p.b);
        return out;
    }
    out["direction"] = direction(p.type);
    out["size"] = Json::UInt64(p.size);
    if (gp::is_registered_memref(p.type)) {
        out["type"] = p.type == client::kParamMemrefWhole ? "memref_whole" : "memref_partial";
        out["shm"] = p.shm;
        out["offset"] = Json::UInt64(p.offset);
        return out;
    }
    out["type"] = "memref";
    out["data_hex"] = hex_string(p.data);
    if (is_printable_text(p.data)) {
        out["data_text"] = std::string(p.data.begin(), p.data.end());
    }
    return out;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) out += separator;
        out += item;
    }
    return out;
}

// A number, or "-" for the value that stands for "not known".
std::string number_or_dash(uint64_t value, uint64_t unknown) {
    return value == unknown ? "-" : std::to_string(value);
}

std::string text_or_dash(const std::string& text) {
    return text.empty() ? "-" : text;
}

std::string list_or_dash(const std::vector<std::string>& items) {
    return items.empty() ? "-" : join(items, " ");
}

// "name:\n" then "  key: value\n" for each entry, sorted by key (std::map's order).
std::string format_block(std::string_view name, const std::map<std::string, uint64_t>& entries) {
    std::string out = std::string(name) + ":" + (entries.empty() ? " -\n" : "\n");
    for (const auto& [key, value] : entries)
        out += "  " + key + ": " + std::to_string(value) + "\n";
    return out;
}

// Rows of cells in left-aligned columns two spaces apart; the first row is the header.
std::string format_table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<size_t> widths(rows[0].size(), 0);
    for (const auto& row : rows) {
        for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
    }
    std::string out;
    for (const auto& row : rows) {
        std::string line;
        for (size_t c = 0; c < row.size(); ++c) {
            line += row[c];
            if (c + 1 < row.size()) line += std::string(widths[c] - row[c].size() + 2, ' ');
        }
        out += line + "\n";
    }
    return out;
}

template <typename T>
Json::Value json_array(const std::vector<T>& items) {
    Json::Value out(Json::arrayValue);
    for (const auto& item : items) out.append(item);
    return out;
}

Json::Value json_object(const std::map<std::string, uint64_t>& entries) {
    Json::Value out(Json::objectValue);
    for (const auto& [key, value] : entries) out[key] = Json::UInt64(value);
    return out;
}

}  // namespace

std::string result_name(uint32_t code) {
    const char* name = gp::result_name(code);
    return name != nullptr ? name : hex32(code);
}

std::string origin_name(uint32_t origin) {
    const char* name = gp::origin_name(origin);
    return name != nullptr ? name : hex32(origin);
}

std::string hex_string(const std::vector<uint8_t>& bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (uint8_t byte : bytes) {
        out += kDigits[byte >> 4];
        out += kDigits[byte & 0xF];
    }
    return out;
}

bool is_printable_text(const std::vector<uint8_t>& bytes) {
    return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b >= 0x20 && b < 0x7F; });
}

std::string data_for_people(const std::vector<uint8_t>& bytes) {
    if (!is_printable_text(bytes)) return "hex:" + hex_string(bytes);
    std::string out = "\"";
    for (uint8_t byte : bytes) {
        if (byte == '"' || byte == '\\') out += '\\';
        out += static_cast<char>(byte);
    }
    return out + "\"";
}

bool shows_output(uint32_t type) {
    if (type == client::kParamMemrefWhole) return true;
    return gp::is_known_type(type) && type != client::kParamNone && gp::is_output(type);
}

// GlobalPlatform defines the outputs only on success, and the sizes a TA needs on SHORT_BUFFER;
// after any other result they hold whatever the TA or teed left, and printing them would pass
// that off as an answer.
bool has_defined_outputs(const client::Reply& reply) {
    return reply.return_code == gp::kSuccess || reply.return_code == gp::kErrorShortBuffer;
}

std::string format_reply(const client::Reply& reply, std::string_view label) {
    std::string out = std::string(label) + ": " + result_name(reply.return_code) + " (origin " +
                      origin_name(reply.return_origin) + ")\n";
    if (!has_defined_outputs(reply)) return out;
    for (size_t i = 0; i < reply.params.size(); ++i) {
        if (shows_output(reply.params[i].type)) out += format_param(i, reply.params[i]);
    }
    return out;
}

Json::Value reply_json(const client::Reply& reply) {
    Json::Value out(Json::objectValue);
    out["return_code"] = Json::UInt(reply.return_code);
    out["return_name"] = result_name(reply.return_code);
    out["return_origin"] = Json::UInt(reply.return_origin);
    out["return_origin_name"] = origin_name(reply.return_origin);
    Json::Value params(Json::arrayValue);
    for (size_t i = 0; has_defined_outputs(reply) && i < reply.params.size(); ++i) {
        if (shows_output(reply.params[i].type)) params.append(param_json(i, reply.params[i]));
    }
    out["params"] = params;
    return out;
}

std::string format_devices(const std::vector<client::DeviceInfo>& devices) {
    if (devices.empty()) return "no TEE devices\n";
    std::vector<std::vector<std::string>> rows = {
        {"NAME", "IMPLEMENTATION", "CAPABILITIES", "SIMULATED", "DEVICE"}};
    for (const auto& d : devices) {
        rows.push_back({d.name, d.implementation, d.capabilities.empty() ? "-" : join(d.capabilities, ","),
                        d.simulated ? "yes" : "no", d.device_path});
    }
    return format_table(rows);
}

Json::Value devices_json(const std::vector<client::DeviceInfo>& devices) {
    Json::Value out(Json::arrayValue);
    for (const auto& d : devices) {
        Json::Value device(Json::objectValue);
        device["name"] = d.name;
        device["implementation"] = d.implementation;
        device["implementation_id"] = Json::UInt(d.implementation_id);
        device["implementation_caps"] = Json::UInt(d.implementation_caps);
        Json::Value caps(Json::arrayValue);
        for (const auto& cap : d.capabilities) caps.append(cap);
        device["capabilities"] = caps;
        device["simulated"] = d.simulated;
        device["device_path"] = d.device_path;
        device["object_path"] = d.object_path;
        out.append(device);
    }
    return out;
}

std::string format_status(const std::string& version, const std::string& status) {
    return "version: " + version + "\nstatus: " + status + "\n";
}

Json::Value status_json(const std::string& version, const std::string& status) {
    Json::Value out(Json::objectValue);
    out["version"] = version;
    out["status"] = status;
    return out;
}

std::string format_client_info(const client::ClientInfo& info) {
    std::vector<std::string> groups;
    for (uint32_t gid : info.groups) groups.push_back(std::to_string(gid));
    std::string out;
    out += "uid: " + number_or_dash(info.uid, UINT32_MAX) + "\n";
    out += "gid: " + number_or_dash(info.gid, UINT32_MAX) + "\n";
    out += "groups: " + list_or_dash(groups) + "\n";
    out += "pid: " + number_or_dash(info.pid, 0) + "\n";
    out += "unit: " + text_or_dash(info.unit) + "\n";
    out += "executable: " + text_or_dash(info.executable) + "\n";
    out += "application_identity: " + text_or_dash(info.application_identity) + "\n";
    out += std::string("application_logins: ") + (info.application_logins ? "yes" : "no") + "\n";
    out += "rules: " + list_or_dash(info.rules) + "\n";
    out += format_block("limits", info.limits);
    out += format_block("usage", info.usage);
    return out;
}

Json::Value client_info_json(const client::ClientInfo& info) {
    Json::Value out(Json::objectValue);
    out["uid"] = Json::UInt(info.uid);
    out["gid"] = Json::UInt(info.gid);
    out["groups"] = json_array(info.groups);
    out["pid"] = Json::UInt(info.pid);
    out["unit"] = info.unit;
    out["executable"] = info.executable;
    out["application_identity"] = info.application_identity;
    out["application_logins"] = info.application_logins;
    out["rules"] = json_array(info.rules);
    out["limits"] = json_object(info.limits);
    out["usage"] = json_object(info.usage);
    return out;
}

std::string format_policy_reload(const client::PolicyReload& reload) {
    std::string out = "policy reloaded: " + std::to_string(reload.files) + " file(s), " +
                      std::to_string(reload.rules) + " rule(s)\n";
    for (const auto& warning : reload.warnings) out += "warning: " + warning + "\n";
    return out;
}

Json::Value policy_reload_json(const client::PolicyReload& reload) {
    Json::Value out(Json::objectValue);
    out["files"] = Json::UInt(reload.files);
    out["rules"] = Json::UInt(reload.rules);
    out["warnings"] = json_array(reload.warnings);
    return out;
}

std::string format_supplicant(const client::SupplicantInfo& info) {
    std::string out;
    out += "device: " + text_or_dash(info.device) + "\n";
    out += "device_path: " + text_or_dash(info.device_path) + "\n";
    out += "workers: " + std::to_string(info.workers) + "\n";
    out += "ta_path: " + list_or_dash(info.ta_path) + "\n";
    out += "storage_directory: " + text_or_dash(info.storage_directory) + "\n";
    out += "rpmb: " + text_or_dash(info.rpmb) + "\n";
    if (info.counters.empty()) {
        out += "requests: none yet\n";
    } else {
        std::vector<std::vector<std::string>> rows = {{"COMMAND", "SERVED", "FAILED", "IN FLIGHT"}};
        for (const auto& [command, counts] : info.counters) {
            rows.push_back({command, std::to_string(counts.served), std::to_string(counts.failed),
                            std::to_string(counts.in_flight)});
        }
        out += format_table(rows);
    }
    out += "status: the secure world holds " + std::to_string(info.shared_memory_buffers) +
           " shared memory buffer(s), " + std::to_string(info.shared_memory_bytes) + " byte(s) (" +
           text_or_dash(info.shared_memory_source) + "); " +
           std::to_string(info.send_failures) + " answer(s) not taken by the kernel; " +
           std::to_string(info.sockets_open) + " TA socket(s) open, " +
           std::to_string(info.sockets_denied) + " refused by policy\n";
    return out;
}

Json::Value supplicant_json(const client::SupplicantInfo& info) {
    Json::Value out(Json::objectValue);
    out["device"] = info.device;
    out["device_path"] = info.device_path;
    out["workers"] = Json::UInt(info.workers);
    out["ta_path"] = json_array(info.ta_path);
    out["storage_directory"] = info.storage_directory;
    out["rpmb"] = info.rpmb;
    Json::Value counters(Json::objectValue);
    for (const auto& [command, counts] : info.counters) {
        Json::Value entry(Json::objectValue);
        entry["served"] = Json::UInt64(counts.served);
        entry["failed"] = Json::UInt64(counts.failed);
        entry["in_flight"] = Json::UInt64(counts.in_flight);
        counters[command] = entry;
    }
    out["counters"] = counters;
    out["shared_memory_bytes"] = Json::UInt64(info.shared_memory_bytes);
    out["shared_memory_buffers"] = Json::UInt64(info.shared_memory_buffers);
    out["shared_memory_source"] = info.shared_memory_source;
    out["send_failures"] = Json::UInt64(info.send_failures);
    out["sockets_open"] = Json::UInt64(info.sockets_open);
    out["sockets_denied"] = Json::UInt64(info.sockets_denied);
    return out;
}

Json::Value error_json(const std::string& name, const std::string& message) {
    Json::Value out(Json::objectValue);
    out["error"] = name;
    out["message"] = message;
    return out;
}

std::string json_line(const Json::Value& value) {
    Json::StreamWriterBuilder builder;
    builder["indentation"] = "";
    return Json::writeString(builder, value) + "\n";
}

}  // namespace teed::teectl
