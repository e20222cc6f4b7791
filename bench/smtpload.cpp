// smtpload: the bench's own SMTP load client, for what smtp-source cannot express: STARTTLS or implicit TLS,
// AUTH PLAIN, a login for every message, and latency percentiles at a paced (open-loop) rate.
//
// Like smtp-source it speaks in lockstep (no PIPELINING): one command, one reply. One thread per session,
// blocking sockets with a 30 s timeout on every read and write. Every loop is bounded by --messages and
// --time-limit. Prints one JSON line on stdout:
//   {"ok":N,"failed":N,"seconds":S,"rate":R,"p50_ms":..,"p90_ms":..,"p99_ms":..,"max_ms":..,"late":N,"error":".."}
// Latency of a message: in --per-connection mode from connect() to the 250 after the data; otherwise from
// MAIL FROM to that 250.
//
// Build (bench/run does it): g++ -O2 -std=c++20 -pthread bench/smtpload.cpp -o build-bench/smtpload -lssl -lcrypto

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string host = "127.0.0.1";
    int port = 25;
    int sessions = 1;
    long messages = 100;
    double time_limit = 30;  // seconds: no message is started after this
    size_t size = 4096;      // body octets (approximately: whole 78-octet lines)
    bool per_connection = false;
    std::string tls;  // "", "starttls", "implicit"
    std::string user, password;
    double rate = 0;  // messages started per second over all sessions; 0 = as fast as possible
    std::string from = "sender@example.org", to = "bench@bench.test", helo = "client.bench.test";
};

std::string base64(const std::string& in) {
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
        out += t[v >> 18 & 63], out += t[v >> 12 & 63], out += t[v >> 6 & 63], out += t[v & 63];
    }
    if (i + 1 == in.size()) {
        unsigned v = (unsigned char)in[i] << 16;
        out += t[v >> 18 & 63], out += t[v >> 12 & 63], out += "==";
    } else if (i + 2 == in.size()) {
        unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
        out += t[v >> 18 & 63], out += t[v >> 12 & 63], out += t[v >> 6 & 63], out += '=';
    }
    return out;
}

struct Failure {
    std::string what;
};

class Conn {
public:
    Conn(const Options& o, SSL_CTX* ctx) : o_(o), ctx_(ctx) {}
    ~Conn() { close(); }

    void open() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) throw Failure{"socket: " + std::string(strerror(errno))};
        timeval tv{30, 0};
        setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        int one = 1;
        setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(static_cast<uint16_t>(o_.port));
        inet_pton(AF_INET, o_.host.c_str(), &sa.sin_addr);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
            throw Failure{"connect: " + std::string(strerror(errno))};
        if (o_.tls == "implicit") handshake();
        expect(220, "greeting");
        command("EHLO " + o_.helo, 250);
        if (o_.tls == "starttls") {
            command("STARTTLS", 220);
            handshake();
            command("EHLO " + o_.helo, 250);
        }
        if (!o_.user.empty()) {
            std::string plain = std::string(1, '\0') + o_.user + std::string(1, '\0') + o_.password;
            command("AUTH PLAIN " + base64(plain), 235);
        }
    }

    void send_message(const std::string& body) {
        command("MAIL FROM:<" + o_.from + ">", 250);
        command("RCPT TO:<" + o_.to + ">", 250);
        command("DATA", 354);
        write(body);
        expect(250, "end of data");
    }

    void quit() {
        try {
            command("QUIT", 221);
        } catch (const Failure&) {
        }
        close();
    }

    void close() {
        if (ssl_) {
            SSL_free(ssl_);
            ssl_ = nullptr;
        }
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        buf_.clear();
    }
    bool is_open() const { return fd_ >= 0; }

private:
    void handshake() {
        ssl_ = SSL_new(ctx_);
        SSL_set_fd(ssl_, fd_);
        SSL_set_tlsext_host_name(ssl_, "bench.test");
        if (SSL_connect(ssl_) != 1) throw Failure{"tls handshake failed"};
    }

    void write(const std::string& data) {
        size_t done = 0;
        while (done < data.size()) {
            long n = ssl_ ? SSL_write(ssl_, data.data() + done, static_cast<int>(data.size() - done))
                          : ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
            if (n <= 0) {
                if (!ssl_ && n < 0 && errno == EINTR) continue;
                throw Failure{"write failed"};
            }
            done += static_cast<size_t>(n);
        }
    }

    // Reads one whole reply (all its lines); returns its code.
    int read_reply(std::string& text) {
        text.clear();
        while (true) {
            auto eol = buf_.find("\r\n");
            while (eol == std::string::npos) {
                char tmp[4096];
                long n = ssl_ ? SSL_read(ssl_, tmp, sizeof tmp) : ::recv(fd_, tmp, sizeof tmp, 0);
                if (n <= 0) {
                    if (!ssl_ && n < 0 && errno == EINTR) continue;
                    throw Failure{n == 0 ? "connection closed by server" : "read failed or timed out"};
                }
                buf_.append(tmp, static_cast<size_t>(n));
                eol = buf_.find("\r\n");
            }
            std::string line = buf_.substr(0, eol);
            buf_.erase(0, eol + 2);
            text += line;
            if (line.size() < 4 || line[3] != '-') return std::atoi(line.substr(0, 3).c_str());
            text += '\n';
        }
    }

    void expect(int code, const std::string& after) {
        std::string text;
        int got = read_reply(text);
        if (got != code) throw Failure{"after " + after + ": " + text};
    }

    void command(const std::string& line, int code) {
        write(line + "\r\n");
        expect(code, line.substr(0, line.find(' ')));
    }

    const Options& o_;
    SSL_CTX* ctx_;
    int fd_ = -1;
    SSL* ssl_ = nullptr;
    std::string buf_;
};

