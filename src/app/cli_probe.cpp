// `postern probe HOST:PORT [--starttls | --tls] [--user U --password-file F] [--from A --to B] [--lang L]`:
// runs a real SMTP session (greeting, EHLO, STARTTLS, AUTH, optionally a test message, QUIT), prints each
// exchange with the explanation of each reply, and ends with a verdict in plain words.
// Exit status: 0 when every step succeeded, 1 when the session failed (no connection, TLS failure, a refused
// step), 2 for a bad command line.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <cctype>
#include <chrono>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <system_error>

#include "app/cli.hpp"
#include "explain/explainer.hpp"
#include "explain/text.hpp"
#include "explain/verdict.hpp"
#include "smtp/base64.hpp"

namespace postern::app {

explain::Lang choose_lang(const std::string& option);  // cli_explain.cpp
size_t output_width();                                 // cli_explain.cpp

namespace {

using asio::ip::tcp;
using explain::ProbeOutcome;
using explain::ProbeStep;

struct ProbeOptions {
    std::string target;
    bool starttls = false;
    bool tls = false;
    bool verify = false;
    bool allow_plaintext = false;
    bool json = false;
    std::string user;
    std::string password_file;
    std::string from;
    std::string to;
    std::string lang;
    std::string helo = "probe.postern.invalid";
    int timeout = 15;
};

struct Timeout {};
struct Closed {};

// A synchronous SMTP transport over TCP, optionally TLS, where every operation has a deadline.
class Transport {
public:
    explicit Transport(std::chrono::seconds timeout) : timeout_(timeout) {}

    std::string connect(const std::string& host, const std::string& port) {
        tcp::resolver resolver(io_);
        tcp::resolver::results_type endpoints;
        run([&](auto handler) {
            resolver.async_resolve(host, port, [&, handler](std::error_code ec, tcp::resolver::results_type r) {
                endpoints = std::move(r);
                handler(ec);
            });
        });
        tcp::endpoint connected;
        run([&](auto handler) {
            asio::async_connect(socket_, endpoints, [&, handler](std::error_code ec, const tcp::endpoint& ep) {
                connected = ep;
                handler(ec);
            });
        });
        socket_.set_option(tcp::no_delay(true));
        std::ostringstream s;
        s << connected;
        return s.str();
    }

    // The TLS handshake on the connection as it is (implicit TLS, or after 220 to STARTTLS). Bytes the server
    // sent before it are discarded; returns how many there were.
    size_t handshake(const std::string& host, bool verify) {
        size_t injected = buffer_.size();
        buffer_.clear();
        ssl_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
        ssl_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                          asio::ssl::context::no_sslv3);
        if (verify) {
            ssl_->set_default_verify_paths();
            ssl_->set_verify_mode(asio::ssl::verify_peer);
        } else {
            ssl_->set_verify_mode(asio::ssl::verify_none);
        }
        tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, *ssl_);
        if (verify) tls_->set_verify_callback(asio::ssl::host_name_verification(host));
        std::error_code ec;
        asio::ip::make_address(host, ec);
        if (ec) SSL_set_tlsext_host_name(tls_->native_handle(), host.c_str());  // SNI for names, not IP literals
        run([&](auto handler) {
            tls_->async_handshake(asio::ssl::stream_base::client, [handler](std::error_code e) { handler(e); });
        });
        return injected;
    }

    bool tls() const { return tls_ != nullptr; }
    std::string tls_version() const { return tls_ ? SSL_get_version(tls_->native_handle()) : ""; }
    std::string tls_cipher() const { return tls_ ? SSL_get_cipher_name(tls_->native_handle()) : ""; }

    void write(const std::string& data) {
        run([&](auto handler) {
            auto done = [handler](std::error_code ec, size_t) { handler(ec); };
            if (tls_)
                asio::async_write(*tls_, asio::buffer(data), done);
            else
                asio::async_write(socket_, asio::buffer(data), done);
        });
    }

