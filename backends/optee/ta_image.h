#pragma once
// The layout of an OP-TEE signed TA image (optee_os core/include/signed_hdr.h), all fields
// little-endian:
//
//   [shdr SUBKEY + hash + sig + shdr_subkey (img_size bytes) + name (name_size bytes)]*
//   shdr + hash + sig                      type TA, BOOTSTRAP_TA or ENCRYPTED_TA
//   shdr_bootstrap_ta                      BOOTSTRAP_TA and ENCRYPTED_TA
//   shdr_encrypted_ta + iv + tag           ENCRYPTED_TA
//   image (img_size bytes)                 the TA's ELF (encrypted for ENCRYPTED_TA)
//
//   TaImage image = TEED_TRY(parse_ta_image(file));
//   if (image.bootstrap) use(image.bootstrap->uuid, image.payload);
//
// parse_ta_image() checks that this structure fits the bytes exactly; it checks no hash and no
// signature (that needs the keys, which only the secure world has). Its reasons name the field
// and the offset at fault.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/result.h"
#include "common/uuid.h"

namespace teed::optee {

constexpr uint32_t kShdrMagic = 0x4f545348;   // "HSTO" little-endian
constexpr size_t kShdrBytes = 20;             // struct shdr without hash and signature
constexpr size_t kBootstrapHeaderBytes = 20;  // struct shdr_bootstrap_ta
constexpr size_t kEncryptedHeaderBytes = 12;  // struct shdr_encrypted_ta without iv and tag
constexpr size_t kSubkeyHeaderBytes = 36;     // struct shdr_subkey without attrs
constexpr size_t kSubkeyAttrBytes = 12;       // one struct shdr_subkey_attr
// The largest digest OP-TEE verifies TAs with (TEE_MAX_HASH_SIZE, SHA-512).
constexpr uint16_t kMaxHashBytes = 64;

enum class ImageType : uint32_t {
    Ta = 0,           // SHDR_TA
    BootstrapTa = 1,  // SHDR_BOOTSTRAP_TA
    EncryptedTa = 2,  // SHDR_ENCRYPTED_TA
    Subkey = 3,       // SHDR_SUBKEY
};

// struct shdr, and where its hash and signature are in the file.
struct SignedHeader {
    uint32_t magic = kShdrMagic;
    ImageType img_type = ImageType::Ta;
    uint32_t img_size = 0;
    uint32_t algo = 0;
    uint16_t hash_size = 0;
    uint16_t sig_size = 0;
    std::span<const uint8_t> hash;
    std::span<const uint8_t> sig;
};

// struct shdr_bootstrap_ta: the UUID as 16 octets in RFC 4122 order (tee_uuid_to_octets).
struct BootstrapHeader {
    Uuid uuid;
    uint32_t ta_version = 0;
};

struct TaImage {
    size_t subkeys = 0;                        // SUBKEY headers before the TA's own
    size_t header_offset = 0;                  // where the TA's own struct shdr starts
    SignedHeader header;                       // the TA's own struct shdr
    std::span<const uint8_t> shdr_bytes;       // its 20 fixed bytes, as hashed
    std::optional<BootstrapHeader> bootstrap;  // BOOTSTRAP_TA and ENCRYPTED_TA
    std::span<const uint8_t> bootstrap_bytes;  // its 20 bytes, as hashed
    std::span<const uint8_t> payload;          // the last img_size bytes: the (encrypted) ELF
};

// InvalidArgument naming what does not fit: a header cut short, a magic other than kShdrMagic,
// an unknown img_type, hash_size 0 or above kMaxHashBytes, sig_size 0, a type-specific header
// (subkey, bootstrap, encrypted) or its variable part that leaves the file, or an img_size that
// does not end the image exactly at the end of the file.
Result<TaImage> parse_ta_image(std::span<const uint8_t> file);

// The 20 bytes of struct shdr for `header` (its hash and sig spans are not written).
std::vector<uint8_t> encode_signed_header(const SignedHeader& header);
// The 20 bytes of struct shdr_bootstrap_ta.
std::vector<uint8_t> encode_bootstrap_header(const BootstrapHeader& header);

}  // namespace teed::optee
