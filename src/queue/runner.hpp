// The queue manager: takes durable spool entries and hands their recipients to the delivery agents, on a few
// delivery threads of its own, so that no I/O thread ever waits on a mailbox or a remote server.
//
// Every message is an item: due now (active), waiting for its next attempt (deferred), or held. One attempt
// delivers all pending recipients, grouped by destination so that one transaction carries all recipients of a
// domain (or of the smarthost, or of the LMTP store). After each transaction that delivered something the
// spool entry is rewritten (delivered recipients leave it), so a crash repeats as little as possible. Recipients
// that failed for good are bounced together (RFC 3464 DSN to the sender, never to <>) once the attempt is over;
// recipients still pending are retried on the retry schedule until max_queue_lifetime, then bounced; a delay
// warning goes out once after delay_warning_time when it is set.
//
// At-least-once: the only place a duplicate can appear is a crash (or a lost reply after the end of data)
// between an agent's success and the rewrite of the entry that records it; the rewrite follows at once, per
// transaction. A DSN is queued durably before the recipients it reports leave the entry, so a crash in between
// can duplicate that DSN, never lose it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "queue/agent.hpp"
#include "queue/bounce.hpp"
#include "queue/spool.hpp"

namespace postern::queue {

struct RunnerSettings {
    std::string hostname = "localhost";
    std::vector<std::chrono::milliseconds> retry_schedule{std::chrono::minutes(1), std::chrono::minutes(5),
                                                          std::chrono::minutes(15), std::chrono::minutes(30),
                                                          std::chrono::hours(1)};
    std::chrono::milliseconds max_queue_lifetime{std::chrono::hours(24 * 5)};
    std::chrono::milliseconds delay_warning_time{0};  // 0 = never
    unsigned threads = 4;
};

// Where a DSN goes: the sender's address → a recipient (user set for a local account, empty for a remote
// address); nullopt for a local domain without such a user.
using Router = std::function<std::optional<QueuedRecipient>(const std::string& address)>;

// What `postern queue list/show` shows of one message.
struct QueueItemInfo {
    QueuedEnvelope envelope;
    std::string state;  // "active", "deferred", "held"
    uint64_t size = 0;  // octets of the message
};

// "active" | "deferred" | "held" from the envelope alone (a message being delivered is active too).
std::string state_of(const QueuedEnvelope& env, int64_t now_ms);
std::string format_list(const std::vector<QueueItemInfo>& items);
std::string format_show(const QueueItemInfo& item, std::string_view message);

class QueueRunner {
public:
    QueueRunner(Spool& spool, RunnerSettings settings, DeliveryAgent& local, DeliveryAgent& remote, Router router);
    ~QueueRunner();

    // Loads what a previous run left in the spool, then starts the delivery threads.
    void start();
    void enqueue(std::shared_ptr<SpoolEntry> entry);
    // Asks deliveries in progress to end, waits for the threads; everything stays in the spool for the next start.
    void stop();
    // Waits until nothing is due now or being delivered (deferred and held messages aside). For tests.
    void wait_idle();

    // Queue commands (any thread). A message being delivered takes a hold or delete when its attempt ends.
    enum class Op { done, later, not_found };
    std::vector<QueueItemInfo> list();
    std::optional<QueueItemInfo> info(const std::string& id);
    std::shared_ptr<SpoolEntry> load(const std::string& id) { return spool_.load(id); }
    size_t flush(const std::string& id);  // "" = every deferred message; returns how many were made due
    Op hold(const std::string& id);
    Op release(const std::string& id);
    Op remove(const std::string& id);

private:
    struct Item {
        int64_t next_ms = 0;  // due time, unix ms
        bool held = false;
        bool running = false;  // a delivery thread (or a command) has it
        bool remove_requested = false;
        bool hold_requested = false;
        std::shared_ptr<SpoolEntry> fresh;  // just committed: delivered from memory the first time
    };
    struct Outcome {
        bool removed = false;
        int64_t next_ms = 0;
        bool held = false;
    };

    void worker();
    Outcome process(const std::string& id, std::shared_ptr<SpoolEntry> entry);
    bool send_dsn(const SpoolEntry& original, DsnKind kind, const std::vector<QueuedRecipient>& recipients);
    std::chrono::milliseconds retry_delay(int attempts) const;
    bool requested_removal(const std::string& id);
    // Runs fn on an idle item that no thread may take meanwhile; Op::later when a delivery has it.
    template <typename Fn>
    Op exclusive(const std::string& id, Fn fn);

    Spool& spool_;
    RunnerSettings settings_;
    DeliveryAgent& local_;
    DeliveryAgent& remote_;
    Router router_;

    std::mutex mutex_;
    std::condition_variable cv_, idle_cv_;
    std::map<std::string, Item> items_;
    unsigned busy_ = 0;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace postern::queue
