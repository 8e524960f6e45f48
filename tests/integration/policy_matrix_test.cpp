// teed's policy decisions end to end (docs/policy.md): teed runs as its service user with only
// CAP_SETUID and CAP_SETGID, as teed.service runs it, on a private system-type bus with the
// shipped bus policy, and reads the shipped policy file plus rules of the test's own. Real clients
// (root, the member, and a numeric identity the user database disagrees with) ask for sessions
// with several TAs, devices and login methods, and each answer is compared with a table: the
// session opens and the TA answers (whoami: with the login and the identity of that very client),
// or teed refuses with the error name and the reason the table gives.
//
// Each client is one forked child that takes its identity, runs all of its cells on one
// connection, and writes one line per cell to a memfd the parent reads after the child exits:
// gtest assertions in a child would be lost.

#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <systemd/sd-bus.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "teed/client.h"
#include "tests/integration/harness.h"

namespace teed::test {
namespace {

using client::Param;

// The simulator's TAs (backends/sim/trusted_apps.cpp).
constexpr const char* kHello = "8aaaf200-2450-11e4-abe2-0002a5d5c51b";   // value_inout a: a + 1
constexpr const char* kEcho = "4cbe901c-6d6c-4b1d-8ecd-fa9216ce5fe6";    // reverses its input
constexpr const char* kWhoami = "4839ae89-dd05-41d8-bd50-0e6109a44689";  // the login and identity
// The namespace of the kernel's client identities (tee_core.c), for USER, GROUP and teed's own
// application identity.
constexpr const char* kClientNamespace = "58ac9ca0-2086-4683-a1b8-ec4bc08e01b6";
constexpr const char* kNilIdentity = "00000000000000000000000000000000";

constexpr uint32_t kPublic = client::kLoginPublic;
constexpr uint32_t kUser = client::kLoginUser;
constexpr uint32_t kGroup = client::kLoginGroup;
constexpr uint32_t kApplication = client::kLoginApplication;
constexpr uint32_t kUserApplication = client::kLoginUserApplication;
constexpr uint32_t kGroupApplication = client::kLoginGroupApplication;

constexpr const char* kAccessDenied = "org.teed.Teed1.Error.AccessDenied";
constexpr const char* kNotSupported = "org.teed.Teed1.Error.NotSupported";
constexpr const char* kLimitExceeded = "org.teed.Teed1.Error.LimitExceeded";

// ----- Client identities, computed here rather than with teed's common/uuid.cpp -----

std::string hex(const unsigned char* bytes, size_t size) {
    std::string text;
    char digits[3];
    for (size_t i = 0; i < size; ++i) {
        std::snprintf(digits, sizeof digits, "%02x", bytes[i]);
        text += digits;
    }
    return text;
}

// RFC 4122 name-based UUIDv5 of `name` in kClientNamespace, as 32 lower-case hex digits.
std::string uuid_v5(const std::string& name) {
    std::vector<unsigned char> input;
    for (const char* p = kClientNamespace; *p != '\0'; p += (p[2] == '-' ? 3 : 2))
        input.push_back(static_cast<unsigned char>(std::stoul(std::string(p, 2), nullptr, 16)));
    input.insert(input.end(), name.begin(), name.end());
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_Digest(input.data(), input.size(), digest, &size, EVP_sha1(), nullptr) != 1 ||
        size < 16)
        throw HarnessError("SHA-1 failed");
    digest[6] = static_cast<unsigned char>((digest[6] & 0x0f) | 0x50);  // version 5
    digest[8] = static_cast<unsigned char>((digest[8] & 0x3f) | 0x80);  // RFC 4122 variant
    return hex(digest, 16);
}

// 8-4-4-4-12, as teed writes UUIDs.
std::string canonical(const std::string& hex32) {
    return hex32.substr(0, 8) + "-" + hex32.substr(8, 4) + "-" + hex32.substr(12, 4) + "-" +
           hex32.substr(16, 4) + "-" + hex32.substr(20);
}

std::string id_identity(const char* key, unsigned id) {
    char name[32];
    std::snprintf(name, sizeof name, "%s=%x", key, id);
    return uuid_v5(name);
}

// ----- The clients -----

enum class Who { Root, Member, Synthetic };

const char* who_name(Who who) {
    switch (who) {
        case Who::Root:
            return "root";
        case Who::Member:
            return "member";
        case Who::Synthetic:
            return "synthetic";
    }
    return "?";
}

// Which group a GROUP login names, resolved per client when the test runs.
enum class Gid { None, Primary, Tee, Extra, Root, OutsiderPrimary };

struct Ids {
    Identity root{"root", 0, 0, {0}};
    Identity member;
    // The uid of teed-test-other, whom the user database puts in no group but its own, connected
    // with group tee as its primary and only group. dbus-daemon 1.14 takes a connection's groups
    // from the socket (SO_PEERGROUPS), so the bus policy admits it as a member of tee; but it
    // drops a connection whose uid has no passwd entry, so a uid the user database does not
    // know cannot be used.
    Identity synthetic;
    gid_t tee = 0;
    gid_t extra = 0;
    gid_t outsider_primary = 0;

