// The simulator's `.ta` format (backends/sim/sim_ta_image.h): what teed-mkta writes and what the
// simulated REE TA store accepts.

#include "backends/sim/sim_ta_image.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>

#include "backends/optee/ta_image.h"
#include "backends/sim/sim_ta_signing.h"

namespace teed::sim {
namespace {

using testing::HasSubstr;

const Uuid kUuid = Uuid::parse("91dcca81-d6f5-48f7-b3c0-bab814aab298").value();
const Uuid kOther = Uuid::parse("4cbe901c-6d6c-4b1d-8ecd-fa9216ce5fe6").value();
constexpr std::string_view kManifest = "teed-sim-ta 1\nprogram=loadable\nname=Demo\n";

// Offsets in a simulator file: struct shdr, hash, signature, bootstrap header, payload.
constexpr size_t kHashAt = 20;
constexpr size_t kSigAt = 52;
constexpr size_t kBootstrapAt = 84;
constexpr size_t kPayloadAt = 104;

std::string refusal(const std::vector<uint8_t>& file, const Uuid& expected = kUuid) {
    auto verified = verify_sim_ta_file(file, expected);
    return verified.ok() ? "accepted" : verified.error().message();
}

// Recomputes hash and HMAC after an edit, with `key`: a file someone re-signed.
void resign(std::vector<uint8_t>& file, std::string_view key) {
    std::vector<uint8_t> hashed(file.begin(), file.begin() + kHashAt);
    hashed.insert(hashed.end(), file.begin() + kBootstrapAt, file.end());
    unsigned int length = 0;
    EVP_Digest(hashed.data(), hashed.size(), file.data() + kHashAt, &length, EVP_sha256(), nullptr);
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), file.data() + kHashAt, 32,
         file.data() + kSigAt, &length);
}

TEST(ASimTaFile, IsABootstrapTaWithHmacSha256OverHeaderAndPayload) {
    auto file = build_sim_ta_file(kUuid, 5, kManifest);
    ASSERT_EQ(file.size(), kPayloadAt + kManifest.size());
    auto image = optee::parse_ta_image(file);
    ASSERT_TRUE(image.ok()) << image.error().message();
    EXPECT_EQ(image->header.img_type, optee::ImageType::BootstrapTa);
    EXPECT_EQ(image->header.algo, 0x30000004u);
    EXPECT_EQ(image->header.hash_size, 32u);
    EXPECT_EQ(image->header.sig_size, 32u);
    EXPECT_EQ(image->bootstrap->uuid, kUuid);
    EXPECT_EQ(image->bootstrap->ta_version, 5u);

    // Recomputing both with the published key gives the same bytes.
    auto expected = file;
    resign(expected, kSimTaDevKey);
    EXPECT_EQ(file, expected);
}

TEST(ASimTaFile, VerifiesAndGivesBackItsUuidVersionAndPayload) {
    auto verified = verify_sim_ta_file(build_sim_ta_file(kUuid, 5, kManifest), kUuid);
    ASSERT_TRUE(verified.ok()) << verified.error().message();
    EXPECT_EQ(verified->uuid, kUuid);
    EXPECT_EQ(verified->ta_version, 5u);
    EXPECT_EQ(verified->payload, kManifest);
}

TEST(ASimTaFile, WithAnyPayloadByteFlippedFailsItsHash) {
    const auto good = build_sim_ta_file(kUuid, 5, kManifest);
    for (size_t at = kPayloadAt; at < good.size(); ++at) {
        auto file = good;
        file[at] ^= 0x01;
        EXPECT_THAT(refusal(file), HasSubstr("the hash does not match")) << "byte " << at;
    }
    auto version = good;
    version[kBootstrapAt + 16] ^= 0x01;
    EXPECT_THAT(refusal(version), HasSubstr("the hash does not match")) << "the version is hashed";
}

TEST(ASimTaFile, WithItsStoredHashOrSignatureAlteredIsRefused) {
    const auto good = build_sim_ta_file(kUuid, 5, kManifest);
    auto hash = good;
    hash[kHashAt] ^= 0x80;
    EXPECT_THAT(refusal(hash), HasSubstr("the hash does not match"));
    auto signature = good;
    signature[kSigAt + 31] ^= 0x80;
    EXPECT_THAT(refusal(signature), HasSubstr("the signature does not verify"));
}

TEST(ASimTaFile, ResignedWithAnotherKeyIsRefused) {
    auto file = build_sim_ta_file(kUuid, 5, kManifest);
    file[kPayloadAt + 20] = 'X';
    resign(file, "not the development key");
    EXPECT_THAT(refusal(file), HasSubstr("the signature does not verify"));
    resign(file, kSimTaDevKey);
    EXPECT_EQ(refusal(file), "accepted") << "the development key is all it takes: integrity only";
}

