#include "smtp/address.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>

namespace postern::smtp {
namespace {

constexpr size_t kMaxLocal = 64;    // RFC 5321 §4.5.3.1.1
constexpr size_t kMaxDomain = 255;  // §4.5.3.1.2
constexpr size_t kMaxPath = 256;    // §4.5.3.1.3, including the angle brackets

bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

// RFC 5322 atext.
bool is_atext(unsigned char c) {
    if (is_alpha(c) || is_digit(c)) return true;
    constexpr std::string_view specials = "!#$%&'*+-/=?^_`{|}~";
    return specials.find(static_cast<char>(c)) != std::string_view::npos;
}

// Length of a well-formed UTF-8 sequence starting at s[i] with a non-ASCII lead octet, or 0.
size_t utf8_sequence(std::string_view s, size_t i) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) n = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, cp = c & 0x07;
    else return 0;
    if (i + n > s.size()) return 0;
    for (size_t k = 1; k < n; ++k) {
        auto cc = static_cast<unsigned char>(s[i + k]);
        if ((cc & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;  // overlong
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;                                              // surrogates
    return n;
}

bool valid_ipv4(std::string_view s) {
    int parts = 0;
    size_t i = 0;
    while (true) {
        size_t start = i;
        unsigned value = 0;
        while (i < s.size() && is_digit(s[i]) && i - start < 3) value = value * 10 + (s[i++] - '0');
        if (i == start || value > 255) return false;
        ++parts;
        if (i == s.size()) return parts == 4;
        if (s[i] != '.' || parts == 4) return false;
        ++i;
    }
}

bool valid_ipv6(std::string_view s) {
    // Counts 16-bit groups, allows one "::" and a trailing IPv4 part (RFC 5321 §4.1.3 IPv6-addr).
    if (s.empty()) return false;
    int groups = 0;
    bool compressed = false;
    size_t i = 0;
    if (s.starts_with("::")) {
        compressed = true;
        i = 2;
        if (i == s.size()) return true;
    } else if (s[0] == ':') {
        return false;
    }
    while (i < s.size()) {
        size_t start = i;
        while (i < s.size() && std::isxdigit(static_cast<unsigned char>(s[i])) && i - start < 4) ++i;
        if (i < s.size() && s[i] == '.') {  // embedded IPv4 takes two groups
            if (!valid_ipv4(s.substr(start))) return false;
            groups += 2;
            i = s.size();
            break;
        }
        if (i == start) return false;
        ++groups;
        if (i == s.size()) break;
        if (s[i] != ':') return false;
        ++i;
        if (i < s.size() && s[i] == ':') {
            if (compressed) return false;
            compressed = true;
            ++i;
            if (i == s.size()) break;
        } else if (i == s.size()) {
            return false;
        }
    }
    // RFC 5321 §4.1.3: with "::" at most 6 groups besides it (an IPv4 tail counts as 2).
    return compressed ? groups <= 6 : groups == 8;
}

bool valid_sub_domain(std::string_view label, bool utf8_allowed) {
    if (label.empty() || label.size() > 63) return false;
    bool non_ascii = false;
    for (size_t i = 0; i < label.size();) {
        auto c = static_cast<unsigned char>(label[i]);
        if (c >= 0x80) {
            size_t n = utf8_allowed ? utf8_sequence(label, i) : 0;
            if (n == 0) return false;
            non_ascii = true;
            i += n;
            continue;
        }
        if (!(is_alpha(c) || is_digit(c) || c == '-')) return false;
        ++i;
    }
    if (non_ascii) return true;  // a U-label: its own rules are IDNA's, beyond what the envelope can check
    return label.front() != '-' && label.back() != '-';
}

// Parses Dot-string or Quoted-string at text[i]; appends the local part to `out`; returns false if malformed.
bool parse_local_part(std::string_view text, size_t& i, bool utf8_allowed, std::string& out) {
    if (i < text.size() && text[i] == '"') {
        ++i;
        while (i < text.size() && text[i] != '"') {
            auto c = static_cast<unsigned char>(text[i]);
            if (c == '\\') {
                if (i + 1 >= text.size()) return false;
                auto q = static_cast<unsigned char>(text[i + 1]);
                if (q < 32 || q > 126) return false;  // quoted-pairSMTP
                out.push_back(static_cast<char>(q));
                i += 2;
            } else if (c >= 0x80) {
                size_t n = utf8_allowed ? utf8_sequence(text, i) : 0;
                if (n == 0) return false;
                out.append(text.substr(i, n));
                i += n;
            } else if (c >= 32 && c <= 126) {  // qtextSMTP: printable but '"' and '\'
                out.push_back(static_cast<char>(c));
                ++i;
            } else {
                return false;
            }
        }
        if (i >= text.size()) return false;
        ++i;  // closing quote
        return true;
    }
    bool atom_empty = true;
    while (i < text.size()) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c == '.') {
            if (atom_empty) return false;
            atom_empty = true;
            out.push_back('.');
            ++i;
        } else if (c >= 0x80) {
            size_t n = utf8_allowed ? utf8_sequence(text, i) : 0;
            if (n == 0) return false;
            out.append(text.substr(i, n));
            i += n;
            atom_empty = false;
        } else if (is_atext(c)) {
            out.push_back(static_cast<char>(c));
            ++i;
            atom_empty = false;
        } else {
            break;
        }
    }
    return !atom_empty;
}

bool needs_quoting(std::string_view local) {
    if (local.empty()) return true;
    bool atom_empty = true;
    for (unsigned char c : local) {
        if (c == '.') {
            if (atom_empty) return true;
            atom_empty = true;
        } else if (c >= 0x80 || is_atext(c)) {
            atom_empty = false;
        } else {
            return true;
        }
    }
    return atom_empty;
}

// Skips a source route "@a,@b:" if present. Returns false when it is malformed.
bool skip_source_route(std::string_view text, size_t& i, bool utf8_allowed) {
    if (i >= text.size() || text[i] != '@') return true;
    while (true) {
        ++i;  // '@'
        size_t start = i;
        while (i < text.size() && text[i] != ',' && text[i] != ':' && text[i] != '>') ++i;
        if (!valid_domain(text.substr(start, i - start), utf8_allowed)) return false;
        if (i >= text.size()) return false;
        if (text[i] == ':') {
            ++i;
            return true;
        }
        if (text[i] != ',' || i + 1 >= text.size() || text[i + 1] != '@') return false;
        ++i;
    }
}

}  // namespace