    static Ids find() {
        Ids ids;
        ids.member = teed::test::member();
        Identity other = outsider();
        ids.tee = find_group(kClientGroup).value();
        ids.extra = find_group(kExtraGroup).value();
        ids.outsider_primary = other.gid;
        ids.synthetic = Identity{"synthetic", other.uid, ids.tee, {ids.tee}};
        return ids;
    }
    const Identity& of(Who who) const {
        return who == Who::Root ? root : who == Who::Member ? member : synthetic;
    }
    gid_t gid(Gid which, Who who) const {
        switch (which) {
            case Gid::None:
                return 0;
            case Gid::Primary:
                return of(who).gid;
            case Gid::Tee:
                return tee;
            case Gid::Extra:
                return extra;
            case Gid::Root:
                return 0;
            case Gid::OutsiderPrimary:
                return outsider_primary;
        }
        return 0;
    }
};

// ----- The table -----

enum class Expect { Opens, AccessDenied, NotSupported };

// What a denial's message must say: the deciding rule, or the reason no rule was asked.
constexpr const char* kNotInGroup = "(not in the group)";
constexpr const char* kNotEnabled = "(application logins not enabled)";

struct Cell {
    Who who;
    const char* ta;
    const char* device;  // "": teed picks
    uint32_t login;
    Gid group;  // connection_data of GROUP logins
    Expect expect;
    const char* reason;  // denied: the rule the message names, kNotInGroup or kNotEnabled
    const char* why;
};

// Replaces @HELLO@, @ECHO@, @WHOAMI@ and @SYNTHETIC_UID@ in a policy file's text.
std::string fill_in(std::string text, const Ids& ids) {
    const std::pair<std::string, std::string> values[] = {
        {"@HELLO@", kHello},
        {"@ECHO@", kEcho},
        {"@WHOAMI@", kWhoami},
        {"@SYNTHETIC_UID@", std::to_string(ids.synthetic.uid)},
        {"@SELF_EXE@", std::filesystem::read_symlink("/proc/self/exe").string()}};
    for (const auto& [name, value] : values)
        for (size_t at; (at = text.find(name)) != std::string::npos;)
            text.replace(at, name.size(), value);
    return text;
}

// What the cells run against: the shipped 50-default.json ("tee-group-sessions": group tee may
// open PUBLIC, USER and GROUP sessions with every TA) and this file.
constexpr const char* kMatrixPolicy = R"({
    "version": 1,
    "rules": [
        { "name": "extra-no-hello", "match": { "groups": ["teed-test-extra"] },
          "deny": { "sessions": { "tas": ["@HELLO@"] } } },
        { "name": "member-hello-public", "match": { "users": ["teed-test-member"] },
          "allow": { "sessions": { "tas": ["@HELLO@"], "logins": ["public"] } } },
        { "name": "member-not-simtee1", "match": { "users": ["teed-test-member"] },
          "deny": { "sessions": { "devices": ["simtee1"] } } },
        { "name": "member-limits", "match": { "users": ["teed-test-member"] },
          "limits": { "max_sessions_per_client": 3, "max_concurrent_calls_per_client": 2 } },
        { "name": "synthetic-echo-public-only", "match": { "users": [@SYNTHETIC_UID@] },
          "allow": { "sessions": { "tas": ["@ECHO@"], "logins": ["public"] } },
          "deny": { "sessions": { "tas": ["@ECHO@"] } } },
        { "name": "synthetic-hello-not-simtee0", "match": { "users": [@SYNTHETIC_UID@] },
          "deny": { "sessions": { "devices": ["simtee0"], "tas": ["@HELLO@"] } } },
        { "name": "root-whoami", "match": { "users": [0] },
          "allow": { "sessions": { "tas": ["@WHOAMI@"], "logins": ["public", "user"] } } }
    ]
})";

