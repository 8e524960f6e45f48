#include "backends/optee/supplicant/plugins.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>

#include "backends/kernel/tee_uapi.h"
#include "backends/optee/supplicant/rpc_protocol.h"
#include "common/log.h"
#include "common/unique_fd.h"

namespace teed::supplicant {

struct DlCloser {
    void operator()(void* handle) const { ::dlclose(handle); }
};
using DlHandle = std::unique_ptr<void, DlCloser>;

struct PluginService::Plugin {
    std::string file;
    // Open for as long as the library is loaded: glibc knows the library by the name it was
    // opened with ("/proc/self/fd/N") and would hand it out again for a later dlopen of the same
    // name, so that number must not name another file while the library is loaded.
    UniqueFd fd;
    DlHandle handle;
    const plugin_method* method = nullptr;
    Uuid uuid;
    std::mutex call_mutex;  // serialises invoke()
};

namespace {

constexpr std::string_view kPluginSuffix = ".so";

struct DirCloser {
    void operator()(DIR* dir) const { ::closedir(dir); }
};

// Why a directory or file teed would run code from is not trustworthy, or nullopt: it must be
// owned by root or by teed's own user, and writable by nobody else.
std::optional<std::string> untrusted_reason(const struct stat& st) {
    if (st.st_uid != 0 && st.st_uid != ::geteuid())
        return "owned by uid " + std::to_string(st.st_uid) + ", neither root nor teed's";
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) return "writable by its group or by others";
    return std::nullopt;
}

bool is_plugin_name(std::string_view name) {
    return name.size() > kPluginSuffix.size() && name.ends_with(kPluginSuffix) && name[0] != '.';
}

Result<std::vector<std::string>> plugin_names(int dir_fd) {
    UniqueFd listing(::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0));
    if (!listing.valid()) return ErrnoError() << "dup the plugin directory";
    std::unique_ptr<DIR, DirCloser> dir(::fdopendir(listing.get()));
    if (!dir) return ErrnoError() << "read the plugin directory";
    (void)listing.release();  // the DIR owns it now

    std::vector<std::string> names;
    errno = 0;
    while (const dirent* entry = ::readdir(dir.get())) {
        if (is_plugin_name(entry->d_name)) names.emplace_back(entry->d_name);
        errno = 0;
    }
    if (errno != 0) return ErrnoError() << "read the plugin directory";
    std::sort(names.begin(), names.end());  // a load order that does not depend on the disk
    return names;
}

std::string code_name(uint32_t code) {
    if (const char* name = gp::result_name(code)) return name;
    char hex[16];
    std::snprintf(hex, sizeof(hex), "0x%08x", code);
    return hex;
}

std::string dl_error() {
    const char* text = ::dlerror();
    return text != nullptr ? text : "unknown error";
}

// The octets as the secure world packed them: four 32-bit words holding the UUID's 16 octets in
// the machine's byte order (optee_os copies the octets into a uint32_t[4]).
Result<Uuid> uuid_from_words(const std::array<uint64_t, 4>& words) {
    Uuid uuid;
    for (size_t i = 0; i < words.size(); ++i) {
        if (words[i] > std::numeric_limits<uint32_t>::max())
            return Error(ErrorKind::InvalidArgument) << "UUID word " << i << " exceeds 32 bits";
        uint32_t word = static_cast<uint32_t>(words[i]);
        std::memcpy(uuid.bytes.data() + 4 * i, &word, sizeof(word));
    }
    return uuid;
}

}  // namespace

