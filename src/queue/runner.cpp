#include "queue/runner.hpp"

#include <algorithm>
#include <ctime>
#include <future>
#include <utility>

#include <fmt/format.h>

#include "observe/log.hpp"

namespace postern::queue {

namespace {

using Status = DeliveryResult::Status;

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string iso_time(int64_t unix_seconds) {
    std::time_t t = unix_seconds;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

class PromiseWaiter : public CommitWaiter {
public:
    std::future<bool> future() { return promise_.get_future(); }
    void committed(bool ok) override { promise_.set_value(ok); }

private:
    std::promise<bool> promise_;
};

}  // namespace

std::string state_of(const QueuedEnvelope& env, int64_t now) {
    if (env.held) return "held";
    if (env.attempts > 0 && env.next_attempt > now) return "deferred";
    return "active";
}

std::string format_list(const std::vector<QueueItemInfo>& items) {
    std::string out;
    for (const auto& item : items) {
        const auto& env = item.envelope;
        out += fmt::format("{} {} {} {} <{}>\n", env.id, item.state, item.size, iso_time(env.arrived), env.sender);
        for (const auto& r : env.recipients) {
            out += fmt::format("    <{}>", r.address);
            if (r.state == QueuedRecipient::State::failed) out += " failed";
            if (!r.diagnostic.empty()) out += fmt::format(" ({})", r.diagnostic);
            out += "\n";
        }
    }
    out += fmt::format("{} message{}\n", items.size(), items.size() == 1 ? "" : "s");
    return out;
}

std::string format_show(const QueueItemInfo& item, std::string_view message) {
    const auto& env = item.envelope;
    std::string out;
    out += fmt::format("id: {}\nstate: {}\nsize: {}\narrived: {}\nsender: <{}>\nattempts: {}\n", env.id, item.state,
                       item.size, iso_time(env.arrived), env.sender, env.attempts);
    if (env.next_attempt) out += fmt::format("next attempt: {}\n", iso_time(env.next_attempt / 1000));
    for (const auto& r : env.recipients) {
        out += fmt::format("recipient: <{}>{}{}", r.address, r.user.empty() ? "" : " user=" + r.user,
                           r.state == QueuedRecipient::State::failed ? " failed" : " pending");
        if (!r.diagnostic.empty()) out += fmt::format(" ({})", r.diagnostic);
        out += "\n";
    }
    out += "\n";
    out += message;
    return out;
}

QueueRunner::QueueRunner(Spool& spool, RunnerSettings settings, DeliveryAgent& local, DeliveryAgent& remote,
                         Router router)
    : spool_(spool), settings_(std::move(settings)), local_(local), remote_(remote), router_(std::move(router)) {
    if (settings_.retry_schedule.empty()) settings_.retry_schedule.push_back(std::chrono::minutes(5));
    settings_.threads = std::max(1u, settings_.threads);
}

QueueRunner::~QueueRunner() { stop(); }

void QueueRunner::start() {
    auto ids = spool_.recover();
    {
        std::lock_guard lock(mutex_);
        for (const auto& id : ids) {
            auto entry = spool_.load(id);
            if (!entry) continue;
            Item item;
            item.next_ms = entry->envelope.next_attempt;
            item.held = entry->envelope.held;
            observe::info("queue resuming id={} recipients={} state={}", id, entry->envelope.recipients.size(),
                          state_of(entry->envelope, now_ms()));
            items_.emplace(id, std::move(item));
        }
        stopping_ = false;
    }
    for (unsigned i = 0; i < settings_.threads; ++i) threads_.emplace_back([this] { worker(); });
}

void QueueRunner::enqueue(std::shared_ptr<SpoolEntry> entry) {
    {
        std::lock_guard lock(mutex_);
        Item item;
        item.next_ms = entry->envelope.next_attempt;
        item.held = entry->envelope.held;
        auto id = entry->envelope.id;
        item.fresh = std::move(entry);
        items_[id] = std::move(item);
    }
    cv_.notify_one();
}

void QueueRunner::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ && threads_.empty()) return;
        stopping_ = true;
    }
    cv_.notify_all();
    local_.cancel();
    remote_.cancel();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
    idle_cv_.notify_all();
}

