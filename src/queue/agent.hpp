// The one-method delivery interface: Maildir, LMTP and SMTP relay are implementations of it.
#pragma once

#include <string>
#include <string_view>

#include "queue/envelope.hpp"

namespace postern::queue {

struct DeliveryResult {
    enum class Status { ok, temporary, permanent } status = Status::ok;
    std::string detail;  // for logs and bounces
};

class DeliveryAgent {
public:
    virtual ~DeliveryAgent() = default;
    virtual DeliveryResult deliver(const QueuedEnvelope& envelope, const QueuedRecipient& recipient,
                                   std::string_view message) = 0;
};

}  // namespace postern::queue
