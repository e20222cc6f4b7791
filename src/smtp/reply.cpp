#include "smtp/reply.hpp"

#include <array>

namespace postern::smtp {
namespace {

using enum ReplyId;

constexpr std::array<ReplyEntry, static_cast<size_t>(ReplyId::count_)> kTable{{
    {greeting, "greeting", 220, "", "{} ESMTP Postern"},
    {ehlo_first_line, "ehlo", 250, "", "{} greets {}"},
    {helo_ok, "helo", 250, "", "{}"},
    {ok, "ok", 250, "2.0.0", "Ok"},
    {sender_ok, "sender_ok", 250, "2.1.0", "Sender ok"},
    {recipient_ok, "recipient_ok", 250, "2.1.5", "Recipient ok"},
    {start_data, "start_data", 354, "", "Send the message; end it with <CR><LF>.<CR><LF>"},
    {queued, "queued", 250, "2.0.0", "Ok: queued as {}"},
    {chunk_ok, "chunk_ok", 250, "2.0.0", "{} octets received"},
    {vrfy_no_disclosure, "vrfy_no_disclosure", 252, "2.5.0",
     "Users are not verified here; send the message and delivery will be attempted"},
    {help, "help", 214, "2.0.0",
     "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT; see RFC 5321"},
    {quit, "quit", 221, "2.0.0", "{} closing connection"},
    {unknown_command, "unknown_command", 500, "5.5.1", "Command not recognized"},
    {line_too_long, "line_too_long", 500, "5.5.2", "Line too long"},
    {syntax_error, "syntax_error", 501, "5.5.4", "Syntax error in parameters or arguments"},
    {helo_needs_domain, "helo_needs_domain", 501, "5.5.4", "{} requires a domain name or address literal"},
    {bad_sender_syntax, "bad_sender_syntax", 501, "5.1.7", "Bad sender address syntax"},
    {bad_recipient_syntax, "bad_recipient_syntax", 501, "5.1.3", "Bad recipient address syntax"},
    {not_implemented, "not_implemented", 502, "5.5.1", "Command not implemented"},
    {need_helo, "need_helo", 503, "5.5.1", "Send EHLO or HELO first"},
    {need_mail, "need_mail", 503, "5.5.1", "Need MAIL before {}"},
    {need_rcpt, "need_rcpt", 503, "5.5.1", "Need RCPT before {}"},
    {nested_mail, "nested_mail", 503, "5.5.1", "Sender already given; send RSET to start over"},
    {bdat_mixed_with_data, "bdat_mixed_with_data", 503, "5.5.1", "DATA and BDAT cannot be mixed in one message"},
    {no_valid_recipients, "no_valid_recipients", 554, "5.5.1", "No valid recipients"},
    {unknown_parameter, "unknown_parameter", 555, "5.5.4", "Parameter {} not recognized"},
    {bad_parameter_value, "bad_parameter_value", 501, "5.5.4", "Bad value for parameter {}"},
    {unknown_user, "unknown_user", 550, "5.1.1", "No such user here"},
    {relay_denied, "relay_denied", 554, "5.7.1", "Relay access denied: {} is not a local domain"},
    {utf8_needs_smtputf8, "utf8_needs_smtputf8", 553, "5.6.7",
     "Non-ASCII address requires the SMTPUTF8 parameter on MAIL"},
    {too_many_recipients, "too_many_recipients", 452, "4.5.3", "Too many recipients"},
    {message_too_big, "message_too_big", 552, "5.3.4", "Message size exceeds the limit of {} octets"},
    {bare_line_ending, "bare_line_ending", 554, "5.6.0",
     "Message refused: bare CR or LF found; every line must end with CRLF"},
    {text_line_too_long, "text_line_too_long", 554, "5.6.0",
     "Message refused: a line is longer than 1000 octets (RFC 5321 4.5.3.1.6)"},
    {starttls_ready, "starttls_ready", 220, "2.0.0", "Ready to start TLS"},
    {tls_not_available, "tls_not_available", 454, "4.7.0", "TLS not available due to temporary reason"},
    {tls_already_active, "tls_already_active", 503, "5.5.1", "TLS already active"},
    {auth_challenge, "auth_challenge", 334, "", "{}"},
    {auth_ok, "auth_ok", 235, "2.7.0", "Authentication successful"},
    {auth_failed, "auth_failed", 535, "5.7.8", "Authentication credentials invalid"},
    {auth_needs_tls, "auth_needs_tls", 538, "5.7.11", "Encryption required for requested authentication mechanism"},
    {auth_required, "auth_required", 530, "5.7.0", "Authentication required"},
    {auth_unavailable, "auth_unavailable", 454, "4.7.0", "Temporary authentication failure; try again later"},
    {auth_unknown_mechanism, "auth_unknown_mechanism", 504, "5.5.4", "Unrecognized authentication type"},
    {auth_bad_base64, "auth_bad_base64", 501, "5.5.2", "Cannot decode response: invalid base64"},
    {auth_cancelled, "auth_cancelled", 501, "5.0.0", "Authentication cancelled"},
    {auth_line_too_long, "auth_line_too_long", 500, "5.5.6", "Authentication exchange line is too long"},
    {already_authenticated, "already_authenticated", 503, "5.5.1", "Already authenticated"},
    {auth_in_transaction, "auth_in_transaction", 503, "5.5.1", "AUTH not permitted during a mail transaction"},
    {auth_not_offered, "auth_not_offered", 503, "5.5.1", "AUTH is not offered on this port"},
    {sender_not_owned, "sender_not_owned", 553, "5.7.1", "Sender address <{}> not owned by user {}"},
    {too_many_connections, "too_many_connections", 421, "4.7.0", "{} Too many connections; try again later"},
    {too_many_connections_from_ip, "too_many_connections_from_ip", 421, "4.7.0",
     "{} Too many connections from your address; try again later"},
    {connection_rate_exceeded, "connection_rate_exceeded", 421, "4.7.0",
     "{} Too many connections per minute from your address; try again later"},
    {ip_banned, "ip_banned", 421, "4.7.0", "{} Too many failed logins from your address; try again later"},
    {auth_too_many_failures, "auth_too_many_failures", 421, "4.7.0",
     "{} Too many authentication failures; closing connection"},
    {too_many_errors, "too_many_errors", 421, "4.7.0", "{} Too many errors; closing connection"},
    {http_request, "http_request", 421, "4.7.0", "{} This is an SMTP server, not a web server; closing connection"},
    {maintenance, "maintenance", 421, "4.3.2", "{} {}"},
    {session_timeout, "session_timeout", 421, "4.4.2", "{} Session time limit exceeded, closing connection"},
    {data_too_slow, "data_too_slow", 421, "4.4.2", "{} Data transfer too slow, closing connection"},
    {message_rate_limited, "message_rate_limited", 451, "4.7.1", "Too many messages; try again later"},
    {recipient_rate_limited, "recipient_rate_limited", 451, "4.7.1", "Too many recipients this hour; try again later"},
    {greylisted, "greylisted", 451, "4.7.1", "Greylisted: please try again in {} seconds"},
    {local_error, "local_error", 451, "4.3.0", "Local error in processing; the message was not accepted, try again later"},
    {recipient_lookup_failed, "recipient_lookup_failed", 451, "4.3.0",
     "Recipient cannot be verified now; try again later"},
    {timeout, "timeout", 421, "4.4.2", "{} Timeout exceeded, closing connection"},
    {shutting_down, "shutting_down", 421, "4.3.2", "{} Service shutting down, closing connection"},
}};

constexpr bool table_in_enum_order() {
    for (size_t i = 0; i < kTable.size(); ++i)
        if (static_cast<size_t>(kTable[i].id) != i) return false;
    return true;
}
static_assert(table_in_enum_order(), "reply table must list entries in ReplyId order");

void fill(std::string& out, std::string_view text, std::initializer_list<std::string_view> args) {
    auto arg = args.begin();
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '{' && i + 1 < text.size() && text[i + 1] == '}') {
            if (arg != args.end()) out.append(*arg++);
            ++i;
        } else {
            out.push_back(text[i]);
        }
    }
}