void QueueRunner::wait_idle() {
    std::unique_lock lock(mutex_);
    idle_cv_.wait(lock, [&] {
        if (stopping_) return true;
        if (busy_ > 0) return false;
        auto now = now_ms();
        for (const auto& [id, item] : items_)
            if (!item.held && !item.running && item.next_ms <= now) return false;
        return true;
    });
}

std::chrono::milliseconds QueueRunner::retry_delay(int attempts) const {
    const auto& s = settings_.retry_schedule;
    return s[std::min<size_t>(static_cast<size_t>(std::max(attempts, 1) - 1), s.size() - 1)];
}

void QueueRunner::worker() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        auto now = now_ms();
        Item* pick = nullptr;
        std::string pick_id;
        int64_t next_due = INT64_MAX;
        for (auto& [id, item] : items_) {
            if (item.held || item.running) continue;
            if (item.next_ms <= now) {
                if (!pick || item.next_ms < pick->next_ms) {
                    pick = &item;
                    pick_id = id;
                }
            } else {
                next_due = std::min(next_due, item.next_ms);
            }
        }
        if (!pick) {
            if (busy_ == 0) idle_cv_.notify_all();
            if (next_due == INT64_MAX) cv_.wait(lock);
            else cv_.wait_for(lock, std::chrono::milliseconds(std::min<int64_t>(next_due - now, 60'000)));
            continue;
        }
        pick->running = true;
        auto fresh = std::move(pick->fresh);
        ++busy_;
        lock.unlock();
        Outcome outcome;
        try {
            outcome = process(pick_id, std::move(fresh));
        } catch (const std::exception& e) {
            observe::error("queue delivery failed id={} error=\"{}\"", pick_id, e.what());
            outcome.next_ms = now_ms() + retry_delay(1).count();
        }
        lock.lock();
        --busy_;
        auto it = items_.find(pick_id);
        if (it != items_.end()) {
            if (outcome.removed) {
                items_.erase(it);
            } else {
                it->second.running = false;
                it->second.next_ms = outcome.next_ms;
                it->second.held = outcome.held;
                it->second.hold_requested = false;
            }
        }
        cv_.notify_all();
        idle_cv_.notify_all();
    }
}

bool QueueRunner::requested_removal(const std::string& id) {
    std::lock_guard lock(mutex_);
    auto it = items_.find(id);
    return stopping_ || it == items_.end() || it->second.remove_requested;
}

QueueRunner::Outcome QueueRunner::process(const std::string& id, std::shared_ptr<SpoolEntry> entry) {
    Outcome outcome;
    if (!entry) entry = spool_.load(id);
    if (!entry) {
        observe::error("queue entry unreadable id={}", id);
        outcome.removed = true;
        return outcome;
    }
    auto& env = entry->envelope;
    auto& rcpts = env.recipients;
    const auto now_s = [] { return static_cast<int64_t>(std::time(nullptr)); };
    std::vector<char> done(rcpts.size(), 0);  // delivered, or failed and reported

    // Persists the entry without the recipients already done (after a transaction that delivered something).
    auto persist = [&] {
        std::vector<QueuedRecipient> left;
        for (size_t i = 0; i < rcpts.size(); ++i)
            if (!done[i]) left.push_back(rcpts[i]);
        if (left.empty()) return;  // the caller removes the entry
        auto all = std::exchange(rcpts, std::move(left));
        if (!spool_.rewrite(*entry)) observe::warn("spool rewrite failed id={}", id);
        rcpts = std::move(all);
    };

    // 1. Pending recipients, grouped by agent and destination: one transaction each.
    struct Batch {
        DeliveryAgent* agent;
        std::string destination;
        std::vector<size_t> index;
    };
    std::vector<Batch> batches;
    for (size_t i = 0; i < rcpts.size(); ++i) {
        if (rcpts[i].state != QueuedRecipient::State::pending) continue;
        DeliveryAgent* agent = rcpts[i].user.empty() ? &remote_ : &local_;
        auto dest = agent->destination(rcpts[i]);
        auto b = std::find_if(batches.begin(), batches.end(),
                              [&](const Batch& x) { return x.agent == agent && x.destination == dest; });
        if (b == batches.end()) batches.push_back({agent, dest, {i}});
        else b->index.push_back(i);
    }
    bool interrupted = false;
    bool any_progress = false;  // a recipient delivered or failed for good
    for (size_t bi = 0; bi < batches.size(); ++bi) {
        if (requested_removal(id)) {
            interrupted = true;
            break;
        }
        auto& batch = batches[bi];
        std::vector<const QueuedRecipient*> ptrs;
        for (auto i : batch.index) ptrs.push_back(&rcpts[i]);
        auto results = batch.agent->deliver_batch(env, ptrs, entry->message);
        bool progress = false;
        for (size_t k = 0; k < batch.index.size() && k < results.size(); ++k) {
            auto& r = rcpts[batch.index[k]];
            const auto& res = results[k];
            r.last_attempt = now_s();
            r.remote_mta = res.remote_mta;
            if (res.status == Status::ok) {
                observe::info("delivered id={} to=<{}> {}{} detail=\"{}\"", id, r.address,
                              r.user.empty() ? "relay=" : "user=", r.user.empty() ? res.remote_mta : r.user,
                              res.detail);
                done[batch.index[k]] = 1;
                progress = true;
                continue;
            }
            r.diagnostic = res.detail;
            r.status = !res.enhanced.empty() ? res.enhanced : res.status == Status::permanent ? "5.0.0" : "4.0.0";
            if (res.status == Status::permanent) {
                observe::warn("delivery failed id={} to=<{}> status={} reason=\"{}\"", id, r.address, r.status,
                              res.detail);
                r.state = QueuedRecipient::State::failed;
                progress = true;
            } else {
                observe::warn("delivery deferred id={} to=<{}> status={} reason=\"{}\"", id, r.address, r.status,
                              res.detail);
            }
        }
        // Record what is done before the next transaction: a crash now repeats only the transactions after it.
        if (progress && bi + 1 < batches.size()) persist();
        any_progress = any_progress || progress;
    }

    bool stopping;
    {
        std::lock_guard lock(mutex_);
        stopping = stopping_;
    }
    const int64_t now = now_ms();
    auto pending = [&] {
        std::vector<size_t> out;
        for (size_t i = 0; i < rcpts.size(); ++i)
            if (!done[i] && rcpts[i].state == QueuedRecipient::State::pending) out.push_back(i);
        return out;
    };

    // 2. Too old: what is still pending fails for good.
    if (!stopping && !interrupted && now - env.arrived * 1000 >= settings_.max_queue_lifetime.count()) {
        for (auto i : pending()) {
            auto& r = rcpts[i];
            r.state = QueuedRecipient::State::failed;
            if (r.status.empty()) r.status = "4.4.7";
            r.diagnostic = r.diagnostic.empty() ? "delivery time expired"
                                                : r.diagnostic + " (delivery time expired, gave up)";
            observe::warn("delivery expired id={} to=<{}>", id, r.address);
        }
    }

    // 3. Bounce the failed recipients: DSN queued durably first, then they leave the entry.
    if (!interrupted) {
        std::vector<size_t> failed;
        for (size_t i = 0; i < rcpts.size(); ++i)
            if (!done[i] && rcpts[i].state == QueuedRecipient::State::failed) failed.push_back(i);
        if (!failed.empty()) {
            bool sent = true;
            if (env.sender.empty()) {
                observe::warn("no bounce for a message from <> id={} failed={}", id, failed.size());
            } else {
                std::vector<QueuedRecipient> report;
                for (auto i : failed) report.push_back(rcpts[i]);
                sent = send_dsn(*entry, DsnKind::failed, report);
            }
            if (sent)
                for (auto i : failed) done[i] = 1;
        }
    }

    // 4. Delay warning, once.
    auto still = pending();
    if (!stopping && !interrupted && !still.empty() && !env.warned && !env.sender.empty() &&
        settings_.delay_warning_time.count() > 0 && now - env.arrived * 1000 >= settings_.delay_warning_time.count()) {
        std::vector<QueuedRecipient> report;
        for (auto i : still) report.push_back(rcpts[i]);
        if (send_dsn(*entry, DsnKind::delayed, report)) env.warned = true;
    }

    // 5. Remove the entry, or schedule its next attempt.
    std::vector<QueuedRecipient> left;
    for (size_t i = 0; i < rcpts.size(); ++i)
        if (!done[i]) left.push_back(std::move(rcpts[i]));
    bool remove_requested = false, hold_requested = false;
    {
        std::lock_guard lock(mutex_);
        auto it = items_.find(id);
        if (it != items_.end()) {
            remove_requested = it->second.remove_requested;
            hold_requested = it->second.hold_requested;
        }
    }
    if (left.empty() || remove_requested) {
        spool_.remove(id);
        if (remove_requested) observe::info("queue deleted id={}", id);
        outcome.removed = true;
        return outcome;
    }
    const bool changed = left.size() != rcpts.size() || any_progress;
    rcpts = std::move(left);
    if (!stopping && !interrupted) {
        env.attempts += 1;
        env.next_attempt = now + retry_delay(env.attempts).count();
    }
    if (hold_requested) env.held = true;
    // Interrupted by shutdown with nothing new to record: the file stays as it was.
    if (changed || hold_requested || (!stopping && !interrupted))
        if (!spool_.rewrite(*entry)) observe::warn("spool rewrite failed id={}", id);
    outcome.next_ms = env.next_attempt;
    outcome.held = env.held;
    if (!stopping && !interrupted)
        observe::info("queue deferred id={} attempts={} next_in={}s recipients={}", id, env.attempts,
                      (env.next_attempt - now + 999) / 1000, rcpts.size());
    return outcome;
}

bool QueueRunner::send_dsn(const SpoolEntry& original, DsnKind kind, const std::vector<QueuedRecipient>& recipients) {
    const auto& env = original.envelope;
    auto to = router_ ? router_(env.sender) : std::optional<QueuedRecipient>(QueuedRecipient{env.sender, {}});
    if (!to) {
        observe::error("bounce undeliverable id={} sender=<{}>: no such local user", env.id, env.sender);
        return true;  // nobody to tell; keeping the recipients would only repeat this
    }
    auto dsn = std::make_shared<SpoolEntry>();
    auto& d = dsn->envelope;
    d.id = spool_.new_id();
    d.arrived = std::time(nullptr);
    d.sender = "";
    d.recipients.push_back(*to);
    d.recipients.back().address = env.sender;
    DsnInput in;
    in.kind = kind;
    in.hostname = settings_.hostname;
    in.queue_id = env.id;
    in.dsn_id = d.id;
    in.sender = env.sender;
    in.arrived = env.arrived;
    in.now = d.arrived;
    in.retry_until = env.arrived + std::chrono::duration_cast<std::chrono::seconds>(settings_.max_queue_lifetime).count();
    in.recipients = recipients;
    in.message = original.message;
    dsn->message = make_dsn(in);
    auto waiter = std::make_unique<PromiseWaiter>();
    auto committed = waiter->future();
    spool_.submit(dsn, std::move(waiter));
    bool ok = committed.get();
    if (ok)
        observe::info("{} id={} dsn={} to=<{}> recipients={}", kind == DsnKind::failed ? "bounced" : "delay warning",
                      env.id, d.id, env.sender, recipients.size());
    else
        observe::error("bounce could not be queued id={}", env.id);
    return ok;
}

template <typename Fn>
QueueRunner::Op QueueRunner::exclusive(const std::string& id, Fn fn) {
    {
        std::lock_guard lock(mutex_);
        auto it = items_.find(id);
        if (it == items_.end()) return Op::not_found;
        if (it->second.running) return Op::later;
        it->second.running = true;
    }
    bool keep = true;
    Item update;
    try {
        keep = fn(update);
    } catch (...) {
        std::lock_guard lock(mutex_);
        items_[id].running = false;
        throw;
    }
    {
        std::lock_guard lock(mutex_);
        auto it = items_.find(id);
        if (it != items_.end()) {
            if (!keep) {
                items_.erase(it);
            } else {
                it->second.running = false;
                it->second.next_ms = update.next_ms;
                it->second.held = update.held;
            }
        }
    }
    cv_.notify_all();
    return Op::done;
}

std::vector<QueueItemInfo> QueueRunner::list() {
    std::vector<std::pair<std::string, bool>> ids;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [id, item] : items_) ids.emplace_back(id, item.running);
    }
    std::vector<QueueItemInfo> out;
    for (const auto& [id, running] : ids) {
        auto item = info(id);
        if (item) out.push_back(std::move(*item));
    }
    return out;
}

