#pragma once
// Every default limit on what a client can make teed allocate, in one place (docs/configuration.md).
// Each can be changed in the configuration file; exceeding one gets LimitExceeded naming it.

#include <cstdint>

namespace teed::defaults {

inline constexpr uint64_t kMaxMemrefBytes = 16u << 20;      // one temporary memref
inline constexpr uint64_t kMaxCallMemrefBytes = 24u << 20;  // all memrefs of one call
inline constexpr uint32_t kMaxClients = 1024;               // connected D-Bus clients with state
// Connections past max_clients kept so that root and teed's own user can still call the
// privileged methods (GetStatistics, ReloadPolicy) when clients have taken every place; a
// connection admitted there may call nothing else. Not configurable: it only ever serves them.
inline constexpr uint32_t kAdministrativeReserve = 8;
inline constexpr uint32_t kMaxSessionsPerClient = 64;
inline constexpr uint32_t kMaxSessionsTotal = 8192;
inline constexpr uint32_t kMaxConcurrentCallsPerClient = 8;  // opens + invokes in flight
inline constexpr uint32_t kMaxConcurrentCallsTotal = 1024;   // of all clients together
inline constexpr uint32_t kWorkers = 16;
inline constexpr uint64_t kMaxSharedMemoryBytes = 64u << 20;  // one shared-memory object
inline constexpr uint32_t kMaxSharedMemoryPerClient = 64;     // objects per client
inline constexpr uint64_t kMaxSharedMemoryBytesPerClient = 256u << 20;  // all of a client's objects
inline constexpr uint64_t kMaxSharedMemoryBytesTotal = 1024u << 20;     // of all clients together
inline constexpr uint32_t kMaxChannelsPerSession = 4;         // Session.OpenChannel sockets
inline constexpr uint32_t kSupplicantWorkers = 4;             // secure-world requests served at once
inline constexpr uint64_t kSupplicantShmBytes = 64u << 20;    // buffers the secure world holds
inline constexpr uint32_t kSocketMaxWaitMs = 10000;       // a TA socket request's longest wait

}  // namespace teed::defaults
