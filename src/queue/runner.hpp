// The queue runner: takes durable spool entries and hands each recipient to its delivery agent, on its own
// thread so that no I/O thread ever waits on a mailbox. An entry leaves the spool only when every recipient
// it still holds is delivered (or failed for good); a temporary failure keeps it for a later try.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "queue/agent.hpp"
#include "queue/spool.hpp"

namespace postern::queue {

class QueueRunner {
public:
    QueueRunner(Spool& spool, DeliveryAgent& local);
    ~QueueRunner();

    // Loads what a previous run left in the spool, then starts the worker.
    void start();
    void enqueue(std::shared_ptr<SpoolEntry> entry);
    // Finishes the entry in hand and stops; what is left stays in the spool for the next start.
    void stop();

    // Waits until nothing is queued for delivery now (deferred entries aside). For tests and shutdown.
    void wait_idle();

private:
    using Clock = std::chrono::steady_clock;
    struct Deferred {
        Clock::time_point when;
        std::shared_ptr<SpoolEntry> entry;
        int attempts;
    };
    void run();
    // Returns true when the entry is done with (removed from the spool).
    bool deliver(SpoolEntry& entry);
    static Clock::duration retry_delay(int attempts);

    Spool& spool_;
    DeliveryAgent& local_;
    std::mutex mutex_;
    std::condition_variable cv_, idle_cv_;
    std::deque<std::pair<std::shared_ptr<SpoolEntry>, int>> ready_;
    std::vector<Deferred> deferred_;
    bool busy_ = false;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace postern::queue
