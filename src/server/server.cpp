#include "server/server.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <csignal>
#include <filesystem>
#include <list>

#include "auth/account_store.hpp"
#include "delivery/maildir.hpp"
#include "observe/log.hpp"
#include "queue/runner.hpp"
#include "queue/spool.hpp"
#include "server/connection.hpp"
#include "server/io_pool.hpp"
#include "server/recipients.hpp"
#include "server/tls_context.hpp"

namespace postern::server {

using asio::ip::tcp;
using asio::use_awaitable;
using asio::experimental::as_tuple;

namespace {

constexpr auto kDrainTimeout = std::chrono::seconds(30);

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

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, const config::Listener& listener, IoPool& pool,
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
        asio::co_spawn(io, conn->run(), [conn](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                observe::error("connection ended by an error: {}", ex.what());
            }
        });
    }
}

}  // namespace

int run_server(const config::Config& cfg) {
    std::signal(SIGPIPE, SIG_IGN);
    namespace fs = std::filesystem;
    try {
        fs::create_directories(cfg.data_dir);
        fs::permissions(cfg.data_dir, fs::perms::owner_all, fs::perm_options::replace);
    } catch (const std::exception& e) {
        observe::error("cannot use data_dir {}: {}", cfg.data_dir.string(), e.what());
        return 1;
    }

    auth::AccountStore accounts(cfg.data_dir / "accounts.db", cfg.auth);
    queue::Spool spool(cfg.data_dir / "spool");
    delivery::MaildirDelivery maildir(cfg.data_dir / "mail", cfg.hostname);
    queue::QueueRunner runner(spool, maildir);
    spool.on_committed([&runner](std::shared_ptr<queue::SpoolEntry> e) { runner.enqueue(std::move(e)); });
    runner.start();
    spool.start();

    std::shared_ptr<asio::ssl::context> tls;
    try {
        TlsFiles files{cfg.tls.cert, cfg.tls.key};
        if (files.cert.empty()) files = ensure_self_signed(cfg.data_dir / "tls", cfg.hostname);
        tls = make_tls_context(files);
    } catch (const std::exception& e) {
        // Without TLS, STARTTLS gets 454 and AUTH stays closed; implicit-TLS listeners cannot serve at all.
        observe::error("tls unavailable: {}", e.what());
    }

    IoPool pool(cfg.io_threads);
    asio::thread_pool auth_pool(std::max(2u, std::thread::hardware_concurrency()));
    ConnectionRegistry registry;
    RecipientResolver recipients(accounts, cfg.postmaster);
    ServerContext ctx{cfg, accounts, spool, registry, recipients, auth_pool, tls};

    std::list<tcp::acceptor> acceptors;
    for (const auto& l : cfg.listeners) {
        try {
            acceptors.push_back(open_acceptor(pool.main(), l));
        } catch (const std::exception& e) {
            observe::error("cannot listen on {} ({}): {}", l.address, config::mode_name(l.mode), e.what());
            return 1;
        }
        observe::info("listening address={} mode={}", l.address, config::mode_name(l.mode));
    }
    auto acceptor_it = acceptors.begin();
    for (const auto& l : cfg.listeners) {
        asio::co_spawn(pool.main(), accept_loop(*acceptor_it++, l, pool, ctx), asio::detached);
    }

    // SIGTERM/SIGINT: stop accepting, close idle sessions with 421 4.3.2, let transactions finish (bounded).
    asio::signal_set signals(pool.main(), SIGTERM, SIGINT);
    asio::steady_timer drain(pool.main());
    signals.async_wait([&](std::error_code ec, int signo) {
        if (ec) return;
        observe::info("shutting down signal={} sessions={}", signo, registry.size());
        for (auto& a : acceptors) a.close();
        registry.shutdown_all(false);
        pool.release();
        drain.expires_after(kDrainTimeout);
        drain.async_wait([&](std::error_code ec2) {
            if (ec2) return;
            registry.shutdown_all(true);
        });
        // Once every session has ended, the drain timer must not hold the main context any longer.
        asio::co_spawn(
            pool.main(),
            [&]() -> asio::awaitable<void> {
                asio::steady_timer poll(pool.main());
                while (registry.size() > 0) {
                    poll.expires_after(std::chrono::milliseconds(20));
                    co_await poll.async_wait(use_awaitable);
                }
                drain.cancel();
            },
            asio::detached);
    });

    observe::info("postern {} started hostname={} data_dir={}", POSTERN_VERSION, cfg.hostname, cfg.data_dir.string());
    pool.run();
    pool.join();
    auth_pool.join();
    spool.stop();   // commits anything still in flight (its sessions have been answered by now)
    runner.stop();  // delivers what is ready; the rest stays in the spool for the next start
    observe::info("stopped");
    return 0;
}

}  // namespace postern::server
