// Parsers for the value syntaxes of the config file: durations, sizes and listen addresses.
#include <arpa/inet.h>

#include <charconv>
#include <limits>

#include "config/config.hpp"

namespace postern::config {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

// Reads the leading run of digits; nullopt when there is none or it overflows.
std::optional<uint64_t> take_number(std::string_view& text) {
    size_t n = 0;
    while (n < text.size() && is_digit(text[n])) ++n;
    if (n == 0) return std::nullopt;
    uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + n, value);
    if (ec != std::errc{} || ptr != text.data() + n) return std::nullopt;
    text.remove_prefix(n);
    return value;
}

std::optional<uint64_t> checked_mul(uint64_t a, uint64_t b) {
    if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return std::nullopt;
    return a * b;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
    // Units only, no bare numbers: "300" could mean seconds or milliseconds, and guessing wrong is silent.
    if (text.empty()) return std::nullopt;
    constexpr uint64_t max_ms = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    uint64_t total = 0;
    while (!text.empty()) {
        auto number = take_number(text);
        if (!number) return std::nullopt;
        size_t n = 0;
        while (n < text.size() && !is_digit(text[n])) ++n;
        std::string_view unit = text.substr(0, n);
        text.remove_prefix(n);
        uint64_t scale = 0;
        if (unit == "ms") scale = 1;
        else if (unit == "s") scale = 1000;
        else if (unit == "m") scale = 60 * 1000;
        else if (unit == "h") scale = 60 * 60 * 1000;
        else if (unit == "d") scale = 24 * 60 * 60 * 1000;
        else return std::nullopt;
        auto part = checked_mul(*number, scale);
        if (!part || *part > max_ms - total) return std::nullopt;
        total += *part;
    }
    return std::chrono::milliseconds(static_cast<int64_t>(total));
}

std::string format_duration(std::chrono::milliseconds duration) {
    struct Unit {
        int64_t ms;
        const char* name;
    };
    constexpr Unit units[] = {{24 * 60 * 60 * 1000, "d"}, {60 * 60 * 1000, "h"}, {60 * 1000, "m"}, {1000, "s"}};
    const int64_t ms = duration.count();
    for (const Unit& unit : units)
        if (ms != 0 && ms % unit.ms == 0) return std::to_string(ms / unit.ms) + unit.name;
    return std::to_string(ms) + "ms";
}

std::optional<uint64_t> parse_size(std::string_view text) {
    auto number = take_number(text);
    if (!number) return std::nullopt;
    uint64_t scale = 0;
    if (text.empty() || iequals(text, "b")) scale = 1;
    else if (iequals(text, "k") || iequals(text, "kb") || iequals(text, "kib")) scale = uint64_t{1} << 10;
    else if (iequals(text, "m") || iequals(text, "mb") || iequals(text, "mib")) scale = uint64_t{1} << 20;
    else if (iequals(text, "g") || iequals(text, "gb") || iequals(text, "gib")) scale = uint64_t{1} << 30;
    else return std::nullopt;
    return checked_mul(*number, scale);
}

bool parse_listen_address(std::string_view text, Listener& listener) {
    std::string_view host;
    std::string_view port;
    bool v6 = false;
    if (text.starts_with('[')) {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
        v6 = true;
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return false;
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) return false;  // bare IPv6 needs brackets
    }

    std::string host_copy(host);
    unsigned char buffer[sizeof(in6_addr)];
    if (inet_pton(v6 ? AF_INET6 : AF_INET, host_copy.c_str(), buffer) != 1) return false;

    if (port.empty() || port.size() > 5) return false;
    for (char c : port)
        if (!is_digit(c)) return false;
    unsigned value = 0;
    std::from_chars(port.data(), port.data() + port.size(), value);
    if (value == 0 || value > 65535) return false;

    listener.address = std::string(text);
    listener.host = std::move(host_copy);
    listener.port = static_cast<uint16_t>(value);
    return true;
}

bool parse_host_port(std::string_view text, std::string& host, uint16_t& port) {
    std::string_view h, p;
    if (text.starts_with('[')) {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
        h = text.substr(1, close - 1);
        p = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return false;
        h = text.substr(0, colon);
        p = text.substr(colon + 1);
        if (h.find(':') != std::string_view::npos) return false;
    }
    if (h.empty() || p.empty() || p.size() > 5) return false;
    for (char c : h)
        if (static_cast<unsigned char>(c) <= ' ' || c == '/') return false;
    for (char c : p)
        if (!is_digit(c)) return false;
    unsigned value = 0;
    std::from_chars(p.data(), p.data() + p.size(), value);
    if (value == 0 || value > 65535) return false;
    host = std::string(h);
    port = static_cast<uint16_t>(value);
    return true;
}

const char* mode_name(ListenerMode mode) {
    switch (mode) {
        case ListenerMode::mx: return "mx";
        case ListenerMode::submission: return "submission";
        case ListenerMode::submissions: return "submissions";
    }
    return "?";
}

}  // namespace postern::config
