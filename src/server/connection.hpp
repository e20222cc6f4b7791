// One client connection: a coroutine that reads, lets the pure session decide, carries out its effects and
// writes its replies, with a deadline on every read. It reads top to bottom in Connection::run().
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include "auth/account_store.hpp"
#include "auth/sasl.hpp"
#include "config/config.hpp"
#include "queue/spool.hpp"
#include "server/recipients.hpp"
#include "smtp/session.hpp"

namespace postern::server {

class Connection;

// Every live connection, so that shutdown can reach them on their own threads.
class ConnectionRegistry {
public:
    void add(const std::shared_ptr<Connection>& c);
    void remove(Connection* c);
    size_t size();
    void shutdown_all(bool force);  // force: also sessions in the middle of a transaction

private:
    std::mutex mutex_;
    std::unordered_set<std::shared_ptr<Connection>> live_;
};

// What every connection shares; lives as long as the server.
struct ServerContext {
    const config::Config& cfg;
    auth::AccountStore& accounts;
    queue::Spool& spool;
    ConnectionRegistry& registry;
    RecipientResolver& recipients;
    asio::thread_pool& auth_pool;                  // password hashing runs here, never on an I/O thread
    std::shared_ptr<asio::ssl::context> tls;      // null when TLS is not available
};

class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(ServerContext& ctx, asio::ip::tcp::socket socket, const config::Listener& listener);

    asio::awaitable<void> run();
    // Called on any thread: the connection's own thread closes it with 421 4.3.2 when it is idle (or at once
    // with force).
    void request_shutdown(bool force);

private:
    asio::awaitable<void> write_output();
    asio::awaitable<size_t> read_some(std::error_code& ec);
    asio::awaitable<bool> handshake();
    asio::awaitable<void> store_message();
    asio::awaitable<void> auth_step();
    std::string protocol_name() const;
    std::chrono::milliseconds read_timeout() const;
    void arm_timer(std::chrono::milliseconds timeout);

    ServerContext& ctx_;
    asio::ip::tcp::socket socket_;
    std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;  // set once TLS is on
    std::string tls_description_;
    asio::steady_timer timer_;
    const config::Listener& listener_;
    smtp::Session session_;
    std::string client_ip_;
    std::vector<char> buffer_;
    std::unique_ptr<auth::SaslMechanism> sasl_;
    bool timed_out_ = false;
    std::atomic<bool> shutdown_requested_{false};
    bool shutdown_forced_ = false;
    bool reading_ = false;
};

}  // namespace postern::server
