#include "delivery/smtp_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace postern::delivery {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxReply = 64 * 1024;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string upper(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return out;
}

// Waits until fd is readable/writable or the deadline passes; false on timeout or error.
bool wait_fd(int fd, bool for_write, Clock::time_point deadline) {
    while (true) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return false;
        pollfd p{fd, static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
        int rc = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000 * 1000)));
        if (rc > 0) return true;
        if (rc < 0 && errno != EINTR) return false;
    }
}

std::string ssl_error_text() {
    unsigned long e = ERR_get_error();
    if (e == 0) return "TLS error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

}  // namespace

std::string Reply::text() const {
    std::string out = std::to_string(code);
    for (const auto& l : lines) {
        out += ' ';
        out += l;
    }
    return out;
}

std::string enhanced_code_of(std::string_view text, int code) {
    // class.subject.detail; the class must agree with the reply code (RFC 3463 §2, RFC 2034 §4).
    size_t i = 0;
    auto digits = [&](size_t max) {
        size_t start = i;
        while (i < text.size() && is_digit(text[i]) && i - start < max) ++i;
        return i - start;
    };
    if (digits(1) != 1) return {};
    if (i >= text.size() || text[i] != '.') return {};
    ++i;
    if (digits(3) == 0) return {};
    if (i >= text.size() || text[i] != '.') return {};
    ++i;
    if (digits(3) == 0) return {};
    if (i < text.size() && text[i] != ' ') return {};
    if (code / 100 != text[0] - '0') return {};
    return std::string(text.substr(0, i));
}

std::string dot_stuff(std::string_view message) {
    std::string out;
    out.reserve(message.size() + message.size() / 64 + 8);
    bool line_start = true;
    for (size_t i = 0; i < message.size(); ++i) {
        char c = message[i];
        if (line_start && c == '.') out += '.';
        out += c;
        line_start = c == '\n';
    }
    if (!message.empty() && !message.ends_with("\r\n")) out += "\r\n";
    out += ".\r\n";
    return out;
}

void CancelSet::add(int fd) {
    std::lock_guard lock(mutex_);
    fds_.insert(fd);
    if (cancelled_) ::shutdown(fd, SHUT_RDWR);
}

void CancelSet::remove(int fd) {
    std::lock_guard lock(mutex_);
    fds_.erase(fd);
}

void CancelSet::cancel_all() {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
}

SmtpConnection::SmtpConnection(int fd, std::chrono::milliseconds io_timeout, CancelSet* cancel)
    : fd_(fd), io_timeout_(io_timeout), cancel_(cancel) {
    if (cancel_) cancel_->add(fd_);
    idle_since = Clock::now();
}

SmtpConnection::~SmtpConnection() {
    if (ssl_) {
        if (!broken_) SSL_shutdown(ssl_);
        SSL_free(ssl_);
    }
    if (fd_ >= 0) {
        if (cancel_) cancel_->remove(fd_);
        ::close(fd_);
    }
}

std::unique_ptr<SmtpConnection> SmtpConnection::connect_tcp(const std::string& ip, uint16_t port,
                                                            std::chrono::milliseconds connect_timeout,
                                                            std::chrono::milliseconds io_timeout, CancelSet* cancel,
                                                            std::string& error) {
    if (cancel && cancel->cancelled()) {
        error = "shutting down";
        return nullptr;
    }
    sockaddr_storage ss{};
    socklen_t len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        len = sizeof *v4;
    } else if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        len = sizeof *v6;
    } else {
        error = "bad address " + ip;
        return nullptr;
    }
    int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = fmt::format("socket: {}", std::strerror(errno));
        return nullptr;
    }
    std::unique_ptr<SmtpConnection> conn(new SmtpConnection(fd, io_timeout, cancel));
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        if (errno != EINPROGRESS) {
            error = fmt::format("connect to {} port {}: {}", ip, port, std::strerror(errno));
            return nullptr;
        }
        if (!wait_fd(fd, true, Clock::now() + connect_timeout)) {
            error = fmt::format("connect to {} port {}: timed out", ip, port);
            return nullptr;
        }
        int err = 0;
        socklen_t elen = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
        if (err != 0) {
            error = fmt::format("connect to {} port {}: {}", ip, port, std::strerror(err));
            return nullptr;
        }
    }
    return conn;
}

std::unique_ptr<SmtpConnection> SmtpConnection::connect_unix(const std::filesystem::path& path,
                                                             std::chrono::milliseconds io_timeout, CancelSet* cancel,
                                                             std::string& error) {
    if (cancel && cancel->cancelled()) {
        error = "shutting down";
        return nullptr;
    }
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (path.native().size() >= sizeof sun.sun_path) {
        error = "socket path too long: " + path.string();
        return nullptr;
    }
    std::memcpy(sun.sun_path, path.c_str(), path.native().size());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = fmt::format("socket: {}", std::strerror(errno));
        return nullptr;
    }
    std::unique_ptr<SmtpConnection> conn(new SmtpConnection(fd, io_timeout, cancel));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
        error = fmt::format("connect to {}: {}", path.string(), std::strerror(errno));
        return nullptr;
    }
    int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    return conn;
}

