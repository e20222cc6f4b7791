// LMTP (RFC 2033) to a mail store such as Dovecot: one transaction for all local recipients of a message, and
// after DATA one reply per accepted recipient, each honoured on its own.
#pragma once

#include <string>

#include "config/config.hpp"
#include "delivery/smtp_client.hpp"
#include "queue/agent.hpp"

namespace postern::delivery {

class LmtpDelivery : public queue::DeliveryAgent {
public:
    LmtpDelivery(config::Lmtp lmtp, const config::Delivery& delivery, std::string hostname);

    queue::DeliveryResult deliver(const queue::QueuedEnvelope& envelope, const queue::QueuedRecipient& recipient,
                                  std::string_view message) override;
    std::vector<queue::DeliveryResult> deliver_batch(const queue::QueuedEnvelope& envelope,
                                                     const std::vector<const queue::QueuedRecipient*>& recipients,
                                                     std::string_view message) override;
    void cancel() override { cancel_.cancel_all(); }

    // The address given in RCPT TO: the recipient's own address when it names the account (user@domain or
    // user+tag@domain), otherwise user@domain (aliases, postmaster), user@hostname without a domain.
    static std::string lmtp_recipient(const queue::QueuedRecipient& r, const std::string& hostname);

private:
    config::Lmtp lmtp_;
    std::chrono::milliseconds connect_timeout_, io_timeout_;
    std::string hostname_;
    CancelSet cancel_;
};

}  // namespace postern::delivery