std::optional<QueueItemInfo> QueueRunner::info(const std::string& id) {
    if (id.find('/') != std::string::npos || id.empty()) return std::nullopt;
    auto entry = spool_.load(id);
    if (!entry) return std::nullopt;
    QueueItemInfo info;
    info.envelope = std::move(entry->envelope);
    info.size = entry->message.size();
    info.state = state_of(info.envelope, now_ms());
    std::lock_guard lock(mutex_);
    auto it = items_.find(id);
    if (it != items_.end() && it->second.running && !info.envelope.held) info.state = "active";
    return info;
}

size_t QueueRunner::flush(const std::string& id) {
    size_t n = 0;
    {
        std::lock_guard lock(mutex_);
        auto now = now_ms();
        for (auto& [item_id, item] : items_) {
            if (!id.empty() && item_id != id) continue;
            if (item.held) continue;
            if (item.next_ms > now) item.next_ms = now;  // the file keeps its date; the next attempt rewrites it
            ++n;
        }
    }
    cv_.notify_all();
    return n;
}

QueueRunner::Op QueueRunner::hold(const std::string& id) {
    auto op = exclusive(id, [&](Item& update) {
        auto entry = spool_.load(id);
        if (!entry) return false;
        entry->envelope.held = true;
        if (!spool_.rewrite(*entry)) throw std::runtime_error("spool rewrite failed");
        update.held = true;
        update.next_ms = entry->envelope.next_attempt;
        observe::info("queue held id={}", id);
        return true;
    });
    if (op == Op::later) {
        std::lock_guard lock(mutex_);
        auto it = items_.find(id);
        if (it == items_.end()) return Op::not_found;
        it->second.hold_requested = true;
    }
    return op;
}

QueueRunner::Op QueueRunner::release(const std::string& id) {
    auto op = exclusive(id, [&](Item& update) {
        auto entry = spool_.load(id);
        if (!entry) return false;
        entry->envelope.held = false;
        entry->envelope.next_attempt = 0;  // released mail goes out now
        if (!spool_.rewrite(*entry)) throw std::runtime_error("spool rewrite failed");
        update.held = false;
        update.next_ms = 0;
        observe::info("queue released id={}", id);
        return true;
    });
    if (op == Op::later) {
        std::lock_guard lock(mutex_);
        auto it = items_.find(id);
        if (it == items_.end()) return Op::not_found;
        it->second.hold_requested = false;  // not held yet: being delivered
        return Op::done;
    }
    return op;
}

QueueRunner::Op QueueRunner::remove(const std::string& id) {
    auto op = exclusive(id, [&](Item&) {
        spool_.remove(id);
        observe::info("queue deleted id={}", id);
        return false;
    });
    if (op == Op::later) {
        std::lock_guard lock(mutex_);
        auto it = items_.find(id);
        if (it == items_.end()) return Op::not_found;
        it->second.remove_requested = true;
    }
    return op;
}

}  // namespace postern::queue
