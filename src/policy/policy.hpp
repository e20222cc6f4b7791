// Postern's abuse protection, in the order a session meets it: connection caps and rate at connect, bans,
// auth-failure lockout, message and recipient rates, greylisting. Each check answers allow or refuse; the
// server turns a refusal into the registry's reply. An allow-listed client passes every check.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "policy/ip.hpp"
#include "policy/state.hpp"

namespace postern::policy {

// Zero means "no limit" for every count.
struct Settings {
    uint32_t max_connections = 1000;
    uint32_t max_connections_per_ip = 20;
    uint32_t connections_per_minute_per_ip = 60;

    uint32_t auth_failures_per_ip = 5;
    std::chrono::seconds auth_failure_window{std::chrono::minutes(10)};
    std::chrono::seconds auth_ban_time{std::chrono::minutes(30)};
    uint32_t auth_failures_per_account = 20;
    std::chrono::seconds account_lockout_time{std::chrono::minutes(15)};

    uint32_t messages_per_hour_per_user = 500;
    uint32_t recipients_per_hour_per_user = 2000;
    uint32_t messages_per_hour_per_ip = 1000;
    uint32_t recipients_per_hour_per_ip = 4000;

    bool greylist = false;
    std::chrono::seconds greylist_delay{std::chrono::minutes(5)};
    std::chrono::seconds greylist_ttl{std::chrono::days(35)};

    std::vector<Network> allow;  // trusted networks: never capped, banned, limited or greylisted
};

enum class ConnectVerdict { ok, banned, too_many_connections, too_many_from_ip, connection_rate };

struct GreylistVerdict {
    bool pass = true;
    std::chrono::seconds wait{0};  // when deferred: how long before a retry is accepted
};

class Policy {
public:
    Policy(Settings settings, std::unique_ptr<PolicyState> state);

    // Settings can change on reload; counters and bans are kept.
    void update(Settings settings);

    // At connect. On ok the connection is counted until release().
    ConnectVerdict admit(const IpAddress& ip, TimePoint now);
    void release(const IpAddress& ip);
    size_t live_connections();

    bool ip_banned(const IpAddress& ip, TimePoint now);
    bool account_locked(const IpAddress& ip, const std::string& user, TimePoint now);  // never from the allow-list
    // Records a failed AUTH; true when the IP is now banned (the session is closed with 421 4.7.0).
    bool auth_failed(const IpAddress& ip, const std::string& user, TimePoint now);

    // user empty when not authenticated. `pending` = recipients already accepted in this transaction.
    bool allow_message(const IpAddress& ip, const std::string& user, TimePoint now);
    bool allow_recipient(const IpAddress& ip, const std::string& user, uint32_t pending, TimePoint now);
    void message_accepted(const IpAddress& ip, const std::string& user, uint32_t recipients, TimePoint now);

    GreylistVerdict greylist(const IpAddress& ip, const std::string& sender, const std::string& recipient,
                             TimePoint now);

    std::vector<Ban> bans(TimePoint now);
    bool unban(const std::string& subject);  // "ip:..." / "account:..."; a bare IP is taken as "ip:"

    bool allowed(const IpAddress& ip) const;

private:
    std::shared_ptr<const Settings> snapshot() const;

    mutable std::mutex mutex_;
    std::shared_ptr<const Settings> settings_;
    std::unique_ptr<PolicyState> state_;
    std::unordered_map<std::string, uint32_t> live_per_ip_;
    size_t live_ = 0;
};

}  // namespace postern::policy
