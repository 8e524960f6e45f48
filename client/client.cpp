#include "teed/client.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <atomic>
#include <exception>
#include <mutex>

#include "client/bus.h"
#include "client/channel.h"
#include "client/wire.h"
#include "org.teed.Teed1.Device_proxy.h"
#include "org.teed.Teed1.Manager_proxy.h"
#include "org.teed.Teed1.Session_proxy.h"
#include "org.teed.Teed1.SharedMemory_proxy.h"
#include "org.teed.Teed1.Supplicant_proxy.h"

namespace teed::client {

namespace {

using detail::Bus;
using detail::CallProxy;

constexpr const char* kInternalError = "org.teed.Teed1.Error.Internal";
constexpr const char* kNotFoundError = "org.teed.Teed1.Error.NotFound";

// The generated proxies take the IProxy to call through; CallProxy gives them the client's
// loop-driven calls and per-member timeouts (client/bus.h says why).
class ManagerProxy final : public org::teed::Teed1::Manager_proxy {
public:
    explicit ManagerProxy(sdbus::IProxy& proxy) : Manager_proxy(proxy) {}
};

class ObjectManagerProxy final : public sdbus::ObjectManager_proxy {
public:
    explicit ObjectManagerProxy(sdbus::IProxy& proxy) : ObjectManager_proxy(proxy) {}

private:
    // Never called: CallProxy does not subscribe to signals.
    void onInterfacesAdded(const sdbus::ObjectPath&,
                           const std::map<std::string, detail::PropertyMap>&) override {}
    void onInterfacesRemoved(const sdbus::ObjectPath&, const std::vector<std::string>&) override {}
};

class DeviceProxy final : public org::teed::Teed1::Device_proxy {
public:
    explicit DeviceProxy(sdbus::IProxy& proxy) : Device_proxy(proxy) {}
};

class SharedMemoryProxy final : public org::teed::Teed1::SharedMemory_proxy {
public:
    explicit SharedMemoryProxy(sdbus::IProxy& proxy) : SharedMemory_proxy(proxy) {}
};

class SessionProxy final : public org::teed::Teed1::Session_proxy {
public:
    explicit SessionProxy(sdbus::IProxy& proxy) : Session_proxy(proxy) {}
};

class SupplicantProxy final : public org::teed::Teed1::Supplicant_proxy {
public:
    explicit SupplicantProxy(sdbus::IProxy& proxy) : Supplicant_proxy(proxy) {}
};

// Runs `body`, turning sdbus-c++'s errors into ours.
template <typename F>
decltype(auto) translate_errors(F&& body) {
    try {
        return std::forward<F>(body)();
    } catch (const sdbus::Error& e) {
        throw Error(e.getName(), e.getMessage());
    }
}

// A Device proxy created only if GetManagedObjects left a property out.
class LazyDevice {
public:
    LazyDevice(std::shared_ptr<Bus> bus, std::string path)
        : bus_(std::move(bus)), path_(std::move(path)) {}

