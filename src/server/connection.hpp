// One client connection: a coroutine that reads, lets the pure session decide, carries out its effects and
// writes its replies, with a deadline on every read. It reads top to bottom in Connection::run().
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/sasl.hpp"
#include "config/config.hpp"
#include "policy/ip.hpp"
#include "server/guarded_verifier.hpp"
#include "server/recipients.hpp"
#include "server/server_context.hpp"
#include "smtp/session.hpp"

namespace postern::server {

class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(ServerContext& ctx, asio::ip::tcp::socket socket, config::Listener listener);

    asio::awaitable<void> run();
    // Called on any thread: the connection's own thread closes it with 421 4.3.2 when it is idle (or at once
    // with force).
    void request_shutdown(bool force);

private:
    using SteadyClock = std::chrono::steady_clock;

    bool admit();  // connection caps, bans, maintenance: false after a refusal was queued
    void carry_out_lookup();
    void check_sender();
    asio::awaitable<void> write_output();
    asio::awaitable<size_t> read_some(std::error_code& ec);
    asio::awaitable<bool> handshake();
    asio::awaitable<void> store_message();
    asio::awaitable<void> auth_step();
    asio::awaitable<void> tarpit(uint64_t errors_before);
    std::string protocol_name() const;
    std::chrono::milliseconds read_timeout() const;
    void arm_timer(std::chrono::milliseconds timeout);
    bool data_too_slow(size_t bytes);

    ServerContext& ctx_;
    std::shared_ptr<const config::Config> cfg_;     // as it was when the connection began
    std::shared_ptr<asio::ssl::context> tls_ctx_;  // likewise; null without TLS
    asio::ip::tcp::socket socket_;
    std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;  // set once TLS is on
    std::string tls_description_;
    asio::steady_timer timer_;
    config::Listener listener_;
    std::string client_ip_;
    std::optional<policy::IpAddress> client_addr_;
    bool trusted_;  // in allow_networks: no caps, bans, tarpit, error budget or greylisting
    GuardedVerifier verifier_;
    smtp::Session session_;
    RecipientResolver recipients_;
    bool admitted_ = false;
    std::vector<char> buffer_;
    std::unique_ptr<auth::SaslMechanism> sasl_;
    std::string sasl_user_;  // the account named in the exchange so far, for the failure counters

    SteadyClock::time_point started_;
    std::optional<SteadyClock::time_point> data_started_;
    uint64_t data_bytes_ = 0;

    bool timed_out_ = false;
    std::atomic<bool> shutdown_requested_{false};
    bool shutdown_forced_ = false;
    bool reading_ = false;
};

}  // namespace postern::server
