// The Received: trace header (RFC 5321 §4.4) that Postern prepends to every message it accepts.
#pragma once

#include <ctime>
#include <string>
#include <string_view>

namespace postern::server {

struct TraceInfo {
    std::string_view helo;
    std::string_view client_ip;  // "192.0.2.1" or "2001:db8::1"
    std::string_view hostname;
    std::string_view protocol;  // SMTP, ESMTP, ESMTPS, ESMTPSA, UTF8SMTP... (RFC 3848, RFC 6531)
    std::string_view queue_id;
    std::string_view single_recipient;  // "for <...>" only when there is exactly one
    std::string_view tls;               // "TLSv1.3 TLS_AES_256_GCM_SHA384" or empty
    std::string_view auth_user;         // empty when not authenticated
    std::time_t when = 0;
};

std::string received_header(const TraceInfo& info);
// "Mon, 23 Nov 2026 17:04:05 +0000" (RFC 5322 §3.3), always in UTC.
std::string rfc5322_date(std::time_t when);

}  // namespace postern::server
