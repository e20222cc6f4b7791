// Delivery status notifications (RFC 3464) in a multipart/report (RFC 6522): a bounce when recipients failed,
// a warning when they are delayed. Sent from the null path <>, so a DSN is never bounced itself.
#pragma once

#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "queue/envelope.hpp"

namespace postern::queue {

enum class DsnKind { failed, delayed };

struct DsnInput {
    DsnKind kind = DsnKind::failed;
    std::string hostname;  // Reporting-MTA
    std::string queue_id;  // of the original message
    std::string dsn_id;    // for the DSN's Message-ID
    std::string sender;    // the original envelope sender: the DSN goes to it
    std::time_t arrived = 0;
    std::time_t now = 0;
    std::time_t retry_until = 0;  // delayed: when the queue gives up
    std::vector<QueuedRecipient> recipients;
    std::string_view message;  // the original; its header section is attached
};

// The whole DSN message (header and body), CRLF line ends, 7-bit.
std::string make_dsn(const DsnInput& in);

// "Mon, 23 Nov 2026 17:04:05 +0000"
std::string rfc5322_date(std::time_t when);

// The header section of a message (up to, not including, the empty line).
std::string_view header_section(std::string_view message);

}  // namespace postern::queue
