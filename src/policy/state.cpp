#include "policy/state.hpp"

#include <algorithm>

namespace postern::policy {

namespace {
constexpr uint64_t kSweepEvery = 4096;
}

double MemoryPolicyState::estimate(Window& w, std::chrono::seconds window, TimePoint now) {
    auto secs = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    auto size_ms = std::chrono::duration_cast<std::chrono::milliseconds>(window).count();
    int64_t index = secs / size_ms;
    if (index != w.index) {
        w.previous = index == w.index + 1 ? w.current : 0;
        w.current = 0;
        w.index = index;
    }
    double elapsed = static_cast<double>(secs % size_ms) / static_cast<double>(size_ms);
    return w.current + w.previous * (1.0 - elapsed);
}

double MemoryPolicyState::hit(const std::string& key, uint64_t amount, std::chrono::seconds window, TimePoint now) {
    std::lock_guard lock(mutex_);
    if (++ops_ % kSweepEvery == 0) sweep(now);
    auto& w = windows_[key];
    w.size = window;
    estimate(w, window, now);
    w.current += static_cast<double>(amount);
    return estimate(w, window, now);
}

double MemoryPolicyState::count(const std::string& key, std::chrono::seconds window, TimePoint now) {
    std::lock_guard lock(mutex_);
    auto it = windows_.find(key);
    if (it == windows_.end()) return 0;
    return estimate(it->second, window, now);
}

uint32_t MemoryPolicyState::event(const std::string& key, std::chrono::seconds window, TimePoint now, uint32_t cap) {
    std::lock_guard lock(mutex_);
    if (++ops_ % kSweepEvery == 0) sweep(now);
    auto& e = events_[key];
    e.window = window;
    e.times.push_back(now);
    while (!e.times.empty() && (e.times.size() > cap || e.times.front() <= now - window)) e.times.pop_front();
    return static_cast<uint32_t>(e.times.size());
}

void MemoryPolicyState::ban(Ban ban) {
    std::lock_guard lock(mutex_);
    auto subject = ban.subject;
    bans_[subject] = std::move(ban);
}

std::optional<Ban> MemoryPolicyState::banned(const std::string& subject, TimePoint now) {
    std::lock_guard lock(mutex_);
    auto it = bans_.find(subject);
    if (it == bans_.end()) return std::nullopt;
    if (it->second.until <= now) {
        bans_.erase(it);
        return std::nullopt;
    }
    return it->second;
}

std::vector<Ban> MemoryPolicyState::bans(TimePoint now) {
    std::lock_guard lock(mutex_);
    std::vector<Ban> out;
    for (const auto& [subject, ban] : bans_)
        if (ban.until > now) out.push_back(ban);
    std::sort(out.begin(), out.end(), [](const Ban& a, const Ban& b) { return a.subject < b.subject; });
    return out;
}

bool MemoryPolicyState::unban(const std::string& subject) {
    std::lock_guard lock(mutex_);
    return bans_.erase(subject) > 0;
}

GreylistEntry MemoryPolicyState::greylist(const std::string& triplet, TimePoint now, std::chrono::seconds ttl,
                                          bool pass) {
    std::lock_guard lock(mutex_);
    if (++ops_ % kSweepEvery == 0) sweep(now);
    auto it = greylist_.find(triplet);
    if (it == greylist_.end() || it->second.expires <= now) {
        it = greylist_.insert_or_assign(triplet, Grey{{now, false}, now + ttl}).first;
    }
    if (pass) {
        it->second.entry.passed = true;
        it->second.expires = now + ttl;
    }
    return it->second.entry;
}

void MemoryPolicyState::sweep(TimePoint now) {
    for (auto it = windows_.begin(); it != windows_.end();) {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
        auto size_ms =
            std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(it->second.size).count());
        if (ms / size_ms > it->second.index + 1) {  // both windows are in the past: the count is 0
            it = windows_.erase(it);
        } else {
            ++it;
        }
    }
    std::erase_if(events_, [&](const auto& kv) {
        return kv.second.times.empty() || kv.second.times.back() <= now - kv.second.window;
    });
    std::erase_if(bans_, [&](const auto& kv) { return kv.second.until <= now; });
    std::erase_if(greylist_, [&](const auto& kv) { return kv.second.expires <= now; });
}

}  // namespace postern::policy
