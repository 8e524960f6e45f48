// Run-time checks of the UAPI layout, complementing the static_asserts in tee_uapi.h: every
// field's offset, and the ioctl numbers decoded field by field.

#include "backends/kernel/tee_uapi.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>

namespace {

TEST(TheTeeUapi, LaysOutVersionAndShmStructs) {
    EXPECT_EQ(sizeof(tee_ioctl_version_data), 12u);
    EXPECT_EQ(offsetof(tee_ioctl_version_data, impl_id), 0u);
    EXPECT_EQ(offsetof(tee_ioctl_version_data, impl_caps), 4u);
    EXPECT_EQ(offsetof(tee_ioctl_version_data, gen_caps), 8u);

    EXPECT_EQ(sizeof(tee_ioctl_shm_alloc_data), 16u);
    EXPECT_EQ(offsetof(tee_ioctl_shm_alloc_data, size), 0u);
    EXPECT_EQ(offsetof(tee_ioctl_shm_alloc_data, flags), 8u);
    EXPECT_EQ(offsetof(tee_ioctl_shm_alloc_data, id), 12u);

    EXPECT_EQ(sizeof(tee_ioctl_shm_register_data), 24u);
    EXPECT_EQ(offsetof(tee_ioctl_shm_register_data, addr), 0u);
    EXPECT_EQ(offsetof(tee_ioctl_shm_register_data, length), 8u);
    EXPECT_EQ(offsetof(tee_ioctl_shm_register_data, flags), 16u);
    EXPECT_EQ(offsetof(tee_ioctl_shm_register_data, id), 20u);

    EXPECT_EQ(sizeof(tee_ioctl_shm_register_fd_data), 24u);
    EXPECT_EQ(offsetof(tee_ioctl_shm_register_fd_data, fd), 0u);
    EXPECT_EQ(offsetof(tee_ioctl_shm_register_fd_data, size), 8u);
    EXPECT_EQ(offsetof(tee_ioctl_shm_register_fd_data, flags), 16u);
    EXPECT_EQ(offsetof(tee_ioctl_shm_register_fd_data, id), 20u);
}

TEST(TheTeeUapi, LaysOutBufDataAndParams) {
    EXPECT_EQ(sizeof(tee_ioctl_buf_data), 16u);
    EXPECT_EQ(offsetof(tee_ioctl_buf_data, buf_ptr), 0u);
    EXPECT_EQ(offsetof(tee_ioctl_buf_data, buf_len), 8u);

    EXPECT_EQ(sizeof(tee_ioctl_param), 32u);
    EXPECT_EQ(offsetof(tee_ioctl_param, attr), 0u);
    EXPECT_EQ(offsetof(tee_ioctl_param, a), 8u);
    EXPECT_EQ(offsetof(tee_ioctl_param, b), 16u);
    EXPECT_EQ(offsetof(tee_ioctl_param, c), 24u);
}

TEST(TheTeeUapi, LaysOutOpenSessionArg) {
    EXPECT_EQ(sizeof(tee_ioctl_open_session_arg), 56u);
    EXPECT_EQ(offsetof(tee_ioctl_open_session_arg, uuid), 0u);
    EXPECT_EQ(offsetof(tee_ioctl_open_session_arg, clnt_uuid), 16u);
    EXPECT_EQ(offsetof(tee_ioctl_open_session_arg, clnt_login), 32u);
    EXPECT_EQ(offsetof(tee_ioctl_open_session_arg, cancel_id), 36u);
    EXPECT_EQ(offsetof(tee_ioctl_open_session_arg, session), 40u);
    EXPECT_EQ(offsetof(tee_ioctl_open_session_arg, ret), 44u);
    EXPECT_EQ(offsetof(tee_ioctl_open_session_arg, ret_origin), 48u);
    EXPECT_EQ(offsetof(tee_ioctl_open_session_arg, num_params), 52u);
    EXPECT_EQ(offsetof(tee_ioctl_open_session_arg, params), 56u);
}

TEST(TheTeeUapi, LaysOutInvokeCancelAndCloseArgs) {
    EXPECT_EQ(sizeof(tee_ioctl_invoke_arg), 24u);
    EXPECT_EQ(offsetof(tee_ioctl_invoke_arg, func), 0u);
    EXPECT_EQ(offsetof(tee_ioctl_invoke_arg, session), 4u);
    EXPECT_EQ(offsetof(tee_ioctl_invoke_arg, cancel_id), 8u);
    EXPECT_EQ(offsetof(tee_ioctl_invoke_arg, ret), 12u);
    EXPECT_EQ(offsetof(tee_ioctl_invoke_arg, ret_origin), 16u);
    EXPECT_EQ(offsetof(tee_ioctl_invoke_arg, num_params), 20u);
    EXPECT_EQ(offsetof(tee_ioctl_invoke_arg, params), 24u);

    EXPECT_EQ(sizeof(tee_ioctl_cancel_arg), 8u);
    EXPECT_EQ(offsetof(tee_ioctl_cancel_arg, cancel_id), 0u);
    EXPECT_EQ(offsetof(tee_ioctl_cancel_arg, session), 4u);

    EXPECT_EQ(sizeof(tee_ioctl_close_session_arg), 4u);
    EXPECT_EQ(offsetof(tee_ioctl_close_session_arg, session), 0u);
}

TEST(TheTeeUapi, LaysOutSupplicantAndObjectArgs) {
    EXPECT_EQ(sizeof(tee_iocl_supp_recv_arg), 8u);
    EXPECT_EQ(offsetof(tee_iocl_supp_recv_arg, func), 0u);
    EXPECT_EQ(offsetof(tee_iocl_supp_recv_arg, num_params), 4u);
    EXPECT_EQ(offsetof(tee_iocl_supp_recv_arg, params), 8u);

    EXPECT_EQ(sizeof(tee_iocl_supp_send_arg), 8u);
    EXPECT_EQ(offsetof(tee_iocl_supp_send_arg, ret), 0u);
    EXPECT_EQ(offsetof(tee_iocl_supp_send_arg, num_params), 4u);
    EXPECT_EQ(offsetof(tee_iocl_supp_send_arg, params), 8u);

    // The explicit 32-bit pad keeps params at 24 on every ABI.
    EXPECT_EQ(sizeof(tee_ioctl_object_invoke_arg), 24u);
    EXPECT_EQ(offsetof(tee_ioctl_object_invoke_arg, id), 0u);
    EXPECT_EQ(offsetof(tee_ioctl_object_invoke_arg, op), 8u);
    EXPECT_EQ(offsetof(tee_ioctl_object_invoke_arg, ret), 12u);
    EXPECT_EQ(offsetof(tee_ioctl_object_invoke_arg, num_params), 16u);
    EXPECT_EQ(offsetof(tee_ioctl_object_invoke_arg, params), 24u);
}

struct IoctlCase {
    const char* name;
    unsigned long number;
    unsigned dir;
    unsigned nr;
    size_t size;
    unsigned long value;
};

TEST(TheTeeUapi, EncodesIoctlNumbersFieldByField) {
    const IoctlCase cases[] = {
        {"VERSION", TEE_IOC_VERSION, _IOC_READ, 0, sizeof(tee_ioctl_version_data), 0x800ca400},
        {"SHM_ALLOC", TEE_IOC_SHM_ALLOC, _IOC_READ | _IOC_WRITE, 1,
         sizeof(tee_ioctl_shm_alloc_data), 0xc010a401},
        {"OPEN_SESSION", TEE_IOC_OPEN_SESSION, _IOC_READ, 2, sizeof(tee_ioctl_buf_data),
         0x8010a402},
        {"INVOKE", TEE_IOC_INVOKE, _IOC_READ, 3, sizeof(tee_ioctl_buf_data), 0x8010a403},
        {"CANCEL", TEE_IOC_CANCEL, _IOC_READ, 4, sizeof(tee_ioctl_cancel_arg), 0x8008a404},
        {"CLOSE_SESSION", TEE_IOC_CLOSE_SESSION, _IOC_READ, 5, sizeof(tee_ioctl_close_session_arg),
         0x8004a405},
        {"SUPPL_RECV", TEE_IOC_SUPPL_RECV, _IOC_READ, 6, sizeof(tee_ioctl_buf_data), 0x8010a406},
        {"SUPPL_SEND", TEE_IOC_SUPPL_SEND, _IOC_READ, 7, sizeof(tee_ioctl_buf_data), 0x8010a407},
        {"SHM_REGISTER_FD", TEE_IOC_SHM_REGISTER_FD, _IOC_READ | _IOC_WRITE, 8,
         sizeof(tee_ioctl_shm_register_fd_data), 0xc018a408},
        {"SHM_REGISTER", TEE_IOC_SHM_REGISTER, _IOC_READ | _IOC_WRITE, 9,
         sizeof(tee_ioctl_shm_register_data), 0xc018a409},
        {"OBJECT_INVOKE", TEE_IOC_OBJECT_INVOKE, _IOC_READ, 10, sizeof(tee_ioctl_buf_data),
         0x8010a40a},
    };
    for (const IoctlCase& c : cases) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(c.number, c.value);
        EXPECT_EQ(_IOC_TYPE(c.number), 0xa4u);
        EXPECT_EQ(_IOC_NR(c.number), c.nr);
        EXPECT_EQ(_IOC_DIR(c.number), c.dir);
        EXPECT_EQ(_IOC_SIZE(c.number), c.size);
    }
}

