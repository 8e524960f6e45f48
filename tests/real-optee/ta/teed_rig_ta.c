// SPDX-License-Identifier: BSD-2-Clause
/*
 * teed's rig TA: cancellation, large temporary memrefs, registered shared memory and the
 * client identity, for the tests on a real OP-TEE. The commands are described in
 * include/teed_rig_ta.h.
 */
#include <inttypes.h>
#include <string.h>
#include <tee_internal_api.h>
#include <tee_internal_api_extensions.h>

#include <teed_rig_ta.h>

#define DEFAULT_STEP_MS 100

static bool is_memref(uint32_t type)
{
	return type == TEE_PARAM_TYPE_MEMREF_INPUT ||
	       type == TEE_PARAM_TYPE_MEMREF_OUTPUT ||
	       type == TEE_PARAM_TYPE_MEMREF_INOUT;
}

static uint32_t ms_between(const TEE_Time *from, const TEE_Time *to)
{
	return (to->seconds - from->seconds) * 1000 + to->millis - from->millis;
}

static TEE_Result cmd_sleep(uint32_t types, TEE_Param params[TEE_NUM_PARAMS])
{
	const uint32_t expected = TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_INPUT,
						  TEE_PARAM_TYPE_VALUE_OUTPUT,
						  TEE_PARAM_TYPE_NONE,
						  TEE_PARAM_TYPE_NONE);
	TEE_Result res = TEE_SUCCESS;
	TEE_Time start = { };
	TEE_Time now = { };
	uint32_t limit = 0;
	uint32_t step = 0;
	uint32_t slept = 0;
	uint32_t waits = 0;

	if (types != expected)
		return TEE_ERROR_BAD_PARAMETERS;
	limit = params[0].value.a;
	step = params[0].value.b ? params[0].value.b : DEFAULT_STEP_MS;

	TEE_UnmaskCancellation();
	TEE_GetSystemTime(&start);
	while (slept < limit) {
		res = TEE_Wait(limit - slept < step ? limit - slept : step);
		waits++;
		TEE_GetSystemTime(&now);
		slept = ms_between(&start, &now);
		if (res == TEE_ERROR_CANCEL || TEE_GetCancellationFlag()) {
			res = TEE_ERROR_CANCEL;
			break;
		}
	}
	TEE_MaskCancellation();

	IMSG("sleep: %" PRIu32 " ms in %" PRIu32 " waits, %s", slept, waits,
	     res == TEE_ERROR_CANCEL ? "cancelled" : "time up");
	params[1].value.a = slept;
	params[1].value.b = waits;
	return res;
}

static TEE_Result cmd_xor(uint32_t types, TEE_Param params[TEE_NUM_PARAMS])
{
	const uint32_t expected = TEE_PARAM_TYPES(TEE_PARAM_TYPE_MEMREF_INPUT,
						  TEE_PARAM_TYPE_MEMREF_OUTPUT,
						  TEE_PARAM_TYPE_VALUE_OUTPUT,
						  TEE_PARAM_TYPE_NONE);
	const uint8_t *in = NULL;
	uint8_t *out = NULL;
	size_t size = 0;
	size_t i = 0;

	if (types != expected)
		return TEE_ERROR_BAD_PARAMETERS;
	in = params[0].memref.buffer;
	size = params[0].memref.size;
	out = params[1].memref.buffer;
	if (size > UINT32_MAX)
		return TEE_ERROR_BAD_PARAMETERS;
	if (params[1].memref.size < size) {
		params[1].memref.size = size;
		return TEE_ERROR_SHORT_BUFFER;
	}
	for (i = 0; i < size; i++)
		out[i] = in[i] ^ TEED_RIG_XOR_BYTE;
	params[1].memref.size = size;
	params[2].value.a = teed_rig_checksum(in, size);
	params[2].value.b = size;
	return TEE_SUCCESS;
}