    DeviceProxy& get() {
        if (!device_) {
            call_proxy_ = std::make_unique<CallProxy>(bus_, path_);
            device_ = std::make_unique<DeviceProxy>(*call_proxy_);
        }
        return *device_;
    }

private:
    std::shared_ptr<Bus> bus_;
    std::string path_;
    std::unique_ptr<CallProxy> call_proxy_;
    std::unique_ptr<DeviceProxy> device_;
};

DeviceInfo read_device(const std::shared_ptr<Bus>& bus, const std::string& path,
                       const detail::PropertyMap& props) {
    using detail::property_or;
    LazyDevice device(bus, path);
    DeviceInfo info;
    info.object_path = path;
    info.name = property_or<std::string>(props, "Name", [&] { return device.get().Name(); });
    info.implementation = property_or<std::string>(props, "Implementation",
                                                   [&] { return device.get().Implementation(); });
    info.device_path =
        property_or<std::string>(props, "DevicePath", [&] { return device.get().DevicePath(); });
    info.implementation_id = property_or<uint32_t>(
        props, "ImplementationId", [&] { return device.get().ImplementationId(); });
    info.implementation_caps = property_or<uint32_t>(
        props, "ImplementationCaps", [&] { return device.get().ImplementationCaps(); });
    info.capabilities = property_or<std::vector<std::string>>(
        props, "Capabilities", [&] { return device.get().Capabilities(); });
    info.simulated = property_or<bool>(props, "Simulated", [&] { return device.get().Simulated(); });
    return info;
}

using ManagedObjects = std::map<sdbus::ObjectPath, std::map<std::string, detail::PropertyMap>>;

// A device object that has the Supplicant interface, as GetManagedObjects listed it.
struct SupplicantObject {
    std::string path;
    std::string device;                    // the device's Name
    const detail::PropertyMap* properties;  // the Supplicant interface's entry
};

// The device object named `device` (empty: the first device object) that has the Supplicant
// interface; NotFound when there is none.
SupplicantObject find_supplicant(const std::shared_ptr<Bus>& bus, const ManagedObjects& objects,
                                 const std::string& device) {
    for (const auto& [path, interfaces] : objects) {
        auto device_entry = interfaces.find(org::teed::Teed1::Device_proxy::INTERFACE_NAME);
        if (device_entry == interfaces.end()) continue;
        LazyDevice lazy(bus, path);
        auto name = detail::property_or<std::string>(device_entry->second, "Name",
                                                     [&] { return lazy.get().Name(); });
        if (!device.empty() && name != device) continue;
        auto supplicant = interfaces.find(org::teed::Teed1::Supplicant_proxy::INTERFACE_NAME);
        if (supplicant != interfaces.end()) return {path, name, &supplicant->second};
        if (!device.empty()) throw Error(kNotFoundError, "device '" + device + "' has no supplicant");
    }
    if (device.empty()) throw Error(kNotFoundError, "teed serves no supplicant device");
    throw Error(kNotFoundError, "teed serves no device '" + device + "'");
}

SupplicantInfo read_supplicant(const std::shared_ptr<Bus>& bus, const SupplicantObject& object) {
    using detail::property_or;
    CallProxy call_proxy(bus, object.path);
    SupplicantProxy proxy(call_proxy);
    const detail::PropertyMap& props = *object.properties;
    SupplicantInfo info;
    info.device = object.device;
    info.device_path =
        property_or<std::string>(props, "DevicePath", [&] { return proxy.DevicePath(); });
    info.workers = property_or<uint32_t>(props, "Workers", [&] { return proxy.Workers(); });
    info.ta_path =
        property_or<std::vector<std::string>>(props, "TaPath", [&] { return proxy.TaPath(); });
    info.storage_directory = property_or<std::string>(props, "StorageDirectory",
                                                      [&] { return proxy.StorageDirectory(); });
    info.rpmb = property_or<std::string>(props, "Rpmb", [&] { return proxy.Rpmb(); });
    info.counters = detail::counters_from_wire(proxy.GetCounters());
    detail::read_supplicant_status(proxy.GetStatus(), info);
    return info;
}

}  // namespace

// ---- Param ----

Param Param::none() { return Param{}; }

Param Param::value_in(uint64_t a, uint64_t b) {
    Param p;
    p.type = kParamValueInput;
    p.a = a;
    p.b = b;
    return p;
}

Param Param::value_out() {
    Param p;
    p.type = kParamValueOutput;
    return p;
}

Param Param::value_inout(uint64_t a, uint64_t b) {
    Param p = value_in(a, b);
    p.type = kParamValueInout;
    return p;
}

Param Param::temp_in(std::vector<uint8_t> bytes) {
    Param p;
    p.type = kParamMemrefTempInput;
    p.size = bytes.size();
    p.data = std::move(bytes);
    return p;
}

Param Param::temp_out(uint64_t capacity) {
    Param p;
    p.type = kParamMemrefTempOutput;
    p.size = capacity;
    return p;
}

Param Param::temp_inout(std::vector<uint8_t> bytes, uint64_t capacity) {
    Param p;
    p.type = kParamMemrefTempInout;
    p.size = std::max<uint64_t>(capacity, bytes.size());
    p.data = std::move(bytes);
    return p;
}

// ---- Error ----

Error::Error(std::string name, std::string message)
    : std::runtime_error(name + ": " + message), name_(std::move(name)), message_(std::move(message)) {}

// ---- Session ----

struct Session::Impl {
    Impl(std::shared_ptr<Bus> bus, std::string object_path)
        : path(std::move(object_path)),
          call_proxy(std::move(bus), path, {"Invoke"}),
          session(call_proxy) {}

    ~Impl() {
        if (closed.exchange(true)) return;
        try {
            session.Close();
        } catch (const std::exception&) {
            // The session is gone either way: closed by the daemon, or the daemon is gone.
        }
    }