// clang-format off
const Cell kMatrix[] = {
    // who           TA       device     login              group          expect                 reason                why
    {Who::Root,      kWhoami, "",        kPublic,           Gid::None,     Expect::Opens,         "",                   "root-whoami names uid 0"},
    {Who::Root,      kWhoami, "",        kUser,             Gid::None,     Expect::Opens,         "",                   "teed, not root itself, acts as uid 0 for the TA (no-setuid-fixup)"},
    {Who::Root,      kWhoami, "",        kGroup,            Gid::Root,     Expect::AccessDenied,  "default",            "root is in group 0, but no rule allows root a GROUP login"},
    {Who::Root,      kWhoami, "",        kGroup,            Gid::Tee,      Expect::AccessDenied,  kNotInGroup,          "root's connection is not in group tee"},
    {Who::Root,      kEcho,   "",        kPublic,           Gid::None,     Expect::AccessDenied,  "default",            "root is not in tee: the shipped rule does not match it"},
    {Who::Root,      kWhoami, "",        kApplication,      Gid::None,     Expect::NotSupported,  kNotEnabled,          "no rule allows an APPLICATION login"},

    {Who::Member,    kHello,  "",        kPublic,           Gid::None,     Expect::Opens,         "",                   "a user rule beats the deny for its group"},
    {Who::Member,    kHello,  "",        kUser,             Gid::None,     Expect::AccessDenied,  "extra-no-hello",     "the user rule covers PUBLIC only; the exact TA beats the shipped '*'"},
    {Who::Member,    kHello,  "",        kGroup,            Gid::Tee,      Expect::AccessDenied,  "extra-no-hello",     "likewise for GROUP"},
    {Who::Member,    kHello,  "simtee1", kPublic,           Gid::None,     Expect::Opens,         "",                   "between two user rules the exact TA beats the exact device"},
    {Who::Member,    kEcho,   "",        kUser,             Gid::None,     Expect::Opens,         "",                   "the shipped rule: tee may use every TA"},
    {Who::Member,    kWhoami, "",        kPublic,           Gid::None,     Expect::Opens,         "",                   "PUBLIC: the TA sees no identity"},
    {Who::Member,    kWhoami, "simtee0", kUser,             Gid::None,     Expect::Opens,         "",                   "USER: the TA sees the member's uid"},
    {Who::Member,    kWhoami, "",        kGroup,            Gid::Primary,  Expect::Opens,         "",                   "GROUP with its primary group"},
    {Who::Member,    kWhoami, "",        kGroup,            Gid::Extra,    Expect::Opens,         "",                   "GROUP with a supplementary group"},
    {Who::Member,    kWhoami, "",        kGroup,            Gid::Root,     Expect::AccessDenied,  kNotInGroup,          "GROUP with a group it lacks"},
    {Who::Member,    kWhoami, "simtee1", kPublic,           Gid::None,     Expect::AccessDenied,  "member-not-simtee1", "a user rule about a device beats the group's allow"},
    {Who::Member,    kWhoami, "",        kApplication,      Gid::None,     Expect::NotSupported,  kNotEnabled,          "APPLICATION"},
    {Who::Member,    kWhoami, "",        kUserApplication,  Gid::None,     Expect::NotSupported,  kNotEnabled,          "USER_APPLICATION"},
    {Who::Member,    kWhoami, "",        kGroupApplication, Gid::Extra,    Expect::NotSupported,  kNotEnabled,          "GROUP_APPLICATION, with a group it has"},

    {Who::Synthetic, kEcho,   "",        kPublic,           Gid::None,     Expect::Opens,         "",                   "its user rule allows PUBLIC on echo"},
    {Who::Synthetic, kEcho,   "",        kUser,             Gid::None,     Expect::AccessDenied,  "synthetic-echo-public-only", "...and denies every other login on echo, beating the group's allow"},
    {Who::Synthetic, kEcho,   "",        kGroup,            Gid::Tee,      Expect::AccessDenied,  "synthetic-echo-public-only", "likewise for GROUP"},
    {Who::Synthetic, kHello,  "",        kPublic,           Gid::None,     Expect::Opens,         "",                   "not in teed-test-extra; teed skips simtee0, which its rule denies"},
    {Who::Synthetic, kHello,  "simtee0", kPublic,           Gid::None,     Expect::AccessDenied,  "synthetic-hello-not-simtee0", "...and refuses it when asked for it by name"},
    {Who::Synthetic, kWhoami, "",        kUser,             Gid::None,     Expect::Opens,         "",                   "in tee by its connection's groups alone"},
    {Who::Synthetic, kWhoami, "",        kGroup,            Gid::Tee,      Expect::Opens,         "",                   "GROUP with the group its connection has"},
    {Who::Synthetic, kWhoami, "",        kGroup,            Gid::OutsiderPrimary, Expect::AccessDenied, kNotInGroup,    "GROUP with its uid's group in /etc/group, which the connection lacks"},
    {Who::Synthetic, kWhoami, "",        kApplication,      Gid::None,     Expect::NotSupported,  kNotEnabled,          "APPLICATION"},
};
// clang-format on

