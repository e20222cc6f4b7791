// Envelope paths (RFC 5321 §4.1.2), with the UTF-8 extensions of RFC 6531 when SMTPUTF8 was given.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postern::smtp {

struct Mailbox {
    std::string local;   // as written, quotes removed from a quoted-string and quoted-pairs resolved
    std::string domain;  // lower-cased ASCII; an address literal keeps its brackets
    bool is_null() const { return local.empty() && domain.empty(); }
    bool is_utf8() const;             // any octet >= 0x80
    std::string str() const;          // "local@domain", re-quoting the local part when needed; "" for <>
};

enum class PathError { none, syntax, too_long, utf8_not_allowed };

struct PathParse {
    Mailbox mailbox;       // empty for "<>", local "postmaster" and no domain for "<postmaster>"
    std::string_view rest;  // what follows the closing '>' (ESMTP parameters), leading spaces skipped
    PathError error = PathError::none;
};

enum class PathKind { reverse, forward };

// Parses "<...>" at the start of `text`. A reverse path may be "<>"; a forward path may be "<postmaster>".
// Source routes ("<@a,@b:user@c>") are accepted and ignored (RFC 5321 §4.1.2, appendix C).
PathParse parse_path(std::string_view text, PathKind kind, bool utf8_allowed);

// RFC 5321 Domain (with RFC 6531 U-labels when utf8_allowed) or address literal, e.g. for EHLO.
bool valid_domain(std::string_view domain, bool utf8_allowed);
bool valid_address_literal(std::string_view literal);

bool has_non_ascii(std::string_view text);
std::string ascii_lower(std::string_view text);
bool iequals(std::string_view a, std::string_view b);

}  // namespace postern::smtp
