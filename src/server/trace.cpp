#include "server/trace.hpp"

#include <fmt/format.h>

namespace postern::server {

std::string rfc5322_date(std::time_t when) {
    static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::tm tm{};
    gmtime_r(&when, &tm);
    return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} +0000", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
                       tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string received_header(const TraceInfo& info) {
    bool v6 = info.client_ip.find(':') != std::string_view::npos;
    std::string out = fmt::format("Received: from {} ([{}{}])\r\n", info.helo, v6 ? "IPv6:" : "", info.client_ip);
    if (!info.tls.empty()) out += fmt::format("\t(using {})\r\n", info.tls);
    if (!info.auth_user.empty()) out += fmt::format("\t(authenticated user {})\r\n", info.auth_user);
    // The date follows the last clause after a ';' (RFC 5321 §4.4 Stamp).
    out += fmt::format("\tby {} (Postern) with {} id {}{}\r\n", info.hostname, info.protocol, info.queue_id,
                       info.single_recipient.empty() ? ";" : "");
    if (!info.single_recipient.empty()) out += fmt::format("\tfor <{}>;\r\n", info.single_recipient);
    out += fmt::format("\t{}\r\n", rfc5322_date(info.when));
    return out;
}

}  // namespace postern::server
