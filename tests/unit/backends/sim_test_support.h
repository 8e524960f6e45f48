#pragma once
// Helpers for driving a simulated device the way user space drives /dev/teeN: argument buffers
// laid out as the UAPI wants them, shm that the test maps, and calls on other threads.

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "backends/kernel/gp.h"
#include "backends/kernel/tee_uapi.h"
#include "backends/sim/sim_device.h"
#include "common/uuid.h"

namespace teed::simtest {

using namespace std::chrono_literals;

inline constexpr const char* kHelloWorld = "8aaaf200-2450-11e4-abe2-0002a5d5c51b";
inline constexpr const char* kEcho = "4cbe901c-6d6c-4b1d-8ecd-fa9216ce5fe6";
inline constexpr const char* kSleep = "ab86ff20-02df-4d53-acee-341029557c38";
inline constexpr const char* kPanic = "f71671d9-735f-4dd7-82d2-6f108c84a7e5";
inline constexpr const char* kWhoami = "4839ae89-dd05-41d8-bd50-0e6109a44689";
inline constexpr const char* kCopy = "82110af0-5dff-4c5b-8e60-94810e550ce9";

inline constexpr uint64_t kNone = TEE_IOCTL_PARAM_ATTR_TYPE_NONE;
inline constexpr uint64_t kValueIn = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT;
inline constexpr uint64_t kValueOut = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT;
inline constexpr uint64_t kValueInout = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT;
inline constexpr uint64_t kMemrefIn = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT;
inline constexpr uint64_t kMemrefOut = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT;
inline constexpr uint64_t kMemrefInout = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT;

// The errno of a device call, 0 on success.
inline int err(const Result<void>& result) {
    return result.ok() ? 0 : result.error().sys_errno();
}

// An OPEN_SESSION or INVOKE argument as user space lays it out: the header, then the params.
template <typename Header>
class Arg {
public:
    explicit Arg(uint32_t num_params)
        : words_((sizeof(Header) + num_params * sizeof(tee_ioctl_param)) / sizeof(uint64_t)) {
        header().num_params = num_params;
    }
    Header& header() { return *reinterpret_cast<Header*>(words_.data()); }
    tee_ioctl_param& param(size_t n) {
        return reinterpret_cast<tee_ioctl_param*>(words_.data() + sizeof(Header) / 8)[n];
    }
    tee_ioctl_buf_data buf() {
        return {.buf_ptr = reinterpret_cast<uintptr_t>(words_.data()),
                .buf_len = words_.size() * sizeof(uint64_t)};
    }

private:
    std::vector<uint64_t> words_;  // 8-byte aligned, as a C struct would be
};
using OpenArg = Arg<tee_ioctl_open_session_arg>;
using InvokeArg = Arg<tee_ioctl_invoke_arg>;

inline OpenArg open_arg(const char* ta, uint32_t num_params = 0,
                        uint32_t login = TEE_IOCTL_LOGIN_PUBLIC) {
    OpenArg arg(num_params);
    Uuid uuid = Uuid::parse(ta).value();
    std::memcpy(arg.header().uuid, uuid.bytes.data(), uuid.bytes.size());
    arg.header().clnt_login = login;
    return arg;
}

inline InvokeArg invoke_arg(uint32_t session, uint32_t func, uint32_t num_params) {
    InvokeArg arg(num_params);
    arg.header().session = session;
    arg.header().func = func;
    return arg;
}

// Opens a session with no parameters, expecting success; 0 on failure.
inline uint32_t open_ok(Device& device, const char* ta, uint32_t login = TEE_IOCTL_LOGIN_PUBLIC) {
    OpenArg arg = open_arg(ta, 0, login);
    EXPECT_EQ(err(device.open_session(arg.buf())), 0);
    EXPECT_EQ(arg.header().ret, gp::kSuccess);
    EXPECT_EQ(arg.header().ret_origin, gp::kOriginTrustedApp);
    EXPECT_NE(arg.header().session, 0u);
    return arg.header().session;
}

// One allocated shm, mapped by the test as a client would map it.
class MappedShm {
public:
    MappedShm(Device& device, uint64_t size) {
        tee_ioctl_shm_alloc_data data{.size = size, .flags = 0, .id = 0};
        auto fd = device.shm_alloc(data);
        if (!fd.ok()) {
            ADD_FAILURE() << "shm_alloc: " << fd.error().message();
            return;
        }
        id_ = data.id;
        size_ = data.size;
        fd_ = std::move(fd).value();
        void* map = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
        if (map == MAP_FAILED) {
            ADD_FAILURE() << "mmap: " << std::strerror(errno);
            return;
        }
        data_ = static_cast<uint8_t*>(map);
    }
    ~MappedShm() { unmap(); }
    MappedShm(const MappedShm&) = delete;
    MappedShm& operator=(const MappedShm&) = delete;