// ----- The child's side -----

std::string one_line(std::string text) {
    std::replace_if(
        text.begin(), text.end(), [](char c) { return c == '\t' || c == '\n'; }, ' ');
    return text;
}

// Shows that the session reached that TA: "a=43" (hello), "out=xirtam" (echo), or for whoami
// "login=<what the TA saw> identity=<32 hex digits>".
std::string probe(client::Session& session, const std::string& ta) {
    if (ta == kHello) {
        auto reply = session.invoke(0, {Param::value_inout(42)});
        return reply.ok() ? "a=" + std::to_string(reply.params.at(0).a) : "invoke failed";
    }
    if (ta == kEcho) {
        std::string in = "matrix";
        auto reply =
            session.invoke(0, {Param::temp_in({in.begin(), in.end()}), Param::temp_out(16)});
        const auto& out = reply.params.at(1).data;
        return reply.ok() ? "out=" + std::string(out.begin(), out.end()) : "invoke failed";
    }
    auto reply = session.invoke(0, {Param::value_out(), Param::temp_out(16)});
    if (!reply.ok()) return "invoke failed: " + std::to_string(reply.return_code);
    const auto& id = reply.params.at(1).data;
    return "login=" + std::to_string(reply.params.at(0).a) +
           " identity=" + hex(id.data(), id.size());
}

// One cell as "<outcome>\t<detail>": "opened\t<probe>", "<D-Bus error name>\t<message>", or
// "tee:<return code>\t" when the TA refused.
std::string run_cell(client::Client& teed, const Cell& cell, gid_t group) {
    try {
        client::OpenOptions options{
            .device = cell.device, .login = cell.login, .connection_data = group};
        auto [session, opened] = teed.open_session(cell.ta, options);
        if (!session) return "tee:" + std::to_string(opened.return_code) + "\t";
        std::string seen = probe(*session, cell.ta);
        session->close();
        return "opened\t" + seen;
    } catch (const client::Error& e) {
        return e.name() + "\t" + one_line(e.message());
    } catch (const std::exception& e) {
        return "exception\t" + one_line(e.what());
    }
}

// A memfd the children write their lines to and the parent reads once they have exited.
class Report {
public:
    Report() : fd_(memfd_create("policy-matrix-report", MFD_CLOEXEC)) {
        if (!fd_.valid()) throw HarnessError("memfd_create failed");
    }
    void write_line(const std::string& line) const {
        std::string text = line + "\n";
        if (::write(fd_.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
            throw std::runtime_error("writing the report failed");
    }
    // Every line written so far, as "key\tvalue" split at the first tab.
    std::multimap<std::string, std::string> read() const {
        std::string text;
        char buffer[4096];
        for (off_t at = 0;;) {
            ssize_t n = ::pread(fd_.get(), buffer, sizeof buffer, at);
            if (n <= 0) break;
            text.append(buffer, static_cast<size_t>(n));
            at += n;
        }
        std::multimap<std::string, std::string> lines;
        std::istringstream in(text);
        for (std::string line; std::getline(in, line);) {
            size_t tab = line.find('\t');
            lines.emplace(line.substr(0, tab),
                          tab == std::string::npos ? "" : line.substr(tab + 1));
        }
        return lines;
    }

private:
    UniqueFd fd_;
};

// ----- Manager.GetClientInfo, read with sd-bus in the child -----

struct BusMessage {
    sd_bus_message* m = nullptr;
    ~BusMessage() { sd_bus_message_unref(m); }
};

// One value of the a{sv}, written as "info.<key>\t<value>" lines: lists joined by ',', each
// entry of a{st} as its own "info.<key>.<name>" line.
void report_variant(const Report& report, sd_bus_message* m, const std::string& key) {
    char type = 0;
    const char* contents = nullptr;
    sd_bus_message_peek_type(m, &type, &contents);
    std::string signature = contents ? contents : "";
    sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, contents);
    std::string value;
    if (signature == "u") {
        uint32_t u = 0;
        sd_bus_message_read(m, "u", &u);
        value = std::to_string(u);
    } else if (signature == "s") {
        const char* s = nullptr;
        sd_bus_message_read(m, "s", &s);
        value = s;
    } else if (signature == "b") {
        int b = 0;
        sd_bus_message_read(m, "b", &b);
        value = b ? "true" : "false";
    } else if (signature == "au") {
        const void* data = nullptr;
        size_t size = 0;
        sd_bus_message_read_array(m, 'u', &data, &size);
        std::vector<uint32_t> ids(static_cast<const uint32_t*>(data),
                                  static_cast<const uint32_t*>(data) + size / 4);
        std::sort(ids.begin(), ids.end());
        for (uint32_t id : ids) value += (value.empty() ? "" : ",") + std::to_string(id);
    } else if (signature == "as") {
        std::vector<std::string> names;
        sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "s");
        for (const char* s = nullptr; sd_bus_message_read(m, "s", &s) > 0;) names.emplace_back(s);
        sd_bus_message_exit_container(m);
        std::sort(names.begin(), names.end());
        for (const auto& name : names) value += (value.empty() ? "" : ",") + name;
    } else if (signature == "a{st}") {
        sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{st}");
        const char* name = nullptr;
        uint64_t number = 0;
        while (sd_bus_message_read(m, "{st}", &name, &number) > 0)
            report.write_line("info." + key + "." + name + "\t" + std::to_string(number));
        sd_bus_message_exit_container(m);
        sd_bus_message_exit_container(m);
        return;
    } else {
        value = "unexpected signature " + signature;
        sd_bus_message_skip(m, contents);
    }
    sd_bus_message_exit_container(m);
    report.write_line("info." + key + "\t" + value);
}