    std::string path;
    CallProxy call_proxy;
    SessionProxy session;
    std::atomic<bool> closed = false;
    // The fast path, once use_channel() opened it; the mutex runs one call at a time on it.
    mutable std::mutex channel_mutex;
    std::unique_ptr<detail::Channel> channel;
};

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

const std::string& Session::path() const { return impl_->path; }

Reply Session::invoke(uint32_t command, const std::vector<Param>& params,
                      const InvokeOptions& options) {
    {
        std::lock_guard lock(impl_->channel_mutex);
        if (impl_->channel) {
            if (!impl_->channel->closed()) return impl_->channel->invoke(command, params, options);
            impl_->channel.reset();  // it broke during an earlier call: back to D-Bus
        }
    }
    return translate_errors([&] {
        auto [origin, code, out] = impl_->session.Invoke(command, detail::to_wire(params),
                                                         detail::call_options(options.cancel_id));
        return Reply{origin, code, detail::from_wire(std::move(out))};
    });
}

bool Session::use_channel() {
    std::lock_guard lock(impl_->channel_mutex);
    if (impl_->channel && !impl_->channel->closed()) return true;
    try {
        sdbus::UnixFd socket = impl_->session.OpenChannel({});
        impl_->channel = std::make_unique<detail::Channel>(UniqueFd(socket.release()));
        return true;
    } catch (const sdbus::Error&) {
        impl_->channel.reset();
        return false;
    }
}

bool Session::using_channel() const {
    std::lock_guard lock(impl_->channel_mutex);
    return impl_->channel && !impl_->channel->closed();
}

void Session::request_cancellation(uint32_t cancel_id) {
    translate_errors([&] { impl_->session.RequestCancellation(cancel_id); });
}

void Session::close() {
    if (impl_->closed.exchange(true)) return;
    translate_errors([&] { impl_->session.Close(); });
}

// ---- SharedMemory ----

struct SharedMemory::Impl {
    Impl(std::shared_ptr<Bus> bus, std::string object_path, uint64_t bytes, uint32_t memory_flags,
         int fd)
        : path(std::move(object_path)),
          size(bytes),
          flags(memory_flags),
          call_proxy(std::move(bus), path, {}),
          proxy(call_proxy) {
        void* mapped = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (mapped == MAP_FAILED)
            throw Error(kInternalError, std::string("cannot map the shared memory: ") + strerror(errno));
        view = static_cast<uint8_t*>(mapped);
    }
    ~Impl() {
        if (!released.exchange(true)) {
            try {
                proxy.Release();
            } catch (const std::exception&) {
                // Gone either way: released by the daemon when this connection goes.
            }
        }
        munmap(view, size);
    }

