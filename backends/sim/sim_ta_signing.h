#pragma once
// How `.ta` files for the simulated secure world are "signed" (docs/simulator.md, "TA files").
//
// A development format: the key below is published, here and in the documentation, so anyone
// can make a file the simulator accepts. The HMAC proves only that the file was not damaged or
// edited after teed-mkta wrote it; it proves nothing about who wrote it. Real OP-TEE verifies
// an RSA or ECDSA signature against a key built into its core; the simulator is for developing
// clients and never runs code from these files, so integrity is all it needs.

#include <cstdint>
#include <string_view>

namespace teed::sim {

// struct shdr.algo of simulator TAs: TEE_ALG_HMAC_SHA256 from the GP TEE Internal Core API.
constexpr uint32_t kSimTaAlgo = 0x30000004;
constexpr uint16_t kSimTaHashBytes = 32;  // SHA-256
constexpr uint16_t kSimTaSigBytes = 32;   // HMAC-SHA256

// The development key: these ASCII bytes, without a terminator.
constexpr std::string_view kSimTaDevKey = "teed simulator TA development key (public)";

}  // namespace teed::sim
