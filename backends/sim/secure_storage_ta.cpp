// The secure_storage TA: objects as files of the REE file system, each written to a temporary
// file and renamed over the old version, and checked with a digest when read (the contract is in
// docs/simulator.md, the way it uses the supplicant in docs/supplicant.md).

#include "backends/sim/secure_storage_ta.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backends/kernel/gp.h"
#include "backends/sim/ree_fs_rpc.h"
#include "backends/sim/trusted_app.h"
#include "common/log.h"
#include "common/uuid.h"

namespace teed::sim {
namespace {

// Header layout (kSecureStorageHeaderSize bytes): the fields the digest covers, then the digest.
constexpr size_t kMagicAt = 0;
constexpr size_t kVersionAt = 4;
constexpr size_t kIdSizeAt = 8;
constexpr size_t kDataSizeAt = 12;
constexpr size_t kFieldsSize = 16;
constexpr size_t kDigestAt = kFieldsSize;
using Digest = std::array<uint8_t, 32>;
static_assert(kDigestAt + sizeof(Digest) == kSecureStorageHeaderSize);

constexpr size_t kMaxFileSize =
    kSecureStorageHeaderSize + kSecureStorageMaxIdSize + kSecureStorageMaxDataSize;

using Bytes = std::vector<uint8_t>;

void put_u32(uint8_t* at, uint32_t value) {
    for (size_t i = 0; i < 4; ++i) at[i] = static_cast<uint8_t>(value >> (8 * i));
}

uint32_t get_u32(const uint8_t* at) {
    uint32_t value = 0;
    for (size_t i = 0; i < 4; ++i) value |= uint32_t{at[i]} << (8 * i);
    return value;
}

std::string to_hex(std::span<const uint8_t> bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string text;
    text.reserve(bytes.size() * 2);
    for (uint8_t byte : bytes) {
        text += kDigits[byte >> 4];
        text += kDigits[byte & 0xf];
    }
    return text;
}

// The object id a file name stands for: lower-case hex of 1 to 64 bytes, as to_hex() writes it.
// Anything else in the directory (temporary files, strangers) is not an object.
std::optional<Bytes> id_from_file_name(std::string_view name) {
    if (name.empty() || name.size() % 2 != 0 || name.size() > 2 * kSecureStorageMaxIdSize)
        return std::nullopt;
    auto digit = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    Bytes id;
    for (size_t i = 0; i < name.size(); i += 2) {
        const int high = digit(name[i]);
        const int low = digit(name[i + 1]);
        if (high < 0 || low < 0) return std::nullopt;
        id.push_back(static_cast<uint8_t>(high << 4 | low));
    }
    return id;
}

// SHA-256 over the header's fields and everything after the header (the id and the data).
std::optional<Digest> object_digest(std::span<const uint8_t> file) {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    Digest digest{};
    unsigned int length = 0;
    const bool done = ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1 &&
                      EVP_DigestUpdate(ctx.get(), file.data(), kFieldsSize) == 1 &&
                      EVP_DigestUpdate(ctx.get(), file.data() + kSecureStorageHeaderSize,
                                       file.size() - kSecureStorageHeaderSize) == 1 &&
                      EVP_DigestFinal_ex(ctx.get(), digest.data(), &length) == 1 &&
                      length == digest.size();
    if (!done) return std::nullopt;
    return digest;
}

// The file of `id`'s object holding `data`. It is also the TA's own copy of the client's bytes:
// shared memory may change while the file is written, the copy does not.
TeeResult<Bytes> encode_object(std::span<const uint8_t> id, std::span<const uint8_t> data) {
    Bytes file(kSecureStorageHeaderSize + id.size() + data.size());
    put_u32(&file[kMagicAt], kSecureStorageMagic);
    put_u32(&file[kVersionAt], kSecureStorageFormatVersion);
    put_u32(&file[kIdSizeAt], static_cast<uint32_t>(id.size()));
    put_u32(&file[kDataSizeAt], static_cast<uint32_t>(data.size()));
    std::copy(id.begin(), id.end(), file.begin() + kSecureStorageHeaderSize);
    std::copy(data.begin(), data.end(), file.begin() + kSecureStorageHeaderSize + id.size());
    const auto digest = object_digest(file);
    if (!digest) return TeeError{gp::kErrorGeneric};
    std::copy(digest->begin(), digest->end(), file.begin() + kDigestAt);
    return file;
}

// Why `file` is not `id`'s object as encode_object() wrote it, or empty when it is.
std::string corruption(std::span<const uint8_t> file, std::span<const uint8_t> id) {
    if (file.size() < kSecureStorageHeaderSize)
        return "shorter (" + std::to_string(file.size()) + " bytes) than a header";
    if (get_u32(&file[kMagicAt]) != kSecureStorageMagic) return "no object magic";
    if (get_u32(&file[kVersionAt]) != kSecureStorageFormatVersion)
        return "format version " + std::to_string(get_u32(&file[kVersionAt]));
    const uint32_t id_size = get_u32(&file[kIdSizeAt]);
    const uint32_t data_size = get_u32(&file[kDataSizeAt]);
    if (id_size != id.size() ||
        !std::equal(id.begin(), id.end(), file.begin() + kSecureStorageHeaderSize))
        return "the header names another object";
    if (data_size > kSecureStorageMaxDataSize)
        return "data size " + std::to_string(data_size) + " above the limit";
    const size_t expected = kSecureStorageHeaderSize + id_size + data_size;
    if (file.size() != expected) {
        return std::to_string(file.size()) + " bytes where the header promises " +
               std::to_string(expected) + " (torn or extended)";
    }
    const auto digest = object_digest(file);
    if (!digest) return "no digest could be computed";
    if (!std::equal(digest->begin(), digest->end(), file.begin() + kDigestAt))
        return "digest mismatch";
    return {};
}

std::span<const uint8_t> data_of(std::span<const uint8_t> file, size_t id_size) {
    return file.subspan(kSecureStorageHeaderSize + id_size);
}

// After COMMUNICATION nobody answers: clean-up requests would only wait for a supplicant.
bool reachable(uint32_t code) {
    return code != gp::kErrorCommunication;
}

// The TA's objects, in the directory named by its UUID. Each operation holds mutex_ throughout,
// as OP-TEE serialises access to its storage.
class ObjectStore {
public:
    ObjectStore(SupplicantRpc& rpc, const Uuid& ta) : rpc_(rpc), dir_("/" + ta.to_string()) {}

