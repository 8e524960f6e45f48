#pragma once
// Where teed publishes the objects clients create, and the id an object path names. The bus
// layer serves the paths; the daemon resolves the paths clients put in GP parameters with the
// same rule, so a path means the same object to both.
//
//   object_id_under(kSharedMemoryPath, "/org/teed/Teed1/shm/4f2a")       -> "4f2a"
//   object_id_under(kSharedMemoryPath, "/org/teed/Teed1/sessions/4f2a")  -> ""

#include <string>
#include <string_view>

namespace teed {

inline constexpr const char* kSharedMemoryPath = "/org/teed/Teed1/shm";

// The id in <prefix>/<id>, or "" for any other path: another prefix, the prefix itself, or a
// deeper path (an id never holds '/').
inline std::string object_id_under(std::string_view prefix, std::string_view path) {
    if (path.size() <= prefix.size() + 1 || !path.starts_with(prefix) || path[prefix.size()] != '/')
        return "";
    std::string_view id = path.substr(prefix.size() + 1);
    return id.find('/') == std::string_view::npos ? std::string(id) : "";
}

}  // namespace teed
