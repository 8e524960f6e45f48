#pragma once
// RFC 4122 UUIDs as the TEE sees them: 16 octets in network (big-endian) order.
//
//   Uuid uuid = TEED_TRY(Uuid::parse("8aaaf200-2450-11e4-abe2-0002a5d5c51b"));
//   memcpy(arg.uuid, uuid.bytes.data(), 16);

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace teed {

struct Uuid {
    std::array<uint8_t, 16> bytes{};

    // Accepts the canonical 8-4-4-4-12 form, either case; anything else is InvalidArgument.
    static Result<Uuid> parse(std::string_view text);
    // Lower-case canonical form.
    std::string to_string() const;
    bool is_nil() const;

    // Name-based UUIDv5 (SHA-1) of `name` in `ns`, as the kernel computes client identities.
    static Uuid v5(const Uuid& ns, std::string_view name);

    friend bool operator==(const Uuid&, const Uuid&) = default;
    friend auto operator<=>(const Uuid&, const Uuid&) = default;
};

}  // namespace teed
