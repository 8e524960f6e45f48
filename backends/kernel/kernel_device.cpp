#include "backends/kernel/kernel_device.h"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <utility>

namespace teed {
namespace {

class KernelDevice final : public Device {
public:
    explicit KernelDevice(UniqueFd fd) : fd_(std::move(fd)) {}

    Result<tee_ioctl_version_data> version() override {
        tee_ioctl_version_data data{};
        TEED_TRY(call(TEE_IOC_VERSION, &data, "TEE_IOC_VERSION"));
        return data;
    }
    Result<UniqueFd> shm_alloc(tee_ioctl_shm_alloc_data& data) override {
        return call_returning_fd(TEE_IOC_SHM_ALLOC, &data, "TEE_IOC_SHM_ALLOC");
    }
    Result<UniqueFd> shm_register(tee_ioctl_shm_register_data& data) override {
        return call_returning_fd(TEE_IOC_SHM_REGISTER, &data, "TEE_IOC_SHM_REGISTER");
    }
    Result<void> open_session(const tee_ioctl_buf_data& buf) override {
        return call(TEE_IOC_OPEN_SESSION, &buf, "TEE_IOC_OPEN_SESSION");
    }
    Result<void> invoke(const tee_ioctl_buf_data& buf) override {
        return call(TEE_IOC_INVOKE, &buf, "TEE_IOC_INVOKE");
    }
    Result<void> cancel(const tee_ioctl_cancel_arg& arg) override {
        return call(TEE_IOC_CANCEL, &arg, "TEE_IOC_CANCEL");
    }
    Result<void> close_session(const tee_ioctl_close_session_arg& arg) override {
        return call(TEE_IOC_CLOSE_SESSION, &arg, "TEE_IOC_CLOSE_SESSION");
    }
    Result<void> supp_recv(const tee_ioctl_buf_data& buf) override {
        return call(TEE_IOC_SUPPL_RECV, &buf, "TEE_IOC_SUPPL_RECV");
    }
    Result<void> supp_send(const tee_ioctl_buf_data& buf) override {
        return call(TEE_IOC_SUPPL_SEND, &buf, "TEE_IOC_SUPPL_SEND");
    }
    Result<void> object_invoke(const tee_ioctl_buf_data& buf) override {
        return call(TEE_IOC_OBJECT_INVOKE, &buf, "TEE_IOC_OBJECT_INVOKE");
    }

private:
    // The kernel takes the argument by pointer even for the "read-only" (_IOR) requests.
    Result<void> call(unsigned long request, const void* arg, const char* what) {
        if (::ioctl(fd_.get(), request, const_cast<void*>(arg)) < 0) return ErrnoError() << what;
        return {};
    }
    Result<UniqueFd> call_returning_fd(unsigned long request, void* arg, const char* what) {
        int fd = ::ioctl(fd_.get(), request, arg);
        if (fd < 0) return ErrnoError() << what;
        return UniqueFd(fd);
    }

    UniqueFd fd_;
};

class KernelNode final : public DeviceNode {
public:
    KernelNode(std::string name, std::string path) : name_(std::move(name)), path_(std::move(path)) {}

    const std::string& name() const override { return name_; }
    const std::string& path() const override { return path_; }
    bool simulated() const override { return false; }

    Result<std::unique_ptr<Device>> open() override {
        UniqueFd fd(::open(path_.c_str(), O_RDWR | O_CLOEXEC));
        if (!fd.valid()) return ErrnoError() << "open '" << path_ << "'";
        return std::unique_ptr<Device>(std::make_unique<KernelDevice>(std::move(fd)));
    }

private:
    std::string name_;
    std::string path_;
};

}  // namespace

std::unique_ptr<DeviceNode> make_kernel_node(std::string name, std::string path) {
    return std::make_unique<KernelNode>(std::move(name), std::move(path));
}

}  // namespace teed
