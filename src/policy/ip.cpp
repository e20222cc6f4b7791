#include "policy/ip.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace postern::policy {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    std::string s(text);
    IpAddress ip;
    in_addr v4{};
    if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
        ip.bytes[10] = ip.bytes[11] = 0xFF;
        std::memcpy(&ip.bytes[12], &v4, 4);
        ip.v4 = true;
        return ip;
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
        std::memcpy(ip.bytes.data(), &v6, 16);
        static constexpr uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
        ip.v4 = std::memcmp(ip.bytes.data(), mapped, 12) == 0;
        return ip;
    }
    return std::nullopt;
}

std::string IpAddress::str() const {
    char buf[INET6_ADDRSTRLEN];
    if (v4) return inet_ntop(AF_INET, &bytes[12], buf, sizeof buf);
    return inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
}

std::optional<Network> Network::parse(std::string_view text) {
    auto slash = text.find('/');
    auto ip = IpAddress::parse(text.substr(0, slash));
    if (!ip) return std::nullopt;
    Network n{*ip, 128};
    if (slash != std::string_view::npos) {
        auto digits = text.substr(slash + 1);
        unsigned prefix = 0;
        auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
        if (ec != std::errc{} || p != digits.data() + digits.size() || digits.empty()) return std::nullopt;
        if (prefix > (ip->v4 ? 32u : 128u)) return std::nullopt;
        n.prefix = ip->v4 ? prefix + 96 : prefix;
    }
    return n;
}

bool Network::contains(const IpAddress& ip) const {
    unsigned full = prefix / 8, rest = prefix % 8;
    if (std::memcmp(ip.bytes.data(), base.bytes.data(), full) != 0) return false;
    if (rest == 0) return true;
    uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
    return (ip.bytes[full] & mask) == (base.bytes[full] & mask);
}

std::string client_network(const IpAddress& ip) {
    IpAddress net = ip;
    if (ip.v4) {
        net.bytes[15] = 0;
        return net.str() + "/24";
    }
    std::fill(net.bytes.begin() + 8, net.bytes.end(), 0);
    return net.str() + "/64";
}

bool any_contains(const std::vector<Network>& networks, const IpAddress& ip) {
    for (const auto& n : networks)
        if (n.contains(ip)) return true;
    return false;
}

}  // namespace postern::policy
