#pragma once
// The Linux TEE user-space ABI, newest mainline definitions (include/uapi/linux/tee.h as of the
// 7.0/7.1 cycle: 6.18's QTEE, UBUF and OBJREF additions, TEE_MAX_ARG_SIZE 4096, and the explicit
// padding in tee_ioctl_object_invoke_arg). The host's <linux/tee.h> is older and is never included.
//
//   tee_ioctl_version_data v{};
//   ioctl(fd, TEE_IOC_VERSION, &v);
//   if (v.impl_id == TEE_IMPL_ID_OPTEE && (v.gen_caps & TEE_GEN_CAP_GP)) ...

#include <linux/ioctl.h>
#include <linux/types.h>

#include <cstddef>

#define TEE_IOC_MAGIC 0xa4
#define TEE_IOC_BASE 0

#define TEE_MAX_ARG_SIZE 4096

#define TEE_GEN_CAP_GP (1 << 0)
#define TEE_GEN_CAP_PRIVILEGED (1 << 1)
#define TEE_GEN_CAP_REG_MEM (1 << 2)
#define TEE_GEN_CAP_MEMREF_NULL (1 << 3)
#define TEE_GEN_CAP_OBJREF (1 << 4)

// The kernel spells these ((__u64)(-1)); the same value, without a C cast.
#define TEE_MEMREF_NULL (static_cast<__u64>(-1))
#define TEE_OBJREF_NULL (static_cast<__u64>(-1))

#define TEE_IMPL_ID_OPTEE 1
#define TEE_IMPL_ID_AMDTEE 2
#define TEE_IMPL_ID_TSTEE 3
#define TEE_IMPL_ID_QTEE 4

#define TEE_OPTEE_CAP_TZ (1 << 0)

#define TEE_IOCTL_UUID_LEN 16

#define TEE_IOCTL_PARAM_ATTR_TYPE_NONE 0
#define TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT 1
#define TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT 2
#define TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT 3
#define TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT 5
#define TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT 6
#define TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT 7
#define TEE_IOCTL_PARAM_ATTR_TYPE_UBUF_INPUT 8
#define TEE_IOCTL_PARAM_ATTR_TYPE_UBUF_OUTPUT 9
#define TEE_IOCTL_PARAM_ATTR_TYPE_UBUF_INOUT 10
#define TEE_IOCTL_PARAM_ATTR_TYPE_OBJREF_INPUT 11
#define TEE_IOCTL_PARAM_ATTR_TYPE_OBJREF_OUTPUT 12
#define TEE_IOCTL_PARAM_ATTR_TYPE_OBJREF_INOUT 13

#define TEE_IOCTL_PARAM_ATTR_TYPE_MASK 0xff
#define TEE_IOCTL_PARAM_ATTR_META 0x100
#define TEE_IOCTL_PARAM_ATTR_MASK (TEE_IOCTL_PARAM_ATTR_TYPE_MASK | TEE_IOCTL_PARAM_ATTR_META)

// The kernel's tee_param_is_memref() and its kin, on a param type (attr & TYPE_MASK). Not part of
// the UAPI header; here so that every user of these types asks the same question the same way.
// An attr with the META bit set is none of these.
constexpr bool tee_param_type_is_value(__u64 type) {
    return type >= TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT &&
           type <= TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT;
}
constexpr bool tee_param_type_is_memref(__u64 type) {
    return type >= TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT &&
           type <= TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT;
}
// VALUE_OUTPUT, VALUE_INOUT, MEMREF_OUTPUT, MEMREF_INOUT: what the other side writes back.
constexpr bool tee_param_type_is_output(__u64 type) {
    return type == TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT ||
           type == TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT ||
           type == TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT ||
           type == TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT;
}

#define TEE_IOCTL_LOGIN_PUBLIC 0
#define TEE_IOCTL_LOGIN_USER 1
#define TEE_IOCTL_LOGIN_GROUP 2
#define TEE_IOCTL_LOGIN_APPLICATION 4
#define TEE_IOCTL_LOGIN_USER_APPLICATION 5
#define TEE_IOCTL_LOGIN_GROUP_APPLICATION 6
#define TEE_IOCTL_LOGIN_REE_KERNEL_MIN 0x80000000
#define TEE_IOCTL_LOGIN_REE_KERNEL_MAX 0xBFFFFFFF
#define TEE_IOCTL_LOGIN_REE_KERNEL 0x80000000

struct tee_ioctl_version_data {
    __u32 impl_id;
    __u32 impl_caps;
    __u32 gen_caps;
};

struct tee_ioctl_shm_alloc_data {
    __u64 size;
    __u32 flags;
    __s32 id;
};

struct tee_ioctl_shm_register_fd_data {
    __s64 fd;
    __u64 size;
    __u32 flags;
    __s32 id;
};

struct tee_ioctl_buf_data {
    __u64 buf_ptr;
    __u64 buf_len;
};

struct tee_ioctl_param {
    __u64 attr;
    __u64 a;
    __u64 b;
    __u64 c;
};

