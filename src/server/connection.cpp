#include "server/connection.hpp"

#include <asio/dispatch.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <ctime>
#include <tuple>

#include "dkim/dkim.hpp"
#include "observe/log.hpp"
#include "server/offload.hpp"
#include "server/spool_await.hpp"
#include "server/tls_context.hpp"
#include "server/trace.hpp"

namespace postern::server {

using asio::use_awaitable;
using asio::experimental::as_tuple;
using smtp::ReplyId;

namespace {

// Errors before replies to further errors are slowed down (the tarpit).
constexpr uint64_t kTarpitAfterErrors = 3;
// DATA may start slowly; the minimum rate is enforced once this much time has passed.
constexpr auto kDataRateGrace = std::chrono::seconds(10);

smtp::SessionSettings session_settings(const config::Config& cfg, const config::Listener& listener, bool tls,
                                       bool trusted) {
    smtp::SessionSettings s;
    s.hostname = cfg.hostname;
    s.local_domains = cfg.local_domains;
    s.max_message_size = cfg.limits.max_message_size;
    s.max_recipients = cfg.limits.max_recipients;
    s.max_errors = trusted ? 0 : cfg.limits.max_errors;  // the allow-list is never cut off
    s.tls_available = tls;
    s.implicit_tls = listener.mode == config::ListenerMode::submissions;
    s.auth_enabled = true;
    s.auth_requires_tls = true;  // passwords never cross the network in the clear
    s.require_auth = listener.mode != config::ListenerMode::mx;
    s.auth_mechanisms = auth::mechanism_names();
    return s;
}

std::string client_ip_of(const asio::ip::tcp::socket& socket) {
    std::error_code ec;
    auto ep = socket.remote_endpoint(ec);
    if (ec) return "unknown";
    auto addr = ep.address();
    if (addr.is_v6() && addr.to_v6().is_v4_mapped()) addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
    return addr.to_string();
}

}  // namespace

Connection::Connection(ServerContext& ctx, asio::ip::tcp::socket socket, config::Listener listener)
    : ctx_(ctx),
      cfg_(ctx.config()),
      tls_ctx_(ctx.tls()),
      socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      listener_(std::move(listener)),
      client_ip_(client_ip_of(socket_)),
      client_addr_(policy::IpAddress::parse(client_ip_)),
      trusted_(client_addr_ && ctx.policy.allowed(*client_addr_)),
      verifier_(ctx.verifier, ctx.policy, client_addr_),
      session_(session_settings(*cfg_, listener_, tls_ctx_ != nullptr, trusted_)),
      recipients_(ctx.accounts, cfg_->postmaster),
      buffer_(4096),
      started_(SteadyClock::now()) {}

void Connection::request_shutdown(bool force) {
    asio::dispatch(socket_.get_executor(), [self = shared_from_this(), force] {
        self->shutdown_requested_ = true;
        self->shutdown_forced_ = self->shutdown_forced_ || force;
        // A read in progress is cut short; run() decides whether the session is idle enough to close.
        if (self->reading_ && (force || !self->session_.in_transaction())) self->socket_.cancel();
    });
}

// Connection caps, the connection rate, bans and maintenance, before any greeting: 421 and close.
bool Connection::admit() {
    if (auto message = ctx_.maintenance()) {
        observe::info("refused client={} reason=maintenance", client_ip_);
        session_.close_with(ReplyId::maintenance, *message);
        return false;
    }
    if (!client_addr_) return true;
    auto verdict = ctx_.policy.admit(*client_addr_, policy::Clock::now());
    if (verdict == policy::ConnectVerdict::ok) {
        admitted_ = true;
        return true;
    }
    static constexpr struct {
        policy::ConnectVerdict verdict;
        ReplyId reply;
        const char* reason;
    } refusals[] = {
        {policy::ConnectVerdict::banned, ReplyId::ip_banned, "banned after authentication failures"},
        {policy::ConnectVerdict::too_many_connections, ReplyId::too_many_connections, "max_connections"},
        {policy::ConnectVerdict::too_many_from_ip, ReplyId::too_many_connections_from_ip, "max_connections_per_ip"},
        {policy::ConnectVerdict::connection_rate, ReplyId::connection_rate_exceeded, "connections_per_minute_per_ip"},
    };
    for (const auto& r : refusals) {
        if (r.verdict == verdict) {
            observe::info("refused client={} reason=\"{}\"", client_ip_, r.reason);
            session_.close_with(r.reply);
        }
    }
    return false;
}

std::chrono::milliseconds Connection::read_timeout() const {
    const auto& l = cfg_->limits;
    auto t = session_.in_message_content() ? l.data_timeout : l.command_timeout;
    t = std::min(t, l.idle_timeout);
    if (l.session_timeout.count() > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(l.session_timeout -
                                                                          (SteadyClock::now() - started_));
        t = std::min(t, std::max(left, std::chrono::milliseconds(1)));
    }
    return t;
}

void Connection::arm_timer(std::chrono::milliseconds timeout) {
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this()](std::error_code ec) {
        if (ec) return;  // re-armed or cancelled
        self->timed_out_ = true;
        self->socket_.cancel();
    });
}