std::string make_body(const Options& o, long n) {
    std::string b = "From: <" + o.from + ">\r\nTo: <" + o.to + ">\r\nSubject: bench message " + std::to_string(n) +
                    "\r\nMessage-ID: <" + std::to_string(n) + "." + std::to_string(::getpid()) +
                    "@client.bench.test>\r\n\r\n";
    std::string line(76, 'x');
    line += "\r\n";
    size_t body = 0;
    while (body < o.size) {
        b += line;
        body += line.size();
    }
    b += ".\r\n";
    return b;
}

double pct(std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

bool parse(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "smtpload: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--host") o.host = val();
        else if (a == "--port") o.port = std::atoi(val().c_str());
        else if (a == "--sessions") o.sessions = std::atoi(val().c_str());
        else if (a == "--messages") o.messages = std::atol(val().c_str());
        else if (a == "--time-limit") o.time_limit = std::atof(val().c_str());
        else if (a == "--size") o.size = static_cast<size_t>(std::atol(val().c_str()));
        else if (a == "--per-connection") o.per_connection = true;
        else if (a == "--tls") o.tls = val();
        else if (a == "--auth") {
            auto up = val();
            auto colon = up.find(':');
            o.user = up.substr(0, colon);
            o.password = colon == std::string::npos ? "" : up.substr(colon + 1);
        } else if (a == "--rate") o.rate = std::atof(val().c_str());
        else if (a == "--from") o.from = val();
        else if (a == "--to") o.to = val();
        else if (a == "--helo") o.helo = val();
        else {
            std::fprintf(stderr, "smtpload: unknown option %s\n", a.c_str());
            return false;
        }
    }
    return o.sessions > 0 && o.messages > 0 && (o.tls.empty() || o.tls == "starttls" || o.tls == "implicit");
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (!parse(argc, argv, o)) return 2;
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);  // the servers' certificates are self-signed
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);  // every connection a full handshake

    std::atomic<long> next{0}, ok{0}, failed{0}, late{0};
    std::mutex mu;
    std::vector<double> latencies;
    std::string first_error;
    auto start = Clock::now();
    auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.time_limit));

    auto worker = [&] {
        Conn conn(o, ctx);
        std::vector<double> mine;
        while (true) {
            long n = next.fetch_add(1);
            if (n >= o.messages) break;
            if (o.rate > 0) {
                auto slot = start + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(static_cast<double>(n) / o.rate));
                if (slot > deadline) break;
                auto now = Clock::now();
                if (now < slot) std::this_thread::sleep_until(slot);
                else if (now - slot > std::chrono::milliseconds(10)) late.fetch_add(1);
            }
            if (Clock::now() > deadline) break;
            auto body = make_body(o, n);
            auto t0 = Clock::now();
            try {
                if (!conn.is_open()) conn.open();
                if (!o.per_connection) t0 = Clock::now();
                conn.send_message(body);
                if (o.per_connection) conn.quit();
                mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
                ok.fetch_add(1);
            } catch (const Failure& f) {
                failed.fetch_add(1);
                conn.close();
                std::lock_guard lock(mu);
                if (first_error.empty()) first_error = f.what;
            }
        }
        if (conn.is_open()) conn.quit();
        std::lock_guard lock(mu);
        latencies.insert(latencies.end(), mine.begin(), mine.end());
    };
    std::vector<std::thread> threads;
    for (int i = 0; i < o.sessions; ++i) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::sort(latencies.begin(), latencies.end());
    std::string err;
    for (char c : first_error)
        if (c == '"' || c == '\\') err += '\\', err += c;
        else if (c == '\n' || c == '\r') err += ' ';
        else err += c;
    std::printf(
        "{\"ok\":%ld,\"failed\":%ld,\"seconds\":%.4f,\"rate\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
        "\"max_ms\":%.3f,\"late\":%ld,\"error\":\"%s\"}\n",
        ok.load(), failed.load(), seconds, static_cast<double>(ok.load()) / seconds, pct(latencies, 50),
        pct(latencies, 90), pct(latencies, 99), latencies.empty() ? 0.0 : latencies.back(), late.load(), err.c_str());
    SSL_CTX_free(ctx);
    return failed.load() > 0 && ok.load() == 0 ? 1 : 0;
}