static TEE_Result cmd_pattern(uint32_t types, TEE_Param params[TEE_NUM_PARAMS])
{
	uint32_t seed_in = 0;
	uint32_t seed_out = 0;
	uint32_t checked = 0;
	uint32_t mismatched = 0;
	uint32_t memrefs = 0;
	uint32_t n = 0;

	if (TEE_PARAM_TYPE_GET(types, 0) != TEE_PARAM_TYPE_VALUE_INOUT)
		return TEE_ERROR_BAD_PARAMETERS;
	for (n = 1; n < TEE_NUM_PARAMS; n++) {
		uint32_t type = TEE_PARAM_TYPE_GET(types, n);

		if (is_memref(type))
			memrefs++;
		else if (type != TEE_PARAM_TYPE_NONE)
			return TEE_ERROR_BAD_PARAMETERS;
		if (is_memref(type) && params[n].memref.size > UINT32_MAX)
			return TEE_ERROR_BAD_PARAMETERS;
	}
	if (!memrefs)
		return TEE_ERROR_BAD_PARAMETERS;
	seed_in = params[0].value.a;
	seed_out = params[0].value.b;

	for (n = 1; n < TEE_NUM_PARAMS; n++) {
		uint32_t type = TEE_PARAM_TYPE_GET(types, n);
		const uint8_t *bytes = params[n].memref.buffer;
		uint32_t size = params[n].memref.size;
		uint32_t i = 0;

		if (type != TEE_PARAM_TYPE_MEMREF_INPUT &&
		    type != TEE_PARAM_TYPE_MEMREF_INOUT)
			continue;
		for (i = 0; i < size; i++) {
			if (bytes[i] == teed_rig_pattern(seed_in + n, i))
				continue;
			if (!mismatched)
				EMSG("pattern: param %" PRIu32 " byte %" PRIu32
				     ": 0x%02x, expected 0x%02x", n, i,
				     bytes[i], teed_rig_pattern(seed_in + n, i));
			mismatched++;
		}
		checked += size;
	}
	for (n = 1; n < TEE_NUM_PARAMS; n++) {
		uint32_t type = TEE_PARAM_TYPE_GET(types, n);
		uint8_t *bytes = params[n].memref.buffer;
		uint32_t size = params[n].memref.size;
		uint32_t i = 0;

		if (type != TEE_PARAM_TYPE_MEMREF_OUTPUT &&
		    type != TEE_PARAM_TYPE_MEMREF_INOUT)
			continue;
		for (i = 0; i < size; i++)
			bytes[i] = teed_rig_pattern(seed_out + n, i);
	}

	params[0].value.a = checked;
	params[0].value.b = mismatched;
	return TEE_SUCCESS;
}

static TEE_Result cmd_identity(uint32_t types, TEE_Param params[TEE_NUM_PARAMS])
{
	const uint32_t expected = TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_OUTPUT,
						  TEE_PARAM_TYPE_MEMREF_OUTPUT,
						  TEE_PARAM_TYPE_NONE,
						  TEE_PARAM_TYPE_NONE);
	TEE_Identity identity = { };
	TEE_Result res = TEE_SUCCESS;
	uint8_t *out = NULL;

	if (types != expected)
		return TEE_ERROR_BAD_PARAMETERS;
	res = TEE_GetPropertyAsIdentity(TEE_PROPSET_CURRENT_CLIENT,
					"gpd.client.identity", &identity);
	if (res != TEE_SUCCESS)
		return res;

	params[0].value.a = identity.login;
	params[0].value.b = 0;
	if (params[1].memref.size < TEED_RIG_UUID_BYTES) {
		params[1].memref.size = TEED_RIG_UUID_BYTES;
		return TEE_ERROR_SHORT_BUFFER;
	}
	out = params[1].memref.buffer;
	out[0] = identity.uuid.timeLow >> 24;
	out[1] = identity.uuid.timeLow >> 16;
	out[2] = identity.uuid.timeLow >> 8;
	out[3] = identity.uuid.timeLow;
	out[4] = identity.uuid.timeMid >> 8;
	out[5] = identity.uuid.timeMid;
	out[6] = identity.uuid.timeHiAndVersion >> 8;
	out[7] = identity.uuid.timeHiAndVersion;
	memcpy(out + 8, identity.uuid.clockSeqAndNode, 8);
	params[1].memref.size = TEED_RIG_UUID_BYTES;
	return TEE_SUCCESS;
}

TEE_Result TA_CreateEntryPoint(void)
{
	return TEE_SUCCESS;
}

void TA_DestroyEntryPoint(void)
{
}

TEE_Result TA_OpenSessionEntryPoint(uint32_t types,
				    TEE_Param params[TEE_NUM_PARAMS],
				    void **session)
{
	(void)types;
	(void)params;
	*session = NULL;
	return TEE_SUCCESS;
}

void TA_CloseSessionEntryPoint(void *session)
{
	(void)session;
}

TEE_Result TA_InvokeCommandEntryPoint(void *session, uint32_t command,
				      uint32_t types,
				      TEE_Param params[TEE_NUM_PARAMS])
{
	(void)session;
	switch (command) {
	case TEED_RIG_CMD_SLEEP:
		return cmd_sleep(types, params);
	case TEED_RIG_CMD_XOR:
		return cmd_xor(types, params);
	case TEED_RIG_CMD_PATTERN:
		return cmd_pattern(types, params);
	case TEED_RIG_CMD_IDENTITY:
		return cmd_identity(types, params);
	default:
		return TEE_ERROR_NOT_SUPPORTED;
	}
}