// A client that trickles its message (slowloris) holds memory and a slot: below min_data_rate, once the
// grace period is over, it is let go.
bool Connection::data_too_slow(size_t bytes) {
    if (!session_.in_message_content()) {
        data_started_.reset();
        return false;
    }
    auto now = SteadyClock::now();
    if (!data_started_) {
        data_started_ = now;
        data_bytes_ = 0;
    }
    data_bytes_ += bytes;
    auto min_rate = cfg_->limits.min_data_rate;
    auto elapsed = now - *data_started_;
    if (min_rate == 0 || elapsed < kDataRateGrace) return false;
    auto secs = std::chrono::duration<double>(elapsed).count();
    return static_cast<double>(data_bytes_) / secs < static_cast<double>(min_rate);
}

asio::awaitable<void> Connection::write_output() {
    if (!session_.has_output()) co_return;
    auto out = session_.take_output();
    std::error_code ec;
    if (tls_) {
        std::tie(ec, std::ignore) = co_await asio::async_write(*tls_, asio::buffer(out), as_tuple(use_awaitable));
    } else {
        std::tie(ec, std::ignore) = co_await asio::async_write(socket_, asio::buffer(out), as_tuple(use_awaitable));
    }
    if (ec) socket_.close(ec);  // the client is gone; run() sees the closed socket
}

asio::awaitable<size_t> Connection::read_some(std::error_code& ec) {
    size_t n = 0;
    if (tls_) {
        std::tie(ec, n) = co_await tls_->async_read_some(asio::buffer(buffer_), as_tuple(use_awaitable));
    } else {
        std::tie(ec, n) = co_await socket_.async_read_some(asio::buffer(buffer_), as_tuple(use_awaitable));
    }
    co_return n;
}

// The TLS handshake, under the command timeout. False when it failed: the connection is then closed.
asio::awaitable<bool> Connection::handshake() {
    tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, *tls_ctx_);
    arm_timer(cfg_->limits.command_timeout);
    auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, as_tuple(use_awaitable));
    timer_.cancel();
    if (ec) {
        observe::info("tls handshake failed client={} error=\"{}\"", client_ip_, ec.message());
        co_return false;
    }
    tls_description_ = describe_tls(tls_->native_handle());
    observe::debug("tls client={} {}", client_ip_, tls_description_);
    co_return true;
}

// Replies to repeated errors come late: a client probing or brute-forcing the protocol is slowed down, by
// error_delay for each error past the third (pipelined errors add up).
asio::awaitable<void> Connection::tarpit(uint64_t errors_before) {
    auto errors = session_.errors();
    if (trusted_ || errors <= kTarpitAfterErrors || cfg_->limits.error_delay.count() == 0) co_return;
    auto delayed = errors - std::max(errors_before, kTarpitAfterErrors);
    if (delayed == 0) co_return;
    timer_.expires_after(cfg_->limits.error_delay * static_cast<long>(delayed));
    co_await timer_.async_wait(as_tuple(use_awaitable));
}

std::string Connection::protocol_name() const {
    // RFC 3848 names: ESMTP + S for TLS + A for AUTH.
    const auto& facts = session_.facts();
    if (!facts.esmtp) return "SMTP";
    std::string name = "ESMTP";
    if (facts.tls) name += "S";
    if (!facts.auth_user.empty()) name += "A";
    return name;
}

