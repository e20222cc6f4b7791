// Client addresses for policy: parsing, CIDR networks (allow-lists), and the /24 or /64 a client belongs to.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::policy {

struct IpAddress {
    std::array<uint8_t, 16> bytes{};  // IPv4 as v4-mapped IPv6 (::ffff:a.b.c.d)
    bool v4 = false;
    static std::optional<IpAddress> parse(std::string_view text);
    std::string str() const;
    bool operator==(const IpAddress&) const = default;
};

struct Network {
    IpAddress base;
    unsigned prefix = 128;  // in IPv6 terms; an IPv4 /24 is stored as /120
    // "192.0.2.0/24", "2001:db8::/32", or a single address.
    static std::optional<Network> parse(std::string_view text);
    bool contains(const IpAddress& ip) const;
};

// The network greylisting and rate limits treat as one sender: /24 for IPv4, /64 for IPv6.
std::string client_network(const IpAddress& ip);

bool any_contains(const std::vector<Network>& networks, const IpAddress& ip);

}  // namespace postern::policy