    // The object's file, checked.
    TeeResult<Bytes> read(std::span<const uint8_t> id) {
        std::lock_guard lock(mutex_);
        auto fs = ReeFsRpc::start(rpc_, kSecureStorageRpcChunk);
        if (!fs.ok()) return TeeError{fs.code()};
        return load(**fs, id);
    }

    uint32_t write(std::span<const uint8_t> id, std::span<const uint8_t> data) {
        auto file = encode_object(id, data);
        if (!file.ok()) return file.code();
        std::lock_guard lock(mutex_);
        auto fs = ReeFsRpc::start(rpc_, std::min(file->size(), kSecureStorageRpcChunk));
        if (!fs.ok()) return fs.code();
        return store(**fs, id, *file, /*overwrite=*/true);
    }

    // Removes the file without reading it: a corrupt object can be deleted too.
    uint32_t remove(std::span<const uint8_t> id) {
        std::lock_guard lock(mutex_);
        auto fs = ReeFsRpc::start(rpc_, 0);
        if (!fs.ok()) return fs.code();
        return (*fs)->remove(object_name(id));
    }

    // Writes the object anew under `to` (its id is part of the file), then removes `from`: a
    // failure between the two leaves it under both ids, never under none.
    uint32_t rename(std::span<const uint8_t> from, std::span<const uint8_t> to) {
        std::lock_guard lock(mutex_);
        auto fs = ReeFsRpc::start(rpc_, kSecureStorageRpcChunk);
        if (!fs.ok()) return fs.code();
        auto file = load(**fs, from);
        if (!file.ok()) return file.code();
        if (std::ranges::equal(from, to)) return gp::kErrorAccessConflict;  // `to` exists: itself
        auto moved = encode_object(to, data_of(*file, from.size()));
        if (!moved.ok()) return moved.code();
        const uint32_t stored = store(**fs, to, *moved, /*overwrite=*/false);
        if (stored != gp::kSuccess) return stored;
        return (*fs)->remove(object_name(from));
    }