    // One line without its line ending; throws Closed at the end of the stream, Timeout past the deadline.
    std::string read_line() {
        size_t n = 0;
        std::error_code result;
        run(
            [&](auto handler) {
                auto done = [&, handler](std::error_code ec, size_t len) {
                    n = len;
                    handler(ec);
                };
                auto buf = asio::dynamic_buffer(buffer_, 65536);
                if (tls_)
                    asio::async_read_until(*tls_, buf, "\n", done);
                else
                    asio::async_read_until(socket_, buf, "\n", done);
            },
            &result);
        if (result) {
            if (result == asio::error::eof || result == asio::ssl::error::stream_truncated ||
                result == asio::error::connection_reset || result == asio::error::not_found)
                throw Closed{};
            throw std::system_error(result);
        }
        std::string line = buffer_.substr(0, n);
        buffer_.erase(0, n);
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
        return line;
    }

    void close() {
        std::error_code ec;
        socket_.shutdown(tcp::socket::shutdown_both, ec);
        socket_.close(ec);
    }

private:
    // Starts `start(handler)`, runs the loop until it completes or the deadline passes (then the socket is
    // closed and Timeout thrown). A failure is thrown as std::system_error unless `result` takes it.
    template <class Start>
    void run(Start start, std::error_code* result = nullptr) {
        bool done = false;
        std::error_code error;
        io_.restart();
        start([&done, &error](std::error_code ec) {
            error = ec;
            done = true;
        });
        io_.run_for(timeout_);
        if (!done) {
            std::error_code ignored;
            socket_.close(ignored);
            io_.restart();
            io_.run();
            throw Timeout{};
        }
        if (result)
            *result = error;
        else if (error)
            throw std::system_error(error);
    }

    asio::io_context io_;
    tcp::socket socket_{io_};
    std::unique_ptr<asio::ssl::context> ssl_;
    std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls_;
    std::string buffer_;
    std::chrono::seconds timeout_;
};

struct Reply {
    int code = 0;
    std::string enhanced;
    std::vector<std::string> lines;  // whole lines as received ("250-PIPELINING")
};

// One exchange of the transcript: what the client sent (as shown) and what the server answered.
struct Exchange {
    std::string client;  // empty for the greeting
    std::optional<Reply> reply;
    std::string note;  // TLS details and other remarks
};

std::string enhanced_of(const std::string& line) {
    if (line.size() < 5) return {};
    auto rest = line.substr(4);
    auto sp = rest.find(' ');
    auto word = rest.substr(0, sp);
    return explain::parse_enhanced(word) ? word : std::string{};
}

class Probe {
public:
    Probe(const ProbeOptions& o, explain::Lang lang)
        : o_(o), ex_(lang), width_(output_width()), transport_(std::chrono::seconds(o.timeout)) {}

    int run() {
        outcome_.target = o_.target;
        outcome_.from = o_.from;
        outcome_.to = o_.to;
        outcome_.timeout_seconds = o_.timeout;
        try {
            session();
        } catch (const Timeout&) {
            outcome_.failure = ProbeOutcome::Failure::timeout;
            outcome_.failed_step = step_;
        } catch (const Closed&) {
            outcome_.failure = ProbeOutcome::Failure::closed;
            outcome_.failed_step = step_;
        } catch (const std::system_error& e) {
            outcome_.failure = step_ == ProbeStep::connect ? ProbeOutcome::Failure::connect
                               : step_ == ProbeStep::tls   ? ProbeOutcome::Failure::tls
                                                           : ProbeOutcome::Failure::closed;
            outcome_.failed_step = step_;
            outcome_.error = tls_error(e);
        }
        transport_.close();
        outcome_.tls_active = transport_.tls();
        auto text = explain::verdict(ex_, outcome_);
        if (o_.json) {
            print_json(text);
        } else {
            std::cout << "\n"
                      << explain::wrap_block(std::string(ex_.ui("probe_verdict")) + std::string(ex_.ui("colon")) + text,
                                             width_);
        }
        return outcome_.ok() ? exit_ok : exit_failure;
    }

private:
    static std::string tls_error(const std::system_error& e) {
        std::string msg = e.code().message();
        if (e.code().category() == asio::error::get_ssl_category()) {
            auto reason = ERR_reason_error_string(static_cast<unsigned long>(e.code().value()));
            if (reason) msg = reason;
        }
        return msg;
    }

