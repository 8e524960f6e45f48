#include "backends/sim/supplicant_queue.h"

#include <poll.h>
#include <sys/eventfd.h>

#include <cstring>

#include "backends/kernel/gp.h"
#include "backends/optee/supplicant/rpc_protocol.h"

namespace teed::sim {
namespace {

constexpr uint64_t kMetaAttr = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT | TEE_IOCTL_PARAM_ATTR_META;

// A request param as the kernel holds it (struct tee_param): the type, and three words that are
// a value's a, b, c or a memref's shm, offset, size, as the union overlays them.
struct QueuedParam {
    uint64_t attr = 0;
    uint64_t a = 0;
    uint64_t b = 0;
    uint64_t c = 0;
    int64_t shm_id = -1;  // memrefs: the supplicant's buffer, -1 for none
};

tee_ioctl_param read_param(const uint8_t* params, size_t index) {
    tee_ioctl_param param{};
    std::memcpy(&param, params + index * sizeof(param), sizeof(param));
    return param;
}

void write_param(uint8_t* params, size_t index, const tee_ioctl_param& param) {
    std::memcpy(params + index * sizeof(param), &param, sizeof(param));
}

// params_to_supp(): what the supplicant reads of a request param.
tee_ioctl_param to_supplicant(const QueuedParam& param) {
    tee_ioctl_param out{.attr = param.attr, .a = 0, .b = 0, .c = 0};
    const uint64_t type = param.attr & TEE_IOCTL_PARAM_ATTR_TYPE_MASK;
    if (type == TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT ||
        type == TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT) {
        out.a = param.a;
        out.b = param.b;
        out.c = param.c;
    } else if (tee_param_type_is_memref(type)) {
        out.b = param.b;  // size
        if (param.shm_id < 0) {
            out.c = TEE_MEMREF_NULL;
        } else {
            out.a = param.a;  // offset
            out.c = static_cast<uint64_t>(param.shm_id);
        }
    }
    return out;
}

// params_from_supp(): the three words of the kernel's param union (value a, b, c; memref
// shm_offs, size, shm) that a sent param fills. Only VALUE_OUTPUT/INOUT carry values and only
// MEMREF_OUTPUT/INOUT a size, in the second word; any other type leaves the words zero (6.18's
// UBUF_OUTPUT/INOUT would carry address and size; 6.1 knows no such type).
std::array<uint64_t, 3> from_supplicant(const tee_ioctl_param& sent) {
    switch (sent.attr & TEE_IOCTL_PARAM_ATTR_TYPE_MASK) {
        case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT:
        case TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT:
            return {sent.a, sent.b, sent.c};
        case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT:
        case TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT:
            return {0, sent.b, 0};
        default:
            return {0, 0, 0};
    }
}

// How tee_ioctl_supp_recv() and tee_ioctl_supp_send() check buf_len against num_params: RECV
// wants exactly the params, SEND at least room for them.
enum class ArgLength { Exact, AtLeast };

// The argument of RECV or SEND, as tee_ioctl_supp_recv/send check it before the driver runs.
Result<uint8_t*> supplicant_arg(const tee_ioctl_buf_data& buf, ArgLength rule,
                                uint32_t& ret_num_params) {
    constexpr size_t header = sizeof(tee_iocl_supp_recv_arg);
    if (buf.buf_len > TEE_MAX_ARG_SIZE || buf.buf_len < header)
        return ErrnoError(EINVAL) << "argument of " << buf.buf_len << " bytes";
    if (buf.buf_ptr == 0) return ErrnoError(EFAULT) << "argument at address 0";
    auto* base = reinterpret_cast<uint8_t*>(static_cast<uintptr_t>(buf.buf_ptr));
    uint32_t num_params = 0;
    std::memcpy(&num_params, base + offsetof(tee_iocl_supp_recv_arg, num_params), sizeof(num_params));
    const uint64_t needed = header + uint64_t{num_params} * sizeof(tee_ioctl_param);
    if (rule == ArgLength::Exact ? needed != buf.buf_len : needed > buf.buf_len)
        return ErrnoError(EINVAL) << num_params << " params do not fit " << buf.buf_len << " bytes";
    for (uint32_t i = 0; i < num_params; ++i) {
        tee_ioctl_param param = read_param(base + header, i);
        if ((param.attr & ~uint64_t{TEE_IOCTL_PARAM_ATTR_MASK}) != 0)
            return ErrnoError(EINVAL) << "param " << i << " attr " << param.attr;
    }
    ret_num_params = num_params;
    return base;
}

}  // namespace

struct SupplicantQueue::Request {
    uint32_t func = 0;
    std::vector<QueuedParam> params;
    uint32_t ret = gp::kErrorCommunication;
    bool done = false;
    std::condition_variable completed;
};

SupplicantQueue::SupplicantQueue(ShmTable& shms, bool has_device, ShmTransport transport)
    : shms_(shms), has_device_(has_device), transport_(transport),
      wakeups_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE)) {}

