#include "delivery/maildir.hpp"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "queue/spool.hpp"

namespace postern::delivery {

namespace fs = std::filesystem;

namespace {

bool ensure_maildir(const fs::path& maildir, std::string& error) {
    std::error_code ec;
    for (const char* sub : {"tmp", "new", "cur"}) {
        fs::create_directories(maildir / sub, ec);
        if (ec) {
            error = fmt::format("cannot create {}: {}", (maildir / sub).string(), ec.message());
            return false;
        }
    }
    return true;
}

}  // namespace

MaildirDelivery::MaildirDelivery(fs::path mail_root, std::string hostname) : mail_root_(std::move(mail_root)) {
    for (char c : hostname) {
        if (c == '/') host_ += "\\057";
        else if (c == ':') host_ += "\\072";
        else host_ += c;
    }
}

fs::path MaildirDelivery::maildir_of(std::string_view user) const { return mail_root_ / user / "Maildir"; }

std::string MaildirDelivery::unique_name(size_t size) {
    static std::atomic<uint64_t> counter{0};
    auto now = std::chrono::system_clock::now().time_since_epoch();
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(now).count();
    auto usec = std::chrono::duration_cast<std::chrono::microseconds>(now).count() % 1000000;
    return fmt::format("{}.M{}P{}Q{}.{},S={}", secs, usec, ::getpid(), counter.fetch_add(1), host_, size);
}

DeliveryResult MaildirDelivery::deliver_file(std::string_view user, std::string_view head, std::string_view message) {
    using Status = DeliveryResult::Status;
    auto maildir = maildir_of(user);
    std::string error;
    if (!ensure_maildir(maildir, error)) return {Status::temporary, error};

    auto name = unique_name(head.size() + message.size());
    auto tmp = maildir / "tmp" / name;
    auto dest = maildir / "new" / name;
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return {Status::temporary, fmt::format("open {}: {}", tmp.string(), std::strerror(errno))};
    bool ok = queue::write_all(fd, head) && queue::write_all(fd, message);
    int saved = errno;
    if (!ok) {
        ::close(fd);
        ::unlink(tmp.c_str());
        return {Status::temporary, fmt::format("write {}: {}", tmp.string(), std::strerror(saved))};
    }
    if (::rename(tmp.c_str(), dest.c_str()) != 0) {
        saved = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return {Status::temporary, fmt::format("rename into {}: {}", dest.string(), std::strerror(saved))};
    }
    // One syncfs makes the data and the rename into new/ durable in one journal commit, shared with every
    // delivery and spool batch in flight, where fsync of the file then of new/ costs two commits in a row.
    // A reader of new/ may see the file before it is durable; the spool entry goes only after this returns.
    ok = ::syncfs(fd) == 0;
    saved = errno;
    ::close(fd);
    if (!ok) return {Status::temporary, fmt::format("sync of {}: {}", dest.string(), std::strerror(saved))};
    return {Status::ok, dest.filename().string()};
}

DeliveryResult MaildirDelivery::deliver(const queue::QueuedEnvelope& envelope, const queue::QueuedRecipient& recipient,
                                        std::string_view message) {
    // RFC 5321 §4.4: the final delivery adds Return-Path with the envelope sender.
    auto head = fmt::format("Return-Path: <{}>\r\n", envelope.sender);
    return deliver_file(recipient.user, head, message);
}

}  // namespace postern::delivery
