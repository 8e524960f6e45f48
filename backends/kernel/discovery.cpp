#include "backends/kernel/discovery.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include <systemd/sd-device.h>

namespace teed {
namespace {

struct EnumeratorUnref {
    void operator()(sd_device_enumerator* e) const { sd_device_enumerator_unref(e); }
};

struct DirClose {
    void operator()(DIR* dir) const { ::closedir(dir); }
};

bool all_digits(const std::string& text) {
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

void sort_by_name(std::vector<DiscoveredNode>& nodes) {
    std::sort(nodes.begin(), nodes.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
}

// Subsystem "tee" in sysfs. Without allow_uninitialized, sd-device skips every device udev has no
// database entry for, which is every device on a machine without udev.
Result<std::vector<DiscoveredNode>> enumerate_sysfs() {
    sd_device_enumerator* raw = nullptr;
    int r = sd_device_enumerator_new(&raw);
    if (r < 0) return ErrnoError(-r) << "sd_device_enumerator_new";
    std::unique_ptr<sd_device_enumerator, EnumeratorUnref> enumerator(raw);
    r = sd_device_enumerator_add_match_subsystem(raw, "tee", /*match=*/1);
    if (r < 0) return ErrnoError(-r) << "matching subsystem 'tee'";
    r = sd_device_enumerator_allow_uninitialized(raw);
    if (r < 0) return ErrnoError(-r) << "including devices udev has not processed";

    std::vector<DiscoveredNode> nodes;
    for (sd_device* device = sd_device_enumerator_get_device_first(raw); device != nullptr;
         device = sd_device_enumerator_get_device_next(raw)) {
        const char* sysname = nullptr;
        const char* devname = nullptr;
        if (sd_device_get_sysname(device, &sysname) < 0 ||
            sd_device_get_devname(device, &devname) < 0)
            continue;
        DiscoveredNode node{sysname, devname, false, DiscoveryMethod::Sysfs};
        if (!is_tee_node_name(node.name, node.privileged)) continue;
        if (sd_device_get_is_initialized(device) > 0) node.found_by = DiscoveryMethod::Udev;
        nodes.push_back(std::move(node));
    }
    return nodes;
}

}  // namespace

std::string_view to_string(DiscoveryMethod method) {
    switch (method) {
    case DiscoveryMethod::Udev: return "udev";
    case DiscoveryMethod::Sysfs: return "sysfs";
    case DiscoveryMethod::DevScan: return "dev-scan";
    }
    return "unknown";
}

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

Result<std::vector<DiscoveredNode>> scan_tee_nodes_in(const std::string& directory) {
    std::unique_ptr<DIR, DirClose> dir(::opendir(directory.c_str()));
    if (!dir) return ErrnoError() << "reading '" << directory << "'";
    std::vector<DiscoveredNode> nodes;
    while (const dirent* entry = ::readdir(dir.get())) {
        DiscoveredNode node{entry->d_name, directory + "/" + entry->d_name, false,
                            DiscoveryMethod::DevScan};
        if (!is_tee_node_name(node.name, node.privileged)) continue;
        struct stat st {};
        if (::stat(node.path.c_str(), &st) != 0 || !S_ISCHR(st.st_mode)) continue;
        nodes.push_back(std::move(node));
    }
    sort_by_name(nodes);
    return nodes;
}

Result<std::vector<DiscoveredNode>> discover_tee_nodes() {
    auto from_sysfs = enumerate_sysfs();
    if (from_sysfs.ok() && !from_sysfs->empty()) {
        sort_by_name(*from_sysfs);
        return from_sysfs;
    }
    auto from_dev = scan_tee_nodes_in("/dev");
    if (from_dev.ok()) return from_dev;
    // Neither found a device: sysfs's answer (none, or why it failed) is the one to give.
    return from_sysfs;
}

}  // namespace teed
