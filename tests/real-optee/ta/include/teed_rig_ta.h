/*
 * teed's rig TA: what the real-OP-TEE tests need that optee_examples lack.
 * Shared by the TA (C, OP-TEE's TA dev kit) and teed-rig-client (C++).
 *
 * Commands and their parameters (GP parameter types as the TA sees them):
 *
 * TEED_RIG_CMD_SLEEP  [VALUE_INPUT, VALUE_OUTPUT, NONE, NONE]
 *   in  p0.a: the longest time to sleep, ms; p0.b: the step of each TEE_Wait, ms (0: 100)
 *   Unmasks cancellation, then loops on TEE_Wait(step) until p0.a ms have passed.
 *   Returns TEE_ERROR_CANCEL as soon as the session's call is cancelled, TEE_SUCCESS when the
 *   time is up. out p1.a: the ms slept, p1.b: the number of TEE_Wait calls.
 *
 * TEED_RIG_CMD_XOR  [MEMREF_INPUT, MEMREF_OUTPUT, VALUE_OUTPUT, NONE]
 *   p1 receives p0 with every byte XORed with TEED_RIG_XOR_BYTE; p1's size is set to p0's.
 *   TEE_ERROR_SHORT_BUFFER (p1's size: the size needed) when p1 is smaller.
 *   out p2.a: teed_rig_checksum() of p0, p2.b: p0's size.
 *
 * TEED_RIG_CMD_PATTERN  [VALUE_INOUT, MEMREF_*, MEMREF_* or NONE, MEMREF_* or NONE]
 *   in  p0.a: the seed of the pattern the input memrefs must hold,
 *       p0.b: the seed of the pattern written to the output memrefs.
 *   Each memref p1..p3 holds teed_rig_pattern(seed, i) at byte i: memrefs the TA may read
 *   (INPUT, INOUT) are checked against p0.a first, then memrefs it may write (OUTPUT, INOUT)
 *   are filled with p0.b's pattern. The seed of parameter n is the given seed + n, so that
 *   each range holds its own bytes.
 *   out p0.a: the bytes checked, p0.b: the bytes that did not match.
 *
 * TEED_RIG_CMD_IDENTITY  [VALUE_OUTPUT, MEMREF_OUTPUT (16 bytes), NONE, NONE]
 *   The gpd.client.identity property of the session's client: p0.a the login type
 *   (TEE_LOGIN_*), p1 the 16 bytes of its UUID in RFC 4122 byte order.
 */
#ifndef TEED_RIG_TA_H
#define TEED_RIG_TA_H

#include <stdint.h>

#define TEED_RIG_TA_UUID_STRING "767b0e2b-f3ae-4c71-96f7-4bc4bc548a8b"
#define TEED_RIG_TA_UUID                                   \
    {                                                      \
        0x767b0e2b, 0xf3ae, 0x4c71,                        \
        {                                                  \
            0x96, 0xf7, 0x4b, 0xc4, 0xbc, 0x54, 0x8a, 0x8b \
        }                                                  \
    }

#define TEED_RIG_CMD_SLEEP 0
#define TEED_RIG_CMD_XOR 1
#define TEED_RIG_CMD_PATTERN 2
#define TEED_RIG_CMD_IDENTITY 3

#define TEED_RIG_XOR_BYTE 0x5a
#define TEED_RIG_UUID_BYTES 16

/* Byte i of the pattern for `seed`: changes with every byte and with the seed. */
static inline uint8_t teed_rig_pattern(uint32_t seed, uint32_t i)
{
    uint32_t x = i * 2654435761u + seed * 40503u;
    x ^= x >> 15;
    x *= 2246822519u;
    x ^= x >> 13;
    return x & 0xffu;
}

/* Adler-style sums over the bytes, folded into 32 bits; order-sensitive. */
static inline uint32_t teed_rig_checksum(const uint8_t *bytes, uint32_t size)
{
    uint32_t a = 1;
    uint32_t b = 0;
    uint32_t i;

    for (i = 0; i < size; i++) {
        a = (a + bytes[i]) % 65521u;
        b = (b + a) % 65521u;
    }
    return (b << 16) | a;
}

#endif
