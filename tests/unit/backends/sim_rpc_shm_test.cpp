// The secure world's RPC buffers (OPTEE_RPC_CMD_SHM_ALLOC / SHM_FREE of type APPL) on each
// driver flavour, answered by hand as a supplicant would answer them: which buffers the driver
// and OP-TEE take (handle_rpc_func_cmd_shm_alloc(), handle_ffa_rpc_func_cmd_shm_alloc(),
// get_rpc_alloc_res()), and what a TA gets when they do not.

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <future>
#include <memory>
#include <vector>

#include "backends/optee/supplicant/rpc_protocol.h"
#include "backends/sim/rpc.h"
#include "tests/unit/backends/sim_test_support.h"

namespace teed::simtest {
namespace {

constexpr uint64_t kMeta = TEE_IOCTL_PARAM_ATTR_META;
const size_t kPage = static_cast<size_t>(sysconf(_SC_PAGESIZE));

// A SUPPL_RECV/SEND argument with room for the meta param and `count` - 1 more.
class SuppArg {
public:
    explicit SuppArg(uint32_t count = 2) : words_(1 + count * 4) { header().num_params = count; }
    tee_iocl_supp_recv_arg& header() {
        return *reinterpret_cast<tee_iocl_supp_recv_arg*>(words_.data());
    }
    tee_ioctl_param& param(size_t n) {
        return reinterpret_cast<tee_ioctl_param*>(words_.data() + 1)[n];
    }
    tee_ioctl_buf_data buf() {
        return {.buf_ptr = reinterpret_cast<uintptr_t>(words_.data()),
                .buf_len = words_.size() * 8};
    }

private:
    std::vector<uint64_t> words_;
};

struct Allocation {
    std::unique_ptr<sim::RpcSharedBuffer> buffer;
    uint32_t code = 0;
};

class ARpcBuffer : public ::testing::Test {
protected:
    explicit ARpcBuffer(const SimOptions& options = {})
        : tee_(make_simulated_tee(options)), supplicant_(tee_.supplicant->open().value()) {}

    SimDeviceNode& node() { return dynamic_cast<SimDeviceNode&>(*tee_.client); }

    // A TA's thread_rpc_alloc_payload(size), on a secure-world thread of its own.
    std::future<Allocation> allocate(size_t size) {
        return std::async(std::launch::async, [this, size] {
            Allocation out;
            out.buffer = node().secure_world_rpc().allocate(size, out.code);
            return out;
        });
    }
    // Frees `buffer` (OPTEE_RPC_CMD_SHM_FREE) on a secure-world thread.
    std::future<void> free_async(std::unique_ptr<sim::RpcSharedBuffer> buffer) {
        return std::async(std::launch::async, [b = std::move(buffer)]() mutable { b.reset(); });
    }

    // Takes the next request, which must be `command` {APPL, value}, and answers it with `ret`
    // and `c`. Returns the request's `b` (the size asked for, or the id to free).
    uint64_t answer(uint32_t command, uint32_t ret, uint64_t c) {
        SuppArg arg;
        arg.param(0).attr = kMeta;
        if (err(supplicant_->supp_recv(arg.buf())) != 0) {
            ADD_FAILURE() << "SUPPL_RECV failed";
            return 0;
        }
        EXPECT_EQ(arg.header().func, command);
        EXPECT_EQ(arg.param(1).attr, kValueInout);
        EXPECT_EQ(arg.param(1).a, supplicant::kShmTypeAppl);
        const uint64_t asked = arg.param(1).b;
        arg.header().func = ret;  // the ret field of tee_iocl_supp_send_arg
        arg.param(1) = {.attr = kValueInout, .a = supplicant::kShmTypeAppl, .b = asked, .c = c};
        EXPECT_EQ(err(supplicant_->supp_send(arg.buf())), 0);
        return asked;
    }
    void answer_alloc(int32_t id, uint32_t ret = gp::kSuccess) {
        answer(supplicant::kCmdShmAlloc, ret, static_cast<uint64_t>(id));
    }
    // The id of the buffer the secure world frees next.
    uint64_t answer_free() { return answer(supplicant::kCmdShmFree, gp::kSuccess, 0); }