// Calls GetClientInfo on a connection of its own and reports the answer, with what the child
// knows of itself ("self.pid", "self.exe") to compare with.
void report_client_info(const Report& report, const std::string& address) {
    report.write_line("self.pid\t" + std::to_string(getpid()));
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    report.write_line("self.exe\t" + std::string(exe, n > 0 ? static_cast<size_t>(n) : 0));

    sd_bus* bus = nullptr;
    sd_bus_new(&bus);
    sd_bus_set_address(bus, address.c_str());
    sd_bus_set_bus_client(bus, 1);
    if (sd_bus_start(bus) < 0) throw std::runtime_error("cannot connect to the test bus");
    sd_bus_error error = SD_BUS_ERROR_NULL;
    BusMessage reply;
    int r = sd_bus_call_method(bus, "org.teed.Teed1", "/org/teed/Teed1", "org.teed.Teed1.Manager",
                               "GetClientInfo", &error, &reply.m, "");
    if (r < 0) {
        report.write_line(std::string("info.error\t") + (error.name ? error.name : "?") + " " +
                          one_line(error.message ? error.message : ""));
    } else {
        sd_bus_message_enter_container(reply.m, SD_BUS_TYPE_ARRAY, "{sv}");
        while (sd_bus_message_enter_container(reply.m, SD_BUS_TYPE_DICT_ENTRY, "sv") > 0) {
            const char* key = nullptr;
            sd_bus_message_read(reply.m, "s", &key);
            report_variant(report, reply.m, key);
            sd_bus_message_exit_container(reply.m);
        }
    }
    sd_bus_error_free(&error);
    sd_bus_flush_close_unref(bus);
}

// ----- The parent's side -----

// The login's name in policy files and teed's messages ("user_application").
std::string policy_login_name(uint32_t login) {
    static const char* const kNames[] = {
        "public", "user", "group", "?", "application", "user_application", "group_application"};
    return login < 7 ? kNames[login] : "?";
}

const char* ta_name(const std::string& ta) {
    return ta == kHello ? "hello_world" : ta == kEcho ? "echo" : ta == kWhoami ? "whoami" : "?";
}

std::string join(std::vector<std::string> items) {
    std::sort(items.begin(), items.end());
    std::string text;
    for (const auto& item : items) text += (text.empty() ? "" : ",") + item;
    return text;
}

// A key's value in a child's report ("" when missing).
std::string value_of(const std::multimap<std::string, std::string>& lines, const std::string& key) {
    auto it = lines.find(key);
    return it == lines.end() ? "" : it->second;
}