bool SmtpConnection::send(std::string_view data) {
    if (broken_) return false;
    auto deadline = Clock::now() + io_timeout_;
    while (!data.empty()) {
        if (ssl_) {
            ERR_clear_error();
            int n = SSL_write(ssl_, data.data(), static_cast<int>(std::min<size_t>(data.size(), 1 << 20)));
            if (n > 0) {
                data.remove_prefix(static_cast<size_t>(n));
                continue;
            }
            int e = SSL_get_error(ssl_, n);
            if ((e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) &&
                wait_fd(fd_, e == SSL_ERROR_WANT_WRITE, deadline))
                continue;
            error_ = e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? "timeout while sending" : ssl_error_text();
        } else {
            auto n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
            if (n > 0) {
                data.remove_prefix(static_cast<size_t>(n));
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                if (wait_fd(fd_, true, deadline)) continue;
                error_ = "timeout while sending";
            } else {
                error_ = fmt::format("send: {}", std::strerror(errno));
            }
        }
        broken_ = true;
        return false;
    }
    return true;
}

bool SmtpConnection::fill() {
    auto deadline = Clock::now() + io_timeout_;
    char buf[16384];
    while (true) {
        if (ssl_) {
            ERR_clear_error();
            int n = SSL_read(ssl_, buf, sizeof buf);
            if (n > 0) {
                buffer_.append(buf, static_cast<size_t>(n));
                return true;
            }
            int e = SSL_get_error(ssl_, n);
            if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) &&
                wait_fd(fd_, e == SSL_ERROR_WANT_WRITE, deadline))
                continue;
            if (e == SSL_ERROR_ZERO_RETURN) error_ = "connection closed by the server";
            else if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) error_ = "timeout waiting for a reply";
            else error_ = "connection lost: " + ssl_error_text();
        } else {
            auto n = ::recv(fd_, buf, sizeof buf, 0);
            if (n > 0) {
                buffer_.append(buf, static_cast<size_t>(n));
                return true;
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                if (wait_fd(fd_, false, deadline)) continue;
                error_ = "timeout waiting for a reply";
            } else if (n == 0) {
                error_ = "connection closed by the server";
            } else {
                error_ = fmt::format("recv: {}", std::strerror(errno));
            }
        }
        if (cancel_ && cancel_->cancelled()) error_ = "shutting down";
        broken_ = true;
        return false;
    }
}

std::optional<Reply> SmtpConnection::read_reply() {
    Reply reply;
    size_t consumed = 0;
    while (true) {
        auto nl = buffer_.find('\n', consumed);
        if (nl == std::string::npos) {
            if (buffer_.size() > kMaxReply) {
                error_ = "reply too long";
                broken_ = true;
                return std::nullopt;
            }
            if (broken_ || !fill()) return std::nullopt;
            continue;
        }
        std::string_view line(buffer_.data() + consumed, nl - consumed);
        consumed = nl + 1;
        if (line.ends_with('\r')) line.remove_suffix(1);
        if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]) ||
            (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
            error_ = fmt::format("malformed reply: {}", std::string(line.substr(0, 100)));
            broken_ = true;
            return std::nullopt;
        }
        int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        reply.code = code;
        std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view{};
        if (reply.lines.empty()) reply.enhanced = enhanced_code_of(text, code);
        reply.lines.emplace_back(text);
        if (line.size() == 3 || line[3] == ' ') break;
    }
    buffer_.erase(0, consumed);
    return reply;
}

bool SmtpConnection::idle_ok() {
    if (broken_ || !buffer_.empty()) return false;
    if (ssl_ && SSL_pending(ssl_) > 0) return false;
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;
}

std::optional<Reply> SmtpConnection::command(std::string_view line) {
    std::string out(line);
    out += "\r\n";
    if (!send(out)) return std::nullopt;
    return read_reply();
}

std::optional<Reply> SmtpConnection::hello(std::string_view verb, std::string_view name) {
    auto reply = command(fmt::format("{} {}", verb, name));
    ehlo_lines_.clear();
    if (reply && reply->code == 250)
        for (size_t i = 1; i < reply->lines.size(); ++i) ehlo_lines_.push_back(upper(reply->lines[i]));
    return reply;
}

bool SmtpConnection::has_extension(std::string_view keyword) const {
    for (const auto& l : ehlo_lines_) {
        std::string_view v(l);
        if (v.starts_with(keyword) && (v.size() == keyword.size() || v[keyword.size()] == ' ' ||
                                       v[keyword.size()] == '='))
            return true;
    }
    return false;
}

