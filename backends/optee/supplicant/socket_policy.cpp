#include "backends/optee/supplicant/socket_policy.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace teed::supplicant {
namespace {

constexpr size_t kMaxHostName = 253;  // RFC 1035, without the trailing dot

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

bool is_name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

// The address of a numeric host, in network byte order, and its family; 0 when not numeric.
int parse_address(std::string_view host, std::array<uint8_t, 16>& ret_bytes) {
    const std::string text(host);
    if (::inet_pton(AF_INET, text.c_str(), ret_bytes.data()) == 1) return AF_INET;
    if (::inet_pton(AF_INET6, text.c_str(), ret_bytes.data()) == 1) return AF_INET6;
    return 0;
}

Result<uint16_t> parse_port(std::string_view text, std::string_view pattern) {
    unsigned value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || value == 0 ||
        value > 65535)
        return Error(ErrorKind::InvalidArgument)
               << "destination '" << pattern << "': '" << text << "' is not a port (1-65535)";
    return static_cast<uint16_t>(value);
}

bool prefix_equal(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b,
                  unsigned bits) {
    const unsigned whole = bits / 8;
    if (!std::equal(a.begin(), a.begin() + whole, b.begin())) return false;
    if (bits % 8 == 0) return true;
    const auto mask = static_cast<uint8_t>(0xff << (8 - bits % 8));
    return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

std::string_view protocol_name(SocketProtocol protocol) {
    return protocol == SocketProtocol::Tcp ? "tcp" : "udp";
}

bool is_numeric_host(std::string_view host) {
    std::array<uint8_t, 16> bytes{};
    return parse_address(host, bytes) != 0;
}

bool is_valid_host(std::string_view host) {
    if (is_numeric_host(host)) return true;
    return !host.empty() && host.size() <= kMaxHostName &&
           std::all_of(host.begin(), host.end(), is_name_char);
}

Result<DestinationPattern> DestinationPattern::parse(std::string_view text) {
    DestinationPattern pattern;
    pattern.text_ = std::string(text);
    auto bad = [&](std::string_view why) {
        return Error(ErrorKind::InvalidArgument) << "destination '" << text << "': " << why;
    };

    // HOST:PORTS, with an IPv6 HOST in brackets (its own colons are not the separator).
    std::string_view host;
    std::string_view ports;
    if (text.starts_with('[')) {
        const size_t close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return bad("write an IPv6 destination as [ADDRESS]:PORTS");
        host = text.substr(1, close - 1);
        ports = text.substr(close + 2);
    } else {
        const size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) return bad("no ':PORTS' (N, N-M or *)");
        host = text.substr(0, colon);
        ports = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            return bad("write an IPv6 destination as [ADDRESS]:PORTS");
    }

    if (ports == "*") {
        pattern.first_port_ = 1;
        pattern.last_port_ = 65535;
    } else if (const size_t dash = ports.find('-'); dash != std::string_view::npos) {
        pattern.first_port_ = TEED_TRY(parse_port(ports.substr(0, dash), text));
        pattern.last_port_ = TEED_TRY(parse_port(ports.substr(dash + 1), text));
        if (pattern.first_port_ > pattern.last_port_) return bad("the port range is reversed");
    } else {
        pattern.first_port_ = pattern.last_port_ = TEED_TRY(parse_port(ports, text));
    }

    if (host == "*") {
        pattern.kind_ = HostKind::Any;
        return pattern;
    }
    std::string_view address = host;
    std::optional<unsigned> prefix;
    if (const size_t slash = host.find('/'); slash != std::string_view::npos) {
        address = host.substr(0, slash);
        std::string_view bits = host.substr(slash + 1);
        unsigned value = 0;
        auto [end, error] = std::from_chars(bits.data(), bits.data() + bits.size(), value);
        if (bits.empty() || error != std::errc() || end != bits.data() + bits.size())
            return bad("the prefix length is not a number");
        prefix = value;
    }
    if (int family = parse_address(address, pattern.address_); family != 0) {
        const unsigned width = family == AF_INET ? 32 : 128;
        if (prefix && *prefix > width) return bad("the prefix is longer than the address");
        pattern.kind_ = HostKind::Address;
        pattern.family_ = family;
        pattern.prefix_bits_ = prefix.value_or(width);
        return pattern;
    }
    if (prefix) return bad("a /prefix needs a numeric address");

    std::string_view name = host;
    if (name.starts_with("*.")) {
        pattern.kind_ = HostKind::NameSuffix;
        name.remove_prefix(1);  // keep the dot: "*.example.com" must not match "badexample.com"
    } else {
        pattern.kind_ = HostKind::Name;
    }
    const std::string_view label_text = pattern.kind_ == HostKind::NameSuffix ? name.substr(1) : name;
    if (label_text.empty() || label_text.size() > kMaxHostName ||
        !std::all_of(label_text.begin(), label_text.end(), is_name_char))
        return bad("the host is neither *, an address, a DNS name nor *.NAME");
    if (std::all_of(label_text.begin(), label_text.end(), [](char c) {
            return std::isdigit(static_cast<unsigned char>(c)) || c == '.';
        }))
        return bad("digits and dots that are no address: write a whole address or ADDRESS/PREFIX");
    pattern.name_ = lower(name);
    return pattern;
}

