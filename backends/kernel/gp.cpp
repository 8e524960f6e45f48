#include "backends/kernel/gp.h"

namespace teed::gp {

const char* result_name(uint32_t code) {
    switch (code) {
        case kSuccess: return "TEEC_SUCCESS";
        case kErrorCorruptObject: return "TEEC_ERROR_CORRUPT_OBJECT";
        case kErrorStorageNotAvailable: return "TEEC_ERROR_STORAGE_NOT_AVAILABLE";
        case kErrorGeneric: return "TEEC_ERROR_GENERIC";
        case kErrorAccessDenied: return "TEEC_ERROR_ACCESS_DENIED";
        case kErrorCancel: return "TEEC_ERROR_CANCEL";
        case kErrorAccessConflict: return "TEEC_ERROR_ACCESS_CONFLICT";
        case kErrorExcessData: return "TEEC_ERROR_EXCESS_DATA";
        case kErrorBadFormat: return "TEEC_ERROR_BAD_FORMAT";
        case kErrorBadParameters: return "TEEC_ERROR_BAD_PARAMETERS";
        case kErrorBadState: return "TEEC_ERROR_BAD_STATE";
        case kErrorItemNotFound: return "TEEC_ERROR_ITEM_NOT_FOUND";
        case kErrorNotImplemented: return "TEEC_ERROR_NOT_IMPLEMENTED";
        case kErrorNotSupported: return "TEEC_ERROR_NOT_SUPPORTED";
        case kErrorNoData: return "TEEC_ERROR_NO_DATA";
        case kErrorOutOfMemory: return "TEEC_ERROR_OUT_OF_MEMORY";
        case kErrorBusy: return "TEEC_ERROR_BUSY";
        case kErrorCommunication: return "TEEC_ERROR_COMMUNICATION";
        case kErrorSecurity: return "TEEC_ERROR_SECURITY";
        case kErrorShortBuffer: return "TEEC_ERROR_SHORT_BUFFER";
        case kErrorExternalCancel: return "TEEC_ERROR_EXTERNAL_CANCEL";
        case kErrorTargetDead: return "TEEC_ERROR_TARGET_DEAD";
        case kErrorStorageNoSpace: return "TEEC_ERROR_STORAGE_NO_SPACE";
        case kSocketErrorProtocol: return "TEE_ISOCKET_ERROR_PROTOCOL";
        case kSocketErrorRemoteClosed: return "TEE_ISOCKET_ERROR_REMOTE_CLOSED";
        case kSocketErrorTimeout: return "TEE_ISOCKET_ERROR_TIMEOUT";
        case kSocketErrorOutOfResources: return "TEE_ISOCKET_ERROR_OUT_OF_RESOURCES";
        case kSocketErrorLargeBuffer: return "TEE_ISOCKET_ERROR_LARGE_BUFFER";
        case kSocketWarningProtocol: return "TEE_ISOCKET_WARNING_PROTOCOL";
        case kSocketErrorHostname: return "TEE_ISOCKET_ERROR_HOSTNAME";
        default: return nullptr;
    }
}

const char* origin_name(uint32_t origin) {
    switch (origin) {
        case kOriginApi: return "TEEC_ORIGIN_API";
        case kOriginComms: return "TEEC_ORIGIN_COMMS";
        case kOriginTee: return "TEEC_ORIGIN_TEE";
        case kOriginTrustedApp: return "TEEC_ORIGIN_TRUSTED_APP";
        default: return nullptr;
    }
}

}  // namespace teed::gp