std::vector<std::string> SmtpConnection::auth_mechanisms() const {
    std::vector<std::string> out;
    for (const auto& l : ehlo_lines_) {
        std::string_view v(l);
        if (!v.starts_with("AUTH") || (v.size() > 4 && v[4] != ' ' && v[4] != '=')) continue;
        v.remove_prefix(std::min<size_t>(5, v.size()));
        while (!v.empty()) {
            auto sp = v.find(' ');
            auto word = v.substr(0, sp);
            if (!word.empty()) out.emplace_back(word);
            if (sp == std::string_view::npos) break;
            v.remove_prefix(sp + 1);
        }
    }
    return out;
}

bool SmtpConnection::start_tls(SSL_CTX* ctx, const std::string& sni, const std::string& verify_name,
                               std::string& error) {
    if (!buffer_.empty()) {  // anything sent after the 220 before the handshake is an injection attempt
        error = "data after the STARTTLS reply";
        broken_ = true;
        return false;
    }
    ssl_ = SSL_new(ctx);
    if (!ssl_) {
        error = ssl_error_text();
        broken_ = true;
        return false;
    }
    SSL_set_fd(ssl_, fd_);
    unsigned char addr[16];
    bool sni_is_ip = inet_pton(AF_INET, sni.c_str(), addr) == 1 || inet_pton(AF_INET6, sni.c_str(), addr) == 1;
    if (!sni.empty() && !sni_is_ip) SSL_set_tlsext_host_name(ssl_, sni.c_str());
    if (!verify_name.empty()) {
        bool name_is_ip = inet_pton(AF_INET, verify_name.c_str(), addr) == 1 ||
                          inet_pton(AF_INET6, verify_name.c_str(), addr) == 1;
        if (name_is_ip) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), verify_name.c_str());
        else SSL_set1_host(ssl_, verify_name.c_str());
        SSL_set_verify(ssl_, SSL_VERIFY_PEER, nullptr);
    } else {
        SSL_set_verify(ssl_, SSL_VERIFY_NONE, nullptr);
    }
    auto deadline = Clock::now() + io_timeout_;
    while (true) {
        ERR_clear_error();
        int rc = SSL_connect(ssl_);
        if (rc == 1) break;
        int e = SSL_get_error(ssl_, rc);
        if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) && wait_fd(fd_, e == SSL_ERROR_WANT_WRITE, deadline))
            continue;
        long verify = SSL_get_verify_result(ssl_);
        if (!verify_name.empty() && verify != X509_V_OK)
            error = fmt::format("TLS certificate not trusted: {}", X509_verify_cert_error_string(verify));
        else if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) error = "TLS handshake timed out";
        else error = "TLS handshake failed: " + ssl_error_text();
        broken_ = true;
        return false;
    }
    tls_description_ = fmt::format("{} {}", SSL_get_version(ssl_), SSL_get_cipher_name(ssl_));
    ehlo_lines_.clear();
    return true;
}

queue::DeliveryResult result_of(const Reply& reply, std::string_view remote_mta) {
    using Status = queue::DeliveryResult::Status;
    queue::DeliveryResult r;
    r.status = reply.positive() ? Status::ok : reply.transient() ? Status::temporary : Status::permanent;
    r.detail = reply.text();
    r.enhanced = reply.enhanced;
    if (r.enhanced.empty() && r.status != Status::ok) r.enhanced = r.status == Status::temporary ? "4.0.0" : "5.0.0";
    r.remote_mta = std::string(remote_mta);
    return r;
}

queue::DeliveryResult failure(queue::DeliveryResult::Status status, std::string enhanced, std::string detail,
                              std::string remote_mta) {
    queue::DeliveryResult r;
    r.status = status;
    r.enhanced = std::move(enhanced);
    r.detail = std::move(detail);
    r.remote_mta = std::move(remote_mta);
    return r;
}

std::string mail_parameters(const SmtpConnection& conn, const queue::QueuedEnvelope& env, size_t size) {
    std::string out;
    if (conn.has_extension("SIZE")) out += fmt::format(" SIZE={}", size);
    if (env.eight_bit && conn.has_extension("8BITMIME")) out += " BODY=8BITMIME";
    if (env.smtputf8 && conn.has_extension("SMTPUTF8")) out += " SMTPUTF8";
    return out;
}

std::shared_ptr<SSL_CTX> make_client_tls(bool verify, const std::filesystem::path& ca_file, std::string& error) {
    std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
    if (!ctx) {
        error = ssl_error_text();
        return nullptr;
    }
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    if (verify) {
        int ok = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx.get())
                                 : SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr);
        if (ok != 1) {
            error = "cannot load CA certificates: " + ssl_error_text();
            return nullptr;
        }
    }
    return ctx;
}

}  // namespace postern::delivery