class PolicyMatrix : public testing::Test {
protected:
    void SetUp() override {
        TEED_REQUIRE_TEST_USERS();
        ids_ = Ids::find();
    }
    void TearDown() override {
        if (teed_) {
            EXPECT_TRUE(teed_->running()) << "teed exited:\n" << teed_->log();
        }
        if (bus_) {
            EXPECT_TRUE(bus_->configuration_problems().empty()) << bus_->log();
        }
    }

    // teed on two simulated devices (simtee0, simtee1), run as `as` (nullopt: as the test), with
    // the shipped policy and `policy` as a file of its own.
    void start_teed(const std::string& policy, std::optional<Identity> as) {
        write_policy_file(policy_dir_.path(), "60-matrix.json", policy);
        bus_ = std::make_unique<TestBus>();
        teed_ = std::make_unique<TeedDaemon>(
            *bus_, TeedOptions{.args = {"--simulate=2", "--no-hardware"},
                               .as = std::move(as),
                               .policy_dirs = std::vector<std::string>{shipped_policy_dir(),
                                                                       policy_dir_.path()}});
    }

    // Runs, in one child taking `who`'s identity and on one connection, the cells of `cells` that
    // are `who`'s ("cell.<index>" lines), then `more`. Returns the child's report.
    std::multimap<std::string, std::string> run_as(
        Who who, const std::vector<Cell>& cells,
        const std::function<void(const Report&, client::Client&)>& more = {}) {
        Report report;
        std::string address = bus_->address();
        int code = run_in_child(ids_.of(who), [&] {
            // Taking another uid made the forked child non-dumpable, which a program started by
            // exec is not; undo that so that it looks like any client.
            prctl(PR_SET_DUMPABLE, 1);
            auto teed = client::Client::connect(address);
            for (size_t i = 0; i < cells.size(); ++i)
                if (cells[i].who == who)
                    report.write_line("cell." + std::to_string(i) + "\t" +
                                      run_cell(teed, cells[i], ids_.gid(cells[i].group, who)));
            if (more) more(report, teed);
            return 0;
        });
        EXPECT_EQ(code, 0) << who_name(who) << "'s child failed";
        return report.read();
    }

    // Runs every client's cells, one child per client, and checks each cell.
    void check_cells(const std::vector<Cell>& cells) {
        std::multimap<std::string, std::string> results;
        for (Who who : {Who::Root, Who::Member, Who::Synthetic})
            if (std::any_of(cells.begin(), cells.end(),
                            [&](const Cell& c) { return c.who == who; }))
                results.merge(run_as(who, cells));
        for (size_t i = 0; i < cells.size(); ++i)
            check_cell(i, cells[i], value_of(results, "cell." + std::to_string(i)));
    }

    void check_cell(size_t index, const Cell& cell, const std::string& result) const;
    std::string expected_detail(const Cell& cell) const;
    std::string expected_message_part(const Cell& cell) const;

    Ids ids_;
    TempDir policy_dir_{"teed-matrix-policy-"};
    std::unique_ptr<TestBus> bus_;
    std::unique_ptr<TeedDaemon> teed_;
};

// What probe() must have seen when the cell's session opened.
std::string PolicyMatrix::expected_detail(const Cell& cell) const {
    if (cell.ta == std::string(kHello)) return "a=43";
    if (cell.ta == std::string(kEcho)) return "out=xirtam";
    // The kernel (and the simulator) get the login without its APPLICATION part.
    uint32_t kernel_login = cell.login >= kApplication ? cell.login - kApplication : cell.login;
    std::string identity = kNilIdentity;
    if (kernel_login == kUser) identity = id_identity("uid", ids_.of(cell.who).uid);
    if (kernel_login == kGroup) identity = id_identity("gid", ids_.gid(cell.group, cell.who));
    return "login=" + std::to_string(kernel_login) + " identity=" + identity;
}

std::string PolicyMatrix::expected_message_part(const Cell& cell) const {
    std::string reason = cell.reason;
    if (reason == kNotInGroup)
        return "not a member of group " + std::to_string(ids_.gid(cell.group, cell.who));
    if (reason == kNotEnabled)
        return "login method " + std::to_string(cell.login) + " (" + policy_login_name(cell.login) +
               ") is not enabled";
    // A policy denial names the client's uid, the TA, the login and the deciding rule.
    return "the policy denies uid " + std::to_string(ids_.of(cell.who).uid) + " sessions with TA " +
           cell.ta + " using login " + policy_login_name(cell.login);
}

