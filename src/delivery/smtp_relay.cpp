#include "delivery/smtp_relay.hpp"

#include <arpa/inet.h>
#include <openssl/evp.h>

#include <algorithm>

#include <fmt/format.h>

#include "observe/log.hpp"

namespace postern::delivery {

using Status = queue::DeliveryResult::Status;
using queue::DeliveryResult;

namespace {

std::string base64(std::string_view in) {
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

bool is_ip(const std::string& text) {
    unsigned char buf[16];
    return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

std::string lower(std::string s) {
    for (auto& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

// A refusal that is the remote side's problem for now (e.g. AUTH refused): defer, keeping its text.
DeliveryResult as_temporary(DeliveryResult r) {
    r.status = Status::temporary;
    if (!r.enhanced.empty() && r.enhanced[0] == '5') r.enhanced[0] = '4';
    return r;
}

std::string host_label(const std::string& name, const std::string& ip) {
    return name == ip ? fmt::format("[{}]", ip) : fmt::format("{}[{}]", name, ip);
}

}  // namespace

std::string address_literal_ip(std::string_view domain) {
    if (domain.size() < 3 || domain.front() != '[' || domain.back() != ']') return {};
    std::string inner(domain.substr(1, domain.size() - 2));
    if (inner.size() > 5 && lower(inner.substr(0, 5)) == "ipv6:") inner = inner.substr(5);
    return is_ip(inner) ? inner : std::string{};
}

SmtpDelivery::SmtpDelivery(const config::Config& cfg, dns::Resolver& resolver)
    : relay_(!cfg.relay.host.empty()),
      relay_cfg_(cfg.relay),
      delivery_(cfg.delivery),
      helo_(cfg.delivery.helo_name.empty() ? cfg.hostname : cfg.delivery.helo_name),
      resolver_(resolver) {
    std::string error;
    opportunistic_tls_ = make_client_tls(false, {}, error);
    if (relay_) {
        relay_tls_ = make_client_tls(relay_cfg_.tls_verify, relay_cfg_.ca_file, relay_tls_error_);
        if (!relay_tls_) observe::error("relay tls unavailable: {}", relay_tls_error_);
    }
}

SmtpDelivery::~SmtpDelivery() {
    std::lock_guard lock(mutex_);
    cache_.clear();
}

void SmtpDelivery::cancel() {
    cancel_.cancel_all();
    resolver_.cancel();
    std::lock_guard lock(mutex_);
    cache_.clear();
    slot_cv_.notify_all();
}

std::string SmtpDelivery::destination(const queue::QueuedRecipient& recipient) const {
    if (relay_) return "relay";
    auto at = recipient.address.rfind('@');
    return at == std::string::npos ? std::string{} : lower(recipient.address.substr(at + 1));
}

void SmtpDelivery::acquire(const std::string& key) {
    std::unique_lock lock(mutex_);
    slot_cv_.wait(lock, [&] { return cancel_.cancelled() || active_[key] < delivery_.destination_concurrency; });
    ++active_[key];
}

void SmtpDelivery::release(const std::string& key) {
    {
        std::lock_guard lock(mutex_);
        if (--active_[key] == 0) active_.erase(key);
    }
    slot_cv_.notify_all();
}

std::unique_ptr<SmtpConnection> SmtpDelivery::take_cached(const std::string& key) {
    std::lock_guard lock(mutex_);
    auto now = std::chrono::steady_clock::now();
    for (auto it = cache_.begin(); it != cache_.end();) {
        if (now - it->second->idle_since > delivery_.connection_cache_time) it = cache_.erase(it);
        else ++it;
    }
    while (true) {
        auto it = cache_.find(key);
        if (it == cache_.end()) return nullptr;
        auto conn = std::move(it->second);
        cache_.erase(it);
        if (conn->idle_ok()) return conn;  // else the server spoke or closed meanwhile: drop it, try the next
    }
}

void SmtpDelivery::put_cached(const std::string& key, std::unique_ptr<SmtpConnection> conn) {
    if (!conn || conn->broken() || delivery_.connection_cache_time.count() == 0 || cancel_.cancelled()) {
        if (conn && !conn->broken()) conn->command("QUIT");
        return;
    }
    conn->idle_since = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    cache_.emplace(key, std::move(conn));
}

DeliveryResult SmtpDelivery::deliver(const queue::QueuedEnvelope& envelope, const queue::QueuedRecipient& recipient,
                                     std::string_view message) {
    return deliver_batch(envelope, {&recipient}, message).front();
}

std::vector<DeliveryResult> SmtpDelivery::deliver_batch(const queue::QueuedEnvelope& env,
                                                        const std::vector<const queue::QueuedRecipient*>& rcpts,
                                                        std::string_view message) {
    std::vector<DeliveryResult> results(rcpts.size());
    auto all = [&](const DeliveryResult& r) {
        for (auto& x : results) x = r;
        return results;
    };
    const std::string key = relay_ ? "relay" : destination(*rcpts.front());
    if (!relay_ && key.empty()) return all(failure(Status::permanent, "5.1.3", "recipient address has no domain"));
    if (relay_ && !relay_tls_)
        return all(failure(Status::temporary, "4.7.5", "relay TLS configuration: " + relay_tls_error_));

    acquire(key);
    struct Releaser {
        SmtpDelivery* self;
        const std::string& key;
        ~Releaser() { self->release(key); }
    } releaser{this, key};
    if (cancel_.cancelled()) return all(failure(Status::temporary, "4.3.2", "shutting down"));

    std::vector<Hop> hops;
    bool implicit_mx = false;
    if (relay_) {
        Hop hop{relay_cfg_.host, {}};
        if (is_ip(relay_cfg_.host)) hop.addresses.push_back(relay_cfg_.host);
        hops.push_back(std::move(hop));
    } else if (auto ip = address_literal_ip(key); !ip.empty()) {
        hops.push_back(Hop{ip, {ip}});
    } else {
        auto mx = resolver_.mx(key);
        switch (mx.outcome) {
            case dns::Outcome::null_mx:
                return all(failure(Status::permanent, "5.1.10",
                                   fmt::format("domain {} accepts no mail (null MX, RFC 7505)", key)));
            case dns::Outcome::nxdomain:
                return all(failure(Status::permanent, "5.1.2", fmt::format("domain {} not found (NXDOMAIN)", key)));
            case dns::Outcome::error:
                return all(failure(Status::temporary, "4.4.3", fmt::format("MX lookup for {}: {}", key, mx.error)));
            case dns::Outcome::no_data:
                implicit_mx = true;  // RFC 5321 §5.1: the domain itself, preference 0
                hops.push_back(Hop{key, {}});
                break;
            case dns::Outcome::ok:
                for (auto& h : mx.hosts) hops.push_back(Hop{h.name, {}});
                break;
        }
    }

    DeliveryResult last_error = failure(Status::temporary, "4.4.1", fmt::format("no host for {} answered", key));
    for (const auto& hop : hops) {
        auto addresses = hop.addresses;
        if (addresses.empty()) {
            auto a = resolver_.addresses(hop.name);
            if (a.outcome != dns::Outcome::ok) {
                if (implicit_mx && (a.outcome == dns::Outcome::nxdomain || a.outcome == dns::Outcome::no_data))
                    return all(failure(Status::permanent, "5.1.2",
                                       fmt::format("domain {} has no MX and no address records", key)));
                last_error = failure(Status::temporary, "4.4.3",
                                     a.outcome == dns::Outcome::error
                                         ? fmt::format("address lookup for {}: {}", hop.name, a.error)
                                         : fmt::format("host {} has no address records", hop.name));
                continue;
            }
            addresses = std::move(a.addresses);
        }
        for (const auto& ip : addresses) {
            if (cancel_.cancelled()) return all(failure(Status::temporary, "4.3.2", "shutting down"));
            if (try_address(hop, ip, env, rcpts, message, results, last_error) == Attempt::done) return results;
            observe::info("delivery trying next host id={} after=\"{}\"", env.id, last_error.detail);
        }
    }
    return all(last_error);
}

std::unique_ptr<SmtpConnection> SmtpDelivery::open(const Hop& hop, const std::string& ip, bool allow_tls,
                                                   DeliveryResult& error, bool& tls_failed) {
    const uint16_t port = relay_ ? relay_cfg_.port : delivery_.smtp_port;
    const std::string label = host_label(hop.name, ip);
    std::string e;
    auto conn = SmtpConnection::connect_tcp(ip, port, delivery_.connect_timeout, delivery_.command_timeout, &cancel_, e);
    if (!conn) {
        error = failure(Status::temporary, "4.4.1", fmt::format("{}: {}", label, e), hop.name);
        return nullptr;
    }
    auto lost = [&](std::string_view stage) {
        error = failure(Status::temporary, "4.4.2", fmt::format("{} {}: {}", label, stage, conn->error()), hop.name);
        return nullptr;
    };
    auto greeting = conn->read_reply();
    if (!greeting) return lost("greeting");
    if (greeting->code != 220) {
        error = as_temporary(result_of(*greeting, hop.name));
        error.detail = fmt::format("{} refused to talk: {}", label, greeting->text());
        return nullptr;
    }
    auto hello = conn->hello("EHLO", helo_);
    if (!hello) return lost("EHLO");
    if (hello->code != 250) {
        hello = conn->hello("HELO", helo_);
        if (!hello) return lost("HELO");
        if (hello->code != 250) {
            error = as_temporary(result_of(*hello, hop.name));
            error.detail = fmt::format("{} refused HELO: {}", label, hello->text());
            return nullptr;
        }
    }
    const bool required = relay_ && relay_cfg_.starttls == config::Relay::StartTls::required;
    if (allow_tls && conn->has_extension("STARTTLS")) {
        auto r = conn->command("STARTTLS");
        if (!r) return lost("STARTTLS");
        if (r->code == 220) {
            SSL_CTX* ctx = relay_ ? relay_tls_.get() : opportunistic_tls_.get();
            std::string verify_name;
            if (relay_ && relay_cfg_.tls_verify) verify_name = relay_cfg_.tls_name.empty() ? hop.name : relay_cfg_.tls_name;
            std::string tls_error;
            if (!conn->start_tls(ctx, hop.name, verify_name, tls_error)) {
                tls_failed = true;
                error = failure(Status::temporary, "4.7.5", fmt::format("{} TLS: {}", label, tls_error), hop.name);
                return nullptr;
            }
            hello = conn->hello("EHLO", helo_);
            if (!hello) return lost("EHLO after STARTTLS");
            if (hello->code != 250) {
                error = as_temporary(result_of(*hello, hop.name));
                return nullptr;
            }
        } else if (required) {
            error = as_temporary(result_of(*r, hop.name));
            error.detail = fmt::format("{} refused STARTTLS: {}", label, r->text());
            return nullptr;
        }
    } else if (required) {
        error = failure(Status::temporary, "4.7.10", fmt::format("{} does not offer STARTTLS, which is required", label),
                        hop.name);
        return nullptr;
    }
    if (relay_ && !relay_cfg_.username.empty() && !authenticate(*conn, hop.name, error)) return nullptr;
    observe::debug("connected to {} tls=\"{}\"", label, conn->tls_description());
    return conn;
}

bool SmtpDelivery::authenticate(SmtpConnection& conn, const std::string& mta, DeliveryResult& error) {
    if (!conn.tls()) {
        error = failure(Status::temporary, "4.7.10", "not sending relay credentials without TLS", mta);
        return false;
    }
    auto mechs = conn.auth_mechanisms();
    auto offered = [&](std::string_view m) { return std::find(mechs.begin(), mechs.end(), m) != mechs.end(); };
    std::optional<Reply> reply;
    if (offered("PLAIN")) {
        std::string token;
        token += '\0';
        token += relay_cfg_.username;
        token += '\0';
        token += relay_cfg_.password;
        reply = conn.command("AUTH PLAIN " + base64(token));
    } else if (offered("LOGIN")) {
        reply = conn.command("AUTH LOGIN");
        if (reply && reply->code == 334) reply = conn.command(base64(relay_cfg_.username));
        if (reply && reply->code == 334) reply = conn.command(base64(relay_cfg_.password));
    } else {
        error = failure(Status::temporary, "4.7.0", "the relay offers neither AUTH PLAIN nor AUTH LOGIN", mta);
        return false;
    }
    if (!reply) {
        error = failure(Status::temporary, "4.4.2", "connection lost during AUTH: " + conn.error(), mta);
        return false;
    }
    if (reply->code != 235) {
        error = as_temporary(result_of(*reply, mta));
        error.detail = "relay refused our credentials: " + reply->text();
        return false;
    }
    return true;
}

SmtpDelivery::Attempt SmtpDelivery::try_address(const Hop& hop, const std::string& ip,
                                                const queue::QueuedEnvelope& env,
                                                const std::vector<const queue::QueuedRecipient*>& rcpts,
                                                std::string_view message, std::vector<DeliveryResult>& results,
                                                DeliveryResult& last_error) {
    const uint16_t port = relay_ ? relay_cfg_.port : delivery_.smtp_port;
    const std::string ckey = fmt::format("{}|{}|{}", ip, port, hop.name);
    const std::string label = host_label(hop.name, ip);
    const bool tls_may_fall_back = !(relay_ && relay_cfg_.starttls == config::Relay::StartTls::required);

    auto connect = [&]() -> std::unique_ptr<SmtpConnection> {
        bool tls_failed = false;
        auto c = open(hop, ip, true, last_error, tls_failed);
        if (!c && tls_failed && tls_may_fall_back) {  // opportunistic: a broken TLS stack should not stop mail
            observe::warn("delivery tls failed, retrying without tls host={} error=\"{}\"", label, last_error.detail);
            c = open(hop, ip, false, last_error, tls_failed);
        }
        return c;
    };

    auto conn = take_cached(ckey);
    bool reused = conn != nullptr;
    if (!conn) conn = connect();
    if (!conn) return Attempt::next;

    if (env.smtputf8 && !conn->has_extension("SMTPUTF8")) {
        for (auto& r : results)
            r = failure(Status::permanent, "5.6.7", fmt::format("{} does not support SMTPUTF8", label), hop.name);
        put_cached(ckey, std::move(conn));
        return Attempt::done;
    }
    const std::string mail_cmd =
        fmt::format("MAIL FROM:<{}>{}", env.sender, mail_parameters(*conn, env, message.size()));
    auto mail = conn->command(mail_cmd);
    if (reused && (!mail || mail->code == 421)) {  // the cached session went stale: one fresh connection
        conn = connect();
        if (!conn) return Attempt::next;
        mail = conn->command(mail_cmd);
    }
    auto lost = [&](std::string_view stage) {
        last_error = failure(Status::temporary, "4.4.2", fmt::format("{} {}: {}", label, stage, conn->error()),
                             hop.name);
        return Attempt::next;
    };
    if (!mail) return lost("MAIL FROM");
    if (mail->code == 421) {
        last_error = result_of(*mail, hop.name);
        return Attempt::next;
    }
    if (!mail->positive()) {
        for (auto& r : results) r = result_of(*mail, hop.name);
        if (conn->command("RSET")) put_cached(ckey, std::move(conn));
        return Attempt::done;
    }
    std::vector<size_t> accepted;
    for (size_t i = 0; i < rcpts.size(); ++i) {
        auto rcpt = conn->command(fmt::format("RCPT TO:<{}>", rcpts[i]->address));
        if (!rcpt) return lost("RCPT TO");
        if (rcpt->code == 421) {
            last_error = result_of(*rcpt, hop.name);
            return Attempt::next;
        }
        results[i] = result_of(*rcpt, hop.name);
        if (rcpt->positive()) accepted.push_back(i);
    }
    if (accepted.empty()) {
        if (conn->command("RSET")) put_cached(ckey, std::move(conn));
        return Attempt::done;
    }
    auto data = conn->command("DATA");
    if (!data) return lost("DATA");
    if (data->code != 354) {
        if (data->code == 421) {
            last_error = result_of(*data, hop.name);
            return Attempt::next;
        }
        for (auto i : accepted) results[i] = result_of(*data, hop.name);
        if (conn->command("RSET")) put_cached(ckey, std::move(conn));
        return Attempt::done;
    }
    if (!conn->send(dot_stuff(message))) return lost("sending the message");
    auto final_reply = conn->read_reply();
    if (!final_reply) {
        // The server may have taken the message: defer, never try another host now (RFC 5321 §6.1 duplicates).
        for (auto i : accepted)
            results[i] = failure(Status::temporary, "4.4.2",
                                 fmt::format("{} lost after the end of data ({}); the message may arrive twice", label,
                                             conn->error()),
                                 hop.name);
        return Attempt::done;
    }
    for (auto i : accepted) results[i] = result_of(*final_reply, hop.name);
    if (final_reply->code != 421) put_cached(ckey, std::move(conn));
    return Attempt::done;
}

}  // namespace postern::delivery
