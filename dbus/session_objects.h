#pragma once
// The org.teed.Teed1.Session objects under /org/teed/Teed1/sessions/<id>.
//
// They are served from one sd-bus fallback vtable whose lookup asks the manager whether the
// *calling connection* owns the session. To any other connection the path answers exactly as a
// path that never existed (UnknownObject, for methods, properties and Introspect alike), and the
// sessions are never listed as children of /org/teed/Teed1/sessions nor by the ObjectManager.
// sdbus-c++ 1.2 has no fallback vtables, hence sd-bus directly; the signatures are those of
// dbus/org.teed.Teed1.Session.xml, which a test compares with the live introspection.

#include <string>

struct sd_bus;
struct sd_bus_slot;

namespace teed {

class ChannelHub;
class Manager;

inline constexpr const char* kSessionsPath = "/org/teed/Teed1/sessions";

std::string session_object_path(const std::string& id);
std::string device_object_path(const std::string& device_name);

class SessionObjects {
public:
    SessionObjects(sd_bus* bus, Manager& manager, ChannelHub& channels);
    ~SessionObjects();
    SessionObjects(const SessionObjects&) = delete;
    SessionObjects& operator=(const SessionObjects&) = delete;

    Manager& manager() { return manager_; }
    ChannelHub& channels() { return channels_; }

private:
    Manager& manager_;
    ChannelHub& channels_;
    sd_bus_slot* slot_ = nullptr;
};

}  // namespace teed
