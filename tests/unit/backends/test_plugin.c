/*
 * A supplicant plugin for the tests (plugins_test.cpp), built as a loadable module:
 *   cmd 0: reverses the data in place, out_len = in_len
 *   cmd 1: answers sub_cmd as its result, out_len = 0
 *   cmd 2: claims out_len = in_len + sub_cmd without writing (a faulty plugin)
 *   cmd 3: answers how many times init() ran, as 4 little-endian octets
 * Built with TEST_PLUGIN_FAIL_INIT, init() fails with TEEC_ERROR_GENERIC.
 */
#include <stdint.h>
#include <string.h>

#include "backends/optee/supplicant/plugin_abi.h"

static unsigned int init_count;

static TEEC_Result test_init(void) {
    ++init_count;
#ifdef TEST_PLUGIN_FAIL_INIT
    return 0xFFFF0000u;
#else
    return 0;
#endif
}

static TEEC_Result test_invoke(unsigned int cmd, unsigned int sub_cmd, void *data, size_t in_len,
                               size_t *out_len) {
    uint8_t *bytes = data;
    switch (cmd) {
    case 0:
        for (size_t i = 0; i < in_len / 2; ++i) {
            uint8_t swap = bytes[i];
            bytes[i] = bytes[in_len - 1 - i];
            bytes[in_len - 1 - i] = swap;
        }
        *out_len = in_len;
        return 0;
    case 1:
        *out_len = 0;
        return sub_cmd;
    case 2:
        *out_len = in_len + sub_cmd;
        return 0;
    case 3:
        if (in_len < 4) return 0xFFFF0010u; /* TEEC_ERROR_SHORT_BUFFER */
        for (int i = 0; i < 4; ++i) bytes[i] = (uint8_t)(init_count >> (8 * i));
        *out_len = 4;
        return 0;
    default:
        return 0xFFFF000Au; /* TEEC_ERROR_NOT_SUPPORTED */
    }
}

/* e3f5e5a2-6a0e-4c1b-9d43-8b1f0c7a5d21 */
struct plugin_method plugin_method = {
    "test-plugin",
    {0xe3f5e5a2, 0x6a0e, 0x4c1b, {0x9d, 0x43, 0x8b, 0x1f, 0x0c, 0x7a, 0x5d, 0x21}},
    test_init,
    test_invoke,
};