TEST(TheTeeUapi, DefinesTheNewestConstants) {
    EXPECT_EQ(TEE_MAX_ARG_SIZE, 4096);
    EXPECT_EQ(TEE_MEMREF_NULL, UINT64_MAX);
    EXPECT_EQ(TEE_OBJREF_NULL, UINT64_MAX);
    EXPECT_EQ(TEE_IOCTL_PARAM_ATTR_MASK, 0x1ff);
    EXPECT_EQ(TEE_IOCTL_PARAM_ATTR_TYPE_OBJREF_INOUT, 13);
    EXPECT_EQ(TEE_GEN_CAP_OBJREF, 1 << 4);
    EXPECT_EQ(TEE_IMPL_ID_QTEE, 4);
    EXPECT_EQ(TEE_IOCTL_LOGIN_REE_KERNEL_MIN, 0x80000000u);
    EXPECT_EQ(TEE_IOCTL_LOGIN_REE_KERNEL_MAX, 0xBFFFFFFFu);
}

TEST(TheTeeUapi, LeavesRoomFor126OpenAnd127InvokeParams) {
    EXPECT_EQ((TEE_MAX_ARG_SIZE - sizeof(tee_ioctl_open_session_arg)) / sizeof(tee_ioctl_param),
              126u);
    EXPECT_EQ((TEE_MAX_ARG_SIZE - sizeof(tee_ioctl_invoke_arg)) / sizeof(tee_ioctl_param), 127u);
}

}  // namespace