    // The ids of the objects, sorted.
    TeeResult<std::vector<Bytes>> list() {
        std::lock_guard lock(mutex_);
        auto fs = ReeFsRpc::start(rpc_, 0);
        if (!fs.ok()) return TeeError{fs.code()};
        auto dir = (*fs)->opendir(dir_);
        // REE FS answers ITEM_NOT_FOUND for a directory that is absent or empty: no objects.
        if (dir.code() == gp::kErrorItemNotFound) return std::vector<Bytes>{};
        if (!dir.ok()) return TeeError{dir.code()};
        std::vector<Bytes> ids;
        uint32_t ended = gp::kSuccess;
        while (ended == gp::kSuccess) {
            auto name = (*fs)->readdir(*dir);
            ended = name.code();
            if (!name.ok()) break;
            if (auto id = id_from_file_name(*name)) ids.push_back(std::move(*id));
        }
        if (reachable(ended)) static_cast<void>((*fs)->closedir(*dir));
        if (ended == gp::kErrorShortBuffer) ended = gp::kErrorGeneric;  // names fit the buffer
        if (ended != gp::kErrorItemNotFound) return TeeError{ended};
        std::ranges::sort(ids);
        return ids;
    }

private:
    std::string object_name(std::span<const uint8_t> id) const { return dir_ + "/" + to_hex(id); }
    // One per object: writes of an object are serialised, and the next write truncates and
    // reuses what a crashed one left.
    std::string temp_name(std::span<const uint8_t> id) const { return object_name(id) + ".tmp"; }

    TeeResult<Bytes> load(ReeFsRpc& fs, std::span<const uint8_t> id) {
        const std::string name = object_name(id);
        auto file = read_file(fs, name);
        if (!file.ok()) return file;
        const std::string reason = corruption(*file, id);
        if (!reason.empty()) {
            log_debug("secure_storage: object file is corrupt",
                      {{"TEED_FS_NAME", name}, {"TEED_REASON", reason}});
            return TeeError{gp::kErrorCorruptObject};
        }
        return file;
    }

    // The whole file, or its first bytes past the largest file this TA writes (which
    // corruption() then refuses).
    static TeeResult<Bytes> read_file(ReeFsRpc& fs, const std::string& name) {
        auto fd = fs.open(name);
        if (!fd.ok()) return TeeError{fd.code()};
        Bytes file;
        uint32_t failed = gp::kSuccess;
        while (file.size() <= kMaxFileSize) {
            auto got = fs.read(*fd, file.size(), fs.room());
            if (!got.ok()) {
                failed = got.code();
                break;
            }
            file.insert(file.end(), fs.data().begin(), fs.data().begin() + *got);
            if (*got < fs.room()) break;  // the end of the file
        }
        if (reachable(failed)) static_cast<void>(fs.close(*fd));  // what was read is read
        if (failed != gp::kSuccess) return TeeError{failed};
        return file;
    }

    // Writes `file` to the object's temporary file, then renames it to the object's name, over
    // the old version (overwrite) or only where there is none (ACCESS_CONFLICT otherwise). The
    // old version or the new one exists at every instant; a failed write removes the temporary
    // file when the storage still answers.
    uint32_t store(ReeFsRpc& fs, std::span<const uint8_t> id, std::span<const uint8_t> file,
                   bool overwrite) {
        const std::string temp = temp_name(id);
        uint32_t result = gp::kSuccess;
        auto fd = fs.create(temp);
        if (fd.ok()) {
            result = write_all(fs, *fd, file);
            if (reachable(result)) {
                const uint32_t closed = fs.close(*fd);
                if (result == gp::kSuccess) result = closed;
            }
        } else {
            result = fd.code();
        }
        if (result == gp::kSuccess) result = fs.rename(temp, object_name(id), overwrite);
        if (result != gp::kSuccess && reachable(result)) static_cast<void>(fs.remove(temp));
        return result;
    }

    static uint32_t write_all(ReeFsRpc& fs, uint64_t fd, std::span<const uint8_t> file) {
        for (size_t offset = 0; offset < file.size(); offset += fs.room()) {
            const size_t size = std::min(fs.room(), file.size() - offset);
            const uint32_t written = fs.write(fd, offset, file.subspan(offset, size));
            if (written != gp::kSuccess) return written;
        }
        return gp::kSuccess;
    }

    SupplicantRpc& rpc_;
    const std::string dir_;  // "/<ta uuid>"
    std::mutex mutex_;
};

// A copy of the object id in a MEMREF_INPUT (the client may change its memory meanwhile):
// 1 to TEE_OBJECT_ID_MAX_LEN bytes, else none.
std::optional<Bytes> object_id(const TaParam& param) {
    if (param.buffer == nullptr || param.size == 0 || param.size > kSecureStorageMaxIdSize)
        return std::nullopt;
    return Bytes(param.buffer, param.buffer + param.size);
}

// Answers SHORT_BUFFER with the size needed when `out` cannot take `bytes`.
uint32_t put_output(TaParam& out, std::span<const uint8_t> bytes) {
    if (out.size < bytes.size()) {
        out.size = bytes.size();
        return gp::kErrorShortBuffer;
    }
    if (!bytes.empty()) {
        if (out.buffer == nullptr) return gp::kErrorBadParameters;
        std::memcpy(out.buffer, bytes.data(), bytes.size());
    }
    out.size = bytes.size();
    return gp::kSuccess;
}

class SecureStorageSession final : public TaSession {
public:
    explicit SecureStorageSession(std::shared_ptr<ObjectStore> store) : store_(std::move(store)) {}

