// A queued message's envelope, and its on-disk form at the head of a spool file.
//
// Queue states live in the envelope, so one file holds everything about a message and every change is one
// atomic rename (Spool::rewrite):
//   held      "held 1": not delivered until released (`postern queue release`).
//   deferred  attempts > 0 and next attempt in the future: waiting for its retry (exponential backoff).
//   active    everything else: due now, or being delivered.
// Per recipient: a recipient still in the file is pending (its last temporary error kept for the delay warning
// and the final bounce) or failed (a permanent error whose bounce is not sent yet). A delivered recipient is
// removed from the file; a failed one is removed once its bounce is durably queued.
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

    enum class State { pending, failed } state = State::pending;
    std::string diagnostic{};  // last reply or error: "550 5.1.1 <x@y>: no such user", "connection refused"
    std::string status{};    // enhanced status code of the last error: "4.4.1", "5.1.1"
    std::string remote_mta{};  // host that gave the reply, when there was one
    int64_t last_attempt = 0;  // unix seconds
};

struct QueuedEnvelope {
    std::string id;
    int64_t arrived = 0;  // unix seconds
    std::string sender;   // empty for the null path
    bool smtputf8 = false;
    bool eight_bit = false;
    std::vector<QueuedRecipient> recipients;

    bool held = false;
    int attempts = 0;          // delivery attempts that left recipients pending
    int64_t next_attempt = 0;  // unix milliseconds; 0 = now
    bool warned = false;       // the delay warning was sent
    // Octets of message after the head, written by the spool: a file cut short by a crash before its commit
    // is told apart from a whole one. 0 in files from before this field.
    uint64_t size = 0;
};

// "postern-spool 1\n" then one "key value" per line, a blank line, then the message octets. A recipient's
// "r..." lines follow its "rcpt" line.
std::string serialize_envelope(const QueuedEnvelope& env);
// Parses the head of a spool file; sets body_offset to where the message starts. nullopt when damaged.
std::optional<QueuedEnvelope> parse_envelope(std::string_view file, size_t& body_offset);

}  // namespace postern::queue
