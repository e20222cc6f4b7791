// The one reply registry: every reply Postern sends is an entry here (basic code, enhanced code, text).
// `postern explain` documents the same table, so what the server says and what it explains cannot drift apart.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace postern::smtp {

enum class ReplyId : uint16_t {
    // Greeting and session
    greeting,            // 220
    ehlo_first_line,     // 250-<host> ...
    helo_ok,             // 250 <host>
    ok,                  // 250 2.0.0
    sender_ok,           // 250 2.1.0
    recipient_ok,        // 250 2.1.5
    start_data,          // 354
    queued,              // 250 2.0.0 queued as <id>
    chunk_ok,            // 250 2.0.0 <n> octets received
    vrfy_no_disclosure,  // 252 2.5.0
    help,                // 214 2.0.0
    quit,                // 221 2.0.0
    // Syntax and sequence
    unknown_command,     // 500 5.5.1
    line_too_long,       // 500 5.5.2
    syntax_error,        // 501 5.5.4
    helo_needs_domain,   // 501 5.5.4
    bad_sender_syntax,   // 501 5.1.7
    bad_recipient_syntax,  // 501 5.1.3
    not_implemented,     // 502 5.5.1
    need_helo,           // 503 5.5.1
    need_mail,           // 503 5.5.1
    need_rcpt,           // 503 5.5.1
    nested_mail,         // 503 5.5.1
    bdat_mixed_with_data,  // 503 5.5.1
    no_valid_recipients, // 554 5.5.1
    unknown_parameter,   // 555 5.5.4
    bad_parameter_value, // 501 5.5.4
    // Addresses and limits
    unknown_user,        // 550 5.1.1
    relay_denied,        // 554 5.7.1
    utf8_needs_smtputf8, // 553 5.6.7
    too_many_recipients, // 452 4.5.3
    message_too_big,     // 552 5.3.4
    bare_line_ending,    // 554 5.6.0
    text_line_too_long,  // 554 5.6.0
    // STARTTLS (RFC 3207) and AUTH (RFC 4954)
    starttls_ready,      // 220 2.0.0
    tls_not_available,   // 454 4.7.0
    tls_already_active,  // 503 5.5.1
    auth_challenge,      // 334 <base64>
    auth_ok,             // 235 2.7.0
    auth_failed,         // 535 5.7.8
    auth_needs_tls,      // 538 5.7.11
    auth_required,       // 530 5.7.0
    auth_unavailable,    // 454 4.7.0
    auth_unknown_mechanism,  // 504 5.5.4
    auth_bad_base64,     // 501 5.5.2
    auth_cancelled,      // 501 5.0.0
    auth_line_too_long,  // 500 5.5.6
    already_authenticated,  // 503 5.5.1
    auth_in_transaction, // 503 5.5.1
    auth_not_offered,    // 503 5.5.1
    sender_not_owned,    // 553 5.7.1
    // Abuse protection: 421 closes the connection; 451/454 refuse one command and the session goes on
    too_many_connections,        // 421 4.7.0
    too_many_connections_from_ip,  // 421 4.7.0
    connection_rate_exceeded,    // 421 4.7.0
    ip_banned,                   // 421 4.7.0
    auth_too_many_failures,      // 421 4.7.0
    too_many_errors,             // 421 4.7.0
    http_request,                // 421 4.7.0
    maintenance,                 // 421 4.3.2
    session_timeout,             // 421 4.4.2
    data_too_slow,               // 421 4.4.2
    message_rate_limited,        // 451 4.7.1
    recipient_rate_limited,      // 451 4.7.1
    greylisted,                  // 451 4.7.1
    // Server side
    local_error,         // 451 4.3.0
    recipient_lookup_failed,  // 451 4.3.0
    timeout,             // 421 4.4.2
    shutting_down,       // 421 4.3.2
    count_  // not a reply
};

struct ReplyEntry {
    ReplyId id;
    std::string_view name;      // stable identifier, e.g. "unknown_user"
    uint16_t code;              // 250, 550, ...
    std::string_view enhanced;  // "5.1.1"; empty where RFC 2034 has none (greeting, EHLO/HELO, 354)
    std::string_view text;      // may hold "{}" placeholders filled in order
};

const ReplyEntry& entry(ReplyId id);
std::span<const ReplyEntry> registry();

// "550 5.1.1 text\r\n" with the placeholders filled. Extra lines make a multi-line reply ("250-...").
std::string render(ReplyId id, std::initializer_list<std::string_view> args = {});
void render_to(std::string& out, ReplyId id, std::initializer_list<std::string_view> args = {});
// A multi-line reply: the entry's text first, then each extra line, all with the entry's code.
void render_multiline(std::string& out, ReplyId id, std::initializer_list<std::string_view> args,
                      std::span<const std::string> extra_lines);

}  // namespace postern::smtp