void Connection::check_sender() {
    const auto& user = session_.facts().auth_user;
    smtp::SenderResult result;
    if (client_addr_ && !ctx_.policy.allow_message(*client_addr_, user, policy::Clock::now())) {
        observe::info("rate limited client={} user={} what=messages", client_ip_, user);
        result.ok = false;
        result.refusal = ReplyId::message_rate_limited;
    }
    session_.sender_result(result);
}

void Connection::carry_out_lookup() {
    const auto& effect = session_.pending_effect();
    const auto& facts = session_.facts();
    auto now = policy::Clock::now();
    auto refuse = [&](ReplyId id, std::string arg = {}) {
        smtp::RecipientResult r;
        r.verdict = smtp::LookupVerdict::refused;
        r.refusal = id;
        r.refusal_arg = std::move(arg);
        session_.recipient_result(r);
    };
    if (client_addr_ && !ctx_.policy.allow_recipient(*client_addr_, facts.auth_user, effect.recipients_so_far, now)) {
        observe::info("rate limited client={} user={} what=recipients", client_ip_, facts.auth_user);
        return refuse(ReplyId::recipient_rate_limited);
    }
    if (effect.recipient_remote) {  // authenticated relay: queued for outbound delivery, no local account
        smtp::RecipientResult r;
        r.verdict = smtp::LookupVerdict::found;
        return session_.recipient_result(r);
    }
    auto result = recipients_.resolve(*effect.recipient);
    // Greylisting: only for mail that passed the other checks, only on mx, never for authenticated clients.
    if (result.verdict == smtp::LookupVerdict::found && listener_.mode == config::ListenerMode::mx &&
        facts.auth_user.empty() && client_addr_ && session_.envelope_sender()) {
        auto grey = ctx_.policy.greylist(*client_addr_, session_.envelope_sender()->str(), effect.recipient->str(), now);
        if (!grey.pass) {
            observe::info("greylisted client={} from=<{}> to=<{}> wait={}s", client_ip_,
                          session_.envelope_sender()->str(), effect.recipient->str(), grey.wait.count());
            return refuse(ReplyId::greylisted, std::to_string(grey.wait.count()));
        }
    }
    session_.recipient_result(result);
}

asio::awaitable<void> Connection::auth_step() {
    const auto& effect = session_.pending_effect();
    if (effect.auth_first) {
        // A banned address gets no password checked at all.
        if (client_addr_ && ctx_.policy.ip_banned(*client_addr_, policy::Clock::now())) {
            observe::info("auth refused client={} reason=\"banned address\"", client_ip_);
            session_.close_with(ReplyId::ip_banned);
            co_return;
        }
        sasl_ = auth::make_mechanism(effect.auth_mechanism, verifier_);
    }
    std::string mechanism(effect.auth_mechanism);
    auto* sasl = sasl_.get();
    auth::SaslOutcome outcome;
    std::optional<std::string_view> view;
    if (effect.auth_data) view = *effect.auth_data;  // the session keeps the data until auth_result()
    co_await async_offload(
        ctx_.auth_pool, [sasl, view, &outcome] { outcome = sasl->step(view); }, use_awaitable);

    using Kind = smtp::AuthStepResult::Kind;
    smtp::AuthStepResult result;
    bool close_after = false;
    auto user = outcome.user.empty() ? verifier_.last_user() : outcome.user;
    switch (outcome.kind) {
    case auth::SaslOutcome::Kind::challenge:
        result.kind = Kind::challenge;
        result.data = std::move(outcome.data);
        break;
    case auth::SaslOutcome::Kind::success:
        result.kind = Kind::success;
        result.data = std::move(outcome.data);
        result.user = outcome.user;
        try {
            result.addresses = ctx_.accounts.addresses_of(outcome.user, cfg_->local_domains);
            observe::info("auth ok client={} user={} mechanism={}", client_ip_, outcome.user, mechanism);
        } catch (const std::exception& e) {
            observe::error("auth address lookup failed user={} error=\"{}\"", outcome.user, e.what());
            result = {};
            result.kind = Kind::temporary_failure;
        }
        break;
    case auth::SaslOutcome::Kind::failure:
    case auth::SaslOutcome::Kind::malformed: {
        result.kind = outcome.kind == auth::SaslOutcome::Kind::failure ? Kind::failure : Kind::malformed;
        observe::info("auth failed client={} user={} mechanism={} reason=\"{}\"", client_ip_, user, mechanism,
                      outcome.log_reason);
        if (client_addr_ && ctx_.policy.auth_failed(*client_addr_, user, policy::Clock::now())) {
            observe::info("banned client={} reason=\"too many authentication failures\" for={}s", client_ip_,
                          cfg_->limits.auth_ban_time.count() / 1000);
            close_after = true;
        }
        break;
    }
    case auth::SaslOutcome::Kind::temporary_failure:
        result.kind = Kind::temporary_failure;
        observe::warn("auth unavailable client={} user={} reason=\"{}\"", client_ip_, user, outcome.log_reason);
        break;
    }
    if (result.kind == Kind::failure || result.kind == Kind::malformed) {
        // A failed attempt is answered late, so guessing is slow; the timer does not block the thread.
        // (No co_await inside a switch: GCC 12 destroys the frame's locals twice there.)
        timer_.expires_after(cfg_->auth.failure_delay);
        co_await timer_.async_wait(as_tuple(use_awaitable));
    }
    if (result.kind != Kind::challenge) sasl_.reset();
    session_.auth_result(std::move(result));
    if (close_after) session_.close_with(ReplyId::auth_too_many_failures);
}

