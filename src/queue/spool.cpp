#include "queue/spool.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include "observe/log.hpp"

namespace postern::queue {

namespace fs = std::filesystem;

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        auto n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

bool fsync_dir(const fs::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = ::fsync(fd) == 0;
    ::close(fd);
    return ok;
}

namespace {

// Writes head and body with one writev where possible, so the envelope needs no copy of the message.
bool write_entry(int fd, std::string_view head, std::string_view body) {
    while (!head.empty() || !body.empty()) {
        iovec iov[2] = {{const_cast<char*>(head.data()), head.size()}, {const_cast<char*>(body.data()), body.size()}};
        auto n = ::writev(fd, iov, 2);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        auto done = static_cast<size_t>(n);
        auto from_head = std::min(done, head.size());
        head.remove_prefix(from_head);
        body.remove_prefix(done - from_head);
    }
    return true;
}

}  // namespace

Spool::Spool(fs::path dir) : dir_(std::move(dir)), incoming_(dir_ / "incoming"), queue_(dir_ / "queue") {
    fs::create_directories(incoming_);
    fs::create_directories(queue_);
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::replace);
    queue_dir_fd_ = ::open(queue_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (queue_dir_fd_ < 0) throw std::runtime_error("cannot open spool directory " + queue_.string());
}

Spool::~Spool() {
    stop();
    if (queue_dir_fd_ >= 0) ::close(queue_dir_fd_);
}

void Spool::on_committed(std::function<void(std::shared_ptr<SpoolEntry>)> handler) {
    on_committed_ = std::move(handler);
}

void Spool::start() { thread_ = std::thread([this] { run(); }); }

void Spool::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::vector<Pending> late;
    {
        std::lock_guard lock(mutex_);
        stopped_ = true;
        late.swap(pending_);
    }
    for (auto& p : late) {  // submitted after the committer's last batch: never acknowledged
        ::close(p.fd);
        ::unlink((incoming_ / p.entry->envelope.id).c_str());
        p.waiter->committed(false);
    }
}

std::string Spool::new_id() {
    // Time in microseconds, then a per-process counter and a random part: unique across restarts and threads,
    // and sorted by arrival.
    static std::atomic<uint32_t> counter{0};
    static const uint32_t salt = std::random_device{}();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    char buf[40];
    std::snprintf(buf, sizeof buf, "%013llX%05X%04X", static_cast<unsigned long long>(us),
                  static_cast<unsigned>(counter.fetch_add(1) & 0xFFFFF), static_cast<unsigned>(salt & 0xFFFF));
    return buf;
}

void Spool::submit(std::shared_ptr<SpoolEntry> entry, std::unique_ptr<CommitWaiter> waiter) {
    entry->envelope.size = entry->message.size();
    auto path = incoming_ / entry->envelope.id;
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || !write_entry(fd, serialize_envelope(entry->envelope), entry->message)) {
        observe::error("spool write failed id={} path={} errno={}", entry->envelope.id, path.string(), errno);
        if (fd >= 0) {
            ::close(fd);
            ::unlink(path.c_str());
        }
        waiter->committed(false);
        return;
    }
    {
        std::lock_guard lock(mutex_);
        if (!stopped_) {
            pending_.push_back({std::move(entry), std::move(waiter), fd});
            fd = -1;
        }
    }
    if (fd >= 0) {  // the committer is gone (shutdown): nothing will make this durable
        ::close(fd);
        ::unlink(path.c_str());
        waiter->committed(false);
        return;
    }
    cv_.notify_one();
}

void Spool::run() {
    std::vector<Pending> batch;
    while (true) {
        {
            std::unique_lock lock(mutex_);
            cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
            if (pending_.empty() && stopping_) return;
            batch.swap(pending_);
        }
        commit_batch(batch);
        batch.clear();
    }
}

// One syncfs(2) makes a whole batch durable: every file's data and every rename into queue/, in one journal
// commit, however many sessions the batch holds. (fdatasync per file plus a directory fsync costs two
// commits per message, one after the other, on a disk where each takes milliseconds.) A file renamed but
// not yet synced when the machine crashes was never acknowledged; its recorded size tells it apart at start.
void Spool::commit_batch(std::vector<Pending>& batch) {
    std::vector<bool> ok(batch.size(), true);
    for (size_t i = 0; i < batch.size(); ++i) {
        auto& p = batch[i];
        const auto& id = p.entry->envelope.id;
        ::close(p.fd);
        auto from = incoming_ / id;
        auto to = queue_ / id;
        if (::rename(from.c_str(), to.c_str()) != 0) {
            ok[i] = false;
            observe::error("spool commit failed id={} errno={}", id, errno);
            ::unlink(from.c_str());
        }
    }
    if (::syncfs(queue_dir_fd_) != 0) {
        observe::error("spool sync failed errno={}", errno);
        for (size_t i = 0; i < batch.size(); ++i) {
            if (ok[i]) ::unlink((queue_ / batch[i].entry->envelope.id).c_str());
            ok[i] = false;
        }
    }
    for (size_t i = 0; i < batch.size(); ++i) {
        batch[i].waiter->committed(ok[i]);
        if (ok[i] && on_committed_) on_committed_(std::move(batch[i].entry));
    }
}

std::vector<std::string> Spool::recover() {
    for (const auto& e : fs::directory_iterator(incoming_)) {
        observe::info("spool dropping unacknowledged file={}", e.path().filename().string());
        fs::remove(e.path());
    }
    std::vector<std::string> ids;
    for (const auto& e : fs::directory_iterator(queue_)) {
        auto name = e.path().filename().string();
        if (name.ends_with(".tmp")) {
            fs::remove(e.path());  // an interrupted rewrite(); the original is intact
            continue;
        }
        if (!load(name)) {
            // Cut short by a crash before its commit (so never acknowledged), or damaged: kept aside, not
            // deleted, so that an administrator can look.
            std::error_code ec;
            fs::create_directories(dir_ / "damaged", ec);
            fs::rename(e.path(), dir_ / "damaged" / name, ec);
            observe::warn("spool entry set aside id={} to={}", name, (dir_ / "damaged").string());
            continue;
        }
        ids.push_back(name);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
}

std::shared_ptr<SpoolEntry> Spool::load(const std::string& id) {
    std::ifstream in(queue_ / id, std::ios::binary);
    if (!in) return nullptr;
    std::ostringstream ss;
    ss << in.rdbuf();
    auto data = std::move(ss).str();
    size_t offset = 0;
    auto env = parse_envelope(data, offset);
    if (!env) {
        observe::error("spool entry damaged id={}", id);
        return nullptr;
    }
    auto entry = std::make_shared<SpoolEntry>();
    entry->envelope = std::move(*env);
    entry->message = data.substr(offset);
    return entry;
}

void Spool::remove(const std::string& id) {
    std::error_code ec;
    fs::remove(queue_ / id, ec);
}

bool Spool::rewrite(const SpoolEntry& entry) {
    auto envelope = entry.envelope;
    envelope.size = entry.message.size();
    auto final_path = queue_ / entry.envelope.id;
    auto tmp = queue_ / (entry.envelope.id + ".tmp");
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    bool ok = write_entry(fd, serialize_envelope(envelope), entry.message) && ::fdatasync(fd) == 0;
    ::close(fd);
    ok = ok && ::rename(tmp.c_str(), final_path.c_str()) == 0 && ::fsync(queue_dir_fd_) == 0;
    if (!ok) ::unlink(tmp.c_str());
    return ok;
}

}  // namespace postern::queue
