#pragma once
// OPTEE_RPC_CMD_LOAD_TA: OP-TEE's REE TA store asks for the `.ta` file of a TA it does not hold
// itself (docs/supplicant.md, "TA loading"):
//
//   TaLoader loader({.ta_path = parse_ta_path("/lib/optee_armtz:/usr/local/lib/optee_armtz"),
//                    .may_load = [&](const Uuid& uuid) { return allowed.contains(uuid); }});
//   RpcOutcome outcome = loader.serve(request);   // request.command == kCmdLoadTa
//
// The request: [0] VALUE_INPUT with the 16 UUID octets in the bytes of a then b, [1]
// MEMREF_OUTPUT. Without a buffer it asks for the file's size, with one for the file itself.
// The file is `<uuid>.ta`, else `<uuid without its 4th dash>.ta`, in the first directory of the
// path that has either. Its signed header is checked before it is handed over; its signature is
// the secure world's to check.

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backends/optee/supplicant/rpc_service.h"
#include "common/result.h"
#include "common/uuid.h"

namespace teed::supplicant {

struct TaLoaderOptions {
    // Directories searched in order.
    std::vector<std::string> ta_path = {"/lib/optee_armtz"};
    // Asked before any file is looked at: false refuses the load with ACCESS_DENIED. Null allows
    // every UUID. Called from several workers at once.
    std::function<bool(const Uuid&)> may_load;
    // Files larger than this are refused (EXCESS_DATA): the secure world would have to allocate
    // that much shared memory for them.
    uint64_t max_ta_bytes = 32 << 20;
};

// "a:b:c" into {"a", "b", "c"}; empty entries are dropped.
std::vector<std::string> parse_ta_path(std::string_view colon_separated);

// The structure of an OP-TEE signed TA image (optee::parse_ta_image): magic, a known img_type
// (a SUBKEY followed by another image), hash and signature sizes, the type-specific headers, and
// img_size ending the image at the end of the file. InvalidArgument with the reason.
Result<void> check_ta_image(std::span<const uint8_t> file);

class TaLoader final : public RpcService {
public:
    explicit TaLoader(TaLoaderOptions options);

    // Thread-safe. Answers (docs/supplicant.md has the table): BAD_PARAMETERS for other params,
    // ACCESS_DENIED when may_load refuses or a file cannot be opened for permissions,
    // ITEM_NOT_FOUND when no directory has the file, EXCESS_DATA past max_ta_bytes, SECURITY for
    // a file whose header does not check, BUSY when the file changed while it was read,
    // SHORT_BUFFER (with the size) for a buffer too small, GENERIC for other I/O errors.
    RpcOutcome serve(RpcRequest& request) override;

    const std::vector<std::string>& ta_path() const { return options_.ta_path; }

private:
    const TaLoaderOptions options_;
};

}  // namespace teed::supplicant
