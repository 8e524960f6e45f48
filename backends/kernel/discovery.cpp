#include "backends/kernel/discovery.h"

#include <algorithm>
#include <cctype>
#include <memory>

#include <systemd/sd-device.h>

namespace teed {
namespace {

struct EnumeratorUnref {
    void operator()(sd_device_enumerator* e) const { sd_device_enumerator_unref(e); }
};

bool all_digits(const std::string& text) {
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

}  // namespace

bool is_tee_node_name(const std::string& name, bool& ret_privileged) {
    if (name.rfind("teepriv", 0) == 0 && all_digits(name.substr(7))) {
        ret_privileged = true;
        return true;
    }
    if (name.rfind("tee", 0) == 0 && all_digits(name.substr(3))) {
        ret_privileged = false;
        return true;
    }
    return false;
}

Result<std::vector<DiscoveredNode>> discover_tee_nodes() {
    sd_device_enumerator* raw = nullptr;
    int r = sd_device_enumerator_new(&raw);
    if (r < 0) return ErrnoError(-r) << "sd_device_enumerator_new";
    std::unique_ptr<sd_device_enumerator, EnumeratorUnref> enumerator(raw);
    r = sd_device_enumerator_add_match_subsystem(raw, "tee", /*match=*/1);
    if (r < 0) return ErrnoError(-r) << "matching subsystem 'tee'";

    std::vector<DiscoveredNode> nodes;
    for (sd_device* device = sd_device_enumerator_get_device_first(raw); device != nullptr;
         device = sd_device_enumerator_get_device_next(raw)) {
        const char* sysname = nullptr;
        const char* devname = nullptr;
        if (sd_device_get_sysname(device, &sysname) < 0 ||
            sd_device_get_devname(device, &devname) < 0)
            continue;
        DiscoveredNode node{sysname, devname, false};
        if (!is_tee_node_name(node.name, node.privileged)) continue;
        nodes.push_back(std::move(node));
    }
    std::sort(nodes.begin(), nodes.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    return nodes;
}

}  // namespace teed
