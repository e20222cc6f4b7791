// One io_context per thread, one thread per core: a connection lives its whole life on one thread.
#pragma once

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace postern::server {

class IoPool {
public:
    explicit IoPool(unsigned threads);
    ~IoPool();

    asio::io_context& main() { return *contexts_.front(); }
    asio::io_context& next();  // round robin, for new connections

    void run();      // starts the threads; main() runs on the calling thread until it has no work
    void release();  // lets every context return once its connections are gone
    void join();     // waits for the other threads
    void stop();     // stops every context now

private:
    std::vector<std::unique_ptr<asio::io_context>> contexts_;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
    std::vector<std::thread> threads_;
    std::atomic<size_t> next_{0};
};

}  // namespace postern::server