struct tee_ioctl_open_session_arg {
    __u8 uuid[TEE_IOCTL_UUID_LEN];
    __u8 clnt_uuid[TEE_IOCTL_UUID_LEN];
    __u32 clnt_login;
    __u32 cancel_id;
    __u32 session;
    __u32 ret;
    __u32 ret_origin;
    __u32 num_params;
    struct tee_ioctl_param params[];
};

struct tee_ioctl_invoke_arg {
    __u32 func;
    __u32 session;
    __u32 cancel_id;
    __u32 ret;
    __u32 ret_origin;
    __u32 num_params;
    struct tee_ioctl_param params[];
};

struct tee_ioctl_object_invoke_arg {
    __u64 id;
    __u32 op;
    __u32 ret;
    __u32 num_params;
    __u32 : 32;
    struct tee_ioctl_param params[];
};

struct tee_iocl_supp_recv_arg {
    __u32 func;
    __u32 num_params;
    struct tee_ioctl_param params[];
};

struct tee_iocl_supp_send_arg {
    __u32 ret;
    __u32 num_params;
    struct tee_ioctl_param params[];
};

struct tee_ioctl_cancel_arg {
    __u32 cancel_id;
    __u32 session;
};

struct tee_ioctl_close_session_arg {
    __u32 session;
};

struct tee_ioctl_shm_register_data {
    __u64 addr;
    __u64 length;
    __u32 flags;
    __s32 id;
};

#define TEE_IOC_VERSION _IOR(TEE_IOC_MAGIC, TEE_IOC_BASE + 0, struct tee_ioctl_version_data)
#define TEE_IOC_SHM_ALLOC _IOWR(TEE_IOC_MAGIC, TEE_IOC_BASE + 1, struct tee_ioctl_shm_alloc_data)
#define TEE_IOC_OPEN_SESSION _IOR(TEE_IOC_MAGIC, TEE_IOC_BASE + 2, struct tee_ioctl_buf_data)
#define TEE_IOC_INVOKE _IOR(TEE_IOC_MAGIC, TEE_IOC_BASE + 3, struct tee_ioctl_buf_data)
#define TEE_IOC_CANCEL _IOR(TEE_IOC_MAGIC, TEE_IOC_BASE + 4, struct tee_ioctl_cancel_arg)
#define TEE_IOC_CLOSE_SESSION \
    _IOR(TEE_IOC_MAGIC, TEE_IOC_BASE + 5, struct tee_ioctl_close_session_arg)
#define TEE_IOC_SUPPL_RECV _IOR(TEE_IOC_MAGIC, TEE_IOC_BASE + 6, struct tee_ioctl_buf_data)
#define TEE_IOC_SUPPL_SEND _IOR(TEE_IOC_MAGIC, TEE_IOC_BASE + 7, struct tee_ioctl_buf_data)
#define TEE_IOC_SHM_REGISTER_FD \
    _IOWR(TEE_IOC_MAGIC, TEE_IOC_BASE + 8, struct tee_ioctl_shm_register_fd_data)
#define TEE_IOC_SHM_REGISTER \
    _IOWR(TEE_IOC_MAGIC, TEE_IOC_BASE + 9, struct tee_ioctl_shm_register_data)
#define TEE_IOC_OBJECT_INVOKE _IOR(TEE_IOC_MAGIC, TEE_IOC_BASE + 10, struct tee_ioctl_buf_data)

// The layout is ABI: any drift from the kernel's numbers must fail the build.
static_assert(sizeof(tee_ioctl_version_data) == 12);
static_assert(sizeof(tee_ioctl_shm_alloc_data) == 16);
static_assert(sizeof(tee_ioctl_shm_register_fd_data) == 24);
static_assert(sizeof(tee_ioctl_buf_data) == 16);
static_assert(sizeof(tee_ioctl_param) == 32);
static_assert(sizeof(tee_ioctl_open_session_arg) == 56);
static_assert(offsetof(tee_ioctl_open_session_arg, params) == 56);
static_assert(sizeof(tee_ioctl_invoke_arg) == 24);
static_assert(sizeof(tee_ioctl_object_invoke_arg) == 24);
static_assert(sizeof(tee_iocl_supp_recv_arg) == 8);
static_assert(sizeof(tee_iocl_supp_send_arg) == 8);
static_assert(sizeof(tee_ioctl_cancel_arg) == 8);
static_assert(sizeof(tee_ioctl_close_session_arg) == 4);
static_assert(sizeof(tee_ioctl_shm_register_data) == 24);

static_assert(TEE_IOC_VERSION == 0x800ca400);
static_assert(TEE_IOC_SHM_ALLOC == 0xc010a401);
static_assert(TEE_IOC_OPEN_SESSION == 0x8010a402);
static_assert(TEE_IOC_INVOKE == 0x8010a403);
static_assert(TEE_IOC_CANCEL == 0x8008a404);
static_assert(TEE_IOC_CLOSE_SESSION == 0x8004a405);
static_assert(TEE_IOC_SUPPL_RECV == 0x8010a406);
static_assert(TEE_IOC_SUPPL_SEND == 0x8010a407);
static_assert(TEE_IOC_SHM_REGISTER_FD == 0xc018a408);
static_assert(TEE_IOC_SHM_REGISTER == 0xc018a409);
static_assert(TEE_IOC_OBJECT_INVOKE == 0x8010a40a);