SupplicantQueue::~SupplicantQueue() = default;

uint32_t SupplicantQueue::call(uint32_t command, std::span<RpcParam> params) {
    if (!has_device_ || !wakeups_.valid()) return gp::kErrorCommunication;
    auto request = std::make_shared<Request>();
    request->func = command;
    for (const RpcParam& param : params) {
        QueuedParam queued{.attr = param.type, .a = param.a, .b = param.b, .c = param.c};
        if (tee_param_type_is_memref(param.type)) {
            queued.a = param.offset;
            queued.b = param.size;
            queued.c = 0;
            queued.shm_id = param.buffer != nullptr ? param.buffer->id() : param.shm_id;
        }
        request->params.push_back(queued);
    }

    std::unique_lock lock(mutex_);
    queue_.push_back(request);
    wake_one_receiver();
    // optee_supp_thrd_req(): the secure-world thread waits until the supplicant answers or goes
    // away (only a fatal signal would interrupt it; TAs have none).
    request->completed.wait(lock, [&] { return request->done; });

    for (size_t i = 0; i < params.size(); ++i) {
        const QueuedParam& answered = request->params[i];
        const uint64_t type = params[i].type;
        if (type == TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT ||
            type == TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT) {
            params[i].a = answered.a;
            params[i].b = answered.b;
            params[i].c = answered.c;
        } else if (type == TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT ||
                   type == TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT) {
            params[i].size = answered.b;
        }
    }
    return request->ret;
}

std::unique_ptr<RpcSharedBuffer> SupplicantQueue::allocate(size_t size, uint32_t& ret_code) {
    // Every refusal below reaches the TA as out of memory: the driver answers OP-TEE
    // TEEC_ERROR_OUT_OF_MEMORY (or a success OP-TEE cannot use) and OP-TEE's
    // thread_rpc_alloc_payload() returns no buffer.
    ret_code = gp::kErrorOutOfMemory;
    std::array<RpcParam, 1> params{RpcParam::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT,
                                                   supplicant::kShmTypeAppl, size, 0)};
    // optee_rpc_cmd_alloc_suppl(): any refusal of the supplicant is -ENOMEM; the id it answered
    // must name a shm of its own context.
    if (call(supplicant::kCmdShmAlloc, params) != gp::kSuccess) return nullptr;
    std::shared_ptr<SharedMemory> shm = supplicant_shm(params[0].c);
    if (!shm) return nullptr;
    // The driver's reference is dropped again without telling the supplicant: its buffer stays
    // allocated until it frees it itself.
    if (!driver_passes_rpc_buffer(transport_, shm->registered())) return nullptr;
    // get_rpc_alloc_res(): a buffer smaller than asked for fails too, and is not freed.
    if (shm->size() < size) return nullptr;
    if (!secure_world_maps_rpc_buffer(transport_, shm->registered())) {
        const int32_t id = shm->id();
        shm.reset();  // optee_rpc_cmd_free_suppl() drops the driver's reference first
        free(id);
        return nullptr;
    }
    ret_code = gp::kSuccess;
    return std::make_unique<RpcSharedBuffer>(*this, std::move(shm));
}

