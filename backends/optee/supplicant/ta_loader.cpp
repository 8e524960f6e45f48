#include "backends/optee/supplicant/ta_loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>
#include <variant>

#include "backends/optee/supplicant/rpc_protocol.h"
#include "backends/optee/ta_image.h"
#include "common/unique_fd.h"

namespace teed::supplicant {
namespace {

struct TaFile {
    std::string path;
    std::vector<uint8_t> bytes;
};
// The file, or what to answer instead.
using Loaded = std::variant<TaFile, RpcOutcome>;

// tee-supplicant's uuid_from_octets over the value struct: the octets are the bytes of a, then
// of b, as the secure world's tee_uuid_to_octets() wrote them into its memory.
Uuid uuid_from_value(const RpcParam& param) {
    Uuid uuid;
    std::memcpy(uuid.bytes.data(), &param.a, sizeof(param.a));
    std::memcpy(uuid.bytes.data() + sizeof(param.a), &param.b, sizeof(param.b));
    return uuid;
}

// `<uuid>.ta`, then the deprecated `xxxxxxxx-xxxx-xxxx-xxxxxxxxxxxxxxxx.ta` (no 4th dash) that
// tee-supplicant still looks for.
std::array<std::string, 2> file_names(const Uuid& uuid) {
    std::string canonical = uuid.to_string();
    std::string deprecated = canonical;
    deprecated.erase(23, 1);
    return {canonical + ".ta", deprecated + ".ta"};
}

std::string join_path(const std::string& directory, const std::string& name) {
    if (!directory.empty() && directory.back() == '/') return directory + name;
    return directory + "/" + name;
}

std::string describe_errno(int err) {
    return std::strerror(err);
}

// Reads the whole file, which fstat said has `expected` bytes. One byte more is asked for, so
// that a file growing meanwhile is noticed as well as one shrinking.
Loaded read_exactly(int fd, std::string path, uint64_t expected) {
    std::vector<uint8_t> bytes(expected + 1);
    size_t got = 0;
    while (got < bytes.size()) {
        ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            return RpcOutcome::fail(gp::kErrorGeneric,
                                    "reading '" + path + "': " + describe_errno(errno));
        }
        if (n == 0) break;
        got += static_cast<size_t>(n);
    }
    if (got != expected) {
        return RpcOutcome::fail(gp::kErrorBusy, "'" + path + "' changed while it was read (" +
                                                    std::to_string(expected) + " bytes, then " +
                                                    std::to_string(got) +
                                                    (got > expected ? "+" : "") + ")");
    }
    bytes.resize(got);
    return TaFile{std::move(path), std::move(bytes)};
}

// The open file at `path`: a regular file of at most `max_bytes`, read whole and checked.
Loaded read_ta_file(UniqueFd fd, std::string path, uint64_t max_bytes) {
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0)
        return RpcOutcome::fail(gp::kErrorGeneric,
                                "fstat '" + path + "': " + describe_errno(errno));
    if (!S_ISREG(st.st_mode))
        return RpcOutcome::fail(gp::kErrorGeneric, "'" + path + "' is not a regular file");
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    if (size > max_bytes) {
        return RpcOutcome::refuse(
            gp::kErrorExcessData,
            "'" + path + "' has " + std::to_string(size) +
                " bytes, more than max_ta_bytes=" + std::to_string(max_bytes));
    }
    Loaded loaded = read_exactly(fd.get(), std::move(path), size);
    auto* file = std::get_if<TaFile>(&loaded);
    if (file == nullptr) return loaded;
    // The bytes actually read are what is checked and what is handed over, so a file rewritten
    // between the size query and the fetch cannot pass as a torn mix of both.
    auto checked = check_ta_image(file->bytes);
    if (!checked.ok()) {
        return RpcOutcome::refuse(gp::kErrorSecurity, "'" + file->path + "' is not a TA image: " +
                                                          checked.error().message());
    }
    return loaded;
}