    void say(const std::string& line) {
        if (!o_.json) std::cout << line << "\n" << std::flush;
    }

    void note(const std::string& text) {
        if (!transcript_.empty()) transcript_.back().note += (transcript_.back().note.empty() ? "" : " ") + text;
        if (!o_.json) std::cout << explain::wrap_block(text, width_, "   ") << std::flush;
    }

    Reply read_reply() {
        Reply r;
        while (true) {
            auto line = transport_.read_line();
            r.lines.push_back(line);
            say("S: " + line);
            bool last = line.size() < 4 || line[3] != '-';
            if (last) break;
            if (r.lines.size() > 1000) break;
        }
        const auto& first = r.lines.front();
        if (first.size() >= 3 && std::isdigit(static_cast<unsigned char>(first[0])) &&
            std::isdigit(static_cast<unsigned char>(first[1])) && std::isdigit(static_cast<unsigned char>(first[2])))
            r.code = std::stoi(first.substr(0, 3));
        r.enhanced = enhanced_of(r.lines.back());
        if (!o_.json && r.code >= 200 && r.code <= 599) {
            for (auto& l : explain::wrap(ex_.short_explanation(r.code, r.enhanced), width_, "     ")) {
                std::cout << l << "\n";
            }
        }
        std::cout << std::flush;
        transcript_.back().reply = r;
        return r;
    }

    // Sends `line` (shown as `shown` when given: secrets are not printed) and reads the reply.
    Reply command(const std::string& line, const std::string& shown = {}) {
        transcript_.push_back(Exchange{shown.empty() ? line : shown, std::nullopt, {}});
        say("C: " + transcript_.back().client);
        transport_.write(line + "\r\n");
        return read_reply();
    }

    bool fail(ProbeStep step, const Reply& r) {
        outcome_.failure = ProbeOutcome::Failure::reply;
        outcome_.failed_step = step;
        outcome_.code = r.code;
        outcome_.enhanced = r.enhanced;
        return false;
    }

    bool fail(ProbeStep step, ProbeOutcome::Failure f) {
        outcome_.failure = f;
        outcome_.failed_step = step;
        return false;
    }

    void quit() {
        step_ = ProbeStep::quit;
        try {
            auto r = command("QUIT");
            if (r.code == 221) outcome_.passed.push_back(ProbeStep::quit);
        } catch (const Timeout&) {
        } catch (const Closed&) {
        } catch (const std::system_error&) {
        }
    }

    void tls_note() {
        note(explain::fill(ex_.ui("probe_tls"),
                           {{"version", transport_.tls_version()},
                            {"cipher", transport_.tls_cipher()},
                            {"cert", o_.verify ? explain::fill(ex_.ui("probe_cert_verified"), {{"host", host_}})
                                               : std::string(ex_.ui("probe_cert_unverified"))}}));
    }

    void handshake() {
        step_ = ProbeStep::tls;
        auto injected = transport_.handshake(host_, o_.verify);
        tls_note();
        if (injected) note(explain::fill(ex_.ui("probe_injected"), {{"n", std::to_string(injected)}}));
        outcome_.passed.push_back(ProbeStep::tls);
    }

    bool ehlo() {
        step_ = ProbeStep::ehlo;
        auto r = command("EHLO " + o_.helo);
        if (r.code == 421) return fail(ProbeStep::ehlo, r);
        if (r.code != 250) {
            fail(ProbeStep::ehlo, r);
            quit();
            return false;
        }
        caps_.clear();
        for (size_t i = 1; i < r.lines.size(); ++i) {
            auto kw = r.lines[i].size() > 4 ? r.lines[i].substr(4) : std::string{};
            for (auto& c : kw) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            caps_.push_back(kw);
        }
        return true;
    }

