// libFuzzer target for the readers of TA files (backends/optee/ta_image.h and
// backends/sim/sim_ta_image.h): what the supplicant checks every file on the TA path with, and
// what the simulated secure world verifies fetched files with.
//
// The input is a whole file. A file that parses must describe itself consistently: the payload
// is the last img_size bytes and every header lies inside the file. Anything else must be an
// error, never a crash, a hang or an out-of-bounds read (the target runs under ASan/UBSan).

#include <cstdlib>

#include "backends/optee/ta_image.h"
#include "backends/sim/sim_ta_image.h"

namespace {

using namespace teed;

void check_layout(std::span<const uint8_t> file, const optee::TaImage& image) {
    const uint8_t* end = file.data() + file.size();
    if (image.payload.size() != image.header.img_size) std::abort();
    if (image.payload.data() + image.payload.size() != end) std::abort();
    if (image.shdr_bytes.size() != optee::kShdrBytes) std::abort();
    if (image.shdr_bytes.data() != file.data() + image.header_offset) std::abort();
    if (image.header.hash.size() != image.header.hash_size) std::abort();
    if (image.header.sig.size() != image.header.sig_size) std::abort();
    if (image.bootstrap.has_value() != !image.bootstrap_bytes.empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const uint8_t> file(data, size);
    if (auto image = optee::parse_ta_image(file); image.ok()) {
        check_layout(file, image.value());
        // Verification against the UUID the file claims, so the hash and HMAC paths run too.
        if (image->bootstrap) {
            auto verified = sim::verify_sim_ta_file(file, image->bootstrap->uuid);
            if (verified.ok()) (void)sim::parse_sim_ta_manifest(verified->payload);
        }
    }
    (void)sim::parse_sim_ta_manifest(
        std::string_view(reinterpret_cast<const char*>(data), size));
    return 0;
}
