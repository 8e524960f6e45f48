#include "dbus/call_options.h"

#include <systemd/sd-bus.h>

namespace teed {
namespace {

Error unknown_option(const std::string& key, const char* known = "'cancel_id'") {
    return Error(ErrorKind::InvalidArgument)
           << "unknown option '" << key << "' (known options: " << known << ")";
}

Error wrong_type(const std::string& key, const std::string& type) {
    return Error(ErrorKind::InvalidArgument)
           << "option '" << key << "' must have type '" << type << "'";
}

}  // namespace

Result<CallOptions> parse_call_options(const std::map<std::string, sdbus::Variant>& options) {
    CallOptions parsed;
    for (const auto& [key, value] : options) {
        if (key != "cancel_id") return unknown_option(key);
        if (!value.containsValueOfType<uint32_t>()) return wrong_type(key, "u");
        parsed.cancel_id = value.get<uint32_t>();
    }
    return parsed;
}

Result<SharedMemoryOptions> parse_shared_memory_options(
    const std::map<std::string, sdbus::Variant>& options) {
    SharedMemoryOptions parsed;
    for (const auto& [key, value] : options) {
        if (key != "device") return unknown_option(key, "'device'");
        if (!value.containsValueOfType<std::string>()) return wrong_type(key, "s");
        parsed.device = value.get<std::string>();
    }
    return parsed;
}

Result<CallOptions> read_call_options(sd_bus_message* m) {
    CallOptions parsed;
    auto malformed = [](int r) { return ErrnoError(-r) << "malformed options"; };
    int r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
    if (r < 0) return malformed(r);
    while ((r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv")) > 0) {
        const char* key = nullptr;
        r = sd_bus_message_read(m, "s", &key);
        if (r < 0) return malformed(r);
        if (std::string(key) != "cancel_id") return unknown_option(key);
        uint32_t value = 0;
        r = sd_bus_message_read(m, "v", "u", &value);
        if (r < 0) return wrong_type(key, "u");
        parsed.cancel_id = value;
        r = sd_bus_message_exit_container(m);
        if (r < 0) return malformed(r);
    }
    if (r < 0) return malformed(r);
    r = sd_bus_message_exit_container(m);
    if (r < 0) return malformed(r);
    return parsed;
}

Result<void> read_no_options(sd_bus_message* m) {
    int r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
    if (r < 0) return ErrnoError(-r) << "malformed options";
    r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
    if (r < 0) return ErrnoError(-r) << "malformed options";
    if (r == 0) return {};
    const char* key = nullptr;
    r = sd_bus_message_read(m, "s", &key);
    if (r < 0) return ErrnoError(-r) << "malformed options";
    return unknown_option(key, "none");
}

}  // namespace teed