asio::awaitable<void> Connection::store_message() {
    const auto& effect = session_.pending_effect();
    const auto& env = *effect.envelope;
    auto entry = std::make_shared<queue::SpoolEntry>();
    auto& q = entry->envelope;
    q.id = ctx_.spool.new_id();
    q.arrived = std::time(nullptr);
    q.sender = env.sender.str();
    q.smtputf8 = env.smtputf8;
    q.eight_bit = env.body == smtp::BodyType::eight_bit_mime;
    for (const auto& r : env.recipients) q.recipients.push_back({r.address.str(), r.user});

    const auto& facts = session_.facts();
    auto protocol = protocol_name();
    if (env.smtputf8) protocol = "UTF8" + protocol.substr(protocol.starts_with("E") ? 1 : 0);  // RFC 6531 §3.7.3
    std::string single = q.recipients.size() == 1 ? q.recipients.front().address : std::string{};
    TraceInfo trace_info;
    trace_info.helo = facts.helo;
    trace_info.client_ip = client_ip_;
    trace_info.hostname = cfg_->hostname;
    trace_info.protocol = protocol;
    trace_info.queue_id = q.id;
    trace_info.single_recipient = single;
    trace_info.tls = tls_description_;
    trace_info.auth_user = facts.auth_user;
    trace_info.when = q.arrived;
    auto trace = received_header(trace_info);
    // Submission (RFC 6409 §8): an authenticated user's message gets the Date: and Message-ID: it lacks, then a
    // DKIM signature of the envelope sender's domain (whose ownership was checked at MAIL) when it has a key.
    std::string added;
    std::string dkim_domain;
    std::filesystem::path dkim_dir;
    if (!facts.auth_user.empty()) {
        added = dkim::missing_submission_headers(*effect.message, cfg_->hostname, q.id, q.arrived);
        auto at = q.sender.rfind('@');
        dkim_dir = cfg_->dkim.key_dir.empty() ? cfg_->data_dir / "dkim" : cfg_->dkim.key_dir;
        if (cfg_->dkim.sign && at != std::string::npos && !dkim::keys_for(dkim_dir, q.sender.substr(at + 1)).empty())
            dkim_domain = smtp::ascii_lower(q.sender.substr(at + 1));
    }
    entry->message.reserve(trace.size() + added.size() + effect.message->size() + (dkim_domain.empty() ? 0 : 1024));
    entry->message.append(trace).append(added).append(*effect.message);
    effect.message->clear();
    if (!dkim_domain.empty()) {
        std::string signature;
        std::string_view signed_part(entry->message);
        signed_part.remove_prefix(trace.size());
        auto when = static_cast<std::time_t>(q.arrived);
        co_await async_offload(
            ctx_.auth_pool,
            [&] {
                try {
                    signature = dkim::sign_for_domain(dkim_dir, dkim_domain, signed_part, when);
                } catch (const std::exception& e) {
                    observe::error("dkim signing failed id={} domain={} error=\"{}\"", q.id, dkim_domain, e.what());
                }
            },
            use_awaitable);
        entry->message.insert(trace.size(), signature);
    }

    auto id = q.id;
    auto size = entry->message.size();
    auto rcpts = static_cast<uint32_t>(q.recipients.size());
    bool ok = co_await async_commit(ctx_.spool, std::move(entry), use_awaitable);
    if (ok) {
        observe::info("accepted id={} client={} user={} from=<{}> rcpts={} size={}", id, client_ip_, facts.auth_user,
                      env.sender.str(), rcpts, size);
        if (client_addr_) ctx_.policy.message_accepted(*client_addr_, facts.auth_user, rcpts, policy::Clock::now());
    }
    smtp::StoreResult result;
    result.ok = ok;
    result.queue_id = id;
    session_.store_result(result);
}

