#include "backends/optee/ta_image.h"

#include <algorithm>
#include <cstdio>
#include <string>

namespace teed::optee {
namespace {

uint16_t read_le16(std::span<const uint8_t> bytes, size_t offset) {
    return static_cast<uint16_t>(bytes[offset] | bytes[offset + 1] << 8);
}

uint32_t read_le32(std::span<const uint8_t> bytes, size_t offset) {
    return static_cast<uint32_t>(bytes[offset]) | static_cast<uint32_t>(bytes[offset + 1]) << 8 |
           static_cast<uint32_t>(bytes[offset + 2]) << 16 |
           static_cast<uint32_t>(bytes[offset + 3]) << 24;
}

void append_le16(std::vector<uint8_t>& out, uint16_t value) {
    out.push_back(static_cast<uint8_t>(value));
    out.push_back(static_cast<uint8_t>(value >> 8));
}

void append_le32(std::vector<uint8_t>& out, uint32_t value) {
    for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<uint8_t>(value >> shift));
}

std::string hex32(uint32_t value) {
    char text[11];
    std::snprintf(text, sizeof(text), "0x%08x", value);
    return text;
}

// Walks the file front to back; every take() is checked against what is left, so no offset
// computed from a field can point outside the file.
class Reader {
public:
    explicit Reader(std::span<const uint8_t> file) : file_(file) {}

    size_t offset() const { return offset_; }
    size_t left() const { return file_.size() - offset_; }

    Result<std::span<const uint8_t>> take(size_t count, const char* what) {
        if (count > left()) {
            return Error(ErrorKind::InvalidArgument)
                   << what << " at offset " << offset_ << " needs " << count
                   << " bytes, the file has " << left() << " left";
        }
        auto bytes = file_.subspan(offset_, count);
        offset_ += count;
        return bytes;
    }

private:
    std::span<const uint8_t> file_;
    size_t offset_ = 0;
};

bool is_known_type(uint32_t type) {
    return type <= static_cast<uint32_t>(ImageType::Subkey);
}

// struct shdr with its hash and signature.
Result<SignedHeader> read_signed_header(Reader& reader, std::span<const uint8_t>& ret_fixed) {
    const size_t at = reader.offset();
    auto fixed = TEED_TRY(reader.take(kShdrBytes, "signed header"));
    SignedHeader header{.magic = read_le32(fixed, 0),
                        .img_type = static_cast<ImageType>(read_le32(fixed, 4)),
                        .img_size = read_le32(fixed, 8),
                        .algo = read_le32(fixed, 12),
                        .hash_size = read_le16(fixed, 16),
                        .sig_size = read_le16(fixed, 18)};
    auto bad = [&] {
        return Error(ErrorKind::InvalidArgument) << "signed header at offset " << at << ": ";
    };
    if (header.magic != kShdrMagic)
        return bad() << "magic " << hex32(header.magic) << ", expected " << hex32(kShdrMagic);
    if (!is_known_type(static_cast<uint32_t>(header.img_type)))
        return bad() << "unknown img_type " << static_cast<uint32_t>(header.img_type);
    if (header.hash_size == 0 || header.hash_size > kMaxHashBytes)
        return bad() << "hash_size " << header.hash_size << " (1 to " << kMaxHashBytes << " bytes)";
    if (header.sig_size == 0) return bad() << "sig_size 0";
    header.hash = TEED_TRY(reader.take(header.hash_size, "hash"));
    header.sig = TEED_TRY(reader.take(header.sig_size, "signature"));
    ret_fixed = fixed;
    return header;
}

// struct shdr_subkey (img_size bytes, its attributes inside them) and the name after it.
Result<void> skip_subkey(Reader& reader, const SignedHeader& header) {
    const size_t at = reader.offset();
    if (header.img_size < kSubkeyHeaderBytes) {
        return Error(ErrorKind::InvalidArgument)
               << "subkey at offset " << at << ": img_size " << header.img_size << " is below the "
               << kSubkeyHeaderBytes << "-byte subkey header";
    }
    auto subkey = TEED_TRY(reader.take(header.img_size, "subkey"));
    const uint32_t name_size = read_le32(subkey, 16);
    const uint64_t attr_count = read_le32(subkey, 32);
    if (kSubkeyHeaderBytes + attr_count * kSubkeyAttrBytes > subkey.size()) {
        return Error(ErrorKind::InvalidArgument)
               << "subkey at offset " << at << ": " << attr_count << " attributes do not fit its "
               << subkey.size() << " bytes";
    }
    for (size_t i = 0; i < attr_count; ++i) {
        const size_t entry = kSubkeyHeaderBytes + i * kSubkeyAttrBytes;
        const uint64_t end = uint64_t{read_le32(subkey, entry + 4)} + read_le32(subkey, entry + 8);
        if (end > subkey.size()) {
            return Error(ErrorKind::InvalidArgument)
                   << "subkey at offset " << at << ": attribute " << i << " ends at " << end
                   << ", past the subkey's " << subkey.size() << " bytes";
        }
    }
    TEED_TRY(reader.take(name_size, "subkey name"));
    return {};
}

Result<void> skip_encrypted_header(Reader& reader) {
    auto fixed = TEED_TRY(reader.take(kEncryptedHeaderBytes, "encrypted TA header"));
    TEED_TRY(reader.take(read_le16(fixed, 8), "encryption iv"));
    TEED_TRY(reader.take(read_le16(fixed, 10), "encryption tag"));
    return {};
}

}  // namespace

