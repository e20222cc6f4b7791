// Runs a blocking function on a thread pool and resumes the awaiting coroutine on its own executor when it is
// done: password hashing must never stall an I/O thread.
#pragma once

#include <asio/async_result.hpp>
#include <asio/associated_executor.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>
#include <asio/thread_pool.hpp>

#include <utility>

namespace postern::server {

// The function reports through what it captures by reference (the awaiting frame outlives it). Nothing is
// returned through co_await and no lambda coroutine is used: GCC 12 destroys such values twice.
template <typename Function, typename Token>
auto async_offload(asio::thread_pool& pool, Function fn, Token&& token) {
    return asio::async_initiate<Token, void()>(
        [&pool](auto handler, Function fn) {
            auto work = asio::prefer(asio::get_associated_executor(handler), asio::execution::outstanding_work.tracked);
            asio::post(pool, [handler = std::move(handler), work = std::move(work), fn = std::move(fn)]() mutable {
                fn();
                asio::post(work, [handler = std::move(handler)]() mutable { std::move(handler)(); });
            });
        },
        token, std::move(fn));
}

}  // namespace postern::server