    std::string path;
    uint64_t size;
    uint32_t flags;
    uint8_t* view = nullptr;
    CallProxy call_proxy;
    SharedMemoryProxy proxy;
    std::atomic<bool> released = false;
};

SharedMemory::SharedMemory(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SharedMemory::SharedMemory(SharedMemory&&) noexcept = default;
SharedMemory& SharedMemory::operator=(SharedMemory&&) noexcept = default;
SharedMemory::~SharedMemory() = default;

const std::string& SharedMemory::path() const { return impl_->path; }
uint64_t SharedMemory::size() const { return impl_->size; }
uint32_t SharedMemory::flags() const { return impl_->flags; }
uint8_t* SharedMemory::data() { return impl_->view; }

bool SharedMemory::zero_copy() {
    return translate_errors([&] { return impl_->proxy.ZeroCopy(); });
}

void SharedMemory::release() {
    if (impl_->released.exchange(true)) return;
    translate_errors([&] { impl_->proxy.Release(); });
}

namespace {

Param registered(uint32_t type, const SharedMemory& memory, uint64_t offset, uint64_t size) {
    Param p;
    p.type = type;
    p.shm = memory.path();
    p.offset = offset;
    p.size = size;
    return p;
}

}  // namespace

Param whole(const SharedMemory& memory) { return registered(0xC, memory, 0, 0); }
Param partial_in(const SharedMemory& m, uint64_t offset, uint64_t size) {
    return registered(0xD, m, offset, size);
}
Param partial_out(const SharedMemory& m, uint64_t offset, uint64_t size) {
    return registered(0xE, m, offset, size);
}
Param partial_inout(const SharedMemory& m, uint64_t offset, uint64_t size) {
    return registered(0xF, m, offset, size);
}

// ---- Client ----

struct Client::Impl {
    explicit Impl(std::shared_ptr<Bus> b)
        : bus(std::move(b)),
          root(bus, detail::kRootPath, {"OpenSession"}),
          manager(root),
          objects(root) {}

    std::shared_ptr<Bus> bus;
    CallProxy root;
    ManagerProxy manager;
    ObjectManagerProxy objects;
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

Client Client::connect_system(const ClientOptions& options) {
    return translate_errors([&] {
        return Client(std::make_unique<Impl>(Bus::open_system(options.long_call_timeout)));
    });
}

Client Client::connect(const std::string& bus_address, const ClientOptions& options) {
    return translate_errors([&] {
        return Client(
            std::make_unique<Impl>(Bus::open_address(bus_address, options.long_call_timeout)));
    });
}

std::vector<DeviceInfo> Client::devices() {
    return translate_errors([&] {
        std::vector<DeviceInfo> devices;
        for (const auto& [path, interfaces] : impl_->objects.GetManagedObjects()) {
            auto device = interfaces.find(org::teed::Teed1::Device_proxy::INTERFACE_NAME);
            if (device == interfaces.end()) continue;
            devices.push_back(read_device(impl_->bus, path, device->second));
        }
        return devices;
    });
}

SupplicantInfo Client::supplicant(const std::string& device) {
    return translate_errors([&] {
        auto objects = impl_->objects.GetManagedObjects();
        return read_supplicant(impl_->bus, find_supplicant(impl_->bus, objects, device));
    });
}

std::string Client::daemon_version() {
    return translate_errors([&] { return impl_->manager.Version(); });
}

std::string Client::daemon_status() {
    return translate_errors([&] { return impl_->manager.Status(); });
}

std::pair<std::optional<Session>, Reply> Client::open_session(const std::string& uuid,
                                                              const OpenOptions& options) {
    return translate_errors([&] {
        auto [path, origin, code, out] = impl_->manager.OpenSession(
            options.device, uuid, options.login, options.connection_data,
            detail::to_wire(options.params), detail::call_options(options.cancel_id));
        Reply reply{origin, code, detail::from_wire(std::move(out))};
        std::optional<Session> session;
        if (path != "/") {
            // Owning it from here on also closes one that came with a failure code.
            session.emplace(Session(std::make_unique<Session::Impl>(impl_->bus, path)));
            if (options.use_channel && reply.ok()) session->use_channel();
        }
        if (!reply.ok()) {
            session.reset();
        } else if (!session) {
            throw Error(kInternalError, "teed reported success but returned no session");
        }
        return std::pair{std::move(session), std::move(reply)};
    });
}

void Client::close_session(const std::string& session_path) {
    translate_errors([&] { impl_->manager.CloseSession(sdbus::ObjectPath(session_path)); });
}

ClientInfo Client::client_info() {
    return translate_errors(
        [&] { return detail::client_info_from_wire(impl_->manager.GetClientInfo()); });
}

PolicyReload Client::reload_policy() {
    return translate_errors([&] {
        auto [files, rules, warnings] = impl_->manager.ReloadPolicy();
        return PolicyReload{files, rules, std::move(warnings)};
    });
}

std::string Client::unique_name() const { return impl_->bus->unique_name(); }

namespace {

std::map<std::string, sdbus::Variant> device_option(const std::string& device) {
    std::map<std::string, sdbus::Variant> options;
    if (!device.empty()) options["device"] = sdbus::Variant(device);
    return options;
}

}  // namespace

SharedMemory Client::register_shared_memory(uint64_t size, uint32_t flags, const std::string& device) {
    return translate_errors([&] {
        int fd = memfd_create("teed-shared-memory", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0) throw Error(kInternalError, std::string("memfd_create: ") + strerror(errno));
        sdbus::UnixFd memfd(fd, sdbus::adopt_fd);
        // teed refuses memfds that could shrink under the TEE.
        if (ftruncate(fd, static_cast<off_t>(size)) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
            throw Error(kInternalError, std::string("preparing the memfd: ") + strerror(errno));
        auto path = impl_->manager.RegisterSharedMemory(memfd, size, flags, device_option(device));
        return SharedMemory(std::make_unique<SharedMemory::Impl>(impl_->bus, path, size, flags, fd));
    });
}

SharedMemory Client::allocate_shared_memory(uint64_t size, uint32_t flags, const std::string& device) {
    return translate_errors([&] {
        auto [path, fd] = impl_->manager.AllocateSharedMemory(size, flags, device_option(device));
        return SharedMemory(std::make_unique<SharedMemory::Impl>(impl_->bus, path, size, flags, fd.get()));
    });
}

}  // namespace teed::client