std::shared_ptr<SharedMemory> SupplicantQueue::supplicant_shm(uint64_t id) const {
    std::lock_guard lock(mutex_);
    if (!supplicant_) return nullptr;  // the supplicant went away meanwhile: no context
    // tee_shm_get_from_id() takes an int: the low 32 bits of the answered value.
    return shms_.find(*supplicant_, static_cast<int32_t>(static_cast<uint32_t>(id)));
}

void SupplicantQueue::free(int32_t shm_id) {
    std::array<RpcParam, 1> params{RpcParam::value(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT,
                                                   supplicant::kShmTypeAppl,
                                                   static_cast<uint64_t>(shm_id), 0)};
    (void)call(supplicant::kCmdShmFree, params);  // the driver ignores the answer too
}

Result<void> SupplicantQueue::attach(ContextId context) {
    std::lock_guard lock(mutex_);
    if (supplicant_) return ErrnoError(EBUSY) << "the supplicant device is already open";
    supplicant_ = context;
    return {};
}

void SupplicantQueue::detach(ContextId context) {
    std::lock_guard lock(mutex_);
    if (supplicant_ != context) return;
    auto fail = [](const std::shared_ptr<Request>& request) {
        request->ret = gp::kErrorCommunication;
        request->done = true;
        request->completed.notify_all();
    };
    for (auto& [id, request] : taken_) fail(request);
    for (auto& request : queue_) fail(request);
    taken_.clear();
    queue_.clear();
    supplicant_.reset();
    synchronous_id_.reset();
}

Result<void> SupplicantQueue::receive(const tee_ioctl_buf_data& buf) {
    uint32_t num_params = 0;
    uint8_t* base = TEED_TRY(supplicant_arg(buf, ArgLength::Exact, num_params));
    uint8_t* uparams = base + sizeof(tee_iocl_supp_recv_arg);
    // supp_check_recv_params(): at least one param, all NONE, the first optionally META.
    if (num_params == 0) return ErrnoError(EINVAL) << "SUPPL_RECV with no params";
    for (uint32_t i = 0; i < num_params; ++i) {
        uint64_t attr = read_param(uparams, i).attr;
        if (attr != 0 && attr != TEE_IOCTL_PARAM_ATTR_META)
            return ErrnoError(EINVAL) << "SUPPL_RECV param " << i << " attr " << attr;
    }
    const bool asynchronous = read_param(uparams, 0).attr == TEE_IOCTL_PARAM_ATTR_META;
    const uint32_t num_meta = asynchronous ? 1 : 0;

    std::shared_ptr<Request> request;
    uint32_t id = 0;
    for (;;) {
        Result<void> error;
        request = pop_for(num_params - num_meta, asynchronous, id, error);
        if (!error.ok()) return error;
        if (request) break;
        TEED_TRY(wait_for_request());
    }

    const uint32_t func = request->func;
    const auto count = static_cast<uint32_t>(request->params.size()) + num_meta;
    std::memcpy(base + offsetof(tee_iocl_supp_recv_arg, func), &func, sizeof(func));
    std::memcpy(base + offsetof(tee_iocl_supp_recv_arg, num_params), &count, sizeof(count));
    if (asynchronous) write_param(uparams, 0, {.attr = kMetaAttr, .a = id, .b = 0, .c = 0});
    for (size_t i = 0; i < request->params.size(); ++i)
        write_param(uparams, i + num_meta, to_supplicant(request->params[i]));
    return {};
}