// The first directory entry by either name decides: later directories do not stand in for a
// file that exists but cannot be read.
Loaded find_ta_file(const TaLoaderOptions& options, const Uuid& uuid) {
    const auto names = file_names(uuid);
    for (const std::string& directory : options.ta_path) {
        for (const std::string& name : names) {
            std::string path = join_path(directory, name);
            // Symlinks are followed: TA directories are often links (/lib -> /usr/lib), and the
            // path is the administrator's. O_NONBLOCK keeps a FIFO by that name from hanging us.
            UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
            if (fd.valid())
                return read_ta_file(std::move(fd), std::move(path), options.max_ta_bytes);
            const int err = errno;
            if (err == ENOENT || err == ENOTDIR) continue;
            const uint32_t code =
                err == EACCES || err == EPERM ? gp::kErrorAccessDenied : gp::kErrorGeneric;
            return RpcOutcome::fail(code, "opening '" + path + "': " + describe_errno(err));
        }
    }
    std::string searched;
    for (const std::string& directory : options.ta_path)
        searched += (searched.empty() ? "" : ":") + directory;
    return RpcOutcome::answer(gp::kErrorItemNotFound, "no " + names[0] + " in '" + searched + "'");
}

}  // namespace

std::vector<std::string> parse_ta_path(std::string_view colon_separated) {
    std::vector<std::string> directories;
    while (!colon_separated.empty()) {
        const size_t colon = colon_separated.find(':');
        std::string_view entry = colon_separated.substr(0, colon);
        if (!entry.empty()) directories.emplace_back(entry);
        if (colon == std::string_view::npos) break;
        colon_separated.remove_prefix(colon + 1);
    }
    return directories;
}

Result<void> check_ta_image(std::span<const uint8_t> file) {
    TEED_TRY(optee::parse_ta_image(file));
    return {};
}

TaLoader::TaLoader(TaLoaderOptions options) : options_(std::move(options)) {}

RpcOutcome TaLoader::serve(RpcRequest& request) {
    if (request.command != kCmdLoadTa) {
        return RpcOutcome::refuse(gp::kErrorNotSupported,
                                  "command " + std::to_string(request.command) + " is not LOAD_TA");
    }
    auto types = request.expect_types(
        {TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT});
    if (!types.ok()) return RpcOutcome::refuse(gp::kErrorBadParameters, types.error().message());

    const Uuid uuid = uuid_from_value(request.params[0]);
    if (options_.may_load && !options_.may_load(uuid)) {
        return RpcOutcome::refuse(gp::kErrorAccessDenied,
                                  "loading TA " + uuid.to_string() + " refused by policy");
    }
    Loaded loaded = find_ta_file(options_, uuid);
    if (auto* failure = std::get_if<RpcOutcome>(&loaded)) return std::move(*failure);
    const TaFile& file = std::get<TaFile>(loaded);

    RpcParam& out = request.params[1];
    const bool size_query = !out.has_buffer();
    log_debug(size_query ? "TA size query" : "TA fetch",
              {{"TEED_TA_UUID", uuid.to_string()},
               {"TEED_PATH", file.path},
               {"TEED_SIZE", std::to_string(file.bytes.size())}});
    if (size_query) {
        out.b = file.bytes.size();
        return RpcOutcome::success();
    }
    if (out.memory.size() < file.bytes.size()) {
        const uint64_t capacity = out.memory.size();
        out.b = file.bytes.size();
        return RpcOutcome::answer(gp::kErrorShortBuffer,
                                  "'" + file.path + "' has " + std::to_string(file.bytes.size()) +
                                      " bytes, the buffer " + std::to_string(capacity));
    }
    std::memcpy(out.memory.data(), file.bytes.data(), file.bytes.size());
    out.b = file.bytes.size();
    return RpcOutcome::success();
}

}  // namespace teed::supplicant