Result<std::unique_ptr<PluginService::Plugin>> PluginService::open_plugin(int dir_fd,
                                                                          const std::string& file) {
    UniqueFd fd(::openat(dir_fd, file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd.valid()) {
        if (errno == ELOOP) return Error(ErrorKind::AccessDenied) << "it is a symbolic link";
        return ErrnoError() << "open";
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return ErrnoError() << "fstat";
    if (!S_ISREG(st.st_mode)) return Error(ErrorKind::AccessDenied) << "not a regular file";
    if (auto reason = untrusted_reason(st)) return Error(ErrorKind::AccessDenied) << *reason;

    const std::string path = "/proc/self/fd/" + std::to_string(fd.get());
    (void)::dlerror();
    DlHandle handle(::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL));
    if (!handle) return Error(ErrorKind::InvalidArgument) << "dlopen: " << dl_error();
    const void* symbol = ::dlsym(handle.get(), TEED_PLUGIN_METHOD_SYMBOL);
    if (symbol == nullptr)
        return Error(ErrorKind::NotFound) << "it exports no '" TEED_PLUGIN_METHOD_SYMBOL "'";
    const auto* method = static_cast<const plugin_method*>(symbol);
    if (method->name == nullptr || method->invoke == nullptr)
        return Error(ErrorKind::InvalidArgument)
               << "its '" TEED_PLUGIN_METHOD_SYMBOL "' has no name or no invoke function";

    auto plugin = std::make_unique<PluginService::Plugin>();
    plugin->file = file;
    plugin->fd = std::move(fd);
    plugin->handle = std::move(handle);
    plugin->method = method;
    plugin->uuid = uuid_of(method->uuid);
    return plugin;
}

PluginService::PluginService(Key) {}

PluginService::~PluginService() = default;

Result<std::unique_ptr<PluginService>> PluginService::load(const std::string& directory) {
    auto service = std::make_unique<PluginService>(Key{});
    UniqueFd dir(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid()) {
        if (errno == ENOENT) {
            log_debug("no supplicant plugin directory", {{"TEED_PLUGIN_DIRECTORY", directory}});
            return service;
        }
        return ErrnoError() << "open the plugin directory '" << directory << "'";
    }
    struct stat st {};
    if (::fstat(dir.get(), &st) != 0) return ErrnoError() << "fstat '" << directory << "'";
    if (auto reason = untrusted_reason(st))
        return Error(ErrorKind::AccessDenied)
               << "the plugin directory '" << directory << "' is " << *reason;

    for (const std::string& file : TEED_TRY(plugin_names(dir.get()))) {
        const std::string path = directory + "/" + file;
        auto refuse = [&](const std::string& reason) {
            log_warning("refusing a supplicant plugin",
                        {{"TEED_PLUGIN_FILE", path}, {"TEED_REASON", reason}});
        };
        auto opened = open_plugin(dir.get(), file);
        if (!opened) {
            refuse(opened.error().message());
            continue;
        }
        std::unique_ptr<Plugin> plugin = std::move(opened).value();
        if (Plugin* other = service->find(plugin->uuid)) {
            refuse("its UUID " + plugin->uuid.to_string() + " is taken by " + other->file);
            continue;
        }
        if (plugin->method->init != nullptr) {
            if (TEEC_Result code = plugin->method->init(); code != gp::kSuccess) {
                refuse("init() failed with " + code_name(code));
                continue;
            }
        }
        log_info("loaded a supplicant plugin", {{"TEED_PLUGIN_FILE", path},
                                                {"TEED_PLUGIN_NAME", plugin->method->name},
                                                {"TEED_PLUGIN_UUID", plugin->uuid.to_string()}});
        service->plugins_.push_back(std::move(plugin));
    }
    return service;
}

PluginService::Plugin* PluginService::find(const Uuid& uuid) const {
    for (const auto& plugin : plugins_) {
        if (plugin->uuid == uuid) return plugin.get();
    }
    return nullptr;
}

std::vector<PluginService::LoadedPlugin> PluginService::plugins() const {
    std::vector<LoadedPlugin> loaded;
    for (const auto& plugin : plugins_)
        loaded.push_back({plugin->file, plugin->method->name, plugin->uuid});
    return loaded;
}

RpcOutcome PluginService::serve(RpcRequest& request) {
    if (auto typed = request.expect_types({kValueIn, kValueIn, kValueInout, kMemrefInout}); !typed)
        return RpcOutcome::refuse(gp::kErrorBadParameters, "plugin: " + typed.error().message());
    RpcParam& ids = request.params[0];
    RpcParam& words = request.params[1];
    RpcParam& sub = request.params[2];
    RpcParam& data = request.params[3];
    if (ids.a != kPluginInvoke)
        return RpcOutcome::refuse(gp::kErrorBadParameters,
                                  "plugin: unknown opcode " + std::to_string(ids.a));
    auto uuid = uuid_from_words({ids.b, ids.c, words.a, words.b});
    if (!uuid) return RpcOutcome::refuse(gp::kErrorBadParameters, "plugin: " + uuid.error().message());
    if (words.c > std::numeric_limits<uint32_t>::max() || sub.a > std::numeric_limits<uint32_t>::max())
        return RpcOutcome::refuse(gp::kErrorBadParameters, "plugin: cmd or sub_cmd exceeds 32 bits");
    // A memref without a buffer is how the secure world sends no data, and only with size 0.
    if (!data.has_buffer() && data.b != 0)
        return RpcOutcome::refuse(gp::kErrorBadParameters,
                                  "plugin: " + std::to_string(data.b) + " bytes without a buffer");

    Plugin* plugin = find(*uuid);
    if (plugin == nullptr)
        return RpcOutcome::answer(gp::kErrorItemNotFound,
                                  "plugin: no plugin " + uuid->to_string());

    const size_t in_len = data.memory.size();
    size_t out_len = 0;
    TEEC_Result code = 0;
    {
        std::lock_guard lock(plugin->call_mutex);
        code = plugin->method->invoke(static_cast<unsigned>(words.c), static_cast<unsigned>(sub.a),
                                      data.memory.data(), in_len, &out_len);
    }
    sub.b = out_len;
    if (out_len > in_len)
        return RpcOutcome::refuse(gp::kErrorShortBuffer,
                                  "plugin " + std::string(plugin->method->name) + " answered " +
                                      std::to_string(out_len) + " bytes for a buffer of " +
                                      std::to_string(in_len));
    if (code != gp::kSuccess)
        return RpcOutcome::answer(code, "plugin " + std::string(plugin->method->name) +
                                            " answered " + code_name(code));
    return RpcOutcome::success();
}

}  // namespace teed::supplicant
