#pragma once
// The secure world's side of the REE file system (OPTEE_RPC_CMD_FS, docs/supplicant.md section
// ree-fs), as OP-TEE's core/tee/tee_fs_rpc.c sends it: for simulated TAs that keep files in the
// normal world. One ReeFsRpc serves one operation: all its requests share one RPC buffer, which
// carries the names and the data, allocated (SHM_ALLOC) when it is made and freed when it is
// destroyed.
//
//   auto fs = ReeFsRpc::start(rpc, file.size());
//   if (!fs.ok()) return fs.code();
//   auto fd = (*fs)->create("/<ta uuid>/6b6579.tmp");
//   if (!fd.ok()) return fd.code();
//   uint32_t code = (*fs)->write(*fd, /*offset=*/0, chunk);   // chunk.size() <= room()
//   ...
//
// Failures are the supplicant's TEEC codes unchanged (ITEM_NOT_FOUND, ACCESS_CONFLICT,
// STORAGE_NO_SPACE, ...), OUT_OF_MEMORY when no buffer could be had, COMMUNICATION when the
// supplicant went away, and GENERIC for an answer that breaks the protocol (more bytes than the
// buffer offered). Not thread-safe: one operation, one thread.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "backends/kernel/gp.h"
#include "backends/sim/rpc.h"

namespace teed::sim {

struct TeeError {
    uint32_t code;
};

// A value, or the TEEC code of a failure: what a TA gets back from a TEE Internal API call.
template <typename T>
class [[nodiscard]] TeeResult {
public:
    TeeResult(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
    TeeResult(TeeError error) : state_(std::in_place_index<1>, error) {}      // NOLINT: implicit

    bool ok() const { return state_.index() == 0; }
    // TEEC_SUCCESS for a value.
    uint32_t code() const { return ok() ? gp::kSuccess : std::get<1>(state_).code; }
    T& operator*() { return std::get<0>(state_); }
    const T& operator*() const { return std::get<0>(state_); }
    T* operator->() { return &std::get<0>(state_); }

private:
    std::variant<T, TeeError> state_;
};

class ReeFsRpc {
public:
    // Room for one name (OP-TEE's names are far shorter than NAME_MAX, 255); RENAME sends two,
    // so the buffer always has room for two.
    static constexpr size_t kNameRoom = 256;
    // The buffer holds max(2 * kNameRoom, data_room) bytes: one READ or WRITE moves at most that.
    static TeeResult<std::unique_ptr<ReeFsRpc>> start(SupplicantRpc& rpc, size_t data_room);
    // For start() only: make_unique needs a public constructor, the key keeps it private.
    class Key {
        friend class ReeFsRpc;
        Key() = default;
    };
    ReeFsRpc(Key, SupplicantRpc& rpc, std::unique_ptr<RpcSharedBuffer> buffer)
        : rpc_(rpc), buffer_(std::move(buffer)) {}

    size_t room() const { return buffer_->size(); }

    // File handles are the supplicant's numbers, passed back as received.
    TeeResult<uint64_t> open(std::string_view name);
    TeeResult<uint64_t> create(std::string_view name);  // truncates an existing file
    uint32_t close(uint64_t file);
    // Reads up to `size` (<= room()) bytes at `offset` into the buffer; returns how many came
    // (fewer at the end of the file). They are in data() until the next request.
    TeeResult<size_t> read(uint64_t file, uint64_t offset, size_t size);
    std::span<const uint8_t> data() const { return {buffer_->data(), buffer_->size()}; }
    // Writes `bytes` (size <= room()) at `offset`.
    uint32_t write(uint64_t file, uint64_t offset, std::span<const uint8_t> bytes);
    uint32_t remove(std::string_view name);
    // ACCESS_CONFLICT when `to` exists and !overwrite.
    uint32_t rename(std::string_view from, std::string_view to, bool overwrite);
    // ITEM_NOT_FOUND for a directory that is absent or empty.
    TeeResult<uint64_t> opendir(std::string_view name);
    uint32_t closedir(uint64_t dir);
    // The next entry's name; ITEM_NOT_FOUND at the end.
    TeeResult<std::string> readdir(uint64_t dir);

private:

    // Copies `name` with its NUL into the name slot `slot` (0 or 1) and returns its memref.
    TeeResult<RpcParam> name_param(std::string_view name, size_t slot);
    TeeResult<uint64_t> open_by_name(uint64_t opcode, std::string_view name);

    SupplicantRpc& rpc_;
    std::unique_ptr<RpcSharedBuffer> buffer_;
};

}  // namespace teed::sim
