#include "backends/optee/supplicant/rpc_request.h"

#include <cstring>

namespace teed::supplicant {
namespace {

constexpr uint64_t kMetaAttr = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT | TEE_IOCTL_PARAM_ATTR_META;

tee_ioctl_param read_param(std::span<const uint8_t> bytes, size_t index) {
    tee_ioctl_param param{};
    std::memcpy(&param, bytes.data() + sizeof(tee_iocl_supp_recv_arg) + index * sizeof(param),
                sizeof(param));
    return param;
}

void write_param(std::span<uint8_t> bytes, size_t index, const tee_ioctl_param& param) {
    std::memcpy(bytes.data() + sizeof(tee_iocl_supp_send_arg) + index * sizeof(param), &param,
                sizeof(param));
}

// Resolves the memrefs of a decoded request; the first failure names the param.
Result<void> resolve_memrefs(RpcRequest& request, const RpcMemory& memory) {
    for (size_t i = 0; i < request.params.size(); ++i) {
        RpcParam& param = request.params[i];
        if (!param.has_buffer()) continue;
        auto range = memory.resolve(param.c, param.a, param.b);
        if (!range.ok()) {
            return Error(ErrorKind::InvalidArgument)
                   << "param " << i << ": " << range.error().message();
        }
        param.memory = std::move(range).value();
    }
    return {};
}

}  // namespace

void RpcBuffer::prepare_receive() {
    words_.fill(0);
    tee_iocl_supp_recv_arg header{.func = 0, .num_params = kMaxRecvParams};
    std::memcpy(bytes().data(), &header, sizeof(header));
    tee_ioctl_param meta{.attr = TEE_IOCTL_PARAM_ATTR_META, .a = 0, .b = 0, .c = 0};
    write_param(bytes(), 0, meta);
}

tee_ioctl_buf_data RpcBuffer::ioctl_arg(size_t length) {
    return {.buf_ptr = reinterpret_cast<uintptr_t>(words_.data()), .buf_len = length};
}

bool RpcParam::is_value() const {
    return tee_param_type_is_value(type);
}

bool RpcParam::is_memref() const {
    return tee_param_type_is_memref(type);
}

Result<void> RpcRequest::expect_types(std::initializer_list<uint32_t> types) const {
    if (types.size() != params.size()) {
        return Error(ErrorKind::InvalidArgument)
               << "expected " << types.size() << " params, got " << params.size();
    }
    size_t i = 0;
    for (uint32_t type : types) {
        if (params[i].type != type) {
            return Error(ErrorKind::InvalidArgument)
                   << "param " << i << " has type " << params[i].type << ", expected " << type;
        }
        ++i;
    }
    return {};
}

Result<std::string> RpcRequest::string_param(size_t index) const {
    if (index >= params.size() || !params[index].has_buffer())
        return Error(ErrorKind::InvalidArgument) << "param " << index << " carries no string";
    std::span<const uint8_t> bytes = params[index].memory.bytes();
    const void* nul = std::memchr(bytes.data(), '\0', bytes.size());
    if (nul == nullptr)
        return Error(ErrorKind::InvalidArgument)
               << "param " << index << ": string of " << bytes.size() << " bytes is not terminated";
    return std::string(reinterpret_cast<const char*>(bytes.data()),
                       static_cast<const uint8_t*>(nul) - bytes.data());
}

Result<DecodedRequest> decode_request(std::span<const uint8_t> received, const RpcMemory& memory) {
    if (received.size() < kRecvBufferBytes)
        return Error(ErrorKind::InvalidArgument) << "receive buffer of " << received.size() << " bytes";
    tee_iocl_supp_recv_arg header{};
    std::memcpy(&header, received.data(), sizeof(header));
    if (header.num_params < 1 || header.num_params > kMaxRecvParams) {
        return Error(ErrorKind::InvalidArgument)
               << "request with " << header.num_params << " params (1 to " << kMaxRecvParams
               << " fit)";
    }
    tee_ioctl_param meta = read_param(received, 0);
    if (meta.attr != kMetaAttr)
        return Error(ErrorKind::InvalidArgument) << "first param attr " << meta.attr << " is not meta";

    DecodedRequest decoded;
    RpcRequest& request = decoded.request;
    request.command = header.func;
    request.id = meta.a;
    for (uint32_t i = 1; i < header.num_params; ++i) {
        tee_ioctl_param raw = read_param(received, i);
        // A meta param after the first, or bits outside the type, cannot be answered sensibly:
        // the request is refused as a whole (under its id, so the secure world is not left
        // waiting).
        RpcParam param{.type = static_cast<uint32_t>(raw.attr & TEE_IOCTL_PARAM_ATTR_TYPE_MASK),
                       .a = raw.a, .b = raw.b, .c = raw.c};
        if (raw.attr & ~uint64_t{TEE_IOCTL_PARAM_ATTR_TYPE_MASK}) {
            decoded.param_error = Error(ErrorKind::InvalidArgument)
                                  << "param " << i - 1 << " has attr " << raw.attr;
            param.type = TEE_IOCTL_PARAM_ATTR_TYPE_NONE;
        }
        request.params.push_back(param);
    }
    if (!decoded.param_error) {
        auto resolved = resolve_memrefs(request, memory);
        if (!resolved.ok()) decoded.param_error = std::move(resolved).error();
    }
    return decoded;
}

size_t encode_reply(const RpcRequest& request, uint32_t ret, std::span<uint8_t> buffer) {
    const size_t count = 1 + request.params.size();
    tee_iocl_supp_send_arg header{.ret = ret, .num_params = static_cast<uint32_t>(count)};
    std::memcpy(buffer.data(), &header, sizeof(header));
    write_param(buffer, 0, {.attr = kMetaAttr, .a = request.id, .b = 0, .c = 0});
    for (size_t i = 0; i < request.params.size(); ++i) {
        const RpcParam& param = request.params[i];
        tee_ioctl_param raw{.attr = param.type, .a = 0, .b = 0, .c = 0};
        if (tee_param_type_is_output(param.type)) {
            raw.a = param.a;
            raw.b = param.b;
            raw.c = param.c;
        }
        write_param(buffer, i + 1, raw);
    }
    return sizeof(header) + count * sizeof(tee_ioctl_param);
}

}  // namespace teed::supplicant
