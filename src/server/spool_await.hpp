// Lets a connection coroutine co_await the spool's commit without blocking its thread.
#pragma once

#include <asio/async_result.hpp>
#include <asio/associated_executor.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>

#include <memory>
#include <type_traits>

#include "queue/spool.hpp"

namespace postern::server {

template <typename Token>
auto async_commit(queue::Spool& spool, std::shared_ptr<queue::SpoolEntry> entry, Token&& token) {
    return asio::async_initiate<Token, void(bool)>(
        [&spool](auto handler, std::shared_ptr<queue::SpoolEntry> entry) {
            using Handler = std::decay_t<decltype(handler)>;
            struct Waiter : queue::CommitWaiter {
                explicit Waiter(Handler h)
                    : handler(std::move(h)),
                      // Keeps the connection's io_context running while the committer thread works.
                      work(asio::prefer(asio::get_associated_executor(handler), asio::execution::outstanding_work.tracked)) {}
                void committed(bool ok) override {
                    asio::post(work, [h = std::move(handler), ok]() mutable { h(ok); });
                }
                Handler handler;
                std::decay_t<decltype(asio::prefer(asio::get_associated_executor(std::declval<Handler&>()),
                                                   asio::execution::outstanding_work.tracked))>
                    work;
            };
            spool.submit(std::move(entry), std::make_unique<Waiter>(std::move(handler)));
        },
        token, std::move(entry));
}

}  // namespace postern::server
