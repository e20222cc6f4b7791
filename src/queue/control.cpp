#include "queue/control.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "observe/log.hpp"

namespace postern::queue {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxLine = 4096;

sockaddr_un unix_address(const fs::path& path) {
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (path.native().size() >= sizeof sun.sun_path) throw std::runtime_error("socket path too long: " + path.string());
    std::memcpy(sun.sun_path, path.c_str(), path.native().size());
    return sun;
}

bool valid_id(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id)
        if (!std::isalnum(static_cast<unsigned char>(c))) return false;
    return true;
}

void split(std::string_view line, std::string_view& verb, std::string_view& arg) {
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n' || line.back() == ' ')) line.remove_suffix(1);
    auto sp = line.find(' ');
    verb = line.substr(0, sp);
    arg = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
}

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string usage() { return "error usage: list | show ID | flush [ID] | delete ID | hold ID | release ID\n"; }

std::string op_answer(QueueRunner::Op op, std::string_view id, std::string_view done, std::string_view later) {
    switch (op) {
        case QueueRunner::Op::done: return fmt::format("ok {} {}\n", id, done);
        case QueueRunner::Op::later: return fmt::format("ok {} {}\n", id, later);
        case QueueRunner::Op::not_found: break;
    }
    return fmt::format("error no such message: {}\n", id);
}

}  // namespace

