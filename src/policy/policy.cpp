#include "policy/policy.hpp"

#include <algorithm>

namespace postern::policy {

namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

std::string ip_subject(const IpAddress& ip) { return "ip:" + ip.str(); }
std::string account_subject(const std::string& user) { return "account:" + user; }

bool at_limit(double count, uint32_t limit) { return limit != 0 && count >= limit; }

std::string lower(std::string s) {
    for (auto& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

}  // namespace

Policy::Policy(Settings settings, std::unique_ptr<PolicyState> state)
    : settings_(std::make_shared<const Settings>(std::move(settings))), state_(std::move(state)) {}

void Policy::update(Settings settings) {
    auto next = std::make_shared<const Settings>(std::move(settings));
    std::lock_guard lock(mutex_);
    settings_ = std::move(next);
}

// Checks run per MAIL and RCPT: they share the settings instead of copying them (and their allow-list).
std::shared_ptr<const Settings> Policy::snapshot() const {
    std::lock_guard lock(mutex_);
    return settings_;
}

bool Policy::allowed(const IpAddress& ip) const { return any_contains(snapshot()->allow, ip); }

ConnectVerdict Policy::admit(const IpAddress& ip, TimePoint now) {
    auto key = ip.str();
    bool trusted = allowed(ip);
    if (!trusted && state_->banned(ip_subject(ip), now)) return ConnectVerdict::banned;
    std::lock_guard lock(mutex_);
    if (!trusted) {
        if (at_limit(static_cast<double>(live_), settings_->max_connections)) return ConnectVerdict::too_many_connections;
        auto it = live_per_ip_.find(key);
        if (it != live_per_ip_.end() && at_limit(it->second, settings_->max_connections_per_ip))
            return ConnectVerdict::too_many_from_ip;
        auto limit = settings_->connections_per_minute_per_ip;
        if (limit != 0 && state_->event("conn:" + key, minutes(1), now, limit + 1) > limit)
            return ConnectVerdict::connection_rate;
    }
    ++live_;
    ++live_per_ip_[key];
    return ConnectVerdict::ok;
}

void Policy::release(const IpAddress& ip) {
    std::lock_guard lock(mutex_);
    auto it = live_per_ip_.find(ip.str());
    if (it == live_per_ip_.end()) return;
    if (--it->second == 0) live_per_ip_.erase(it);
    --live_;
}

size_t Policy::live_connections() {
    std::lock_guard lock(mutex_);
    return live_;
}

bool Policy::ip_banned(const IpAddress& ip, TimePoint now) {
    return !allowed(ip) && state_->banned(ip_subject(ip), now).has_value();
}

bool Policy::account_locked(const IpAddress& ip, const std::string& user, TimePoint now) {
    if (user.empty() || allowed(ip)) return false;
    return state_->banned(account_subject(lower(user)), now).has_value();
}

bool Policy::auth_failed(const IpAddress& ip, const std::string& user, TimePoint now) {
    auto sp = snapshot();
    const Settings& s = *sp;
    if (any_contains(s.allow, ip)) return false;  // the allow-list wins over every ban
    if (!user.empty() && s.auth_failures_per_account != 0) {
        auto subject = account_subject(lower(user));
        // Guessing spread over many addresses still counts against the one account.
        auto limit = s.auth_failures_per_account;
        if (state_->event("authfail:" + subject, s.auth_failure_window, now, limit) >= limit)
            state_->ban({subject, now + s.account_lockout_time, "too many authentication failures for the account"});
    }
    if (s.auth_failures_per_ip == 0) return false;
    auto subject = ip_subject(ip);
    auto limit = s.auth_failures_per_ip;
    if (state_->event("authfail:" + subject, s.auth_failure_window, now, limit) < limit) return false;
    state_->ban({subject, now + s.auth_ban_time, "too many authentication failures"});
    return true;
}

bool Policy::allow_message(const IpAddress& ip, const std::string& user, TimePoint now) {
    auto sp = snapshot();
    const Settings& s = *sp;
    if (any_contains(s.allow, ip)) return true;
    if (!user.empty() && at_limit(state_->count("msg:user:" + user, hours(1), now), s.messages_per_hour_per_user))
        return false;
    return !at_limit(state_->count("msg:ip:" + ip.str(), hours(1), now), s.messages_per_hour_per_ip);
}

bool Policy::allow_recipient(const IpAddress& ip, const std::string& user, uint32_t pending, TimePoint now) {
    auto sp = snapshot();
    const Settings& s = *sp;
    if (any_contains(s.allow, ip)) return true;
    if (!user.empty() &&
        at_limit(state_->count("rcpt:user:" + user, hours(1), now) + pending, s.recipients_per_hour_per_user))
        return false;
    return !at_limit(state_->count("rcpt:ip:" + ip.str(), hours(1), now) + pending, s.recipients_per_hour_per_ip);
}

void Policy::message_accepted(const IpAddress& ip, const std::string& user, uint32_t recipients, TimePoint now) {
    state_->hit("msg:ip:" + ip.str(), 1, hours(1), now);
    state_->hit("rcpt:ip:" + ip.str(), recipients, hours(1), now);
    if (!user.empty()) {
        state_->hit("msg:user:" + user, 1, hours(1), now);
        state_->hit("rcpt:user:" + user, recipients, hours(1), now);
    }
}

GreylistVerdict Policy::greylist(const IpAddress& ip, const std::string& sender, const std::string& recipient,
                                 TimePoint now) {
    auto sp = snapshot();
    const Settings& s = *sp;
    if (!s.greylist || any_contains(s.allow, ip)) return {};
    auto triplet = client_network(ip) + "|" + lower(sender) + "|" + lower(recipient);
    auto entry = state_->greylist(triplet, now, s.greylist_ttl, false);
    auto waited = std::chrono::duration_cast<seconds>(now - entry.first_seen);
    if (entry.passed || waited >= s.greylist_delay) {
        state_->greylist(triplet, now, s.greylist_ttl, true);  // remembered: no delay for greylist_ttl
        return {};
    }
    return {false, s.greylist_delay - waited};
}

std::vector<Ban> Policy::bans(TimePoint now) { return state_->bans(now); }

bool Policy::unban(const std::string& subject) {
    if (subject.find(':') == std::string::npos || IpAddress::parse(subject)) {
        if (auto ip = IpAddress::parse(subject)) return state_->unban(ip_subject(*ip));
    }
    if (subject.starts_with("ip:")) {
        if (auto ip = IpAddress::parse(subject.substr(3))) return state_->unban(ip_subject(*ip));
    }
    return state_->unban(subject);
}

}  // namespace postern::policy