    // Storage operations are not cancellable: OP-TEE's are not either.
    TaResult invoke(uint32_t command, TaParams& params, const CancelToken& /*cancel*/) override {
        switch (command) {
            case kSecureStorageReadRaw:
                return code(read_raw(params));
            case kSecureStorageWriteRaw:
                return code(write_raw(params));
            case kSecureStorageDelete:
                return code(delete_object(params));
            case kSecureStorageRename:
                return code(rename(params));
            case kSecureStorageEnumerate:
                return code(enumerate(params));
            default:
                return code(gp::kErrorBadParameters);
        }
    }

private:
    uint32_t read_raw(TaParams& params) {
        if (!has_types(params, kMemrefInput, kMemrefOutput)) return gp::kErrorBadParameters;
        const auto id = object_id(params[0]);
        if (!id) return gp::kErrorBadParameters;
        auto file = store_->read(*id);
        if (!file.ok()) return file.code();
        return put_output(params[1], data_of(*file, id->size()));
    }

    uint32_t write_raw(TaParams& params) {
        if (!has_types(params, kMemrefInput, kMemrefInput)) return gp::kErrorBadParameters;
        const auto id = object_id(params[0]);
        const TaParam& data = params[1];
        if (!id || (data.buffer == nullptr && data.size != 0)) return gp::kErrorBadParameters;
        if (data.size > kSecureStorageMaxDataSize) return gp::kErrorOutOfMemory;
        return store_->write(*id, {data.buffer, data.size});
    }

    uint32_t delete_object(TaParams& params) {
        if (!has_types(params, kMemrefInput)) return gp::kErrorBadParameters;
        const auto id = object_id(params[0]);
        if (!id) return gp::kErrorBadParameters;
        return store_->remove(*id);
    }

    uint32_t rename(TaParams& params) {
        if (!has_types(params, kMemrefInput, kMemrefInput)) return gp::kErrorBadParameters;
        const auto from = object_id(params[0]);
        const auto to = object_id(params[1]);
        if (!from || !to) return gp::kErrorBadParameters;
        return store_->rename(*from, *to);
    }

    // Each id as its size (u32, little-endian) followed by its bytes, in byte order of the ids.
    uint32_t enumerate(TaParams& params) {
        if (!has_types(params, kMemrefOutput)) return gp::kErrorBadParameters;
        auto ids = store_->list();
        if (!ids.ok()) return ids.code();
        Bytes listing;
        for (const Bytes& id : *ids) {
            std::array<uint8_t, 4> size{};
            put_u32(size.data(), static_cast<uint32_t>(id.size()));
            listing.insert(listing.end(), size.begin(), size.end());
            listing.insert(listing.end(), id.begin(), id.end());
        }
        return put_output(params[0], listing);
    }

    const std::shared_ptr<ObjectStore> store_;
};

class SecureStorageApp final : public TrustedApp {
public:
    explicit SecureStorageApp(SupplicantRpc& rpc)
        : uuid_(Uuid::parse(kSecureStorageTaUuid).value()),
          store_(std::make_shared<ObjectStore>(rpc, uuid_)) {}

    const Uuid& uuid() const override { return uuid_; }
    std::string_view name() const override { return "secure_storage"; }

    // Any open-session parameters, as the example TA ignores them.
    std::unique_ptr<TaSession> open_session(const TaClient& /*client*/, TaParams& /*params*/,
                                            const CancelToken& /*cancel*/,
                                            uint32_t& /*ret_code*/) override {
        return std::make_unique<SecureStorageSession>(store_);
    }

private:
    const Uuid uuid_;
    const std::shared_ptr<ObjectStore> store_;
};

}  // namespace

std::unique_ptr<TrustedApp> make_secure_storage_ta(SupplicantRpc& rpc) {
    return std::make_unique<SecureStorageApp>(rpc);
}

}  // namespace teed::sim
