#include "server/connection.hpp"

#include <asio/co_spawn.hpp>
#include <asio/dispatch.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <asio/experimental/as_tuple.hpp>

#include <ctime>

#include "observe/log.hpp"
#include "server/spool_await.hpp"
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

smtp::SessionSettings session_settings(const config::Config& cfg) {
    smtp::SessionSettings s;
    s.hostname = cfg.hostname;
    s.local_domains = cfg.local_domains;
    s.max_message_size = cfg.limits.max_message_size;
    s.max_recipients = cfg.limits.max_recipients;
    return s;
}

}  // namespace

Connection::Connection(ServerContext& ctx, asio::ip::tcp::socket socket, const config::Listener& listener)
    : ctx_(ctx),
      socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      listener_(listener),
      session_(session_settings(ctx.cfg)) {
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
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(out), as_tuple(use_awaitable));
    if (ec) session_.close_with(smtp::ReplyId::shutting_down), socket_.close();
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
    std::string protocol = env.smtputf8 ? "UTF8SMTP" : (facts.esmtp ? "ESMTP" : "SMTP");
    std::string single = q.recipients.size() == 1 ? q.recipients.front().address : std::string{};
    auto trace = received_header({.helo = facts.helo,
                                  .client_ip = client_ip_,
                                  .hostname = ctx_.cfg.hostname,
                                  .protocol = protocol,
                                  .queue_id = q.id,
                                  .single_recipient = single,
                                  .tls = {},
                                  .auth_user = {},
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
    std::vector<char> buffer(4096);
    session_.start();
    while (true) {
        auto action = session_.advance();
        if (action == smtp::Action::effect) {
            const auto& effect = session_.pending_effect();
            if (effect.kind == smtp::EffectKind::lookup_recipient) {
                session_.recipient_result(ctx_.recipients.resolve(*effect.recipient));
            } else {
                co_await write_output();  // replies before the message, so the client is not kept waiting
                co_await store_message();
            }
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
        auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buffer), as_tuple(use_awaitable));
        reading_ = false;
        timer_.cancel();
        if (timed_out_) {
            observe::info("timeout client={} in_data={}", client_ip_, session_.in_message_content());
            session_.close_with(smtp::ReplyId::timeout);
            continue;
        }
        if (ec == asio::error::operation_aborted && shutdown_requested_) continue;
        if (ec) break;  // the client went away
        session_.feed(std::string_view(buffer.data(), n));
    }
    std::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    observe::info("disconnect client={} errors={}", client_ip_, session_.errors());
    ctx_.registry.remove(this);
}

}  // namespace postern::server
