#include "server/connection.hpp"

#include <asio/co_spawn.hpp>
#include <asio/dispatch.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <asio/experimental/as_tuple.hpp>

#include <ctime>
#include <tuple>

#include "observe/log.hpp"
#include "server/spool_await.hpp"
#include "server/tls_context.hpp"
#include "server/trace.hpp"

namespace postern::server {

using asio::use_awaitable;
using asio::experimental::as_tuple;

void ConnectionRegistry::add(const std::shared_ptr<Connection>& c) {
    std::lock_guard lock(mutex_);
    live_.insert(c);
}

void ConnectionRegistry::remove(Connection* c) {
    std::lock_guard lock(mutex_);
    for (auto it = live_.begin(); it != live_.end(); ++it) {
        if (it->get() == c) {
            live_.erase(it);
            return;
        }
    }
}

size_t ConnectionRegistry::size() {
    std::lock_guard lock(mutex_);
    return live_.size();
}

void ConnectionRegistry::shutdown_all(bool force) {
    std::lock_guard lock(mutex_);
    for (const auto& c : live_) c->request_shutdown(force);
}

namespace {

smtp::SessionSettings session_settings(const ServerContext& ctx, const config::Listener& listener) {
    const auto& cfg = ctx.cfg;
    smtp::SessionSettings s;
    s.hostname = cfg.hostname;
    s.local_domains = cfg.local_domains;
    s.max_message_size = cfg.limits.max_message_size;
    s.max_recipients = cfg.limits.max_recipients;
    s.tls_available = ctx.tls != nullptr;
    s.implicit_tls = listener.mode == config::ListenerMode::submissions;
    s.auth_enabled = true;
    s.auth_requires_tls = true;  // passwords never cross the network in the clear
    s.require_auth = listener.mode != config::ListenerMode::mx;
    s.auth_mechanisms = auth::mechanism_names();
    return s;
}

}  // namespace

Connection::Connection(ServerContext& ctx, asio::ip::tcp::socket socket, const config::Listener& listener)
    : ctx_(ctx),
      socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      listener_(listener),
      session_(session_settings(ctx, listener)),
      buffer_(4096) {
    std::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    if (!ec) {
        auto addr = ep.address();
        if (addr.is_v6() && addr.to_v6().is_v4_mapped()) addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
        client_ip_ = addr.to_string();
    }
}

void Connection::request_shutdown(bool force) {
    asio::dispatch(socket_.get_executor(), [self = shared_from_this(), force] {
        self->shutdown_requested_ = true;
        self->shutdown_forced_ = self->shutdown_forced_ || force;
        // A read in progress is cut short; run() decides whether the session is idle enough to close.
        if (self->reading_ && (force || !self->session_.in_transaction())) self->socket_.cancel();
    });
}

std::chrono::milliseconds Connection::read_timeout() const {
    const auto& l = ctx_.cfg.limits;
    auto t = session_.in_message_content() ? l.data_timeout : l.command_timeout;
    return std::min(t, l.idle_timeout);
}

void Connection::arm_timer(std::chrono::milliseconds timeout) {
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this()](std::error_code ec) {
        if (ec) return;  // re-armed or cancelled
        self->timed_out_ = true;
        self->socket_.cancel();
    });
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
    tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, *ctx_.tls);
    arm_timer(ctx_.cfg.limits.command_timeout);
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

std::string Connection::protocol_name() const {
    // RFC 3848 and RFC 6531 names: ESMTP + S for TLS + A for AUTH; UTF8SMTP... for SMTPUTF8 messages.
    const auto& facts = session_.facts();
    std::string name = !facts.esmtp ? "SMTP" : "ESMTP";
    if (facts.esmtp) {
        if (facts.tls) name += "S";
        if (!facts.auth_user.empty()) name += "A";
    }
    return name;
}

