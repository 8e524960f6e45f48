#pragma once
// Helpers for the TA loading tests: a temporary directory of real files, `.ta` files built with
// the simulator's format, and LOAD_TA requests laid out as the decoder hands them to services.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "backends/kernel/tee_uapi.h"
#include "backends/optee/supplicant/rpc_protocol.h"
#include "backends/optee/supplicant/rpc_request.h"
#include "backends/sim/sim_ta_image.h"
#include "common/uuid.h"

namespace teed::tatest {

// A directory under the test's temporary directory, removed with everything in it.
class TempDirectory {
public:
    TempDirectory() {
        std::string pattern = testing::TempDir() + "teed-ta-XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr)
            ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
        path_ = pattern;
    }
    ~TempDirectory() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDirectory(const TempDirectory&) = delete;
    TempDirectory& operator=(const TempDirectory&) = delete;

    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }
    // Creates `name` (and the directories it needs) with `bytes`; returns its path.
    std::string write(const std::string& name, const std::vector<uint8_t>& bytes) const {
        std::string full = file(name);
        std::filesystem::create_directories(std::filesystem::path(full).parent_path());
        std::ofstream(full, std::ios::binary | std::ios::trunc)
            .write(reinterpret_cast<const char*>(bytes.data()),
                   static_cast<std::streamsize>(bytes.size()));
        return full;
    }

private:
    std::string path_;
};

inline Uuid uuid(const char* text) {
    return Uuid::parse(text).value();
}

inline std::string ta_name(const Uuid& uuid) {
    return uuid.to_string() + ".ta";
}

// The name tee-supplicant falls back to: no dash between clock_seq and node.
inline std::string deprecated_ta_name(const Uuid& uuid) {
    std::string name = uuid.to_string();
    name.erase(23, 1);
    return name + ".ta";
}

// A valid simulator `.ta` running `loadable`.
inline std::vector<uint8_t> loadable_ta(const Uuid& uuid, uint32_t ta_version = 1,
                                        const std::string& name = "test TA") {
    std::string manifest =
        sim::format_sim_ta_manifest({.program = "loadable", .name = name}).value();
    return sim::build_sim_ta_file(uuid, ta_version, manifest);
}

// LOAD_TA as the secure world sends it: the UUID's octets in a then b, and the output memref
// either without a buffer (the size query) or over `buffer`.
inline supplicant::RpcRequest load_ta_request(const Uuid& uuid,
                                              std::vector<uint8_t>* buffer = nullptr) {
    supplicant::RpcRequest request{.command = supplicant::kCmdLoadTa, .id = 1};
    supplicant::RpcParam value{.type = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT};
    std::memcpy(&value.a, uuid.bytes.data(), 8);
    std::memcpy(&value.b, uuid.bytes.data() + 8, 8);
    supplicant::RpcParam out{.type = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT, .c = TEE_MEMREF_NULL};
    if (buffer != nullptr) {
        out.b = buffer->size();
        out.c = 3;  // some shm id; services use only the resolved range
        out.memory = supplicant::RpcMemref::wrap(*buffer);
    }
    request.params = {value, out};
    return request;
}

}  // namespace teed::tatest
