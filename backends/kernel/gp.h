#pragma once
// GlobalPlatform TEE Client API constants (TEEC_*), as libteec and the TAs use them.

#include <cstdint>

namespace teed::gp {

constexpr uint32_t kMaxParams = 4;  // TEEC_CONFIG_PAYLOAD_REF_COUNT

// Parameter type codes.
constexpr uint32_t kNone = 0x0;
constexpr uint32_t kValueInput = 0x1;
constexpr uint32_t kValueOutput = 0x2;
constexpr uint32_t kValueInout = 0x3;
constexpr uint32_t kMemrefTempInput = 0x5;
constexpr uint32_t kMemrefTempOutput = 0x6;
constexpr uint32_t kMemrefTempInout = 0x7;
constexpr uint32_t kMemrefWhole = 0xC;
constexpr uint32_t kMemrefPartialInput = 0xD;
constexpr uint32_t kMemrefPartialOutput = 0xE;
constexpr uint32_t kMemrefPartialInout = 0xF;

constexpr bool is_value(uint32_t t) { return t >= kValueInput && t <= kValueInout; }
constexpr bool is_temp_memref(uint32_t t) { return t >= kMemrefTempInput && t <= kMemrefTempInout; }
constexpr bool is_registered_memref(uint32_t t) { return t == kMemrefWhole || t >= kMemrefPartialInput; }
constexpr bool is_known_type(uint32_t t) {
    return t == kNone || is_value(t) || is_temp_memref(t) || (t >= kMemrefWhole && t <= 0xF);
}
// Directions of value and temporary-memref types (bit 0 input, bit 1 output, as in GP).
constexpr bool is_input(uint32_t t) { return (t & 0x1) != 0; }
constexpr bool is_output(uint32_t t) { return (t & 0x2) != 0; }

// Shared memory flags (TEEC_MEM_*).
constexpr uint32_t kMemInput = 0x1;
constexpr uint32_t kMemOutput = 0x2;

// Login methods (TEEC_LOGIN_*).
constexpr uint32_t kLoginPublic = 0;
constexpr uint32_t kLoginUser = 1;
constexpr uint32_t kLoginGroup = 2;
constexpr uint32_t kLoginApplication = 4;
constexpr uint32_t kLoginUserApplication = 5;
constexpr uint32_t kLoginGroupApplication = 6;

// Return origins (TEEC_ORIGIN_*).
constexpr uint32_t kOriginApi = 1;
constexpr uint32_t kOriginComms = 2;
constexpr uint32_t kOriginTee = 3;
constexpr uint32_t kOriginTrustedApp = 4;

// Return codes (TEEC_SUCCESS, TEEC_ERROR_*).
constexpr uint32_t kSuccess = 0x00000000;
constexpr uint32_t kErrorCorruptObject = 0xF0100001;
constexpr uint32_t kErrorStorageNotAvailable = 0xF0100003;
constexpr uint32_t kErrorGeneric = 0xFFFF0000;
constexpr uint32_t kErrorAccessDenied = 0xFFFF0001;
constexpr uint32_t kErrorCancel = 0xFFFF0002;
constexpr uint32_t kErrorAccessConflict = 0xFFFF0003;
constexpr uint32_t kErrorExcessData = 0xFFFF0004;
constexpr uint32_t kErrorBadFormat = 0xFFFF0005;
constexpr uint32_t kErrorBadParameters = 0xFFFF0006;
constexpr uint32_t kErrorBadState = 0xFFFF0007;
constexpr uint32_t kErrorItemNotFound = 0xFFFF0008;
constexpr uint32_t kErrorNotImplemented = 0xFFFF0009;
constexpr uint32_t kErrorNotSupported = 0xFFFF000A;
constexpr uint32_t kErrorNoData = 0xFFFF000B;
constexpr uint32_t kErrorOutOfMemory = 0xFFFF000C;
constexpr uint32_t kErrorBusy = 0xFFFF000D;
constexpr uint32_t kErrorCommunication = 0xFFFF000E;
constexpr uint32_t kErrorSecurity = 0xFFFF000F;
constexpr uint32_t kErrorShortBuffer = 0xFFFF0010;
constexpr uint32_t kErrorExternalCancel = 0xFFFF0011;
constexpr uint32_t kErrorTargetDead = 0xFFFF3024;
constexpr uint32_t kErrorStorageNoSpace = 0xFFFF3041;

// The GlobalPlatform TEE Sockets API's errors (TEE_ISOCKET_ERROR_*), which the supplicant's socket
// service answers the secure world and the TA may pass on to its client.
constexpr uint32_t kSocketErrorProtocol = 0xF1007001;
constexpr uint32_t kSocketErrorRemoteClosed = 0xF1007002;
constexpr uint32_t kSocketErrorTimeout = 0xF1007003;
constexpr uint32_t kSocketErrorOutOfResources = 0xF1007004;
constexpr uint32_t kSocketErrorLargeBuffer = 0xF1007005;
constexpr uint32_t kSocketWarningProtocol = 0xF1007006;
constexpr uint32_t kSocketErrorHostname = 0xF1007007;

// "TEEC_ERROR_SHORT_BUFFER" for a known code, else "0x........".
const char* result_name(uint32_t code);
const char* origin_name(uint32_t origin);

}  // namespace teed::gp