    SimTee tee_;
    std::unique_ptr<Device> supplicant_;
};

// Linux 6.1's SMC ABI with dynamic shared memory: the default simulated OP-TEE.
using ARpcBufferOnTheSmcAbi = ARpcBuffer;

TEST_F(ARpcBufferOnTheSmcAbi, RefusesAnAllocatedShmAnsweringShmAlloc) {
    MappedShm pool_shm(*supplicant_, kPage);
    auto allocation = allocate(100);
    answer_alloc(pool_shm.id());
    Allocation got = allocation.get();
    EXPECT_TRUE(got.buffer == nullptr);
    EXPECT_EQ(got.code, gp::kErrorOutOfMemory) << "OP-TEE: RPC allocation failed";
    // The driver drops its reference without a word to the supplicant: no SHM_FREE follows.
    EXPECT_EQ(node().pending_supplicant_requests(), 0u);
    EXPECT_EQ(dynamic_cast<SimDevice&>(*supplicant_).live_shm_count(), 1u);
}

TEST_F(ARpcBufferOnTheSmcAbi, TakesARegisteredShmAnsweringShmAllocAndFreesItAgain) {
    RegisteredShm registered(*supplicant_, 2 * kPage);
    auto allocation = allocate(100);
    answer_alloc(registered.id());
    Allocation got = allocation.get();
    ASSERT_TRUE(got.buffer != nullptr);
    EXPECT_EQ(got.code, gp::kSuccess);
    EXPECT_EQ(got.buffer->id(), registered.id());
    EXPECT_EQ(got.buffer->size(), 2 * kPage);
    std::memcpy(got.buffer->data(), "pages", 5);
    EXPECT_EQ(std::memcmp(registered.data(), "pages", 5), 0) << "the supplicant's own memory";

    auto freed = free_async(std::move(got.buffer));
    EXPECT_EQ(answer_free(), static_cast<uint64_t>(registered.id()));
    freed.get();
}

TEST_F(ARpcBufferOnTheSmcAbi, RefusesAShmAllocTheSupplicantFailed) {
    RegisteredShm registered(*supplicant_, kPage);
    auto allocation = allocate(100);
    answer_alloc(registered.id(), gp::kErrorGeneric);
    Allocation got = allocation.get();
    EXPECT_TRUE(got.buffer == nullptr);
    EXPECT_EQ(got.code, gp::kErrorOutOfMemory);  // optee_rpc_cmd_alloc_suppl(): -ENOMEM
}

TEST_F(ARpcBufferOnTheSmcAbi, RefusesAnIdOfAnotherContextAnsweringShmAlloc) {
    auto client = tee_.client->open().value();
    std::vector<uint8_t> memory(kPage);
    tee_ioctl_shm_register_data data{
        .addr = reinterpret_cast<uintptr_t>(memory.data()), .length = kPage, .flags = 0, .id = 0};
    auto fd = client->shm_register(data);
    ASSERT_TRUE(fd.ok());
    for (int32_t id : {data.id, 4242}) {  // a client's shm; no shm at all
        auto allocation = allocate(100);
        answer_alloc(id);
        Allocation got = allocation.get();
        EXPECT_TRUE(got.buffer == nullptr) << id;
        EXPECT_EQ(got.code, gp::kErrorOutOfMemory);
    }
}

TEST_F(ARpcBufferOnTheSmcAbi, RefusesABufferSmallerThanAskedWithoutFreeingIt) {
    RegisteredShm registered(*supplicant_, 100);
    auto allocation = allocate(200);
    answer_alloc(registered.id());
    Allocation got = allocation.get();
    EXPECT_TRUE(got.buffer == nullptr);
    EXPECT_EQ(got.code, gp::kErrorOutOfMemory);
    EXPECT_EQ(node().pending_supplicant_requests(), 0u) << "get_rpc_alloc_res() frees nothing";
}

TEST_F(ARpcBufferOnTheSmcAbi, KeepsTheIdOfABufferTheSecureWorldHoldsAfterTheSupplicantLetGo) {
    auto registered = std::make_unique<RegisteredShm>(*supplicant_, kPage);
    const int32_t held = registered->id();
    auto allocation = allocate(16);
    answer_alloc(held);
    Allocation got = allocation.get();
    ASSERT_TRUE(got.buffer != nullptr);
    registered->close_fd();  // the driver's reference keeps the shm, and its id, alive
    RegisteredShm next(*supplicant_, kPage);
    EXPECT_NE(next.id(), held);

    auto freed = free_async(std::move(got.buffer));
    EXPECT_EQ(answer_free(), static_cast<uint64_t>(held));
    freed.get();
    EXPECT_EQ(dynamic_cast<SimDevice&>(*supplicant_).live_shm_count(), 1u);  // only `next`
}

class ARpcBufferOnAStaticPool : public ARpcBuffer {
protected:
    ARpcBufferOnAStaticPool() : ARpcBuffer({.reg_mem = false}) {}
};

TEST_F(ARpcBufferOnAStaticPool, TakesAnAllocatedShmAnsweringShmAlloc) {
    MappedShm pool_shm(*supplicant_, kPage);
    auto allocation = allocate(100);
    answer_alloc(pool_shm.id());
    Allocation got = allocation.get();
    ASSERT_TRUE(got.buffer != nullptr);
    EXPECT_EQ(got.code, gp::kSuccess);
    got.buffer->data()[0] = 0x5a;
    EXPECT_EQ(pool_shm.data()[0], 0x5a);
    auto freed = free_async(std::move(got.buffer));
    EXPECT_EQ(answer_free(), static_cast<uint64_t>(pool_shm.id()));
    freed.get();
}

TEST_F(ARpcBufferOnAStaticPool, FreesAndRefusesARegisteredShmAnsweringShmAlloc) {
    // The supplicant device registers without asking OP-TEE (optee_shm_register_supp()), but
    // an OP-TEE without dynamic shared memory cannot map the page list it then gets.
    RegisteredShm registered(*supplicant_, kPage);
    ASSERT_GT(registered.id(), 0);
    auto allocation = allocate(100);
    answer_alloc(registered.id());
    EXPECT_EQ(answer_free(), static_cast<uint64_t>(registered.id())) << "thread_rpc_free()";
    Allocation got = allocation.get();
    EXPECT_TRUE(got.buffer == nullptr);
    EXPECT_EQ(got.code, gp::kErrorOutOfMemory);
}

class ARpcBufferOnFfa : public ARpcBuffer {
protected:
    ARpcBufferOnFfa() : ARpcBuffer({.abi = SimAbi::FfA}) {}
};

TEST_F(ARpcBufferOnFfa, TakesAllocatedAndRegisteredShmsAnsweringShmAlloc) {
    MappedShm pool_shm(*supplicant_, kPage);
    RegisteredShm registered(*supplicant_, kPage);
    for (int32_t id : {pool_shm.id(), registered.id()}) {
        auto allocation = allocate(100);
        answer_alloc(id);
        Allocation got = allocation.get();
        ASSERT_TRUE(got.buffer != nullptr) << id;
        EXPECT_EQ(got.code, gp::kSuccess);
        auto freed = free_async(std::move(got.buffer));
        EXPECT_EQ(answer_free(), static_cast<uint64_t>(id));
        freed.get();
    }
}

// What a TA sees: loading a TA from the REE TA store needs an RPC buffer, which an allocated
// answer does not give on the SMC ABI (ree_fs_ta.c rpc_load(): TEE_ERROR_OUT_OF_MEMORY).
TEST_F(ARpcBufferOnTheSmcAbi, FailsLoadingATaWhenTheSupplicantAnswersWithAllocatedMemory) {
    auto client = tee_.client->open().value();
    auto opened = std::async(std::launch::async, [&] {
        OpenArg arg = open_arg("2f7e1b7a-6b1f-4c55-9a55-3d1c07c0a1b2");
        int rc = err(client->open_session(arg.buf()));
        return Outcome{rc, arg.header().ret, arg.header().ret_origin};
    });
    // LOAD_TA without a buffer: the size of the file.
    SuppArg load(3);
    load.param(0).attr = kMeta;
    ASSERT_EQ(err(supplicant_->supp_recv(load.buf())), 0);
    ASSERT_EQ(load.header().func, supplicant::kCmdLoadTa);
    load.header().func = gp::kSuccess;
    load.param(2).b = 4096;  // the size of the TA file
    ASSERT_EQ(err(supplicant_->supp_send(load.buf())), 0);

    MappedShm pool_shm(*supplicant_, 4096);
    answer_alloc(pool_shm.id());
    Outcome outcome = opened.get();
    EXPECT_EQ(outcome.err, 0);
    EXPECT_EQ(outcome.ret, gp::kErrorOutOfMemory);
    EXPECT_EQ(outcome.origin, gp::kOriginTee);
}

}  // namespace
}  // namespace teed::simtest