void PolicyMatrix::check_cell(size_t index, const Cell& cell, const std::string& result) const {
    SCOPED_TRACE(testing::Message()
                 << "cell " << index << ": " << who_name(cell.who) << " " << ta_name(cell.ta)
                 << (*cell.device ? std::string(" on ") + cell.device : "") << " "
                 << policy_login_name(cell.login) << " group " << ids_.gid(cell.group, cell.who)
                 << ": " << cell.why);
    size_t tab = result.find('\t');
    ASSERT_NE(tab, std::string::npos) << "no result: '" << result << "'";
    std::string outcome = result.substr(0, tab);
    std::string detail = result.substr(tab + 1);
    if (cell.expect == Expect::Opens) {
        EXPECT_EQ(outcome, "opened") << detail;
        EXPECT_EQ(detail, expected_detail(cell));
        return;
    }
    EXPECT_EQ(outcome, cell.expect == Expect::AccessDenied ? kAccessDenied : kNotSupported)
        << detail;
    EXPECT_NE(detail.find(expected_message_part(cell)), std::string::npos) << detail;
    if (std::string reason = cell.reason; reason != kNotInGroup && reason != kNotEnabled) {
        EXPECT_NE(detail.find("(rule '" + reason + "'"), std::string::npos) << detail;
    }
}

TEST_F(PolicyMatrix, EveryClientGetsWhatTheMostSpecificRuleSays) {
    start_teed(fill_in(kMatrixPolicy, ids_), service_user());
    check_cells({std::begin(kMatrix), std::end(kMatrix)});
}

// Opens `count` whoami sessions on `teed` and keeps them; reports "open.<i>\t<outcome>\t<detail>".
void open_and_keep(const Report& report, client::Client& teed, int count) {
    std::vector<client::Session> kept;
    for (int i = 0; i < count; ++i) {
        std::string outcome;
        try {
            auto [session, opened] = teed.open_session(kWhoami);
            outcome = session ? "opened\t" : "tee:" + std::to_string(opened.return_code) + "\t";
            if (session) kept.push_back(std::move(*session));
        } catch (const client::Error& e) {
            outcome = e.name() + "\t" + one_line(e.message());
        }
        report.write_line("open." + std::to_string(i) + "\t" + outcome);
    }
}

TEST_F(PolicyMatrix, GetClientInfoShowsTheMembersIdentityRulesAndLimits) {
    start_teed(fill_in(kMatrixPolicy, ids_), service_user());
    std::string address = bus_->address();
    auto info_and_four_sessions = [&](const Report& report, client::Client& teed) {
        report_client_info(report, address);
        open_and_keep(report, teed, 4);
    };
    auto member = run_as(Who::Member, {}, info_and_four_sessions);
    auto synthetic = run_as(Who::Synthetic, {}, info_and_four_sessions);

    const Identity& m = ids_.member;
    ASSERT_EQ(value_of(member, "info.error"), "");
    EXPECT_EQ(value_of(member, "info.uid"), std::to_string(m.uid));
    EXPECT_EQ(value_of(member, "info.gid"), std::to_string(m.gid));
    std::vector<gid_t> groups = m.groups;
    std::sort(groups.begin(), groups.end());
    std::string expected_groups;
    for (gid_t g : groups)
        expected_groups += (expected_groups.empty() ? "" : ",") + std::to_string(g);
    EXPECT_EQ(value_of(member, "info.groups"), expected_groups);
    EXPECT_EQ(value_of(member, "info.pid"), value_of(member, "self.pid"));
    EXPECT_EQ(value_of(member, "info.rules"),
              join({"tee-group-sessions", "extra-no-hello", "member-hello-public",
                    "member-not-simtee1", "member-limits"}));
    EXPECT_EQ(value_of(member, "info.application_logins"), "false");
    // As its service user teed may not read another user's /proc/PID/exe itself: it reads it as
    // the client, and the application identity is the executable's.
    std::string executable = value_of(member, "info.executable");
    EXPECT_EQ(executable, value_of(member, "self.exe"));
    EXPECT_EQ(value_of(member, "info.application_identity"), canonical(uuid_v5("path=" + executable)));

    // The member's rule sets two limits; every other limit is what a client without one gets.
    EXPECT_EQ(value_of(member, "info.limits.max_sessions_per_client"), "3");
    EXPECT_EQ(value_of(member, "info.limits.max_concurrent_calls_per_client"), "2");
    EXPECT_NE(value_of(synthetic, "info.limits.max_sessions_per_client"), "3");
    EXPECT_NE(value_of(synthetic, "info.limits.max_concurrent_calls_per_client"), "2");
    size_t limits = 0;
    for (const auto& [key, value] : synthetic) {
        if (!key.starts_with("info.limits.")) continue;
        ++limits;
        if (key.ends_with(".max_sessions_per_client") ||
            key.ends_with(".max_concurrent_calls_per_client"))
            continue;
        EXPECT_EQ(value_of(member, key), value) << key;
    }
    EXPECT_GE(limits, 7u);

    // And the limit holds: the member's fourth session is refused, the synthetic client's is not.
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(value_of(member, "open." + std::to_string(i)), "opened\t");
    EXPECT_TRUE(value_of(member, "open.3").starts_with(std::string(kLimitExceeded) + "\t"))
        << value_of(member, "open.3");
    EXPECT_NE(value_of(member, "open.3").find("max_sessions_per_client=3"), std::string::npos);
    for (int i = 0; i < 4; ++i)
        EXPECT_EQ(value_of(synthetic, "open." + std::to_string(i)), "opened\t");

    EXPECT_EQ(value_of(synthetic, "info.uid"), std::to_string(ids_.synthetic.uid));
    EXPECT_EQ(value_of(synthetic, "info.gid"), std::to_string(ids_.tee));
    EXPECT_EQ(value_of(synthetic, "info.groups"), std::to_string(ids_.tee));
    EXPECT_EQ(
        value_of(synthetic, "info.rules"),
        join({"tee-group-sessions", "synthetic-echo-public-only", "synthetic-hello-not-simtee0"}));
}

