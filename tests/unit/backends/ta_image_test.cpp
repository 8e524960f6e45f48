// The structure check of OP-TEE signed TA images (backends/optee/ta_image.h), which the
// supplicant runs on every file before handing it over.

#include "backends/optee/ta_image.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

namespace teed::optee {
namespace {

using testing::HasSubstr;

const Uuid kUuid = Uuid::parse("91dcca81-d6f5-48f7-b3c0-bab814aab298").value();

void append(std::vector<uint8_t>& out, const std::vector<uint8_t>& bytes) {
    out.insert(out.end(), bytes.begin(), bytes.end());
}

void append_le32(std::vector<uint8_t>& out, uint32_t value) {
    for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<uint8_t>(value >> shift));
}

// struct shdr with a hash and signature of the given sizes (filled with a marker byte).
std::vector<uint8_t> signed_header(ImageType type, uint32_t img_size, uint16_t hash_size = 32,
                                   uint16_t sig_size = 256) {
    std::vector<uint8_t> out =
        encode_signed_header({.img_type = type,
                              .img_size = img_size,
                              .algo = 0x70414930,  // RSASSA_PKCS1_PSS_MGF1_SHA256
                              .hash_size = hash_size,
                              .sig_size = sig_size});
    out.insert(out.end(), hash_size, 0xAA);
    out.insert(out.end(), sig_size, 0x55);
    return out;
}

std::vector<uint8_t> plain_ta(uint32_t elf_size = 100) {
    std::vector<uint8_t> out = signed_header(ImageType::Ta, elf_size);
    out.insert(out.end(), elf_size, 0x7F);
    return out;
}

std::vector<uint8_t> bootstrap_ta(uint32_t elf_size = 100, uint32_t version = 7) {
    std::vector<uint8_t> out = signed_header(ImageType::BootstrapTa, elf_size);
    append(out, encode_bootstrap_header({.uuid = kUuid, .ta_version = version}));
    out.insert(out.end(), elf_size, 0x7F);
    return out;
}

std::vector<uint8_t> encrypted_ta(uint16_t iv_size, uint16_t tag_size, uint32_t elf_size = 64) {
    std::vector<uint8_t> out = signed_header(ImageType::EncryptedTa, elf_size);
    append(out, encode_bootstrap_header({.uuid = kUuid, .ta_version = 1}));
    append_le32(out, 0x40000810);  // TEE_ALG_AES_GCM
    append_le32(out, 0);           // flags
    out.push_back(static_cast<uint8_t>(iv_size));
    out.push_back(static_cast<uint8_t>(iv_size >> 8));
    out.push_back(static_cast<uint8_t>(tag_size));
    out.push_back(static_cast<uint8_t>(tag_size >> 8));
    out.insert(out.end(), iv_size + tag_size, 0x11);
    out.insert(out.end(), elf_size, 0x22);
    return out;
}

struct Attr {
    uint32_t offs;
    uint32_t size;
};

// A SUBKEY header, its struct shdr_subkey of `subkey_size` bytes with `attrs`, and a name.
std::vector<uint8_t> subkey(uint32_t subkey_size, std::vector<Attr> attrs, uint32_t name_size,
                            uint32_t attr_count_field = UINT32_MAX) {
    std::vector<uint8_t> out = signed_header(ImageType::Subkey, subkey_size);
    std::vector<uint8_t> body(kUuid.bytes.begin(), kUuid.bytes.end());
    append_le32(body, name_size);
    append_le32(body, 1);  // subkey_version
    append_le32(body, 0);  // max_depth
    append_le32(body, 0x70414930);
    append_le32(body, attr_count_field == UINT32_MAX ? static_cast<uint32_t>(attrs.size())
                                                     : attr_count_field);
    for (const Attr& attr : attrs) {
        append_le32(body, 0xD0000130);  // TEE_ATTR_RSA_MODULUS
        append_le32(body, attr.offs);
        append_le32(body, attr.size);
    }
    body.resize(subkey_size, 0x33);
    append(out, body);
    out.insert(out.end(), name_size, 'n');
    return out;
}

std::string reason(const std::vector<uint8_t>& file) {
    auto parsed = parse_ta_image(file);
    return parsed.ok() ? "accepted" : parsed.error().message();
}

TEST(ATaImage, OfTypeTaIsAcceptedWithItsElfAsPayload) {
    auto file = plain_ta(100);
    auto image = parse_ta_image(file);
    ASSERT_TRUE(image.ok()) << image.error().message();
    EXPECT_EQ(image->header.img_type, ImageType::Ta);
    EXPECT_EQ(image->header.hash.size(), 32u);
    EXPECT_EQ(image->header.sig.size(), 256u);
    EXPECT_FALSE(image->bootstrap.has_value());
    EXPECT_EQ(image->payload.size(), 100u);
    EXPECT_EQ(image->payload.data(), file.data() + file.size() - 100);
}

TEST(ATaImage, OfTypeBootstrapTaCarriesItsUuidAndVersion) {
    auto file = bootstrap_ta(50, 9);
    auto image = parse_ta_image(file);
    ASSERT_TRUE(image.ok()) << image.error().message();
    ASSERT_TRUE(image->bootstrap.has_value());
    EXPECT_EQ(image->bootstrap->uuid, kUuid);
    EXPECT_EQ(image->bootstrap->ta_version, 9u);
    EXPECT_EQ(image->shdr_bytes.size(), kShdrBytes);
    EXPECT_EQ(image->bootstrap_bytes.size(), kBootstrapHeaderBytes);
    EXPECT_EQ(image->payload.size(), 50u);
}

TEST(ATaImage, OfTypeEncryptedTaHasItsIvAndTagBeforeThePayload) {
    auto image = parse_ta_image(encrypted_ta(12, 16, 64));
    ASSERT_TRUE(image.ok()) << image.error().message();
    EXPECT_EQ(image->payload.size(), 64u);
    EXPECT_EQ(image->payload[0], 0x22);
    // The same file with an iv longer than what is left.
    auto file = encrypted_ta(12, 16, 64);
    file.resize(file.size() - 64 - 28 + 4);  // keeps 4 bytes of iv and tag
    EXPECT_THAT(reason(file), HasSubstr("encryption iv"));
}

TEST(ATaImage, SignedWithASubkeyIsWalkedToTheTaBehindIt) {
    auto file = subkey(36 + 12 + 8, {{48, 8}}, 10);
    append(file, bootstrap_ta(20));
    auto image = parse_ta_image(file);
    ASSERT_TRUE(image.ok()) << image.error().message();
    EXPECT_EQ(image->subkeys, 1u);
    EXPECT_EQ(image->header.img_type, ImageType::BootstrapTa);
    EXPECT_EQ(image->header_offset, kShdrBytes + 32 + 256 + 56 + 10);
    EXPECT_EQ(image->payload.size(), 20u);

    auto chain = subkey(36, {}, 0);
    append(chain, subkey(36, {}, 4));
    append(chain, plain_ta(8));
    auto chained = parse_ta_image(chain);
    ASSERT_TRUE(chained.ok()) << chained.error().message();
    EXPECT_EQ(chained->subkeys, 2u);
}

TEST(ATaImage, WithABrokenSubkeyIsRefused) {
    auto too_small = subkey(36, {}, 0);
    too_small[8] = 20;  // img_size below the subkey header
    append(too_small, plain_ta());
    EXPECT_THAT(reason(too_small), HasSubstr("img_size 20 is below the 36-byte subkey header"));

    auto attrs_overflow = subkey(36 + 12, {{0, 4}}, 0, /*attr_count_field=*/0x20000000);
    append(attrs_overflow, plain_ta());
    EXPECT_THAT(reason(attrs_overflow), HasSubstr("attributes do not fit"));

    auto attr_outside = subkey(36 + 12, {{40, 0xFFFFFFF0}}, 0);
    append(attr_outside, plain_ta());
    EXPECT_THAT(reason(attr_outside), HasSubstr("attribute 0 ends at"));

    auto name_cut = subkey(36, {}, 1000);
    name_cut.resize(name_cut.size() - 990);
    EXPECT_THAT(reason(name_cut),
                HasSubstr("subkey name at offset 344 needs 1000 bytes, the file has 10"));
    EXPECT_THAT(reason(subkey(36, {}, 0)), HasSubstr("signed header at offset 344 needs 20 bytes"))
        << "a subkey must be followed by another image";
}

TEST(ATaImage, CutInsideItsHeaderIsRefused) {
    auto file = bootstrap_ta();
    EXPECT_THAT(reason({}), HasSubstr("signed header at offset 0 needs 20 bytes, the file has 0"));
    EXPECT_THAT(reason(std::vector<uint8_t>(file.begin(), file.begin() + 19)),
                HasSubstr("needs 20 bytes, the file has 19"));
    EXPECT_THAT(reason(std::vector<uint8_t>(file.begin(), file.begin() + 40)),
                HasSubstr("hash at offset 20 needs 32 bytes"));
    EXPECT_THAT(reason(std::vector<uint8_t>(file.begin(), file.begin() + 300)),
                HasSubstr("signature at offset 52 needs 256 bytes"));
    EXPECT_THAT(reason(std::vector<uint8_t>(file.begin(), file.begin() + 310)),
                HasSubstr("bootstrap header at offset 308 needs 20 bytes"));
}

TEST(ATaImage, WithAnotherMagicIsRefused) {
    auto file = plain_ta();
    file[0] ^= 1;
    EXPECT_THAT(reason(file), HasSubstr("magic 0x4f545349, expected 0x4f545348"));
}

TEST(ATaImage, OfAnUnknownTypeIsRefused) {
    auto file = plain_ta();
    file[4] = 4;
    EXPECT_THAT(reason(file), HasSubstr("unknown img_type 4"));
    file[4] = 0;
    file[7] = 0x80;
    EXPECT_THAT(reason(file), HasSubstr("unknown img_type 2147483648"));
}

TEST(ATaImage, WithImpossibleHashOrSignatureSizesIsRefused) {
    EXPECT_THAT(reason(signed_header(ImageType::Ta, 0, 0, 256)), HasSubstr("hash_size 0"));
    EXPECT_THAT(reason(signed_header(ImageType::Ta, 0, 65, 256)), HasSubstr("hash_size 65"));
    // A hash_size no digest has, in a file large enough to hold it: refused all the same.
    EXPECT_THAT(reason(signed_header(ImageType::Ta, 0, 65535, 1)), HasSubstr("hash_size 65535"));
    EXPECT_THAT(reason(signed_header(ImageType::Ta, 0, 32, 0)), HasSubstr("sig_size 0"));
    auto huge_sig = plain_ta();
    huge_sig[18] = 0xFF;
    huge_sig[19] = 0xFF;
    EXPECT_THAT(reason(huge_sig), HasSubstr("signature at offset 52 needs 65535 bytes"));
}

TEST(ATaImage, WhoseImgSizeDisagreesWithTheFileIsRefused) {
    auto truncated = bootstrap_ta(100);
    truncated.pop_back();
    EXPECT_THAT(reason(truncated),
                HasSubstr("img_size 100 at offset 328 does not match the file: 99 bytes follow the "
                          "headers (truncated)"));
    auto trailing = bootstrap_ta(100);
    trailing.push_back(0);
    EXPECT_THAT(reason(trailing), HasSubstr("101 bytes follow the headers (trailing bytes)"));
    auto huge = plain_ta(10);
    huge[8] = huge[9] = huge[10] = huge[11] = 0xFF;
    EXPECT_THAT(reason(huge), HasSubstr("img_size 4294967295"));
}

TEST(TheHeaderEncoders, WriteLittleEndianFieldsInOpteeOrder) {
    auto shdr = encode_signed_header({.img_type = ImageType::BootstrapTa,
                                      .img_size = 0x01020304,
                                      .algo = 0x30000004,
                                      .hash_size = 32,
                                      .sig_size = 0x0102});
    EXPECT_EQ(shdr, (std::vector<uint8_t>{0x48, 0x53, 0x54, 0x4f, 1, 0,    0,  0, 4, 3,
                                          2,    1,    4,    0,    0, 0x30, 32, 0, 2, 1}));
    auto bootstrap = encode_bootstrap_header({.uuid = kUuid, .ta_version = 0x0A0B0C0D});
    ASSERT_EQ(bootstrap.size(), kBootstrapHeaderBytes);
    EXPECT_EQ(bootstrap[0], 0x91);  // the UUID's octets in RFC 4122 order
    EXPECT_EQ(bootstrap[15], 0x98);
    EXPECT_EQ(bootstrap[16], 0x0D);
    EXPECT_EQ(bootstrap[19], 0x0A);
}

}  // namespace
}  // namespace teed::optee