bool has_non_ascii(std::string_view text) {
    return std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

std::string ascii_lower(std::string_view text) {
    std::string out(text);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

bool Mailbox::is_utf8() const { return has_non_ascii(local) || has_non_ascii(domain); }

std::string Mailbox::str() const {
    if (is_null()) return {};
    std::string out;
    if (needs_quoting(local)) {
        out.push_back('"');
        for (char c : local) {
            if (c == '"' || c == '\\') out.push_back('\\');
            out.push_back(c);
        }
        out.push_back('"');
    } else {
        out = local;
    }
    if (!domain.empty()) {
        out.push_back('@');
        out.append(domain);
    }
    return out;
}

bool valid_address_literal(std::string_view literal) {
    if (literal.size() < 3 || literal.front() != '[' || literal.back() != ']') return false;
    auto inner = literal.substr(1, literal.size() - 2);
    if (iequals(inner.substr(0, std::min<size_t>(5, inner.size())), "IPv6:")) return valid_ipv6(inner.substr(5));
    if (valid_ipv4(inner)) return true;
    // General-address-literal: Standardized-tag ":" 1*dcontent
    auto colon = inner.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == inner.size()) return false;
    for (size_t i = 0; i < colon; ++i)
        if (!(is_alpha(inner[i]) || is_digit(inner[i]) || inner[i] == '-')) return false;
    if (inner[colon - 1] == '-') return false;  // Standardized-tag = Ldh-str: ends in a letter or digit
    for (size_t i = colon + 1; i < inner.size(); ++i) {
        auto c = static_cast<unsigned char>(inner[i]);
        if (c < 33 || c > 126 || c == '[' || c == ']' || c == '\\') return false;
    }
    return true;
}

bool valid_domain(std::string_view domain, bool utf8_allowed) {
    if (domain.empty() || domain.size() > kMaxDomain) return false;
    if (domain.front() == '[') return valid_address_literal(domain);
    size_t start = 0;
    while (true) {
        auto dot = domain.find('.', start);
        auto label = domain.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (!valid_sub_domain(label, utf8_allowed)) return false;
        if (dot == std::string_view::npos) return true;
        start = dot + 1;
    }
}

PathParse parse_path(std::string_view text, PathKind kind, bool utf8_allowed) {
    PathParse result;
    auto fail = [&](PathError e) {
        result.error = e;
        result.mailbox = {};
        return result;
    };
    if (text.empty() || text[0] != '<') return fail(PathError::syntax);
    // A '>' may sit inside a quoted local part: the end is found by parsing, not by searching.
    size_t i = 1;
    if (kind == PathKind::reverse && text.size() > 1 && text[1] == '>') {
        i = 2;
    } else if (kind == PathKind::forward && text.size() >= 12 && iequals(text.substr(1, 10), "postmaster") &&
               text[11] == '>') {
        result.mailbox.local = "postmaster";
        i = 12;
    } else {
        if (!skip_source_route(text, i, utf8_allowed)) return fail(PathError::syntax);
        // Parse with UTF-8 allowed so that a non-ASCII address is told apart from a malformed one.
        if (!parse_local_part(text, i, true, result.mailbox.local)) return fail(PathError::syntax);
        if (i >= text.size() || text[i] != '@') return fail(PathError::syntax);
        ++i;
        size_t start = i;
        if (i < text.size() && text[i] == '[') {
            while (i < text.size() && text[i] != ']') ++i;
            if (i < text.size()) ++i;
        } else {
            while (i < text.size() && text[i] != '>') ++i;
        }
        auto domain = text.substr(start, i - start);
        if (domain.size() > kMaxDomain) return fail(PathError::too_long);
        if (!valid_domain(domain, true)) return fail(PathError::syntax);
        if (i >= text.size() || text[i] != '>') return fail(PathError::syntax);
        ++i;
        if (result.mailbox.local.size() > kMaxLocal) return fail(PathError::too_long);
        if (i > kMaxPath) return fail(PathError::too_long);
        result.mailbox.domain = ascii_lower(domain);
        if (!utf8_allowed && result.mailbox.is_utf8()) return fail(PathError::utf8_not_allowed);
    }
    size_t j = i;
    while (j < text.size() && text[j] == ' ') ++j;
    if (j == i && j < text.size()) return fail(PathError::syntax);  // parameters need a space before them
    result.rest = text.substr(j);
    return result;
}

}  // namespace postern::smtp