// Allows member an APPLICATION login with whoami, and so enables APPLICATION logins in teed.
constexpr const char* kApplicationPolicy = R"({
    "version": 1,
    "rules": [
        { "name": "member-application", "match": { "users": ["teed-test-member"] },
          "allow": { "sessions": { "tas": ["@WHOAMI@"], "logins": ["application"] } } },
        { "name": "this-test-program", "match": { "executables": ["@SELF_EXE@"] },
          "allow": { "sessions": { "tas": ["@WHOAMI@"], "logins": ["user_application"] } } }
    ]
})";

// clang-format off
const Cell kApplicationCells[] = {
    // who           TA       device login              group       expect                 reason     why
    {Who::Member,    kWhoami, "",    kApplication,      Gid::None,  Expect::Opens,         "",        "its rule allows it: the kernel is asked for PUBLIC"},
    {Who::Member,    kWhoami, "",    kUserApplication,  Gid::None,  Expect::Opens,         "",        "its program's rule allows it: the kernel is asked for USER"},
    {Who::Member,    kEcho,   "",    kUserApplication,  Gid::None,  Expect::AccessDenied,  "default", "its program's rule names whoami only"},
    {Who::Member,    kWhoami, "",    kGroupApplication, Gid::Extra, Expect::AccessDenied,  "default", "nor GROUP_APPLICATION"},
    {Who::Member,    kEcho,   "",    kApplication,      Gid::None,  Expect::AccessDenied,  "default", "its rule names whoami only"},
    {Who::Member,    kWhoami, "",    kUser,             Gid::None,  Expect::Opens,         "",        "the shipped rule still applies"},
    {Who::Synthetic, kWhoami, "",    kApplication,      Gid::None,  Expect::AccessDenied,  "default", "enabled for everyone, allowed to the member only"},
    {Who::Synthetic, kWhoami, "",    kUserApplication,  Gid::None,  Expect::Opens,         "",        "the same program, whoever runs it"},
};
// clang-format on

// teed runs as its service user, as in production: it reads a client's /proc/PID/exe as the client.
TEST_F(PolicyMatrix, ARuleEnablesApplicationLoginsWithThePublicLoginUnderneath) {
    start_teed(fill_in(kApplicationPolicy, ids_), service_user());
    std::vector<Cell> cells(std::begin(kApplicationCells), std::end(kApplicationCells));
    check_cells(cells);

    std::string address = bus_->address();
    auto member = run_as(Who::Member, {}, [&](const Report& report, client::Client&) {
        report_client_info(report, address);
    });
    std::string exe = value_of(member, "self.exe");
    ASSERT_FALSE(exe.empty());
    EXPECT_EQ(value_of(member, "info.executable"), exe);
    EXPECT_EQ(value_of(member, "info.application_identity"), canonical(uuid_v5("path=" + exe)));
    EXPECT_EQ(value_of(member, "info.application_logins"), "true");
    EXPECT_EQ(value_of(member, "info.rules"),
              join({"tee-group-sessions", "member-application", "this-test-program"}));
}

}  // namespace
}  // namespace teed::test