TEST(ASimTaFile, HoldingAnotherUuidIsRefused) {
    EXPECT_THAT(refusal(build_sim_ta_file(kOther, 1, kManifest)),
                HasSubstr("the file holds TA 4cbe901c-6d6c-4b1d-8ecd-fa9216ce5fe6, not "
                          "91dcca81-d6f5-48f7-b3c0-bab814aab298"));
}

TEST(ASimTaFile, OfAnotherTypeOrAlgorithmIsRefused) {
    auto plain = build_sim_ta_file(kUuid, 1, kManifest);
    plain[4] = 0;  // SHDR_TA: the bootstrap header now reads as payload, so img_size disagrees
    EXPECT_THAT(refusal(plain), HasSubstr("img_size"));

    auto rsa = build_sim_ta_file(kUuid, 1, kManifest);
    rsa[12] = 0x30;
    rsa[13] = 0x49;
    rsa[14] = 0x41;
    rsa[15] = 0x70;  // TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA256
    EXPECT_THAT(refusal(rsa), HasSubstr("expected HMAC-SHA256"));
}

TEST(ASimTaFile, CutShortIsRefused) {
    auto file = build_sim_ta_file(kUuid, 1, kManifest);
    for (size_t size : {size_t{0}, size_t{19}, kSigAt, kPayloadAt, file.size() - 1}) {
        std::vector<uint8_t> cut(file.begin(), file.begin() + static_cast<long>(size));
        EXPECT_NE(refusal(cut), "accepted") << size << " bytes";
    }
}

TEST(AManifest, RoundTripsProgramAndName) {
    auto text = format_sim_ta_manifest({.program = "loadable", .name = "A name = with equals"});
    ASSERT_TRUE(text.ok()) << text.error().message();
    EXPECT_EQ(*text, "teed-sim-ta 1\nprogram=loadable\nname=A name = with equals\n");
    auto manifest = parse_sim_ta_manifest(*text);
    ASSERT_TRUE(manifest.ok()) << manifest.error().message();
    EXPECT_EQ(manifest->program, "loadable");
    EXPECT_EQ(manifest->name, "A name = with equals");
}

TEST(AManifest, MayLeaveOutTheNameAndTheLastNewline) {
    auto manifest = parse_sim_ta_manifest("teed-sim-ta 1\nprogram=loadable");
    ASSERT_TRUE(manifest.ok()) << manifest.error().message();
    EXPECT_EQ(manifest->program, "loadable");
    EXPECT_EQ(manifest->name, "");
    EXPECT_EQ(format_sim_ta_manifest({.program = "loadable"}).value(),
              "teed-sim-ta 1\nprogram=loadable\n");
}

TEST(AManifest, NamingAnUnknownProgramParsesButIsNotKnown) {
    auto manifest = parse_sim_ta_manifest("teed-sim-ta 1\nprogram=rootkit\n");
    ASSERT_TRUE(manifest.ok()) << manifest.error().message();
    EXPECT_FALSE(is_known_sim_ta_program(manifest->program));
    EXPECT_TRUE(is_known_sim_ta_program("loadable"));
}

TEST(AManifest, ThatIsMalformedIsRefusedNamingTheLine) {
    auto error = [](std::string_view text) {
        auto manifest = parse_sim_ta_manifest(text);
        return manifest.ok() ? "accepted" : manifest.error().message();
    };
    EXPECT_THAT(error(""), HasSubstr("empty manifest"));
    EXPECT_THAT(error("teed-sim-ta 2\nprogram=loadable\n"),
                HasSubstr("starts with 'teed-sim-ta 2', expected 'teed-sim-ta 1'"));
    EXPECT_THAT(error("teed-sim-ta 1\nprogram loadable\n"), HasSubstr("line 2 has no '='"));
    EXPECT_THAT(error("teed-sim-ta 1\nprogram=loadable\n\n"), HasSubstr("line 3 has no '='"));
    EXPECT_THAT(error("teed-sim-ta 1\nprogram=loadable\nentry=0x1000\n"),
                HasSubstr("line 3: unknown key 'entry'"));
    EXPECT_THAT(error("teed-sim-ta 1\nprogram=loadable\nprogram=other\n"),
                HasSubstr("line 3: 'program' given twice"));
    EXPECT_THAT(error("teed-sim-ta 1\nname=x\n"), HasSubstr("names no program"));
}

TEST(AManifest, IsNotWrittenForNamesThatWouldBreakItsLines) {
    EXPECT_FALSE(format_sim_ta_manifest({.program = "", .name = "x"}).ok());
    EXPECT_FALSE(format_sim_ta_manifest({.program = "Loadable"}).ok());
    EXPECT_FALSE(format_sim_ta_manifest({.program = "load\nable"}).ok());
    EXPECT_FALSE(format_sim_ta_manifest({.program = "loadable", .name = "two\nlines"}).ok());
    EXPECT_FALSE(format_sim_ta_manifest({.program = "loadable", .name = "cr\r"}).ok());
    EXPECT_FALSE(
        format_sim_ta_manifest({.program = "loadable", .name = std::string("nul\0", 4)}).ok());
}

}  // namespace
}  // namespace teed::sim
