#include "server/server.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <list>

#include "auth/account_store.hpp"
#include "delivery/lmtp.hpp"
#include "delivery/maildir.hpp"
#include "delivery/smtp_relay.hpp"
#include "dns/resolver.hpp"
#include "observe/log.hpp"
#include "queue/control.hpp"
#include "queue/runner.hpp"
#include "queue/spool.hpp"
#include "server/recipients.hpp"
#include "server/connection.hpp"
#include "server/control.hpp"
#include "server/io_pool.hpp"
#include "server/server_context.hpp"
#include "server/tls_context.hpp"

namespace postern::server {

using asio::ip::tcp;
using asio::use_awaitable;
using asio::experimental::as_tuple;

namespace {

tcp::acceptor open_acceptor(asio::io_context& io, const config::Listener& l) {
    auto addr = asio::ip::make_address(l.host);
    tcp::endpoint ep(addr, l.port);
    tcp::acceptor acceptor(io);
    acceptor.open(ep.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    if (addr.is_v6()) acceptor.set_option(asio::ip::v6_only(true));  // "::" and "0.0.0.0" can both be listed
    acceptor.bind(ep);
    acceptor.listen(asio::socket_base::max_listen_connections);
    return acceptor;
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, config::Listener listener, IoPool& pool,
                                  ServerContext& ctx) {
    while (acceptor.is_open()) {
        auto& io = pool.next();
        auto [ec, socket] = co_await acceptor.async_accept(io, as_tuple(use_awaitable));
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
            observe::warn("accept failed listener={} error=\"{}\"", listener.address, ec.message());
            continue;  // e.g. out of file descriptors: keep serving the others
        }
        std::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        auto conn = std::make_shared<Connection>(ctx, std::move(socket), listener);
        ctx.registry.add(conn);
        asio::co_spawn(io, conn->run(), [conn, &ctx](std::exception_ptr e) {
            if (!e) return;
            ctx.registry.remove(conn.get());
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                observe::error("connection ended by an error: {}", ex.what());
            }
        });
    }
}

std::shared_ptr<asio::ssl::context> load_tls(const config::Config& cfg) {
    try {
        TlsFiles files{cfg.tls.cert, cfg.tls.key};
        if (files.cert.empty()) files = ensure_self_signed(cfg.data_dir / "tls", cfg.hostname);
        return make_tls_context(files);
    } catch (const std::exception& e) {
        // Without TLS, STARTTLS gets 454 and AUTH stays closed; implicit-TLS listeners cannot serve at all.
        observe::error("tls unavailable: {}", e.what());
        return nullptr;
    }
}

policy::Settings policy_settings(const config::Config& cfg) {
    using std::chrono::duration_cast;
    using std::chrono::seconds;
    const auto& l = cfg.limits;
    policy::Settings s;
    s.max_connections = l.max_connections;
    s.max_connections_per_ip = l.max_connections_per_ip;
    s.connections_per_minute_per_ip = l.connections_per_minute_per_ip;
    s.auth_failures_per_ip = l.auth_failures_per_ip;
    s.auth_failure_window = std::max(seconds(1), duration_cast<seconds>(l.auth_failure_window));
    s.auth_ban_time = duration_cast<seconds>(l.auth_ban_time);
    s.auth_failures_per_account = l.auth_failures_per_account;
    s.account_lockout_time = duration_cast<seconds>(l.account_lockout_time);
    s.messages_per_hour_per_user = l.messages_per_hour_per_user;
    s.recipients_per_hour_per_user = l.recipients_per_hour_per_user;
    s.messages_per_hour_per_ip = l.messages_per_hour_per_ip;
    s.recipients_per_hour_per_ip = l.recipients_per_hour_per_ip;
    s.greylist = cfg.greylist.enabled;
    s.greylist_delay = duration_cast<seconds>(cfg.greylist.delay);
    s.greylist_ttl = std::max(seconds(1), duration_cast<seconds>(cfg.greylist.ttl));
    for (const auto& text : l.allow_networks)
        if (auto n = policy::Network::parse(text)) s.allow.push_back(*n);
    return s;
}

queue::RunnerSettings runner_settings(const config::Config& cfg) {
    queue::RunnerSettings s;
    s.hostname = cfg.hostname;
    s.retry_schedule = cfg.queue.retry_schedule;
    s.max_queue_lifetime = cfg.queue.max_queue_lifetime;
    s.delay_warning_time = cfg.queue.delay_warning_time;
    s.threads = cfg.queue.delivery_threads;
    return s;
}

// Where a bounce goes: a local account for an address at a local domain, the address itself elsewhere.
queue::Router bounce_router(const config::Config& cfg, RecipientResolver& resolver) {
    return [&cfg, &resolver](const std::string& address) -> std::optional<queue::QueuedRecipient> {
        auto at = address.rfind('@');
        smtp::Mailbox mailbox;
        mailbox.local = at == std::string::npos ? address : address.substr(0, at);
        mailbox.domain = at == std::string::npos ? std::string{} : smtp::ascii_lower(address.substr(at + 1));
        bool local = mailbox.domain.empty() || std::find(cfg.local_domains.begin(), cfg.local_domains.end(),
                                                         mailbox.domain) != cfg.local_domains.end();
        if (!local) return queue::QueuedRecipient{address, {}};
        auto found = resolver.resolve(mailbox);
        if (found.verdict == smtp::LookupVerdict::temp_fail) throw std::runtime_error("account lookup failed");
        if (found.verdict != smtp::LookupVerdict::found) return std::nullopt;
        return queue::QueuedRecipient{address, found.user};
    };
}

// Thousands of connections need thousands of descriptors: take the hard limit.
void raise_fd_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

}  // namespace