asio::awaitable<void> Connection::run() {
    auto self = shared_from_this();
    observe::info("connect client={} listener={} mode={}", client_ip_, listener_.address,
                  config::mode_name(listener_.mode));
    bool implicit_tls = listener_.mode == config::ListenerMode::submissions;
    if (implicit_tls && !(tls_ctx_ && co_await handshake())) {
        socket_.close();
    } else if (admit()) {
        session_.start();
    }
    while (socket_.is_open()) {
        auto errors_before = session_.errors();
        auto action = session_.advance();
        if (action == smtp::Action::effect) {
            // if/else, not switch: GCC 12 mishandles co_await inside switch cases.
            auto kind = session_.pending_effect().kind;
            if (kind == smtp::EffectKind::check_sender) {
                check_sender();
            } else if (kind == smtp::EffectKind::lookup_recipient) {
                carry_out_lookup();
            } else if (kind == smtp::EffectKind::store_message) {
                co_await write_output();  // earlier replies first: the client is not kept waiting for them
                co_await store_message();
            } else if (kind == smtp::EffectKind::auth_step) {
                co_await write_output();
                co_await auth_step();
            } else if (kind == smtp::EffectKind::start_tls) {
                co_await write_output();  // "220 2.0.0 Ready to start TLS" goes out in the clear
                bool ok = socket_.is_open() && co_await handshake();
                if (ok) session_.tls_started();
                else socket_.close();
            }
            continue;
        }
        if (action != smtp::Action::close) co_await tarpit(errors_before);
        co_await write_output();
        if (action == smtp::Action::close || !socket_.is_open()) break;

        if (shutdown_requested_ && (shutdown_forced_ || !session_.in_transaction())) {
            session_.close_with(ReplyId::shutting_down);
            continue;
        }
        arm_timer(read_timeout());
        reading_ = true;
        std::error_code ec;
        auto n = co_await read_some(ec);
        reading_ = false;
        timer_.cancel();
        if (timed_out_) {
            bool session_over = cfg_->limits.session_timeout.count() > 0 &&
                                SteadyClock::now() - started_ >= cfg_->limits.session_timeout;
            observe::info("timeout client={} in_data={} session_limit={}", client_ip_, session_.in_message_content(),
                          session_over);
            session_.close_with(session_over ? ReplyId::session_timeout : ReplyId::timeout);
            continue;
        }
        if (ec == asio::error::operation_aborted && shutdown_requested_) continue;
        if (ec) break;  // the client went away
        if (data_too_slow(n)) {
            observe::info("too slow client={} octets={}", client_ip_, data_bytes_);
            session_.close_with(ReplyId::data_too_slow);
            continue;
        }
        session_.feed(std::string_view(buffer_.data(), n));
    }
    std::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    if (admitted_) ctx_.policy.release(*client_addr_);
    observe::info("disconnect client={} errors={}", client_ip_, session_.errors());
    ctx_.registry.remove(this);
}

}  // namespace postern::server
