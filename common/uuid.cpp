#include "common/uuid.h"

#include <openssl/evp.h>

#include <algorithm>

namespace teed {
namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

Result<Uuid> Uuid::parse(std::string_view text) {
    auto malformed = [&] {
        return Error(ErrorKind::InvalidArgument)
               << "'" << text << "' is not a UUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)";
    };
    if (text.size() != 36) return malformed();
    Uuid uuid;
    size_t octet = 0;
    for (size_t i = 0; i < text.size();) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-') return malformed();
            ++i;
            continue;
        }
        int high = hex_value(text[i]);
        int low = hex_value(text[i + 1]);
        if (high < 0 || low < 0) return malformed();
        uuid.bytes[octet++] = static_cast<uint8_t>(high << 4 | low);
        i += 2;
    }
    return uuid;
}

std::string Uuid::to_string() const {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    for (size_t i = 0; i < bytes.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
        out += kDigits[bytes[i] >> 4];
        out += kDigits[bytes[i] & 0xf];
    }
    return out;
}

bool Uuid::is_nil() const {
    return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
}

Uuid Uuid::v5(const Uuid& ns, std::string_view name) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr);
    EVP_DigestUpdate(ctx, ns.bytes.data(), ns.bytes.size());
    EVP_DigestUpdate(ctx, name.data(), name.size());
    EVP_DigestFinal_ex(ctx, digest, &digest_len);
    EVP_MD_CTX_free(ctx);
    Uuid out;
    std::copy_n(digest, out.bytes.size(), out.bytes.begin());
    out.bytes[6] = static_cast<uint8_t>((out.bytes[6] & 0x0F) | 0x50);
    out.bytes[8] = static_cast<uint8_t>((out.bytes[8] & 0x3F) | 0x80);
    return out;
}

}  // namespace teed