asio::awaitable<void> Connection::auth_step() {
    const auto& effect = session_.pending_effect();
    if (effect.auth_first) sasl_ = auth::make_mechanism(effect.auth_mechanism, ctx_.accounts);
    std::string mechanism(effect.auth_mechanism);
    auto data = effect.auth_data;
    auto* sasl = sasl_.get();
    auto outcome = co_await asio::co_spawn(
        ctx_.auth_pool,
        [sasl, data = std::move(data)]() -> asio::awaitable<auth::SaslOutcome> {
            std::optional<std::string_view> view;
            if (data) view = *data;
            co_return sasl->step(view);
        },
        use_awaitable);

    using Kind = smtp::AuthStepResult::Kind;
    smtp::AuthStepResult result;
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
            result.addresses = ctx_.accounts.addresses_of(outcome.user, ctx_.cfg.local_domains);
        } catch (const std::exception& e) {
            observe::error("auth address lookup failed user={} error=\"{}\"", outcome.user, e.what());
            result = {};
            result.kind = Kind::temporary_failure;
        }
        observe::info("auth ok client={} user={} mechanism={}", client_ip_, outcome.user, mechanism);
        break;
    case auth::SaslOutcome::Kind::failure:
    case auth::SaslOutcome::Kind::malformed:
        result.kind = outcome.kind == auth::SaslOutcome::Kind::failure ? Kind::failure : Kind::malformed;
        observe::info("auth failed client={} user={} mechanism={} reason=\"{}\"", client_ip_, outcome.user, mechanism,
                      outcome.log_reason);
        // A failed attempt is answered late, so guessing is slow; the timer does not block the thread.
        timer_.expires_after(ctx_.cfg.auth.failure_delay);
        co_await timer_.async_wait(as_tuple(use_awaitable));
        break;
    case auth::SaslOutcome::Kind::temporary_failure:
        result.kind = Kind::temporary_failure;
        observe::warn("auth unavailable client={} user={} reason=\"{}\"", client_ip_, outcome.user, outcome.log_reason);
        break;
    }
    if (result.kind != Kind::challenge) sasl_.reset();
    session_.auth_result(std::move(result));
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
    if (env.smtputf8) protocol = "UTF8" + protocol.substr(protocol.starts_with("E") ? 1 : 0);
    std::string single = q.recipients.size() == 1 ? q.recipients.front().address : std::string{};
    auto trace = received_header({.helo = facts.helo,
                                  .client_ip = client_ip_,
                                  .hostname = ctx_.cfg.hostname,
                                  .protocol = protocol,
                                  .queue_id = q.id,
                                  .single_recipient = single,
                                  .tls = tls_description_,
                                  .auth_user = facts.auth_user,
                                  .when = q.arrived});
    entry->message.reserve(trace.size() + effect.message->size());
    entry->message.append(trace).append(*effect.message);
    effect.message->clear();

    auto id = q.id;
    auto size = entry->message.size();
    auto rcpts = q.recipients.size();
    bool ok = co_await async_commit(ctx_.spool, std::move(entry), use_awaitable);
    if (ok) {
        observe::info("accepted id={} client={} from=<{}> rcpts={} size={}", id, client_ip_, env.sender.str(), rcpts,
                      size);
    }
    session_.store_result({ok, id});
}

asio::awaitable<void> Connection::run() {
    auto self = shared_from_this();
    observe::info("connect client={} listener={} mode={}", client_ip_, listener_.address,
                  config::mode_name(listener_.mode));
    if (listener_.mode == config::ListenerMode::submissions && !(ctx_.tls && co_await handshake())) {
        ctx_.registry.remove(this);
        co_return;
    }
    session_.start();
    while (true) {
        auto action = session_.advance();
        if (action == smtp::Action::effect) {
            const auto& effect = session_.pending_effect();
            switch (effect.kind) {
            case smtp::EffectKind::lookup_recipient:
                session_.recipient_result(ctx_.recipients.resolve(*effect.recipient));
                break;
            case smtp::EffectKind::store_message:
                co_await write_output();  // earlier replies first: the client is not kept waiting for them
                co_await store_message();
                break;
            case smtp::EffectKind::auth_step:
                co_await write_output();
                co_await auth_step();
                break;
            case smtp::EffectKind::start_tls:
                co_await write_output();  // "220 2.0.0 Ready to start TLS" goes out in the clear
                if (!socket_.is_open() || !co_await handshake()) {
                    socket_.close();
                    break;
                }
                session_.tls_started();
                break;
            case smtp::EffectKind::none:
                break;
            }
            if (!socket_.is_open()) break;
            continue;
        }
        co_await write_output();
        if (action == smtp::Action::close || !socket_.is_open()) break;

        if (shutdown_requested_ && (shutdown_forced_ || !session_.in_transaction())) {
            session_.close_with(smtp::ReplyId::shutting_down);
            continue;
        }
        arm_timer(read_timeout());
        reading_ = true;
        std::error_code ec;
        auto n = co_await read_some(ec);
        reading_ = false;
        timer_.cancel();
        if (timed_out_) {
            observe::info("timeout client={} in_data={}", client_ip_, session_.in_message_content());
            session_.close_with(smtp::ReplyId::timeout);
            continue;
        }
        if (ec == asio::error::operation_aborted && shutdown_requested_) continue;
        if (ec) break;  // the client went away
        session_.feed(std::string_view(buffer_.data(), n));
    }
    std::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    observe::info("disconnect client={} errors={}", client_ip_, session_.errors());
    ctx_.registry.remove(this);
}

}  // namespace postern::server