Result<TaImage> parse_ta_image(std::span<const uint8_t> file) {
    Reader reader(file);
    TaImage image;
    for (;;) {
        image.header_offset = reader.offset();
        image.header = TEED_TRY(read_signed_header(reader, image.shdr_bytes));
        if (image.header.img_type != ImageType::Subkey) break;
        TEED_TRY(skip_subkey(reader, image.header));
        ++image.subkeys;
    }
    const ImageType type = image.header.img_type;
    if (type == ImageType::BootstrapTa || type == ImageType::EncryptedTa) {
        image.bootstrap_bytes = TEED_TRY(reader.take(kBootstrapHeaderBytes, "bootstrap header"));
        BootstrapHeader bootstrap;
        std::copy_n(image.bootstrap_bytes.begin(), bootstrap.uuid.bytes.size(),
                    bootstrap.uuid.bytes.begin());
        bootstrap.ta_version = read_le32(image.bootstrap_bytes, 16);
        image.bootstrap = bootstrap;
    }
    if (type == ImageType::EncryptedTa) TEED_TRY(skip_encrypted_header(reader));

    const size_t payload_offset = reader.offset();
    if (reader.left() != image.header.img_size) {
        const bool truncated = reader.left() < image.header.img_size;
        return Error(ErrorKind::InvalidArgument)
               << "img_size " << image.header.img_size << " at offset " << payload_offset
               << " does not match the file: " << reader.left() << " bytes follow the headers"
               << (truncated ? " (truncated)" : " (trailing bytes)");
    }
    image.payload = TEED_TRY(reader.take(image.header.img_size, "image"));
    return image;
}

std::vector<uint8_t> encode_signed_header(const SignedHeader& header) {
    std::vector<uint8_t> out;
    out.reserve(kShdrBytes);
    append_le32(out, header.magic);
    append_le32(out, static_cast<uint32_t>(header.img_type));
    append_le32(out, header.img_size);
    append_le32(out, header.algo);
    append_le16(out, header.hash_size);
    append_le16(out, header.sig_size);
    return out;
}

std::vector<uint8_t> encode_bootstrap_header(const BootstrapHeader& header) {
    std::vector<uint8_t> out(header.uuid.bytes.begin(), header.uuid.bytes.end());
    append_le32(out, header.ta_version);
    return out;
}

}  // namespace teed::optee
