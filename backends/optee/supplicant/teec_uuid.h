#pragma once
// TEEC_UUID, the struct some RPCs carry (a plugin's identity, the TA of a profiling dump), as
// the RFC 4122 octets teed names UUIDs by. Its fields are numbers in the machine's byte order,
// not octets: the secure world copies the struct as it is in memory.

#include <cstring>

#include "backends/optee/supplicant/plugin_abi.h"
#include "common/uuid.h"

namespace teed::supplicant {

inline Uuid uuid_of(const TEEC_UUID& uuid) {
    Uuid result;
    auto& octets = result.bytes;
    for (int i = 0; i < 4; ++i) octets[i] = static_cast<uint8_t>(uuid.timeLow >> (24 - 8 * i));
    octets[4] = static_cast<uint8_t>(uuid.timeMid >> 8);
    octets[5] = static_cast<uint8_t>(uuid.timeMid);
    octets[6] = static_cast<uint8_t>(uuid.timeHiAndVersion >> 8);
    octets[7] = static_cast<uint8_t>(uuid.timeHiAndVersion);
    std::memcpy(octets.data() + 8, uuid.clockSeqAndNode, sizeof(uuid.clockSeqAndNode));
    return result;
}

static_assert(sizeof(TEEC_UUID) == 16);

}  // namespace teed::supplicant