    std::optional<std::string> capability(const std::string& name) const {
        for (const auto& c : caps_) {
            if (c == name) return std::string{};
            if (c.starts_with(name + " ") || c.starts_with(name + "=")) return c.substr(name.size() + 1);
        }
        return std::nullopt;
    }

    bool authenticate() {
        step_ = ProbeStep::auth;
        auto auth = capability("AUTH");
        if (!auth) {
            fail(ProbeStep::auth, ProbeOutcome::Failure::auth_missing);
            quit();
            return false;
        }
        std::vector<std::string> mechs;
        std::istringstream in(*auth);
        for (std::string m; in >> m;) mechs.push_back(m);
        auto has = [&](const char* m) { return std::find(mechs.begin(), mechs.end(), m) != mechs.end(); };
        outcome_.mechanisms = *auth;
        if (!has("PLAIN") && !has("LOGIN")) {
            fail(ProbeStep::auth, ProbeOutcome::Failure::auth_no_mechanism);
            quit();
            return false;
        }
        if (!transport_.tls() && !o_.allow_plaintext) {
            fail(ProbeStep::auth, ProbeOutcome::Failure::auth_cleartext);
            quit();
            return false;
        }
        std::string hidden(ex_.ui("probe_hidden"));
        Reply r;
        if (has("PLAIN")) {
            std::string creds = std::string(1, '\0') + o_.user + std::string(1, '\0') + password_;
            r = command("AUTH PLAIN " + smtp::base64_encode(creds), "AUTH PLAIN " + hidden);
            if (r.code == 334) r = command(smtp::base64_encode(creds), hidden);
        } else {
            r = command("AUTH LOGIN");
            if (r.code == 334)
                r = command(smtp::base64_encode(o_.user), smtp::base64_encode(o_.user) + "  (" + o_.user + ")");
            if (r.code == 334) r = command(smtp::base64_encode(password_), hidden);
        }
        if (r.code == 334) r = command("*");  // a mechanism step the probe does not know: cancel
        if (r.code != 235) {
            fail(ProbeStep::auth, r);
            if (r.code != 421) quit();
            return false;
        }
        outcome_.passed.push_back(ProbeStep::auth);
        return true;
    }

    std::string test_message() const {
        char date[64];
        std::time_t now = std::time(nullptr);
        std::tm tm{};
        gmtime_r(&now, &tm);
        std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
        std::random_device rd;
        std::ostringstream id;
        id << std::hex << rd() << rd();
        std::string m;
        m += "From: <" + o_.from + ">\r\n";
        m += "To: <" + o_.to + ">\r\n";
        m += "Subject: Postern probe test message\r\n";
        m += std::string("Date: ") + date + "\r\n";
        m += "Message-ID: <" + id.str() + "@probe.postern.invalid>\r\n";
        m += "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
        m += "This is a test message sent by `postern probe` to check that this server accepts mail.\r\n";
        return m;
    }

    bool send_message() {
        step_ = ProbeStep::mail;
        auto r = command("MAIL FROM:<" + o_.from + ">");
        if (r.code != 250) {
            fail(ProbeStep::mail, r);
            if (r.code != 421) quit();
            return false;
        }
        outcome_.passed.push_back(ProbeStep::mail);
        step_ = ProbeStep::rcpt;
        r = command("RCPT TO:<" + o_.to + ">");
        if (r.code != 250 && r.code != 251) {
            fail(ProbeStep::rcpt, r);
            if (r.code != 421) quit();
            return false;
        }
        outcome_.passed.push_back(ProbeStep::rcpt);
        step_ = ProbeStep::data;
        r = command("DATA");
        if (r.code != 354) {
            fail(ProbeStep::data, r);
            if (r.code != 421) quit();
            return false;
        }
        auto msg = test_message();
        size_t lines = 0;
        for (char c : msg) lines += c == '\n';
        transcript_.push_back(Exchange{
            explain::fill(ex_.ui("probe_test_message"), {{"n", std::to_string(lines)}}) + " .", std::nullopt, {}});
        say("C: " + transcript_.back().client);
        transport_.write(msg + ".\r\n");
        r = read_reply();
        if (r.code != 250) {
            fail(ProbeStep::data, r);
            if (r.code != 421) quit();
            return false;
        }
        outcome_.passed.push_back(ProbeStep::data);
        return true;
    }

