// A small blocking SMTP/LMTP client for the delivery threads: a socket (TCP or Unix) with a deadline on every
// read and write, optional TLS (OpenSSL), multi-line replies with their enhanced status codes.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "queue/agent.hpp"

namespace postern::delivery {

struct Reply {
    int code = 0;          // 250, 451, ...
    std::string enhanced;  // "2.1.5" when the server sent one
    std::vector<std::string> lines;  // text after "250-" / "250 "

    bool positive() const { return code >= 200 && code < 400; }
    bool transient() const { return code >= 400 && code < 500; }
    bool permanent() const { return code >= 500; }
    // "550 5.1.1 <x@y>: no such user" (lines joined with a space)
    std::string text() const;
};

// Parses the enhanced status code at the start of a reply line's text ("5.1.1 rest"); empty when there is none.
std::string enhanced_code_of(std::string_view text, int code);

// The message with dot-stuffing (RFC 5321 §4.5.2) and the final ".\r\n"; a missing last CRLF is added.
std::string dot_stuff(std::string_view message);

// Sockets of deliveries in progress, so that shutdown can break their waits at once.
class CancelSet {
public:
    void add(int fd);
    void remove(int fd);
    void cancel_all();
    bool cancelled() const { return cancelled_; }

private:
    std::mutex mutex_;
    std::set<int> fds_;
    std::atomic<bool> cancelled_{false};
};

class SmtpConnection {
public:
    ~SmtpConnection();
    SmtpConnection(const SmtpConnection&) = delete;
    SmtpConnection& operator=(const SmtpConnection&) = delete;

    // Connects within `connect_timeout`; every later read and write waits at most `io_timeout`.
    static std::unique_ptr<SmtpConnection> connect_tcp(const std::string& ip, uint16_t port,
                                                       std::chrono::milliseconds connect_timeout,
                                                       std::chrono::milliseconds io_timeout, CancelSet* cancel,
                                                       std::string& error);
    static std::unique_ptr<SmtpConnection> connect_unix(const std::filesystem::path& path,
                                                        std::chrono::milliseconds io_timeout, CancelSet* cancel,
                                                        std::string& error);

    bool send(std::string_view data);
    // nullopt when the connection broke or timed out (error() says which).
    std::optional<Reply> read_reply();
    std::optional<Reply> command(std::string_view line);  // line without CRLF

    // EHLO (or LHLO for LMTP); on success the keywords are in extensions(). HELO is the caller's fallback.
    std::optional<Reply> hello(std::string_view verb, std::string_view name);
    bool has_extension(std::string_view keyword) const;  // upper case: "STARTTLS", "PIPELINING", "AUTH"
    std::vector<std::string> auth_mechanisms() const;

    // TLS handshake on the open connection. verify_name empty: no certificate check (opportunistic TLS).
    bool start_tls(SSL_CTX* ctx, const std::string& sni, const std::string& verify_name, std::string& error);
    bool tls() const { return ssl_ != nullptr; }
    const std::string& tls_description() const { return tls_description_; }

    // Still usable for another transaction: nothing unread (an idle server's 421, or its close) is waiting.
    bool idle_ok();

    const std::string& error() const { return error_; }
    bool broken() const { return broken_; }
    void mark_broken() { broken_ = true; }

    std::chrono::steady_clock::time_point idle_since;  // for the connection cache

private:
    SmtpConnection(int fd, std::chrono::milliseconds io_timeout, CancelSet* cancel);
    bool fill();  // reads more into buffer_

    int fd_ = -1;
    SSL* ssl_ = nullptr;
    std::chrono::milliseconds io_timeout_;
    CancelSet* cancel_ = nullptr;
    std::string buffer_;
    std::string error_;
    bool broken_ = false;
    std::vector<std::string> ehlo_lines_;
    std::string tls_description_;
};

// The queue's view of a reply: 2xx ok, 4xx temporary, 5xx permanent; the reply text is the detail.
queue::DeliveryResult result_of(const Reply& reply, std::string_view remote_mta);
// A failure without a reply (connection refused, timeout, DNS...).
queue::DeliveryResult failure(queue::DeliveryResult::Status status, std::string enhanced, std::string detail,
                              std::string remote_mta = {});

// The MAIL FROM parameters the server supports for this message: SIZE=, BODY=8BITMIME, SMTPUTF8.
std::string mail_parameters(const SmtpConnection& conn, const queue::QueuedEnvelope& env, size_t size);

// A client TLS context: no verification (opportunistic), or verification against ca_file / the system's CAs.
std::shared_ptr<SSL_CTX> make_client_tls(bool verify, const std::filesystem::path& ca_file, std::string& error);

}  // namespace postern::delivery
