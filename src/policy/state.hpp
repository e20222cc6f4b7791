// The state behind rate limits, bans and greylisting, behind a small interface: in memory by default, so
// that a shared store (Redis) can implement the same for several servers later.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace postern::policy {

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;

struct Ban {
    std::string subject;  // "ip:192.0.2.1" or "account:alice"
    TimePoint until;
    std::string reason;
};

struct GreylistEntry {
    TimePoint first_seen;
    bool passed = false;  // retried after the delay: accepted until the entry expires
};

class PolicyState {
public:
    virtual ~PolicyState() = default;

    // Adds `amount` events for `key` and returns the count within the sliding `window` ending at `now`.
    virtual double hit(const std::string& key, uint64_t amount, std::chrono::seconds window, TimePoint now) = 0;
    virtual double count(const std::string& key, std::chrono::seconds window, TimePoint now) = 0;
    // Exact count for small limits (auth failures, connections per minute): records an event at `now` and
    // returns how many of the last `cap` events fall within `window`.
    virtual uint32_t event(const std::string& key, std::chrono::seconds window, TimePoint now, uint32_t cap) = 0;

    virtual void ban(Ban ban) = 0;
    virtual std::optional<Ban> banned(const std::string& subject, TimePoint now) = 0;
    virtual std::vector<Ban> bans(TimePoint now) = 0;
    virtual bool unban(const std::string& subject) = 0;

    // Returns the triplet's entry, creating it (first seen now) when missing or expired; `pass` marks it passed
    // and extends its life to now + ttl.
    virtual GreylistEntry greylist(const std::string& triplet, TimePoint now, std::chrono::seconds ttl,
                                   bool pass) = 0;
};

class MemoryPolicyState : public PolicyState {
public:
    double hit(const std::string& key, uint64_t amount, std::chrono::seconds window, TimePoint now) override;
    double count(const std::string& key, std::chrono::seconds window, TimePoint now) override;
    uint32_t event(const std::string& key, std::chrono::seconds window, TimePoint now, uint32_t cap) override;
    void ban(Ban ban) override;
    std::optional<Ban> banned(const std::string& subject, TimePoint now) override;
    std::vector<Ban> bans(TimePoint now) override;
    bool unban(const std::string& subject) override;
    GreylistEntry greylist(const std::string& triplet, TimePoint now, std::chrono::seconds ttl, bool pass) override;

private:
    // A sliding window approximated by two fixed windows: O(1) memory per key whatever the rate.
    struct Window {
        std::chrono::seconds size{1};
        int64_t index = 0;  // which fixed window `current` counts
        double current = 0, previous = 0;
    };
    struct Events {
        std::chrono::seconds window{1};
        std::deque<TimePoint> times;  // at most `cap` of them
    };
    struct Grey {
        GreylistEntry entry;
        TimePoint expires;
    };
    double estimate(Window& w, std::chrono::seconds window, TimePoint now);
    void sweep(TimePoint now);  // drops expired entries now and then, so memory stays bounded

    std::mutex mutex_;
    std::unordered_map<std::string, Window> windows_;
    std::unordered_map<std::string, Events> events_;
    std::unordered_map<std::string, Ban> bans_;
    std::unordered_map<std::string, Grey> greylist_;
    uint64_t ops_ = 0;
};

}  // namespace postern::policy
