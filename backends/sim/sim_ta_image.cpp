#include "backends/sim/sim_ta_image.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <memory>

#include "backends/optee/ta_image.h"
#include "backends/sim/sim_ta_signing.h"

namespace teed::sim {
namespace {

constexpr std::string_view kManifestMagic = "teed-sim-ta 1";

using Digest = std::array<uint8_t, kSimTaHashBytes>;

// SHA-256 over the pieces OP-TEE hashes: struct shdr, the bootstrap header, the payload.
Digest image_hash(std::span<const uint8_t> shdr, std::span<const uint8_t> bootstrap,
                  std::span<const uint8_t> payload) {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    Digest digest{};
    unsigned int length = 0;
    EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
    EVP_DigestUpdate(ctx.get(), shdr.data(), shdr.size());
    EVP_DigestUpdate(ctx.get(), bootstrap.data(), bootstrap.size());
    EVP_DigestUpdate(ctx.get(), payload.data(), payload.size());
    EVP_DigestFinal_ex(ctx.get(), digest.data(), &length);
    return digest;
}

Digest image_signature(std::span<const uint8_t> hash) {
    Digest mac{};
    unsigned int length = 0;
    HMAC(EVP_sha256(), kSimTaDevKey.data(), static_cast<int>(kSimTaDevKey.size()), hash.data(),
         hash.size(), mac.data(), &length);
    return mac;
}

bool same_bytes(std::span<const uint8_t> a, std::span<const uint8_t> b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool is_program_name(std::string_view program) {
    return !program.empty() && std::all_of(program.begin(), program.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
}

std::span<const uint8_t> as_bytes(std::string_view text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// One "key=value" line into `manifest`; `seen` tracks keys already given.
Result<void> parse_manifest_line(std::string_view line, size_t number, SimTaManifest& manifest,
                                 bool (&seen)[2]) {
    const size_t equals = line.find('=');
    if (equals == std::string_view::npos)
        return Error(ErrorKind::InvalidArgument) << "manifest line " << number << " has no '='";
    const std::string_view key = line.substr(0, equals);
    const std::string_view value = line.substr(equals + 1);
    const int index = key == "program" ? 0 : key == "name" ? 1 : -1;
    if (index < 0) {
        return Error(ErrorKind::InvalidArgument)
               << "manifest line " << number << ": unknown key '" << key << "'";
    }
    if (seen[index]) {
        return Error(ErrorKind::InvalidArgument)
               << "manifest line " << number << ": '" << key << "' given twice";
    }
    seen[index] = true;
    (index == 0 ? manifest.program : manifest.name) = std::string(value);
    return {};
}

}  // namespace

bool is_known_sim_ta_program(std::string_view program) {
    return std::find(kSimTaPrograms.begin(), kSimTaPrograms.end(), program) != kSimTaPrograms.end();
}

Result<std::string> format_sim_ta_manifest(const SimTaManifest& manifest) {
    if (!is_program_name(manifest.program)) {
        return Error(ErrorKind::InvalidArgument)
               << "program '" << manifest.program << "' is not a name of [a-z0-9_]";
    }
    if (manifest.name.find_first_of(std::string_view("\n\r\0", 3)) != std::string::npos)
        return Error(ErrorKind::InvalidArgument) << "the name holds a line break or a NUL";
    std::string text(kManifestMagic);
    text += "\nprogram=" + manifest.program + "\n";
    if (!manifest.name.empty()) text += "name=" + manifest.name + "\n";
    return text;
}

Result<SimTaManifest> parse_sim_ta_manifest(std::string_view text) {
    SimTaManifest manifest;
    bool seen[2] = {false, false};
    size_t number = 0;
    while (!text.empty()) {
        const size_t end = text.find('\n');
        const std::string_view line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
        ++number;
        if (number == 1) {
            if (line != kManifestMagic) {
                return Error(ErrorKind::InvalidArgument)
                       << "manifest starts with '" << line << "', expected '" << kManifestMagic
                       << "'";
            }
            continue;
        }
        TEED_TRY(parse_manifest_line(line, number, manifest, seen));
    }
    if (number == 0) return Error(ErrorKind::InvalidArgument) << "empty manifest";
    if (!seen[0]) return Error(ErrorKind::InvalidArgument) << "manifest names no program";
    return manifest;
}

std::vector<uint8_t> build_sim_ta_file(const Uuid& uuid, uint32_t ta_version,
                                       std::string_view payload) {
    const std::vector<uint8_t> shdr =
        optee::encode_signed_header({.img_type = optee::ImageType::BootstrapTa,
                                     .img_size = static_cast<uint32_t>(payload.size()),
                                     .algo = kSimTaAlgo,
                                     .hash_size = kSimTaHashBytes,
                                     .sig_size = kSimTaSigBytes});
    const std::vector<uint8_t> bootstrap =
        optee::encode_bootstrap_header({.uuid = uuid, .ta_version = ta_version});
    const Digest hash = image_hash(shdr, bootstrap, as_bytes(payload));
    const Digest signature = image_signature(hash);

    std::vector<uint8_t> file(shdr);
    file.insert(file.end(), hash.begin(), hash.end());
    file.insert(file.end(), signature.begin(), signature.end());
    file.insert(file.end(), bootstrap.begin(), bootstrap.end());
    file.insert(file.end(), payload.begin(), payload.end());
    return file;
}

Result<VerifiedSimTa> verify_sim_ta_file(std::span<const uint8_t> file, const Uuid& expected) {
    const optee::TaImage image = TEED_TRY(optee::parse_ta_image(file));
    const optee::SignedHeader& header = image.header;
    auto refused = [] { return Error(ErrorKind::InvalidArgument); };
    if (image.subkeys != 0) return refused() << "subkeys are not supported by the simulator";
    if (header.img_type != optee::ImageType::BootstrapTa) {
        return refused() << "img_type " << static_cast<uint32_t>(header.img_type)
                         << ", the simulator loads only BOOTSTRAP_TA (1)";
    }
    if (header.algo != kSimTaAlgo || header.hash_size != kSimTaHashBytes ||
        header.sig_size != kSimTaSigBytes) {
        return refused() << "algo " << header.algo << " with hash_size " << header.hash_size
                         << " and sig_size " << header.sig_size << ", expected HMAC-SHA256 ("
                         << kSimTaAlgo << ") with 32 and 32";
    }
    const Digest hash = image_hash(image.shdr_bytes, image.bootstrap_bytes, image.payload);
    if (!same_bytes(hash, header.hash)) return refused() << "the hash does not match the contents";
    if (!same_bytes(image_signature(header.hash), header.sig))
        return refused() << "the signature does not verify with the development key";
    if (image.bootstrap->uuid != expected) {
        return refused() << "the file holds TA " << image.bootstrap->uuid.to_string() << ", not "
                         << expected.to_string();
    }
    return VerifiedSimTa{.uuid = image.bootstrap->uuid,
                         .ta_version = image.bootstrap->ta_version,
                         .payload = std::string(image.payload.begin(), image.payload.end())};
}

}  // namespace teed::sim
