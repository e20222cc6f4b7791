// Remote delivery over SMTP: to the configured smarthost ([relay]) or, without one, to the MX hosts of each
// recipient domain (RFC 5321 §5.1: MX in preference order, the domain's own A/AAAA when it has no MX, RFC 7505
// null MX bounces at once). Opportunistic STARTTLS to MX hosts; required or opportunistic, with AUTH, to the
// smarthost. Sessions are reused for the next message to the same host for a while, and no destination gets
// more than destination_concurrency connections at once.
//
// Replies map to queue decisions: 2xx delivered, 4xx deferred, 5xx bounced; no answer at all (refused, timed
// out, greeting not 220, lost before DATA) makes the next MX host (or address) try, and when none is left the
// recipients are deferred.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "delivery/smtp_client.hpp"
#include "dns/resolver.hpp"
#include "queue/agent.hpp"

namespace postern::delivery {

class SmtpDelivery : public queue::DeliveryAgent {
public:
    SmtpDelivery(const config::Config& cfg, dns::Resolver& resolver);
    ~SmtpDelivery() override;

    queue::DeliveryResult deliver(const queue::QueuedEnvelope& envelope, const queue::QueuedRecipient& recipient,
                                  std::string_view message) override;
    std::vector<queue::DeliveryResult> deliver_batch(const queue::QueuedEnvelope& envelope,
                                                     const std::vector<const queue::QueuedRecipient*>& recipients,
                                                     std::string_view message) override;
    std::string destination(const queue::QueuedRecipient& recipient) const override;
    void cancel() override;

private:
    struct Hop {
        std::string name;                    // MX host name, relay host, or the literal
        std::vector<std::string> addresses;  // filled when known without DNS (IP literals)
    };
    enum class Attempt { done, next };

    Attempt try_address(const Hop& hop, const std::string& ip, const queue::QueuedEnvelope& env,
                        const std::vector<const queue::QueuedRecipient*>& rcpts, std::string_view message,
                        std::vector<queue::DeliveryResult>& results, queue::DeliveryResult& last_error);
    std::unique_ptr<SmtpConnection> open(const Hop& hop, const std::string& ip, bool allow_tls,
                                         queue::DeliveryResult& error, bool& tls_failed);
    bool authenticate(SmtpConnection& conn, const std::string& mta, queue::DeliveryResult& error);

    void acquire(const std::string& key);
    void release(const std::string& key);
    std::unique_ptr<SmtpConnection> take_cached(const std::string& key);
    void put_cached(const std::string& key, std::unique_ptr<SmtpConnection> conn);

    bool relay_;
    config::Relay relay_cfg_;
    config::Delivery delivery_;
    std::string helo_;
    dns::Resolver& resolver_;
    std::shared_ptr<SSL_CTX> opportunistic_tls_, relay_tls_;
    std::string relay_tls_error_;
    CancelSet cancel_;

    std::mutex mutex_;
    std::condition_variable slot_cv_;
    std::map<std::string, uint32_t> active_;
    std::multimap<std::string, std::unique_ptr<SmtpConnection>> cache_;
};

// RFC 5321 §4.1.3 address literal "[192.0.2.1]" / "[IPv6:2001:db8::1]" → the address; empty when not one.
std::string address_literal_ip(std::string_view domain);

}  // namespace postern::delivery
