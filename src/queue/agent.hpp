// The one-method delivery interface: Maildir, LMTP and SMTP relay (smarthost or MX) are implementations of it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "queue/envelope.hpp"

namespace postern::queue {

struct DeliveryResult {
    enum class Status { ok, temporary, permanent } status = Status::ok;
    std::string detail;      // for logs and bounces: the remote reply ("550 5.1.1 <x@y>: no such user") or an error
    std::string enhanced{};  // RFC 3463 status of a failure ("5.1.1"); empty: 4.0.0 / 5.0.0
    std::string remote_mta{};  // the host that gave the reply, when one did
};

class DeliveryAgent {
public:
    virtual ~DeliveryAgent() = default;
    virtual DeliveryResult deliver(const QueuedEnvelope& envelope, const QueuedRecipient& recipient,
                                   std::string_view message) = 0;

    // Recipients with the same destination() go to one call, so that one transaction can carry them all; one
    // result per recipient, in order.
    virtual std::vector<DeliveryResult> deliver_batch(const QueuedEnvelope& envelope,
                                                      const std::vector<const QueuedRecipient*>& recipients,
                                                      std::string_view message) {
        std::vector<DeliveryResult> out;
        out.reserve(recipients.size());
        for (const auto* r : recipients) out.push_back(deliver(envelope, *r, message));
        return out;
    }

    // Which recipients may share a transaction: "" for all, a domain for MX delivery.
    virtual std::string destination(const QueuedRecipient&) const { return {}; }

    // Asks deliveries in progress to give up soon (shutdown); they end with temporary results.
    virtual void cancel() {}
};

}  // namespace postern::queue
