// A queued message's envelope, and its on-disk form at the head of a spool file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::queue {

struct QueuedRecipient {
    std::string address;  // as given in RCPT TO, without angle brackets
    std::string user;     // the local account; empty for a remote recipient
};

struct QueuedEnvelope {
    std::string id;
    int64_t arrived = 0;  // unix seconds
    std::string sender;   // empty for the null path
    bool smtputf8 = false;
    bool eight_bit = false;
    std::vector<QueuedRecipient> recipients;
};

// "postern-spool 1\n" then one "key value" per line, a blank line, then the message octets.
std::string serialize_envelope(const QueuedEnvelope& env);
// Parses the head of a spool file; sets body_offset to where the message starts. nullopt when damaged.
std::optional<QueuedEnvelope> parse_envelope(std::string_view file, size_t& body_offset);

}  // namespace postern::queue
