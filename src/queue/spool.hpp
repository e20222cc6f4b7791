// The durable spool: nothing is acknowledged with 250 before its file and directory entry are on disk.
//
// A session's thread writes the message into incoming/ (page cache only) and hands it to the committer thread,
// which makes a whole batch durable at once (fdatasync of each file, rename into queue/, one fsync of queue/),
// then tells every waiter. Many sessions' messages share one directory sync: group commit.
#pragma once

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "queue/envelope.hpp"

namespace postern::queue {

struct SpoolEntry {
    QueuedEnvelope envelope;
    std::string message;  // the message as accepted, trace header included
};

// Told once, from the committer thread, whether the message is durable.
class CommitWaiter {
public:
    virtual ~CommitWaiter() = default;
    virtual void committed(bool ok) = 0;
};

class Spool {
public:
    explicit Spool(std::filesystem::path dir);  // creates incoming/ and queue/
    ~Spool();
    Spool(const Spool&) = delete;
    Spool& operator=(const Spool&) = delete;

    // Called with each entry once it is durable (from the committer thread): the delivery side takes it from there.
    void on_committed(std::function<void(std::shared_ptr<SpoolEntry>)> handler);
    void start();
    void stop();  // commits what was submitted, then ends the committer

    std::string new_id();
    // Writes the entry to incoming/; the waiter hears from the committer. On a write error the waiter is told
    // at once (false) and nothing is left behind.
    void submit(std::shared_ptr<SpoolEntry> entry, std::unique_ptr<CommitWaiter> waiter);

    // At start: drops incoming/ leftovers (never acknowledged) and lists the ids in queue/.
    std::vector<std::string> recover();
    std::shared_ptr<SpoolEntry> load(const std::string& id);
    void remove(const std::string& id);
    // Rewrites an entry's envelope (e.g. after some recipients were delivered), durably.
    bool rewrite(const SpoolEntry& entry);

    const std::filesystem::path& dir() const { return dir_; }

private:
    struct Pending {
        std::shared_ptr<SpoolEntry> entry;
        std::unique_ptr<CommitWaiter> waiter;
        int fd;
    };
    void run();
    void commit_batch(std::vector<Pending>& batch);

    std::filesystem::path dir_, incoming_, queue_;
    std::function<void(std::shared_ptr<SpoolEntry>)> on_committed_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<Pending> pending_;
    bool stopping_ = false;
    bool stopped_ = false;  // the committer has ended: submit() fails at once
    std::thread thread_;
    int queue_dir_fd_ = -1;
};

// Writes all of `data` to fd; false on error. fsyncs the directory at `dir`.
bool write_all(int fd, std::string_view data);
bool fsync_dir(const std::filesystem::path& dir);

}  // namespace postern::queue