int run_server(const config::Config& initial, std::function<config::Config()> reload_config) {
    std::signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    namespace fs = std::filesystem;
    auto cfg = std::make_shared<const config::Config>(initial);
    try {
        fs::create_directories(cfg->data_dir);
        fs::permissions(cfg->data_dir, fs::perms::owner_all, fs::perm_options::replace);
    } catch (const std::exception& e) {
        observe::error("cannot use data_dir {}: {}", cfg->data_dir.string(), e.what());
        return 1;
    }

    auth::AccountStore accounts(auth::accounts_file(cfg->data_dir), cfg->auth);
    queue::Spool spool(cfg->data_dir / "spool");
    // Delivery agents: local users by Maildir or LMTP; remote recipients by SMTP to the smarthost or MX hosts.
    delivery::MaildirDelivery maildir(cfg->data_dir / "mail", cfg->hostname);
    std::unique_ptr<delivery::LmtpDelivery> lmtp;
    if (cfg->delivery.local == config::Delivery::Local::lmtp)
        lmtp = std::make_unique<delivery::LmtpDelivery>(cfg->lmtp, cfg->delivery, cfg->hostname);
    queue::DeliveryAgent& local_agent = lmtp ? static_cast<queue::DeliveryAgent&>(*lmtp) : maildir;
    dns::UnboundResolver resolver(cfg->dns.resolver, cfg->dns.timeout);
    delivery::SmtpDelivery remote_agent(*cfg, resolver);
    RecipientResolver bounce_lookup(accounts, cfg->postmaster);
    queue::QueueRunner runner(spool, runner_settings(*cfg), local_agent, remote_agent,
                              bounce_router(*cfg, bounce_lookup));
    spool.on_committed([&runner](std::shared_ptr<queue::SpoolEntry> e) { runner.enqueue(std::move(e)); });
    runner.start();
    spool.start();
    std::unique_ptr<queue::QueueControl> queue_control;
    try {
        queue_control = std::make_unique<queue::QueueControl>(cfg->data_dir / "queue.sock", runner);
    } catch (const std::exception& e) {
        observe::error("queue control socket unavailable: {}", e.what());
    }

    IoPool pool(cfg->io_threads);
    asio::thread_pool auth_pool(std::max(2u, std::thread::hardware_concurrency()));
    policy::Policy policy(policy_settings(*cfg), std::make_unique<policy::MemoryPolicyState>());
    auth::CachingVerifier verifier(accounts, cfg->auth.cache_ttl);
    ServerContext ctx(cfg, load_tls(*cfg), accounts, verifier, spool, policy, auth_pool);

    std::list<tcp::acceptor> acceptors;
    for (const auto& l : cfg->listeners) {
        try {
            acceptors.push_back(open_acceptor(pool.main(), l));
        } catch (const std::exception& e) {
            observe::error("cannot listen on {} ({}): {}", l.address, config::mode_name(l.mode), e.what());
            return 1;
        }
        asio::co_spawn(pool.main(), accept_loop(acceptors.back(), l, pool, ctx), asio::detached);
        observe::info("listening address={} mode={}", l.address, config::mode_name(l.mode));
    }

    // SIGHUP (or `reload` on the control socket): config and certificates anew, sessions untouched. Listener
    // addresses are bound at start; changing them needs a restart.
    auto reload = [&] {
        try {
            auto next = std::make_shared<const config::Config>(reload_config ? reload_config() : *ctx.config());
            policy.update(policy_settings(*next));
            verifier.set_ttl(next->auth.cache_ttl);
            ctx.reload(next, load_tls(*next));
            observe::info("reloaded configuration");
        } catch (const std::exception& e) {
            observe::error("reload failed, keeping the running configuration: {}", e.what());
        }
    };
    asio::signal_set hup(pool.main(), SIGHUP);
    std::function<void(std::error_code, int)> on_hup = [&](std::error_code ec, int) {
        if (ec) return;
        reload();
        hup.async_wait(on_hup);
    };
    hup.async_wait(on_hup);

    std::unique_ptr<ControlSocket> control;
    try {
        control = std::make_unique<ControlSocket>(pool.main(), cfg->data_dir / "control.sock", ctx, reload);
    } catch (const std::exception& e) {
        observe::error("control socket unavailable: {}", e.what());
    }

    // SIGTERM/SIGINT: stop accepting, close idle sessions with 421 4.3.2, let transactions finish up to
    // drain_timeout, then close those too. Everything acknowledged is already on disk.
    asio::signal_set signals(pool.main(), SIGTERM, SIGINT);
    asio::steady_timer drain(pool.main());
    signals.async_wait([&](std::error_code ec, int signo) {
        if (ec) return;
        observe::info("shutting down signal={} sessions={}", signo, ctx.registry.size());
        for (auto& a : acceptors) a.close();
        if (control) control->close();
        hup.cancel();
        ctx.registry.shutdown_all(false);
        pool.release();
        drain.expires_after(ctx.config()->limits.drain_timeout);
        drain.async_wait([&](std::error_code ec2) {
            if (!ec2) ctx.registry.shutdown_all(true);
        });
        // Once every session has ended, the drain timer must not hold the main context any longer.
        asio::co_spawn(
            pool.main(),
            [&]() -> asio::awaitable<void> {
                asio::steady_timer poll(pool.main());
                while (ctx.registry.size() > 0) {
                    poll.expires_after(std::chrono::milliseconds(20));
                    co_await poll.async_wait(use_awaitable);
                }
                drain.cancel();
            },
            asio::detached);
    });

    observe::info("postern {} started hostname={} data_dir={}", POSTERN_VERSION, cfg->hostname,
                  cfg->data_dir.string());
    pool.run();
    pool.join();
    auth_pool.join();
    if (queue_control) queue_control->close();
    runner.stop();  // ends deliveries in progress (they resume at the next start) before the spool goes
    spool.stop();   // commits anything still in flight (its sessions have been answered by now)
    observe::info("stopped");
    return 0;
}

}  // namespace postern::server
