#pragma once
// GlobalPlatform operation parameters as clients send them (the D-Bus a(uttayott) struct), and the
// checks every one of them passes before it reaches a device.
//
//   GpParams params{GpParam::value_inout(42)};
//   TEED_TRY(validate_gp_params(params, limits));

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace teed {

class GpSharedMemory;

struct GpParam {
    uint32_t type = 0;  // TEEC_* parameter type code
    uint64_t a = 0;
    uint64_t b = 0;
    std::vector<uint8_t> data;  // temporary memrefs: input bytes in, output bytes out
    std::string shm = "/";      // registered shared memory object path; "/" = none
    uint64_t offset = 0;
    uint64_t size = 0;          // temporary memrefs: capacity in, size out
    // Registered-memory memrefs: the memory `shm` names, resolved by the caller (it also keeps
    // the memory alive for the call).
    std::shared_ptr<GpSharedMemory> memory;

    static GpParam value_inout(uint64_t a, uint64_t b = 0);
    static GpParam temp_input(std::vector<uint8_t> bytes);
    static GpParam temp_output(uint64_t capacity);
};
using GpParams = std::vector<GpParam>;

struct GpLimits {
    uint64_t max_memref_bytes = 16u << 20;  // per memref
    uint64_t max_total_bytes = 24u << 20;   // all memrefs of one call
};

// How many bytes the TEE may see and write for a temporary memref.
uint64_t temp_memref_capacity(const GpParam& param);

// At most 4 params; GP type codes only; values carry no data; temporary memrefs are consistent
// (input bytes fit the capacity) and within the limits and name no shm; registered-memory
// memrefs name resolved memory, in a direction its flags allow, with offset and size inside it.
Result<void> validate_gp_params(const GpParams& params, const GpLimits& limits);

}  // namespace teed