QueueControl::QueueControl(fs::path path, QueueRunner& runner) : path_(std::move(path)), runner_(runner) {
    std::error_code ec;
    fs::remove(path_, ec);
    auto sun = unix_address(path_);
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw std::runtime_error(fmt::format("socket: {}", std::strerror(errno)));
    auto old_mask = ::umask(0077);
    int rc = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sun), sizeof sun);
    ::umask(old_mask);
    if (rc != 0 || ::listen(listen_fd_, 16) != 0) {
        auto err = errno;
        ::close(listen_fd_);
        listen_fd_ = -1;
        throw std::runtime_error(fmt::format("cannot listen on {}: {}", path_.string(), std::strerror(err)));
    }
    ::chmod(path_.c_str(), 0600);
    if (::pipe2(wake_, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    thread_ = std::thread([this] { run(); });
}

QueueControl::~QueueControl() {
    close();
    for (int fd : wake_)
        if (fd >= 0) ::close(fd);
}

void QueueControl::close() {
    if (listen_fd_ < 0) return;
    char c = 'x';
    [[maybe_unused]] auto n = ::write(wake_[1], &c, 1);
    if (thread_.joinable()) thread_.join();
    ::close(listen_fd_);
    listen_fd_ = -1;
    std::error_code ec;
    fs::remove(path_, ec);
}

void QueueControl::run() {
    while (true) {
        pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[1].revents) return;
        if (!(fds[0].revents & POLLIN)) continue;
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        timeval tv{5, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        std::string line;
        char buf[512];
        while (line.find('\n') == std::string::npos && line.size() < kMaxLine) {
            auto n = ::read(fd, buf, sizeof buf);
            if (n <= 0) break;
            line.append(buf, static_cast<size_t>(n));
        }
        std::string answer;
        try {
            answer = execute(line.substr(0, line.find('\n')));
        } catch (const std::exception& e) {
            answer = fmt::format("error {}\n", e.what());
        }
        std::string_view out = answer;
        while (!out.empty()) {
            auto n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
            if (n <= 0) break;
            out.remove_prefix(static_cast<size_t>(n));
        }
        ::close(fd);
    }
}

std::string QueueControl::execute(std::string_view line) {
    std::string_view verb, arg;
    split(line, verb, arg);
    const std::string id(arg);
    if (verb == "list" && arg.empty()) return "ok\n" + format_list(runner_.list());
    if (verb == "flush") {
        if (!arg.empty() && !valid_id(arg)) return usage();
        auto n = runner_.flush(id);
        if (!arg.empty() && n == 0) return fmt::format("error no such message (or held): {}\n", id);
        return fmt::format("ok {} message{} scheduled now\n", n, n == 1 ? "" : "s");
    }
    if (!valid_id(arg)) return usage();
    if (verb == "show") {
        auto item = runner_.info(id);
        if (!item) return fmt::format("error no such message: {}\n", id);
        auto entry = runner_.load(id);
        return "ok\n" + format_show(*item, entry ? std::string_view(entry->message) : std::string_view{});
    }
    if (verb == "hold") return op_answer(runner_.hold(id), id, "held", "will be held after the attempt in progress");
    if (verb == "release") return op_answer(runner_.release(id), id, "released", "released");
    if (verb == "delete")
        return op_answer(runner_.remove(id), id, "deleted", "will be deleted when the attempt in progress ends");
    return usage();
}

std::string offline_queue_command(const fs::path& spool_dir, std::string_view line) {
    std::string_view verb, arg;
    split(line, verb, arg);
    const std::string id(arg);
    const fs::path queue_dir = spool_dir / "queue";
    auto load = [&](const std::string& name) -> std::optional<std::pair<QueueItemInfo, std::string>> {
        std::error_code ec;
        auto path = queue_dir / name;
        if (!fs::is_regular_file(path, ec)) return std::nullopt;
        Spool spool(spool_dir);
        auto entry = spool.load(name);
        if (!entry) return std::nullopt;
        QueueItemInfo info;
        info.envelope = entry->envelope;
        info.size = entry->message.size();
        info.state = state_of(info.envelope, now_ms());
        return std::make_pair(std::move(info), std::move(entry->message));
    };
    auto ids = [&] {
        std::vector<std::string> out;
        std::error_code ec;
        if (!fs::is_directory(queue_dir, ec)) return out;
        for (const auto& e : fs::directory_iterator(queue_dir)) {
            auto name = e.path().filename().string();
            if (valid_id(name)) out.push_back(name);
        }
        std::sort(out.begin(), out.end());
        return out;
    };
    auto modify = [&](auto fn) -> bool {
        Spool spool(spool_dir);
        auto entry = spool.load(id);
        if (!entry) return false;
        fn(*entry);
        if (!spool.rewrite(*entry)) throw std::runtime_error("spool rewrite failed for " + id);
        return true;
    };
    if (verb == "list" && arg.empty()) {
        std::vector<QueueItemInfo> items;
        for (const auto& name : ids())
            if (auto x = load(name)) items.push_back(std::move(x->first));
        return "ok\n" + format_list(items);
    }
    if (verb == "flush") {
        if (!arg.empty() && !valid_id(arg)) return usage();
        size_t n = 0;
        for (const auto& name : ids()) {
            if (!arg.empty() && name != id) continue;
            Spool spool(spool_dir);
            auto entry = spool.load(name);
            if (!entry || entry->envelope.held) continue;
            entry->envelope.next_attempt = 0;
            if (spool.rewrite(*entry)) ++n;
        }
        if (!arg.empty() && n == 0) return fmt::format("error no such message (or held): {}\n", id);
        return fmt::format("ok {} message{} will go out when the server starts\n", n, n == 1 ? "" : "s");
    }
    if (!valid_id(arg)) return usage();
    if (verb == "show") {
        auto x = load(id);
        if (!x) return fmt::format("error no such message: {}\n", id);
        return "ok\n" + format_show(x->first, x->second);
    }
    if (verb == "hold")
        return modify([](SpoolEntry& e) { e.envelope.held = true; }) ? fmt::format("ok {} held\n", id)
                                                                     : fmt::format("error no such message: {}\n", id);
    if (verb == "release")
        return modify([](SpoolEntry& e) {
                   e.envelope.held = false;
                   e.envelope.next_attempt = 0;
               })
                   ? fmt::format("ok {} released\n", id)
                   : fmt::format("error no such message: {}\n", id);
    if (verb == "delete") {
        std::error_code ec;
        if (!fs::remove(queue_dir / id, ec)) return fmt::format("error no such message: {}\n", id);
        fsync_dir(queue_dir);
        return fmt::format("ok {} deleted\n", id);
    }
    return usage();
}

std::string queue_request(const fs::path& path, std::string_view line) {
    auto sun = unix_address(path);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(fmt::format("socket: {}", std::strerror(errno)));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
        auto err = errno;
        ::close(fd);
        throw std::runtime_error(fmt::format("no running server answers on {} ({})", path.string(), std::strerror(err)));
    }
    timeval tv{30, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string request(line);
    request += "\n";
    bool ok = write_all(fd, request);
    std::string answer;
    char buf[8192];
    while (ok) {
        auto n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        answer.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return answer;
}

}  // namespace postern::queue
