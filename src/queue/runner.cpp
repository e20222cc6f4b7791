#include "queue/runner.hpp"

#include <algorithm>

#include "observe/log.hpp"

namespace postern::queue {

QueueRunner::QueueRunner(Spool& spool, DeliveryAgent& local) : spool_(spool), local_(local) {}

QueueRunner::~QueueRunner() { stop(); }

void QueueRunner::start() {
    auto ids = spool_.recover();
    for (const auto& id : ids) {
        if (auto entry = spool_.load(id)) {
            observe::info("queue resuming id={} recipients={}", id, entry->envelope.recipients.size());
            ready_.emplace_back(std::move(entry), 0);
        }
    }
    thread_ = std::thread([this] { run(); });
}

void QueueRunner::enqueue(std::shared_ptr<SpoolEntry> entry) {
    {
        std::lock_guard lock(mutex_);
        ready_.emplace_back(std::move(entry), 0);
    }
    cv_.notify_one();
}

void QueueRunner::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void QueueRunner::wait_idle() {
    std::unique_lock lock(mutex_);
    idle_cv_.wait(lock, [&] { return stopping_ || (ready_.empty() && !busy_); });
}

QueueRunner::Clock::duration QueueRunner::retry_delay(int attempts) {
    using namespace std::chrono_literals;
    static constexpr Clock::duration schedule[] = {1min, 5min, 15min, 30min, 1h};
    return schedule[std::min<size_t>(static_cast<size_t>(attempts), std::size(schedule) - 1)];
}

void QueueRunner::run() {
    std::unique_lock lock(mutex_);
    while (true) {
        if (stopping_ && ready_.empty()) break;  // what is ready is delivered first; deferred entries wait
        auto now = Clock::now();
        for (auto it = deferred_.begin(); it != deferred_.end();) {
            if (it->when <= now) {
                ready_.emplace_back(std::move(it->entry), it->attempts);
                it = deferred_.erase(it);
            } else {
                ++it;
            }
        }
        if (ready_.empty() && !stopping_) {
            idle_cv_.notify_all();
            auto next = Clock::time_point::max();
            for (const auto& d : deferred_) next = std::min(next, d.when);
            if (next == Clock::time_point::max()) cv_.wait(lock);
            else cv_.wait_until(lock, next);
            continue;
        }
        auto [entry, attempts] = std::move(ready_.front());
        ready_.pop_front();
        busy_ = true;
        lock.unlock();
        bool done = deliver(*entry);
        lock.lock();
        busy_ = false;
        if (!done) deferred_.push_back({Clock::now() + retry_delay(attempts), std::move(entry), attempts + 1});
    }
    idle_cv_.notify_all();
}

bool QueueRunner::deliver(SpoolEntry& entry) {
    auto& env = entry.envelope;
    std::vector<QueuedRecipient> left;
    bool changed = false;
    for (auto& rcpt : env.recipients) {
        if (rcpt.user.empty()) {  // remote: outbound delivery is not this runner's job yet
            left.push_back(std::move(rcpt));
            continue;
        }
        auto result = local_.deliver(env, rcpt, entry.message);
        switch (result.status) {
        case DeliveryResult::Status::ok:
            observe::info("delivered id={} to=<{}> user={} file={}", env.id, rcpt.address, rcpt.user, result.detail);
            changed = true;
            break;
        case DeliveryResult::Status::permanent:
            observe::error("delivery failed id={} to=<{}> reason=\"{}\"", env.id, rcpt.address, result.detail);
            changed = true;
            break;
        case DeliveryResult::Status::temporary:
            observe::warn("delivery deferred id={} to=<{}> reason=\"{}\"", env.id, rcpt.address, result.detail);
            left.push_back(std::move(rcpt));
            break;
        }
    }
    env.recipients = std::move(left);
    if (env.recipients.empty()) {
        spool_.remove(env.id);
        return true;
    }
    // Remember who is done, so that a restart does not deliver to them twice.
    if (changed && !spool_.rewrite(entry)) observe::warn("spool rewrite failed id={}", env.id);
    bool only_remote = std::all_of(env.recipients.begin(), env.recipients.end(),
                                   [](const QueuedRecipient& r) { return r.user.empty(); });
    return only_remote;  // stays in the spool for outbound delivery; nothing more to do here
}

}  // namespace postern::queue
