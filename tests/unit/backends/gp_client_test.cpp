// GpClient against a mock Device: the exact UAPI buffers it hands the kernel, and how it reads
// the kernel's answers back.
#include "backends/optee/gp_client.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backends/kernel/gp.h"

namespace teed {
namespace {

using ::testing::_;
using ::testing::Invoke;

class MockDevice : public Device {
public:
    MOCK_METHOD(Result<tee_ioctl_version_data>, version, (), (override));
    MOCK_METHOD(Result<UniqueFd>, shm_alloc, (tee_ioctl_shm_alloc_data&), (override));
    MOCK_METHOD(Result<UniqueFd>, shm_register, (tee_ioctl_shm_register_data&), (override));
    MOCK_METHOD(Result<void>, open_session, (const tee_ioctl_buf_data&), (override));
    MOCK_METHOD(Result<void>, invoke, (const tee_ioctl_buf_data&), (override));
    MOCK_METHOD(Result<void>, cancel, (const tee_ioctl_cancel_arg&), (override));
    MOCK_METHOD(Result<void>, close_session, (const tee_ioctl_close_session_arg&), (override));
    MOCK_METHOD(Result<void>, supp_recv, (const tee_ioctl_buf_data&), (override));
    MOCK_METHOD(Result<void>, supp_send, (const tee_ioctl_buf_data&), (override));
    MOCK_METHOD(Result<void>, object_invoke, (const tee_ioctl_buf_data&), (override));
};

// Backs shm_alloc with a memfd the test can look into, as the kernel's shm fd would be.
class MemfdShm {
public:
    Result<UniqueFd> allocate(tee_ioctl_shm_alloc_data& data) {
        EXPECT_EQ(data.flags, 0u);
        UniqueFd fd(memfd_create("gp-client-test", MFD_CLOEXEC));
        EXPECT_EQ(ftruncate(fd.get(), static_cast<off_t>(data.size)), 0);
        data.id = 7;
        size_ = data.size;
        fd_ = dup(fd.get());
        return fd;
    }
    // The shm's bytes as the "secure world" sees them.
    uint8_t* map() {
        map_ = static_cast<uint8_t*>(mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0));
        return map_;
    }
    ~MemfdShm() {
        if (map_) munmap(map_, size_);
        if (fd_ >= 0) close(fd_);
    }
    uint64_t size_ = 0;

private:
    int fd_ = -1;
    uint8_t* map_ = nullptr;
};

template <typename Header>
Header* header_of(const tee_ioctl_buf_data& buf) {
    return reinterpret_cast<Header*>(buf.buf_ptr);
}
template <typename Header>
tee_ioctl_param* params_of(const tee_ioctl_buf_data& buf) {
    return reinterpret_cast<tee_ioctl_param*>(buf.buf_ptr + sizeof(Header));
}

TEST(AGpClient, MarshalsValuesIntoAnInvokeBufferTheKernelAccepts) {
    MockDevice device;
    EXPECT_CALL(device, invoke(_)).WillOnce(Invoke([](const tee_ioctl_buf_data& buf) -> Result<void> {
        EXPECT_EQ(buf.buf_len, sizeof(tee_ioctl_invoke_arg) + sizeof(tee_ioctl_param));
        auto* h = header_of<tee_ioctl_invoke_arg>(buf);
        EXPECT_EQ(h->func, 3u);
        EXPECT_EQ(h->session, 11u);
        EXPECT_EQ(h->cancel_id, 5u);
        EXPECT_EQ(h->num_params, 1u);
        auto* p = params_of<tee_ioctl_invoke_arg>(buf);
        EXPECT_EQ(p[0].attr, uint64_t{TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT});
        EXPECT_EQ(p[0].a, 42u);
        p[0].a = 43;
        h->ret = gp::kSuccess;
        h->ret_origin = gp::kOriginTrustedApp;
        return {};
    }));
    GpClient gp(device, /*memref_null=*/true, /*reg_mem=*/false);
    auto reply = gp.invoke(11, 3, 5, {GpParam::value_inout(42)});
    ASSERT_TRUE(reply.ok()) << reply.error().message();
    EXPECT_EQ(reply->return_origin, gp::kOriginTrustedApp);
    ASSERT_EQ(reply->params.size(), 1u);
    EXPECT_EQ(reply->params[0].a, 43u);
}

TEST(AGpClient, CarriesTemporaryMemrefsInOneSharedMemoryAndCopiesOutputsBack) {
    MockDevice device;
    MemfdShm shm;
    EXPECT_CALL(device, shm_alloc(_)).WillOnce(Invoke([&](tee_ioctl_shm_alloc_data& d) { return shm.allocate(d); }));
    EXPECT_CALL(device, invoke(_)).WillOnce(Invoke([&](const tee_ioctl_buf_data& buf) -> Result<void> {
        auto* p = params_of<tee_ioctl_invoke_arg>(buf);
        EXPECT_EQ(p[0].attr, uint64_t{TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT});
        EXPECT_EQ(p[1].attr, uint64_t{TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT});
        EXPECT_EQ(p[0].c, 7u);
        EXPECT_EQ(p[1].c, 7u);
        EXPECT_EQ(p[0].b, 3u);
        EXPECT_EQ(p[1].b, 8u);
        uint8_t* mem = shm.map();
        EXPECT_EQ(std::memcmp(mem + p[0].a, "abc", 3), 0);
        std::memcpy(mem + p[1].a, "cba", 3);
        p[1].b = 3;  // the TA wrote 3 bytes
        header_of<tee_ioctl_invoke_arg>(buf)->ret = gp::kSuccess;
        return {};
    }));
    GpClient gp(device, /*memref_null=*/true, /*reg_mem=*/false);
    auto reply = gp.invoke(1, 0, 0, {GpParam::temp_input({'a', 'b', 'c'}), GpParam::temp_output(8)});
    ASSERT_TRUE(reply.ok()) << reply.error().message();
    EXPECT_EQ(reply->params[1].size, 3u);
    EXPECT_EQ(reply->params[1].data, (std::vector<uint8_t>{'c', 'b', 'a'}));
    EXPECT_TRUE(reply->params[0].data.empty());  // inputs are not echoed back
}

TEST(AGpClient, ReportsTheNeededSizeOnShortBufferWithoutData) {
    MockDevice device;
    MemfdShm shm;
    EXPECT_CALL(device, shm_alloc(_)).WillOnce(Invoke([&](tee_ioctl_shm_alloc_data& d) { return shm.allocate(d); }));
    EXPECT_CALL(device, invoke(_)).WillOnce(Invoke([](const tee_ioctl_buf_data& buf) -> Result<void> {
        params_of<tee_ioctl_invoke_arg>(buf)[0].b = 100;
        header_of<tee_ioctl_invoke_arg>(buf)->ret = gp::kErrorShortBuffer;
        return {};
    }));
    GpClient gp(device, /*memref_null=*/true, /*reg_mem=*/false);
    auto reply = gp.invoke(1, 0, 0, {GpParam::temp_output(4)});
    ASSERT_TRUE(reply.ok());
    EXPECT_EQ(reply->return_code, gp::kErrorShortBuffer);
    EXPECT_EQ(reply->params[0].size, 100u);
    EXPECT_TRUE(reply->params[0].data.empty());
}

TEST(AGpClient, SendsEmptyMemrefsAsNullWhenTheDeviceSupportsIt) {
    MockDevice device;
    EXPECT_CALL(device, shm_alloc(_)).Times(0);
    EXPECT_CALL(device, invoke(_)).WillOnce(Invoke([](const tee_ioctl_buf_data& buf) -> Result<void> {
        EXPECT_EQ(params_of<tee_ioctl_invoke_arg>(buf)[0].c, TEE_MEMREF_NULL);
        return {};
    }));
    GpClient gp(device, /*memref_null=*/true, /*reg_mem=*/false);
    EXPECT_TRUE(gp.invoke(1, 0, 0, {GpParam::temp_output(0)}).ok());
}

TEST(AGpClient, PutsTheUuidLoginAndGroupIntoTheOpenSessionBuffer) {
    MockDevice device;
    auto uuid = Uuid::parse("8aaaf200-2450-11e4-abe2-0002a5d5c51b").value();
    EXPECT_CALL(device, open_session(_)).WillOnce(Invoke([&](const tee_ioctl_buf_data& buf) -> Result<void> {
        EXPECT_EQ(buf.buf_len, sizeof(tee_ioctl_open_session_arg));
        auto* h = header_of<tee_ioctl_open_session_arg>(buf);
        EXPECT_EQ(std::memcmp(h->uuid, uuid.bytes.data(), 16), 0);
        EXPECT_EQ(h->clnt_login, gp::kLoginGroup);
        uint32_t gid = 0;
        std::memcpy(&gid, h->clnt_uuid, sizeof gid);
        EXPECT_EQ(gid, 1234u);
        h->session = 9;
        h->ret = gp::kSuccess;
        h->ret_origin = gp::kOriginTrustedApp;
        return {};
    }));
    GpClient gp(device, /*memref_null=*/true, /*reg_mem=*/false);
    auto reply = gp.open_session({.uuid = uuid, .login = gp::kLoginGroup, .connection_data = 1234, .cancel_id = 0, .params = {}});
    ASSERT_TRUE(reply.ok());
    EXPECT_EQ(reply->session_id, 9u);
}

// The OP-TEE driver's pool gives at most 4 MiB of contiguous memory at once: on a device that
// can register, a call whose temporary memrefs need more gets teed's own memory, registered page
// by page.
TEST(AGpClient, RegistersTemporaryMemoryBeyondWhatThePoolGivesAtOnce) {
    MockDevice device;
    constexpr uint64_t kBig = 6u << 20;
    uint8_t* registered = nullptr;
    EXPECT_CALL(device, shm_alloc(_)).Times(0);
    EXPECT_CALL(device, shm_register(_)).WillOnce(Invoke([&](tee_ioctl_shm_register_data& d) {
        EXPECT_EQ(d.flags, 0u);
        EXPECT_EQ(d.addr % static_cast<uint64_t>(sysconf(_SC_PAGESIZE)), 0u);
        EXPECT_EQ(d.length, 2 * kBig) << "page-rounded, not a power of two";
        registered = reinterpret_cast<uint8_t*>(d.addr);
        d.id = 11;
        return Result<UniqueFd>(UniqueFd(memfd_create("gp-client-registration", MFD_CLOEXEC)));
    }));
    EXPECT_CALL(device, invoke(_)).WillOnce(Invoke([&](const tee_ioctl_buf_data& buf) -> Result<void> {
        tee_ioctl_param* p = params_of<tee_ioctl_invoke_arg>(buf);
        EXPECT_EQ(p[0].c, 11u);
        EXPECT_EQ(p[1].c, 11u);
        EXPECT_EQ(registered[p[0].a + kBig - 1], 0x5a);
        registered[p[1].a] = 0xa5;
        header_of<tee_ioctl_invoke_arg>(buf)->ret = gp::kSuccess;
        return {};
    }));
    GpClient gp(device, /*memref_null=*/true, /*reg_mem=*/true);
    auto reply = gp.invoke(1, 0, 0, {GpParam::temp_input(std::vector<uint8_t>(kBig, 0x5a)),
                                     GpParam::temp_output(kBig)});
    ASSERT_TRUE(reply.ok()) << reply.error().message();
    EXPECT_EQ(reply->params[1].data.at(0), 0xa5);
}

TEST(AGpClient, AllocatesTemporaryMemoryFromThePoolUpToFourMebibytes) {
    MockDevice device;
    MemfdShm shm;
    EXPECT_CALL(device, shm_register(_)).Times(0);
    EXPECT_CALL(device, shm_alloc(_)).WillOnce(Invoke([&](tee_ioctl_shm_alloc_data& d) {
        EXPECT_EQ(d.size, ShmCache::kPoolMaxBytes);
        return shm.allocate(d);
    }));
    EXPECT_CALL(device, invoke(_)).WillOnce(Invoke([](const tee_ioctl_buf_data& buf) -> Result<void> {
        header_of<tee_ioctl_invoke_arg>(buf)->ret = gp::kSuccess;
        return {};
    }));
    GpClient gp(device, /*memref_null=*/true, /*reg_mem=*/true);
    auto reply = gp.invoke(1, 0, 0, {GpParam::temp_input(std::vector<uint8_t>(2u << 20, 1)),
                                     GpParam::temp_output(2u << 20)});
    ASSERT_TRUE(reply.ok()) << reply.error().message();
}

// A driver that refuses a registration (ENXIO, as Linux 7.3's FF-A sharing does now and then)
// costs zero copy, not the client's shared memory: the pool's memory is shared by copying.
TEST(AGpClient, SharesAClientsMemoryByCopyingWhenTheDriverRefusesToRegisterIt) {
    MockDevice device;
    MemfdShm shm;
    EXPECT_CALL(device, shm_register(_)).WillOnce(Invoke([](tee_ioctl_shm_register_data&) {
        return Result<UniqueFd>(ErrnoError(ENXIO) << "TEE_IOC_SHM_REGISTER");
    }));
    EXPECT_CALL(device, shm_alloc(_)).WillOnce(Invoke([&](tee_ioctl_shm_alloc_data& d) { return shm.allocate(d); }));
    GpClient gp(device, /*memref_null=*/true, /*reg_mem=*/true);
    UniqueFd memfd(memfd_create("gp-client-client-memory", MFD_CLOEXEC));
    ASSERT_EQ(ftruncate(memfd.get(), 1 << 20), 0);
    auto memory = gp.register_memory(memfd.get(), 1 << 20, gp::kMemInput | gp::kMemOutput, true);
    ASSERT_TRUE(memory.ok()) << memory.error().message();
    EXPECT_FALSE((*memory)->zero_copy());
    EXPECT_EQ((*memory)->device_id(), 7);
}

TEST(AGpClient, PassesARefusedRegistrationOnWhenThePoolCannotHoldTheMemory) {
    MockDevice device;
    EXPECT_CALL(device, shm_register(_)).WillOnce(Invoke([](tee_ioctl_shm_register_data&) {
        return Result<UniqueFd>(ErrnoError(ENXIO) << "TEE_IOC_SHM_REGISTER");
    }));
    EXPECT_CALL(device, shm_alloc(_)).Times(0);
    GpClient gp(device, /*memref_null=*/true, /*reg_mem=*/true);
    constexpr uint64_t kSize = ShmCache::kPoolMaxBytes + 4096;
    UniqueFd memfd(memfd_create("gp-client-client-memory", MFD_CLOEXEC));
    ASSERT_EQ(ftruncate(memfd.get(), kSize), 0);
    auto memory = gp.register_memory(memfd.get(), kSize, gp::kMemInput, true);
    ASSERT_FALSE(memory.ok());
    EXPECT_NE(memory.error().message().find("TEE_IOC_SHM_REGISTER"), std::string::npos);
}

TEST(AGpClient, PassesDeviceErrorsThrough) {
    MockDevice device;
    EXPECT_CALL(device, invoke(_)).WillOnce(Invoke([](const tee_ioctl_buf_data&) -> Result<void> {
        return ErrnoError(EINVAL) << "TEE_IOC_INVOKE";
    }));
    GpClient gp(device, /*memref_null=*/true, /*reg_mem=*/false);
    auto reply = gp.invoke(1, 0, 0, {});
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().kind(), ErrorKind::InvalidArgument);
}

}  // namespace
}  // namespace teed
