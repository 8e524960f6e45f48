#pragma once
// OP-TEE's secure_storage example TA (optee_examples/secure_storage) in the simulated secure
// world, plus RENAME and ENUMERATE. Its objects are files the supplicant keeps through the REE
// file system, one per object, written as OP-TEE writes its own: a new file, then a rename over
// the old one (docs/simulator.md, "secure_storage"; docs/supplicant.md, section
// secure-storage-ta).
//
//   apps.push_back(make_secure_storage_ta(rpc));   // in builtin_trusted_apps()
//
// Every operation holds one lock of the TA: sessions on several threads see each object either
// before or after another session's change, as OP-TEE's serialised storage shows them.

#include <cstddef>
#include <cstdint>
#include <memory>

namespace teed::sim {

class SupplicantRpc;
class TrustedApp;

inline constexpr const char* kSecureStorageTaUuid = "f4e750bb-1437-4fbf-8785-8d3580c34994";

// Commands: 0-2 as the example TA (TA_SECURE_STORAGE_CMD_*), the others its own.
inline constexpr uint32_t kSecureStorageReadRaw = 0;        // MEMREF_INPUT id, MEMREF_OUTPUT data
inline constexpr uint32_t kSecureStorageWriteRaw = 1;       // MEMREF_INPUT id, MEMREF_INPUT data
inline constexpr uint32_t kSecureStorageDelete = 2;         // MEMREF_INPUT id
inline constexpr uint32_t kSecureStorageRename = 0x100;     // MEMREF_INPUT old, MEMREF_INPUT new
inline constexpr uint32_t kSecureStorageEnumerate = 0x101;  // MEMREF_OUTPUT ids

// Object ids are 1 to TEE_OBJECT_ID_MAX_LEN bytes.
inline constexpr size_t kSecureStorageMaxIdSize = 64;
// The most data one object holds: the example TA copies it into its heap, whose size limits it.
// Larger writes answer TEEC_ERROR_OUT_OF_MEMORY, as its TEE_Malloc failing does.
inline constexpr size_t kSecureStorageMaxDataSize = 4u << 20;

// The object file: a header, the id, then the data. The header holds the magic, the format
// version, the id's size and the data's size (u32 each, little-endian), then a SHA-256 digest
// over those 16 bytes, the id and the data.
inline constexpr uint32_t kSecureStorageMagic = 0x41545353;  // "SSTA" on disk
inline constexpr uint32_t kSecureStorageFormatVersion = 1;
inline constexpr size_t kSecureStorageHeaderSize = 48;

// The RPC buffer of one operation holds at most this much; larger objects move in chunks.
inline constexpr size_t kSecureStorageRpcChunk = 256u << 10;

std::unique_ptr<TrustedApp> make_secure_storage_ta(SupplicantRpc& rpc);

}  // namespace teed::sim