void line(std::string& out, const ReplyEntry& e, char sep) {
    out.push_back(static_cast<char>('0' + e.code / 100));
    out.push_back(static_cast<char>('0' + e.code / 10 % 10));
    out.push_back(static_cast<char>('0' + e.code % 10));
    out.push_back(sep);
    if (!e.enhanced.empty()) {
        out.append(e.enhanced);
        out.push_back(' ');
    }
}

}  // namespace

const ReplyEntry& entry(ReplyId id) { return kTable[static_cast<size_t>(id)]; }
std::span<const ReplyEntry> registry() { return kTable; }

void render_to(std::string& out, ReplyId id, std::initializer_list<std::string_view> args) {
    const auto& e = entry(id);
    line(out, e, ' ');
    fill(out, e.text, args);
    out.append("\r\n");
}

std::string render(ReplyId id, std::initializer_list<std::string_view> args) {
    std::string out;
    render_to(out, id, args);
    return out;
}

void render_multiline(std::string& out, ReplyId id, std::initializer_list<std::string_view> args,
                      std::span<const std::string> extra_lines) {
    const auto& e = entry(id);
    line(out, e, extra_lines.empty() ? ' ' : '-');
    fill(out, e.text, args);
    out.append("\r\n");
    for (size_t i = 0; i < extra_lines.size(); ++i) {
        line(out, e, i + 1 == extra_lines.size() ? ' ' : '-');
        out.append(extra_lines[i]);
        out.append("\r\n");
    }
}

}  // namespace postern::smtp
