#pragma once
// The `.ta` files the simulated secure world loads through the supplicant (docs/simulator.md,
// "TA files"): an OP-TEE BOOTSTRAP_TA image (backends/optee/ta_image.h) whose hash is SHA-256
// over the struct shdr, the bootstrap header and the payload (what OP-TEE hashes), whose
// "signature" is HMAC-SHA256 of that hash with the development key of sim_ta_signing.h, and
// whose payload is a text manifest naming a program of the simulator instead of an ELF:
//
//   teed-sim-ta 1
//   program=loadable
//   name=Example TA
//
// Writing (teed-mkta) and reading (the simulator's REE TA store) share this code:
//
//   std::string text = TEED_TRY(format_sim_ta_manifest({.program = "loadable", .name = "x"}));
//   std::vector<uint8_t> file = build_sim_ta_file(uuid, /*ta_version=*/3, text);
//   VerifiedSimTa ta = TEED_TRY(verify_sim_ta_file(file, uuid));
//   SimTaManifest manifest = TEED_TRY(parse_sim_ta_manifest(ta.payload));

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/uuid.h"

namespace teed::sim {

// The programs a manifest may name (backends/sim/ree_ta_store.cpp runs them).
constexpr std::array<std::string_view, 1> kSimTaPrograms = {"loadable"};
bool is_known_sim_ta_program(std::string_view program);

struct SimTaManifest {
    std::string program;
    std::string name;  // free text, one line; "" when the manifest has no name line
};

// The manifest's text. InvalidArgument when the program is empty or not [a-z0-9_]+, or the name
// holds a line break or a NUL.
Result<std::string> format_sim_ta_manifest(const SimTaManifest& manifest);
// InvalidArgument naming the line at fault: a first line other than "teed-sim-ta 1", a line
// without '=', a key other than program and name or a key given twice, or no program line.
// Whether the program is known is the caller's question (is_known_sim_ta_program).
Result<SimTaManifest> parse_sim_ta_manifest(std::string_view text);

// The whole file: shdr {magic, BOOTSTRAP_TA, img_size = payload size, kSimTaAlgo, 32, 32},
// hash, HMAC, shdr_bootstrap_ta {uuid, ta_version}, payload.
std::vector<uint8_t> build_sim_ta_file(const Uuid& uuid, uint32_t ta_version,
                                       std::string_view payload);

struct VerifiedSimTa {
    Uuid uuid;
    uint32_t ta_version = 0;
    std::string payload;
};
// What OP-TEE's REE TA store checks, with the development key: the structure
// (optee::parse_ta_image), img_type BOOTSTRAP_TA, algo kSimTaAlgo with 32-byte hash and
// signature, the hash over header and payload, the HMAC, and the UUID inside equal to
// `expected`. InvalidArgument naming the first check that fails.
Result<VerifiedSimTa> verify_sim_ta_file(std::span<const uint8_t> file, const Uuid& expected);

}  // namespace teed::sim