bool DestinationPattern::host_matches(std::string_view host) const {
    switch (kind_) {
        case HostKind::Any: return true;
        case HostKind::Address: {
            std::array<uint8_t, 16> bytes{};
            return parse_address(host, bytes) == family_ &&
                   prefix_equal(bytes, address_, prefix_bits_);
        }
        case HostKind::Name: return !is_numeric_host(host) && lower(host) == name_;
        case HostKind::NameSuffix:
            return !is_numeric_host(host) && host.size() > name_.size() &&
                   lower(host).ends_with(name_);
    }
    return false;
}

bool DestinationPattern::matches(std::string_view host, uint16_t port) const {
    return port >= first_port_ && port <= last_port_ && host_matches(host);
}

Result<SocketRule> SocketRule::make(std::string_view ta, const std::vector<std::string>& protocols,
                                    const std::vector<std::string>& destinations) {
    SocketRule rule;
    if (ta != "*") {
        auto uuid = Uuid::parse(ta);
        if (!uuid)
            return Error(ErrorKind::InvalidArgument)
                   << "'ta' must be a TA UUID or \"*\", not '" << ta << "'";
        rule.ta = *uuid;
    }
    if (!protocols.empty()) {
        rule.tcp = rule.udp = false;
        for (const std::string& protocol : protocols) {
            if (protocol == "tcp") {
                rule.tcp = true;
            } else if (protocol == "udp") {
                rule.udp = true;
            } else {
                return Error(ErrorKind::InvalidArgument)
                       << "protocol '" << protocol << "' is neither tcp nor udp";
            }
        }
    }
    if (destinations.empty())
        return Error(ErrorKind::InvalidArgument) << "a rule needs at least one destination";
    for (const std::string& text : destinations)
        rule.destinations.push_back(TEED_TRY(DestinationPattern::parse(text)));
    return rule;
}

bool SocketPolicy::allows(const std::optional<Uuid>& ta, SocketProtocol protocol,
                          std::string_view host, uint16_t port) const {
    return std::any_of(rules_.begin(), rules_.end(), [&](const SocketRule& rule) {
        if (rule.ta && rule.ta != ta) return false;
        if (!rule.allows(protocol)) return false;
        return std::any_of(rule.destinations.begin(), rule.destinations.end(),
                           [&](const DestinationPattern& d) { return d.matches(host, port); });
    });
}

bool SocketPolicy::names_tas() const {
    return std::any_of(rules_.begin(), rules_.end(),
                       [](const SocketRule& rule) { return rule.ta.has_value(); });
}

}  // namespace teed::supplicant
