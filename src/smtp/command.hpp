// Splits a command line into verb and argument, and ESMTP parameters into keyword/value pairs.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace postern::smtp {

enum class Verb { helo, ehlo, mail, rcpt, data, bdat, rset, noop, vrfy, expn, help, quit, auth, starttls, unknown };

struct CommandLine {
    Verb verb = Verb::unknown;
    std::string_view arg;  // after the verb and its single space; for MAIL/RCPT after "FROM:"/"TO:" and spaces
    bool missing_prefix = false;  // MAIL without "FROM:" or RCPT without "TO:"
};

// `line` excludes the CRLF. Verbs are case-insensitive.
CommandLine parse_command(std::string_view line);

struct EsmtpParam {
    std::string_view keyword;  // as sent; compare case-insensitively
    std::string_view value;    // empty when there was no '='
    bool has_value = false;
};

// RFC 5321 Mail-parameters / Rcpt-parameters; nullopt on syntax error. esmtp-value may be UTF-8 (RFC 6531).
std::optional<std::vector<EsmtpParam>> parse_params(std::string_view text);

}  // namespace postern::smtp
