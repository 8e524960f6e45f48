// The daemon's live introspection must match the XML in dbus/, the API's single source: every
// method with its argument names, types and directions, and every property with its type and
// access. Session objects are served from a hand-written sd-bus vtable, so this is what keeps it
// honest.

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <systemd/sd-bus.h>

#include "harness.h"

namespace teed::test {
namespace {

std::map<std::string, std::string> attributes(const std::string& tag) {
    std::map<std::string, std::string> out;
    static const std::regex kAttr(R"re((\w+)="([^"]*)")re");
    for (std::sregex_iterator it(tag.begin(), tag.end(), kAttr), end; it != end; ++it)
        out[(*it)[1]] = (*it)[2];
    return out;
}

// "method Invoke command:u:in params:a(uttayott):in ..." and "property Login u read", one per member.
std::set<std::string> members(const std::string& xml, const std::string& interface) {
    std::set<std::string> out;
    auto start = xml.find("<interface name=\"" + interface + "\"");
    if (start == std::string::npos) return out;
    auto end = xml.find("</interface>", start);
    std::string body = xml.substr(start, end - start);
    static const std::regex kMethod(R"re(<method ([^>]*?)(/>|>([\s\S]*?)</method>))re");
    static const std::regex kArg(R"re(<arg ([^>]*)/>)re");
    static const std::regex kProperty(R"re(<property ([^>]*?)/?>)re");
    for (std::sregex_iterator it(body.begin(), body.end(), kMethod), e; it != e; ++it) {
        std::string entry = "method " + attributes((*it)[1])["name"];
        std::string args = (*it)[3];
        for (std::sregex_iterator a(args.begin(), args.end(), kArg); a != e; ++a) {
            auto attr = attributes((*a)[1]);
            entry += " " + attr["name"] + ":" + attr["type"] + ":" +
                     (attr.count("direction") ? attr["direction"] : "in");
        }
        out.insert(entry);
    }
    for (std::sregex_iterator it(body.begin(), body.end(), kProperty), e; it != e; ++it) {
        auto attr = attributes((*it)[1]);
        out.insert("property " + attr["name"] + " " + attr["type"] + " " + attr["access"]);
    }
    return out;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

class Introspection : public testing::Test {
protected:
    void SetUp() override { raw_ = connect_raw(bus_.address()); }

    std::string introspect(const std::string& path) {
        sd_bus_message* reply = nullptr;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(raw_.get(), "org.teed.Teed1", path.c_str(),
                                   "org.freedesktop.DBus.Introspectable", "Introspect", &error, &reply, "");
        EXPECT_GE(r, 0) << (error.message ? error.message : "");
        const char* xml = "";
        if (r >= 0) sd_bus_message_read(reply, "s", &xml);
        std::string out = xml;
        sd_bus_message_unref(reply);
        sd_bus_error_free(&error);
        return out;
    }
    std::string open_hello_session() {
        sd_bus_message* reply = nullptr;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(raw_.get(), "org.teed.Teed1", "/org/teed/Teed1", "org.teed.Teed1.Manager",
                                   "OpenSession", &error, &reply, "ssuua(uttayott)a{sv}", "",
                                   "8aaaf200-2450-11e4-abe2-0002a5d5c51b", 0u, 0u, 0, 0);
        EXPECT_GE(r, 0) << (error.message ? error.message : "");
        const char* path = "/";
        if (r >= 0) sd_bus_message_read(reply, "o", &path);
        std::string out = path;
        sd_bus_message_unref(reply);
        sd_bus_error_free(&error);
        return out;
    }

    std::string register_shared_memory() {
        int fd = memfd_create("introspection", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        EXPECT_EQ(ftruncate(fd, 4096), 0);
        EXPECT_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
        sd_bus_message* reply = nullptr;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(raw_.get(), "org.teed.Teed1", "/org/teed/Teed1", "org.teed.Teed1.Manager",
                                   "RegisterSharedMemory", &error, &reply, "htua{sv}", fd, uint64_t{4096}, 3u, 0);
        EXPECT_GE(r, 0) << (error.message ? error.message : "");
        const char* path = "/";
        if (r >= 0) sd_bus_message_read(reply, "o", &path);
        std::string out = path;
        sd_bus_message_unref(reply);
        sd_bus_error_free(&error);
        close(fd);
        return out;
    }

    void expect_matches_xml(const std::string& interface, const std::string& path) {
        auto declared = members(read_file(std::string(TEED_SOURCE_DIR) + "/dbus/" + interface + ".xml"), interface);
        auto live = members(introspect(path), interface);
        ASSERT_FALSE(declared.empty()) << interface;
        EXPECT_EQ(live, declared) << interface << " at " << path;
    }

    TestBus bus_;
    TeedDaemon teed_{bus_};
    UniqueSdBus raw_;
};

TEST_F(Introspection, OfTheManagerMatchesItsXml) { expect_matches_xml("org.teed.Teed1.Manager", "/org/teed/Teed1"); }

TEST_F(Introspection, OfADeviceMatchesItsXml) {
    expect_matches_xml("org.teed.Teed1.Device", "/org/teed/Teed1/devices/simtee0");
}

TEST_F(Introspection, OfASessionMatchesItsXml) {
    std::string path = open_hello_session();
    ASSERT_NE(path, "/");
    expect_matches_xml("org.teed.Teed1.Session", path);
}

TEST_F(Introspection, OfSharedMemoryMatchesItsXml) {
    std::string path = register_shared_memory();
    ASSERT_NE(path, "/");
    expect_matches_xml("org.teed.Teed1.SharedMemory", path);
}

}  // namespace
}  // namespace teed::test
