#include "server/server_context.hpp"

#include "server/connection.hpp"

namespace postern::server {

void ConnectionRegistry::add(const std::shared_ptr<Connection>& c) {
    std::lock_guard lock(mutex_);
    live_.insert(c);
}

void ConnectionRegistry::remove(Connection* c) {
    std::lock_guard lock(mutex_);
    for (auto it = live_.begin(); it != live_.end(); ++it) {
        if (it->get() == c) {
            live_.erase(it);
            return;
        }
    }
}

size_t ConnectionRegistry::size() {
    std::lock_guard lock(mutex_);
    return live_.size();
}

void ConnectionRegistry::shutdown_all(bool force) {
    std::lock_guard lock(mutex_);
    for (const auto& c : live_) c->request_shutdown(force);
}

ServerContext::ServerContext(std::shared_ptr<const config::Config> cfg, std::shared_ptr<asio::ssl::context> tls,
                             auth::AccountStore& accounts_, auth::CachingVerifier& verifier_,
                             queue::Spool& spool_, policy::Policy& policy_, asio::thread_pool& auth_pool_)
    : accounts(accounts_), verifier(verifier_), spool(spool_), policy(policy_), auth_pool(auth_pool_), cfg_(std::move(cfg)),
      tls_(std::move(tls)) {}

std::shared_ptr<const config::Config> ServerContext::config() const {
    std::lock_guard lock(mutex_);
    return cfg_;
}

std::shared_ptr<asio::ssl::context> ServerContext::tls() const {
    std::lock_guard lock(mutex_);
    return tls_;
}

void ServerContext::reload(std::shared_ptr<const config::Config> cfg, std::shared_ptr<asio::ssl::context> tls) {
    std::lock_guard lock(mutex_);
    cfg_ = std::move(cfg);
    if (tls) tls_ = std::move(tls);  // a certificate that fails to load keeps the old one
}

std::optional<std::string> ServerContext::maintenance() const {
    std::lock_guard lock(mutex_);
    return maintenance_;
}

void ServerContext::set_maintenance(std::optional<std::string> message) {
    std::lock_guard lock(mutex_);
    maintenance_ = std::move(message);
}

}  // namespace postern::server
