#include "backends/sim/ree_fs_rpc.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "backends/kernel/tee_uapi.h"
#include "backends/optee/supplicant/rpc_protocol.h"

namespace teed::sim {
namespace {

constexpr uint32_t kValueIn = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT;
constexpr uint32_t kValueOut = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT;
constexpr uint32_t kMemrefIn = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT;
constexpr uint32_t kMemrefOut = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT;

// The opcode and the handle and offset (or flag) in value[0], as tee_fs_rpc.c lays it out.
RpcParam op(uint64_t opcode, uint64_t b = 0, uint64_t c = 0) {
    return RpcParam::value(kValueIn, opcode, b, c);
}

}  // namespace

TeeResult<std::unique_ptr<ReeFsRpc>> ReeFsRpc::start(SupplicantRpc& rpc, size_t data_room) {
    uint32_t code = gp::kSuccess;
    auto buffer = rpc.allocate(std::max(2 * kNameRoom, data_room), code);
    if (!buffer) return TeeError{code};
    return std::make_unique<ReeFsRpc>(Key{}, rpc, std::move(buffer));
}

TeeResult<RpcParam> ReeFsRpc::name_param(std::string_view name, size_t slot) {
    // Names are the TA's own; one that does not fit is a bug of the caller, not of the storage.
    if (name.size() >= kNameRoom || name.find('\0') != std::string_view::npos)
        return TeeError{gp::kErrorBadParameters};
    uint8_t* at = buffer_->data() + slot * kNameRoom;
    std::memcpy(at, name.data(), name.size());
    at[name.size()] = '\0';
    return RpcParam::memref(kMemrefIn, buffer_.get(), slot * kNameRoom, name.size() + 1);
}

TeeResult<uint64_t> ReeFsRpc::open_by_name(uint64_t opcode, std::string_view name) {
    auto name_ref = name_param(name, 0);
    if (!name_ref.ok()) return TeeError{name_ref.code()};
    std::array<RpcParam, 3> params{op(opcode), *name_ref, RpcParam::value(kValueOut)};
    const uint32_t code = rpc_.call(supplicant::kCmdFs, params);
    if (code != gp::kSuccess) return TeeError{code};
    return params[2].a;
}

TeeResult<uint64_t> ReeFsRpc::open(std::string_view name) {
    return open_by_name(supplicant::kFsOpen, name);
}

TeeResult<uint64_t> ReeFsRpc::create(std::string_view name) {
    return open_by_name(supplicant::kFsCreate, name);
}

uint32_t ReeFsRpc::close(uint64_t file) {
    std::array<RpcParam, 1> params{op(supplicant::kFsClose, file)};
    return rpc_.call(supplicant::kCmdFs, params);
}

TeeResult<size_t> ReeFsRpc::read(uint64_t file, uint64_t offset, size_t size) {
    if (size > room()) return TeeError{gp::kErrorBadParameters};
    std::array<RpcParam, 2> params{op(supplicant::kFsRead, file, offset),
                                   RpcParam::memref(kMemrefOut, buffer_.get(), 0, size)};
    const uint32_t code = rpc_.call(supplicant::kCmdFs, params);
    if (code != gp::kSuccess) return TeeError{code};
    // More than was offered would point past what the supplicant could have written.
    if (params[1].size > size) return TeeError{gp::kErrorGeneric};
    return static_cast<size_t>(params[1].size);
}

uint32_t ReeFsRpc::write(uint64_t file, uint64_t offset, std::span<const uint8_t> bytes) {
    if (bytes.size() > room()) return gp::kErrorBadParameters;
    if (!bytes.empty()) std::memcpy(buffer_->data(), bytes.data(), bytes.size());
    std::array<RpcParam, 2> params{op(supplicant::kFsWrite, file, offset),
                                   RpcParam::memref(kMemrefIn, buffer_.get(), 0, bytes.size())};
    return rpc_.call(supplicant::kCmdFs, params);
}

uint32_t ReeFsRpc::remove(std::string_view name) {
    auto name_ref = name_param(name, 0);
    if (!name_ref.ok()) return name_ref.code();
    std::array<RpcParam, 2> params{op(supplicant::kFsRemove), *name_ref};
    return rpc_.call(supplicant::kCmdFs, params);
}

uint32_t ReeFsRpc::rename(std::string_view from, std::string_view to, bool overwrite) {
    auto from_ref = name_param(from, 0);
    if (!from_ref.ok()) return from_ref.code();
    auto to_ref = name_param(to, 1);
    if (!to_ref.ok()) return to_ref.code();
    std::array<RpcParam, 3> params{op(supplicant::kFsRename, overwrite ? 1 : 0), *from_ref,
                                   *to_ref};
    return rpc_.call(supplicant::kCmdFs, params);
}

TeeResult<uint64_t> ReeFsRpc::opendir(std::string_view name) {
    return open_by_name(supplicant::kFsOpendir, name);
}

uint32_t ReeFsRpc::closedir(uint64_t dir) {
    std::array<RpcParam, 1> params{op(supplicant::kFsClosedir, dir)};
    return rpc_.call(supplicant::kCmdFs, params);
}

TeeResult<std::string> ReeFsRpc::readdir(uint64_t dir) {
    std::array<RpcParam, 2> params{op(supplicant::kFsReaddir, dir),
                                   RpcParam::memref(kMemrefOut, buffer_.get(), 0, room())};
    const uint32_t code = rpc_.call(supplicant::kCmdFs, params);
    if (code != gp::kSuccess) return TeeError{code};
    if (params[1].size > room()) return TeeError{gp::kErrorGeneric};
    // The name comes with its NUL, as tee-supplicant answers it; stop at the first one.
    const auto* bytes = reinterpret_cast<const char*>(buffer_->data());
    const size_t answered = static_cast<size_t>(params[1].size);
    return std::string(bytes, std::find(bytes, bytes + answered, '\0'));
}

}  // namespace teed::sim
