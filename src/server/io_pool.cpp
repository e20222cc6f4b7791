#include "server/io_pool.hpp"

namespace postern::server {

IoPool::IoPool(unsigned threads) {
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < threads; ++i) contexts_.push_back(std::make_unique<asio::io_context>(1));
}

IoPool::~IoPool() {
    stop();
    join();
}

asio::io_context& IoPool::next() { return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()]; }

void IoPool::run() {
    // A context with no connection yet must not return at once: the guards hold them until release().
    for (size_t i = 1; i < contexts_.size(); ++i) {
        guards_.push_back(asio::make_work_guard(*contexts_[i]));
        threads_.emplace_back([ctx = contexts_[i].get()] { ctx->run(); });
    }
    contexts_.front()->run();
}

void IoPool::release() {
    for (auto& g : guards_) g.reset();
}

void IoPool::join() {
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
}

void IoPool::stop() {
    for (auto& c : contexts_) c->stop();
}

}  // namespace postern::server
