// What every connection shares for the life of the server, and what a reload (SIGHUP) or the control socket
// may change while it runs: the configuration, the TLS context, maintenance mode.
#pragma once

#include <asio/ssl/context.hpp>
#include <asio/thread_pool.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>

#include "auth/account_store.hpp"
#include "auth/verify_cache.hpp"
#include "config/config.hpp"
#include "policy/policy.hpp"
#include "queue/spool.hpp"
#include "server/recipients.hpp"

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

class ServerContext {
public:
    ServerContext(std::shared_ptr<const config::Config> cfg, std::shared_ptr<asio::ssl::context> tls,
                  auth::AccountStore& accounts, auth::CachingVerifier& verifier, queue::Spool& spool,
                  policy::Policy& policy, asio::thread_pool& auth_pool);

    auth::AccountStore& accounts;
    auth::CachingVerifier& verifier;  // password checks, with the short-lived cache of successes
    queue::Spool& spool;
    policy::Policy& policy;
    asio::thread_pool& auth_pool;  // password hashing runs here, never on an I/O thread
    ConnectionRegistry registry;

    // A connection takes both at its start and keeps them: a reload never changes a session midway.
    std::shared_ptr<const config::Config> config() const;
    std::shared_ptr<asio::ssl::context> tls() const;  // null when TLS is not available
    void reload(std::shared_ptr<const config::Config> cfg, std::shared_ptr<asio::ssl::context> tls);

    // Maintenance mode: new sessions get 421 4.3.2 with this message; nullopt when off.
    std::optional<std::string> maintenance() const;
    void set_maintenance(std::optional<std::string> message);

private:
    mutable std::mutex mutex_;
    std::shared_ptr<const config::Config> cfg_;
    std::shared_ptr<asio::ssl::context> tls_;
    std::optional<std::string> maintenance_;
};

}  // namespace postern::server
