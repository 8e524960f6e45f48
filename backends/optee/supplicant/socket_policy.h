#pragma once
// Which TAs may open which sockets through the supplicant (OPTEE_RPC_CMD_SOCKET; docs/supplicant.md,
// section sockets). Nothing is allowed unless a rule says so; teed.conf's `ta_sockets` lists the
// rules:
//
//   { "ta": "c0de5eb1-...", "protocols": ["tcp"], "destinations": ["10.1.0.0/16:443"] }
//   { "ta": "*", "destinations": ["ntp.example.com:123", "127.0.0.1:7000-7010"] }
//
// A destination is HOST:PORTS.
//   HOST   "*": any host;
//          an IPv4 or IPv6 address with an optional /prefix (IPv6 in brackets, "[fd00::/8]:443"):
//          the TA must give a numeric address inside it;
//          a DNS name: that name, case-insensitively; "*.NAME": any name ending in ".NAME".
//          A name pattern never matches a numeric address nor an address pattern a name, so that
//          "10.*" cannot be written and "10.0.0.0/8" cannot be passed with a name of 10.evil.com.
//   PORTS  N, N-M or *.
// Rules match the host as the TA gives it: for a name, whatever it resolves to is reached.
//
//   SocketPolicy policy({TEED_TRY(SocketRule::make("*", {"tcp"}, {"127.0.0.1:7000"}))});
//   policy.allows(ta_uuid, SocketProtocol::Tcp, "127.0.0.1", 7000);   // true

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/uuid.h"

namespace teed::supplicant {

enum class SocketProtocol : uint8_t { Tcp, Udp };
std::string_view protocol_name(SocketProtocol protocol);  // "tcp", "udp"

// Whether `host` is a numeric IPv4 or IPv6 address (what inet_pton accepts).
bool is_numeric_host(std::string_view host);
// Whether `host` may be sent to the resolver at all: a numeric address, or a name of letters,
// digits, '-', '_' and '.' of at most 253 characters.
bool is_valid_host(std::string_view host);

class DestinationPattern {
public:
    // InvalidArgument naming what is wrong with `text`.
    static Result<DestinationPattern> parse(std::string_view text);

    bool matches(std::string_view host, uint16_t port) const;
    const std::string& text() const { return text_; }

private:
    enum class HostKind { Any, Name, NameSuffix, Address };

    bool host_matches(std::string_view host) const;

    std::string text_;
    HostKind kind_ = HostKind::Any;
    std::string name_;                   // Name: lower case; NameSuffix: ".example.com"
    int family_ = 0;                     // Address: AF_INET or AF_INET6
    std::array<uint8_t, 16> address_{};  // Address: network byte order
    unsigned prefix_bits_ = 0;           // Address: bits that must be equal
    uint16_t first_port_ = 0;
    uint16_t last_port_ = 0;
};

struct SocketRule {
    std::optional<Uuid> ta;  // empty: any TA
    bool tcp = true;
    bool udp = true;
    std::vector<DestinationPattern> destinations;

    // `ta` is a UUID or "*"; `protocols` lists "tcp" and/or "udp" (empty: both). InvalidArgument
    // naming the first bad field.
    static Result<SocketRule> make(std::string_view ta, const std::vector<std::string>& protocols,
                                   const std::vector<std::string>& destinations);
    bool allows(SocketProtocol protocol) const { return protocol == SocketProtocol::Tcp ? tcp : udp; }
};

class SocketPolicy {
public:
    SocketPolicy() = default;  // allows nothing
    explicit SocketPolicy(std::vector<SocketRule> rules) : rules_(std::move(rules)) {}

    // `ta` empty: the TEE did not say which TA asks; only rules for any TA can allow it.
    bool allows(const std::optional<Uuid>& ta, SocketProtocol protocol, std::string_view host,
                uint16_t port) const;
    bool empty() const { return rules_.empty(); }
    // Whether some rule names a TA (and so can only apply where the TEE identifies TAs).
    bool names_tas() const;

private:
    std::vector<SocketRule> rules_;
};

}  // namespace teed::supplicant
