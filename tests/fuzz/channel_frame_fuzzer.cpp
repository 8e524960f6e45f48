// libFuzzer target for the session channel's frame decoder (common/channel_frame.h).
//
// The input is a byte stream as a client could write it to its channel. The first byte picks the
// size of the reads the stream arrives in, so reassembly across reads is exercised too. Every frame
// that decodes must encode back to the same bytes and decode to the same frame; anything else must
// be an error, never a crash, a hang or an out-of-bounds read (the target runs under ASan/UBSan).

#include <cstdlib>
#include <cstring>

#include "common/channel_frame.h"

namespace {

using namespace teed::channel;

constexpr Limits kLimits{.max_body_bytes = 1 << 20, .accept_requests = true, .accept_replies = true};

void check_round_trip(const Frame& frame) {
    auto bytes = encode(frame);
    auto again = decode(bytes, kLimits);
    if (!again.ok() || !(again.value() == frame)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    size_t chunk = size_t{data[0]} % 64 + 1;
    const uint8_t* stream = data + 1;
    size_t remaining = size - 1;

    // The whole input as one frame.
    if (auto frame = decode({stream, remaining}, kLimits); frame.ok()) check_round_trip(frame.value());

    // The input as a stream arriving in `chunk`-sized reads.
    FrameReader reader(kLimits);
    while (remaining > 0) {
        auto room = reader.prepare(chunk);
        size_t count = std::min(room.size(), remaining);
        std::memcpy(room.data(), stream, count);
        reader.commit(count);
        stream += count;
        remaining -= count;
        while (auto frame = reader.next()) {
            if (!frame->ok()) return 0;  // a malformed frame ends the stream
            check_round_trip(frame->value());
        }
    }
    return 0;
}
