#include "queue/bounce.hpp"

#include <cctype>

#include <fmt/format.h>

namespace postern::queue {

namespace {

// DSN fields are 7-bit text on one line (RFC 3464 §2.1.2): anything else becomes '?' or a space.
std::string ascii_line(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (unsigned char c : text) {
        if (c == '\r' || c == '\n' || c == '\t') out += ' ';
        else if (c < 0x20 || c >= 0x7f) out += '?';
        else out += static_cast<char>(c);
    }
    return out;
}

bool looks_like_smtp_reply(std::string_view text) {
    return text.size() >= 3 && text[0] >= '2' && text[0] <= '5' && std::isdigit(static_cast<unsigned char>(text[1])) &&
           std::isdigit(static_cast<unsigned char>(text[2])) && (text.size() == 3 || text[3] == ' ');
}

// Folds a long header value at spaces so that no line passes 998 octets (RFC 5322 §2.1.1).
std::string folded(std::string_view name, std::string_view value) {
    std::string out = std::string(name) + ": ";
    size_t line = out.size();
    size_t pos = 0;
    while (pos < value.size()) {
        auto sp = value.find(' ', pos + 1);
        auto word = value.substr(pos, sp == std::string_view::npos ? std::string_view::npos : sp - pos);
        if (line + word.size() > 76 && line > name.size() + 2 && word.front() == ' ') {
            out += "\r\n";
            line = 0;
        }
        out += word;
        line += word.size();
        pos += word.size();
    }
    return out + "\r\n";
}

std::string status_of(const QueuedRecipient& r, DsnKind kind) {
    if (!r.status.empty()) return r.status;
    return kind == DsnKind::failed ? "5.0.0" : "4.0.0";
}

}  // namespace

std::string rfc5322_date(std::time_t when) {
    std::tm tm{};
    gmtime_r(&when, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    return buf;
}

std::string_view header_section(std::string_view message) {
    if (message.starts_with("\r\n")) return {};
    auto end = message.find("\r\n\r\n");
    if (end == std::string_view::npos) return message;
    return message.substr(0, end + 2);
}

std::string make_dsn(const DsnInput& in) {
    const bool failed = in.kind == DsnKind::failed;
    const std::string boundary = fmt::format("{}/{}", in.dsn_id, in.hostname);
    std::string out;
    out += fmt::format("From: Mail Delivery System <MAILER-DAEMON@{}>\r\n", in.hostname);
    out += fmt::format("To: <{}>\r\n", ascii_line(in.sender));
    out += failed ? "Subject: Undelivered Mail Returned to Sender\r\n"
                  : "Subject: Delayed Mail (still being retried)\r\n";
    out += fmt::format("Date: {}\r\n", rfc5322_date(in.now));
    out += fmt::format("Message-ID: <{}@{}>\r\n", in.dsn_id, in.hostname);
    out += "Auto-Submitted: auto-replied\r\n";  // RFC 3834: no automatic answers to this one
    out += "MIME-Version: 1.0\r\n";
    out += fmt::format("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{}\"\r\n",
                       boundary);
    out += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";

    // 1. For people.
    out += fmt::format("--{}\r\n", boundary);
    out += "Content-Description: Notification\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n";
    out += fmt::format("This is the mail system at host {}.\r\n\r\n", in.hostname);
    if (failed) {
        out += "I'm sorry to have to inform you that your message could not\r\n"
               "be delivered to one or more recipients. The reasons are below.\r\n\r\n";
    } else {
        out += "Your message could not be delivered yet to one or more recipients.\r\n"
               "It will be tried again";
        if (in.retry_until) out += " until " + rfc5322_date(in.retry_until);
        out += ". You do not need to send it again.\r\n\r\n";
    }
    for (const auto& r : in.recipients) {
        std::string reason = r.diagnostic.empty() ? "(no details)" : ascii_line(r.diagnostic);
        if (!r.remote_mta.empty() && looks_like_smtp_reply(r.diagnostic))
            reason = fmt::format("host {} said: {}", ascii_line(r.remote_mta), reason);
        out += fmt::format("<{}>: {}\r\n", ascii_line(r.address), reason);
    }
    out += "\r\n";

    // 2. For programs: message/delivery-status.
    out += fmt::format("--{}\r\n", boundary);
    out += "Content-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n";
    out += fmt::format("Reporting-MTA: dns; {}\r\n", in.hostname);
    out += fmt::format("X-Postern-Queue-ID: {}\r\n", in.queue_id);
    out += fmt::format("Arrival-Date: {}\r\n", rfc5322_date(in.arrived));
    for (const auto& r : in.recipients) {
        out += "\r\n";
        out += fmt::format("Final-Recipient: rfc822; {}\r\n", ascii_line(r.address));
        out += fmt::format("Action: {}\r\n", failed ? "failed" : "delayed");
        out += fmt::format("Status: {}\r\n", status_of(r, in.kind));
        if (!r.remote_mta.empty()) out += fmt::format("Remote-MTA: dns; {}\r\n", ascii_line(r.remote_mta));
        if (!r.diagnostic.empty()) {
            if (looks_like_smtp_reply(r.diagnostic)) out += folded("Diagnostic-Code", "smtp; " + ascii_line(r.diagnostic));
            else out += folded("Diagnostic-Code", "X-Postern; " + ascii_line(r.diagnostic));
        }
        if (r.last_attempt) out += fmt::format("Last-Attempt-Date: {}\r\n", rfc5322_date(r.last_attempt));
        if (!failed && in.retry_until) out += fmt::format("Will-Retry-Until: {}\r\n", rfc5322_date(in.retry_until));
    }
    out += "\r\n";

    // 3. The original header section (RFC 6522 allows the headers alone: no body is sent back).
    out += fmt::format("--{}\r\n", boundary);
    out += "Content-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n";
    auto headers = header_section(in.message);
    // 8-bit header octets (SMTPUTF8 mail) would break the 7-bit promise: replace them.
    for (unsigned char c : headers) out += c >= 0x80 ? '?' : static_cast<char>(c);
    if (!headers.empty() && !headers.ends_with("\r\n")) out += "\r\n";
    out += fmt::format("\r\n--{}--\r\n", boundary);
    return out;
}

}  // namespace postern::queue