    void session() {
        auto colon = o_.target.rfind(':');
        host_ = o_.target.substr(0, colon);
        if (host_.size() >= 2 && host_.front() == '[' && host_.back() == ']') host_ = host_.substr(1, host_.size() - 2);
        auto port = o_.target.substr(colon + 1);
        say(explain::fill(ex_.ui("probe_connecting"), {{"target", o_.target}}));
        step_ = ProbeStep::connect;
        auto address = transport_.connect(host_, port);
        say(explain::fill(ex_.ui("probe_connected"), {{"address", address}}));
        outcome_.passed.push_back(ProbeStep::connect);
        transcript_.push_back(Exchange{});
        if (o_.tls) handshake();

        step_ = ProbeStep::greeting;
        auto greeting = read_reply();
        if (greeting.code != 220) {
            fail(ProbeStep::greeting, greeting);
            if (greeting.code != 421) quit();
            return;
        }
        outcome_.passed.push_back(ProbeStep::greeting);
        if (!ehlo()) return;
        outcome_.passed.push_back(ProbeStep::ehlo);

        if (o_.starttls) {
            step_ = ProbeStep::starttls;
            if (!capability("STARTTLS")) {
                fail(ProbeStep::starttls, ProbeOutcome::Failure::starttls_missing);
                quit();
                return;
            }
            auto r = command("STARTTLS");
            if (r.code != 220) {
                fail(ProbeStep::starttls, r);
                if (r.code != 421) quit();
                return;
            }
            outcome_.passed.push_back(ProbeStep::starttls);
            handshake();
            if (!ehlo()) return;
        }
        if (!o_.user.empty() && !authenticate()) return;
        if (!o_.from.empty() && !send_message()) return;
        quit();
    }

    void print_json(const std::string& verdict_text) {
        using explain::json_string;
        std::string o = "{\"lang\":" + json_string(explain::lang_code(ex_.lang())) +
                        ",\"target\":" + json_string(o_.target) + ",\"exchanges\":[";
        for (size_t i = 0; i < transcript_.size(); ++i) {
            const auto& x = transcript_[i];
            o += i ? "," : "";
            o += "{\"client\":" + (x.client.empty() ? std::string("null") : json_string(x.client));
            if (x.reply) {
                o += ",\"code\":" + std::to_string(x.reply->code) + ",\"enhanced\":" +
                     (x.reply->enhanced.empty() ? std::string("null") : json_string(x.reply->enhanced)) +
                     ",\"lines\":[";
                for (size_t k = 0; k < x.reply->lines.size(); ++k) o += (k ? "," : "") + json_string(x.reply->lines[k]);
                o += "],\"explanation\":" + json_string(ex_.short_explanation(x.reply->code, x.reply->enhanced));
            } else {
                o += ",\"code\":null";
            }
            if (!x.note.empty()) o += ",\"note\":" + json_string(x.note);
            o += "}";
        }
        o += "],\"verdict\":{\"ok\":" + std::string(outcome_.ok() ? "true" : "false") + ",\"step\":" +
             (outcome_.ok() ? std::string("null") : json_string(explain::step_key(outcome_.failed_step))) +
             ",\"text\":" + json_string(verdict_text) + "}}\n";
        std::cout << o;
    }

public:
    std::string password_;

private:
    const ProbeOptions& o_;
    explain::Explainer ex_;
    size_t width_;
    Transport transport_;
    ProbeOutcome outcome_;
    ProbeStep step_ = ProbeStep::connect;
    std::string host_;
    std::vector<std::string> caps_;
    std::vector<Exchange> transcript_;
};