std::shared_ptr<SupplicantQueue::Request> SupplicantQueue::pop_for(uint32_t room, bool asynchronous,
                                                                   uint32_t& ret_id,
                                                                   Result<void>& ret_error) {
    std::lock_guard lock(mutex_);
    // supp_pop_entry(): a synchronous request still unanswered forbids taking another.
    if (synchronous_id_) {
        ret_error = ErrnoError(EINVAL) << "a synchronous request is still unanswered";
        return nullptr;
    }
    if (queue_.empty()) return nullptr;
    std::shared_ptr<Request> request = queue_.front();
    if (room < request->params.size()) {
        ret_error = ErrnoError(EINVAL) << "request needs " << request->params.size()
                                       << " params, the buffer has room for " << room;
        return nullptr;
    }
    uint32_t id = 1;  // the idr's lowest free id from 1
    while (taken_.count(id) != 0) ++id;
    queue_.erase(queue_.begin());
    taken_.emplace(id, request);
    if (!asynchronous) synchronous_id_ = id;
    ret_id = id;
    return request;
}

Result<void> SupplicantQueue::send(const tee_ioctl_buf_data& buf) {
    uint32_t num_params = 0;
    uint8_t* base = TEED_TRY(supplicant_arg(buf, ArgLength::AtLeast, num_params));
    const uint8_t* uparams = base + sizeof(tee_iocl_supp_send_arg);
    uint32_t ret = 0;
    std::memcpy(&ret, base + offsetof(tee_iocl_supp_send_arg, ret), sizeof(ret));

    std::lock_guard lock(mutex_);
    // supp_pop_req(): at least one param in either mode; the id comes from the meta param
    // unless a synchronous request is out.
    if (num_params < 1) return ErrnoError(EINVAL) << "SUPPL_SEND with no params";
    uint32_t num_meta = 0;
    uint32_t id = 0;
    if (!synchronous_id_) {
        tee_ioctl_param meta = read_param(uparams, 0);
        if (meta.attr != kMetaAttr) return ErrnoError(EINVAL) << "SUPPL_SEND without a meta param";
        id = static_cast<uint32_t>(meta.a);  // the kernel's id is an int: the low 32 bits
        num_meta = 1;
    } else {
        id = *synchronous_id_;
    }
    auto it = taken_.find(id);
    if (it == taken_.end()) return ErrnoError(ENOENT) << "no request with id " << id;
    std::shared_ptr<Request> request = it->second;
    if (num_params - num_meta != request->params.size())
        return ErrnoError(EINVAL) << num_params - num_meta << " params answer a request of "
                                  << request->params.size();
    taken_.erase(it);
    synchronous_id_.reset();

    // optee_supp_send(): outputs are copied according to the request's own types.
    for (size_t i = 0; i < request->params.size(); ++i) {
        QueuedParam& param = request->params[i];
        const auto words = from_supplicant(read_param(uparams, i + num_meta));
        const uint64_t type = param.attr & TEE_IOCTL_PARAM_ATTR_TYPE_MASK;
        if (type == TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT ||
            type == TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT) {
            param.a = words[0];
            param.b = words[1];
            param.c = words[2];
        } else if (type == TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT ||
                   type == TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT) {
            param.b = words[1];  // u.memref.size
        }
    }
    request->ret = ret;
    request->done = true;
    request->completed.notify_all();
    return {};
}

size_t SupplicantQueue::pending() const {
    std::lock_guard lock(mutex_);
    return queue_.size() + taken_.size();
}

void SupplicantQueue::wake_one_receiver() {
    uint64_t one = 1;
    (void)!::write(wakeups_.get(), &one, sizeof(one));
}

Result<void> SupplicantQueue::wait_for_request() {
    // A real system call, so that a signal delivered to the receiving thread interrupts it the
    // way it interrupts the kernel's wait (the caller then sees EINTR).
    pollfd wait{.fd = wakeups_.get(), .events = POLLIN, .revents = 0};
    if (::poll(&wait, 1, -1) < 0) return ErrnoError() << "SUPPL_RECV interrupted";
    uint64_t token = 0;
    // Another receiver may have taken the wakeup first; the caller then looks again and waits.
    (void)!::read(wakeups_.get(), &token, sizeof(token));
    return {};
}

}  // namespace teed::sim
