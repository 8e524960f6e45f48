/*
 * The interface of a supplicant plugin: a shared object teed loads from its plugin directory
 * and calls when a Trusted Application sends OPTEE_RPC_CMD_SUPP_PLUGIN (docs/supplicant.md,
 * section plugins). It is tee-supplicant's ABI (libteec's tee_plugin_method.h), so a plugin
 * built for tee-supplicant loads in teed unchanged, and this header builds one for either.
 *
 *   #include "plugin_abi.h"
 *   static TEEC_Result my_invoke(unsigned int cmd, unsigned int sub_cmd, void *data,
 *                                size_t in_len, size_t *out_len) { ... }
 *   struct plugin_method plugin_method = {
 *       "my-plugin", {0x12345678, 0x9abc, 0xdef0, {1, 2, 3, 4, 5, 6, 7, 8}}, NULL, my_invoke,
 *   };
 *
 * invoke() gets the TA's buffer, `in_len` bytes long, to read and to overwrite in place; it
 * answers how many bytes it left there in *out_len (at most in_len) and a TEEC_Result the TA
 * receives. C and C++ alike: no C++ exception may leave invoke() or init().
 */
#ifndef TEED_SUPPLICANT_PLUGIN_ABI_H
#define TEED_SUPPLICANT_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* As libteec declares them; guarded so a plugin may include tee_client_api.h as well. */
#ifndef TEE_CLIENT_API_H
typedef uint32_t TEEC_Result;

typedef struct {
    uint32_t timeLow;
    uint16_t timeMid;
    uint16_t timeHiAndVersion;
    uint8_t clockSeqAndNode[8];
} TEEC_UUID;
#endif

struct plugin_method {
    const char *name;          /* for logs; required */
    TEEC_UUID uuid;            /* what a TA names the plugin by */
    TEEC_Result (*init)(void); /* optional; a nonzero result refuses the plugin */
    TEEC_Result (*invoke)(unsigned int cmd, unsigned int sub_cmd, void *data, size_t in_len,
                          size_t *out_len); /* required */
};

/* The symbol each plugin exports: `struct plugin_method plugin_method = {...};`. */
#define TEED_PLUGIN_METHOD_SYMBOL "plugin_method"

#ifdef __cplusplus
}
#endif

#endif /* TEED_SUPPLICANT_PLUGIN_ABI_H */