bool valid_target(const std::string& t) {
    auto colon = t.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 >= t.size()) return false;
    auto host = t.substr(0, colon);
    if (host.find(':') != std::string::npos && !(host.front() == '[' && host.back() == ']')) return false;
    auto port = t.substr(colon + 1);
    if (port.size() > 5) return false;
    for (char c : port)
        if (c < '0' || c > '9') return false;
    auto n = std::stoul(port);
    return n >= 1 && n <= 65535;
}

std::string read_password(const std::string& file) {
    std::string pw;
    if (file == "-") {
        std::getline(std::cin, pw);
    } else {
        std::ifstream in(file, std::ios::binary);
        if (!in) throw CliError("cannot read the password file " + file, exit_usage);
        std::getline(in, pw);
    }
    while (!pw.empty() && (pw.back() == '\r' || pw.back() == '\n')) pw.pop_back();
    if (pw.empty()) throw CliError("the password file " + file + " is empty", exit_usage);
    return pw;
}

int run_probe(const ProbeOptions& o) {
    auto lang = choose_lang(o.lang);
    if (!valid_target(o.target))
        throw CliError("expected HOST:PORT (such as 127.0.0.1:587 or [::1]:465), got \"" + o.target + "\"", exit_usage);
    if (o.user.empty() != o.password_file.empty()) throw CliError("--user and --password-file go together", exit_usage);
    if (o.from.empty() != o.to.empty()) throw CliError("--from and --to go together", exit_usage);
    if (o.timeout < 1 || o.timeout > 600) throw CliError("--timeout must be 1 to 600 seconds", exit_usage);
    Probe probe(o, lang);
    if (!o.user.empty()) probe.password_ = read_password(o.password_file);
    return probe.run();
}

}  // namespace

void add_probe_command(CLI::App& app, Action& action) {
    auto o = std::make_shared<ProbeOptions>();
    auto* cmd = app.add_subcommand(
        "probe", "Run a real SMTP session against HOST:PORT and explain every reply, then give a verdict");
    cmd->add_option("target", o->target, "HOST:PORT of the server, e.g. mail.example.org:587 or [::1]:465")
        ->type_name("HOST:PORT")
        ->required();
    auto* starttls =
        cmd->add_flag("--starttls", o->starttls, "Upgrade to TLS with STARTTLS after EHLO (ports 25, 587)");
    auto* tls = cmd->add_flag("--tls", o->tls, "TLS from the first byte (implicit TLS, port 465)");
    starttls->excludes(tls);
    cmd->add_flag("--verify", o->verify, "Verify the server's certificate and host name (off by default)");
    cmd->add_option("--user", o->user, "Log in (AUTH PLAIN, or LOGIN) as this user")->type_name("USER");
    cmd->add_option("--password-file", o->password_file, "File whose first line is the password (- for stdin)")
        ->type_name("FILE");
    cmd->add_flag("--allow-plaintext", o->allow_plaintext, "Send the password even without TLS");
    cmd->add_option("--from", o->from, "Send a test message from this address (with --to)")->type_name("ADDRESS");
    cmd->add_option("--to", o->to, "Send a test message to this address (with --from)")->type_name("ADDRESS");
    cmd->add_option("--helo", o->helo, "Name given in EHLO (default: probe.postern.invalid)")->type_name("NAME");
    cmd->add_option("--timeout", o->timeout, "Seconds to wait for each step (default: 15)")->type_name("SECONDS");
    cmd->add_option("--lang", o->lang, "Language: en, vi or zh (default: from LC_ALL / LC_MESSAGES / LANG)")
        ->type_name("LANG");
    cmd->add_flag("--json", o->json, "Print the transcript and verdict as JSON");
    cmd->callback([&action, o] { action = [o] { return run_probe(*o); }; });
}

}  // namespace postern::app