    int32_t id() const { return id_; }
    uint64_t size() const { return size_; }
    uint8_t* data() const { return data_; }
    void close_fd() { fd_.reset(); }
    void unmap() {
        if (data_ != nullptr) ::munmap(data_, size_);
        data_ = nullptr;
    }

private:
    int32_t id_ = 0;
    uint64_t size_ = 0;
    UniqueFd fd_;
    uint8_t* data_ = nullptr;
};

// Memory of the test's own (whole pages, zeroed), registered with TEE_IOC_SHM_REGISTER as a
// client of a device with TEE_GEN_CAP_REG_MEM registers its buffers.
class RegisteredShm {
public:
    RegisteredShm(Device& device, uint64_t length) : length_(length) {
        const auto page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
        map_length_ = (std::max<uint64_t>(length, 1) + page - 1) / page * page;
        void* map = ::mmap(nullptr, map_length_, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map == MAP_FAILED) {
            ADD_FAILURE() << "mmap: " << std::strerror(errno);
            return;
        }
        data_ = static_cast<uint8_t*>(map);
        tee_ioctl_shm_register_data data{
            .addr = reinterpret_cast<uintptr_t>(data_), .length = length, .flags = 0, .id = 0};
        auto fd = device.shm_register(data);
        if (!fd.ok()) {
            ADD_FAILURE() << "shm_register: " << fd.error().message();
            return;
        }
        id_ = data.id;
        fd_ = std::move(fd).value();
    }
    ~RegisteredShm() {
        fd_.reset();  // the registration goes before the pages do
        if (data_ != nullptr) ::munmap(data_, map_length_);
    }
    RegisteredShm(const RegisteredShm&) = delete;
    RegisteredShm& operator=(const RegisteredShm&) = delete;

    int32_t id() const { return id_; }
    uint64_t size() const { return length_; }
    uint8_t* data() const { return data_; }
    void close_fd() { fd_.reset(); }

private:
    uint64_t length_ = 0;
    uint64_t map_length_ = 0;
    uint8_t* data_ = nullptr;
    int32_t id_ = 0;
    UniqueFd fd_;
};

template <typename Shm>
tee_ioctl_param memref(uint64_t attr, const Shm& shm, uint64_t offset, uint64_t size) {
    return {.attr = attr, .a = offset, .b = size, .c = static_cast<uint64_t>(shm.id())};
}

struct Outcome {
    int err = -1;
    uint32_t ret = 0;
    uint32_t origin = 0;
};

// Starts a sleep TA call on another thread.
inline std::future<Outcome> sleep_async(Device& device, uint32_t session, uint32_t ms,
                                        uint32_t cancel_id = 0) {
    return std::async(std::launch::async, [&device, session, ms, cancel_id] {
        InvokeArg arg = invoke_arg(session, 0, 1);
        arg.header().cancel_id = cancel_id;
        arg.param(0) = {.attr = kValueIn, .a = ms, .b = 0, .c = 0};
        int rc = err(device.invoke(arg.buf()));
        return Outcome{rc, arg.header().ret, arg.header().ret_origin};
    });
}

// Waits for `condition` with a generous deadline; false if it never held.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

class SimulatedDeviceTest : public ::testing::Test {
protected:
    explicit SimulatedDeviceTest(const SimOptions& options = {})
        : node_(make_simulated_node(options)), ctx_(node_->open().value()) {}

    std::unique_ptr<Device> open_context() { return node_->open().value(); }
    SimDevice& sim() { return dynamic_cast<SimDevice&>(*ctx_); }
    SimDeviceNode& sim_node() { return dynamic_cast<SimDeviceNode&>(*node_); }

    std::unique_ptr<DeviceNode> node_;
    std::unique_ptr<Device> ctx_;
};

}  // namespace teed::simtest
