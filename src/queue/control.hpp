// `postern queue ...` against a running server: <data_dir>/queue.sock, a Unix socket only the owner can open.
// One command line in, the answer out ("ok" or "error ..." first), then close:
//
//   list | show ID | flush [ID] | delete ID | hold ID | release ID
//
// Without a running server the CLI does the same directly on the spool files (OfflineQueue): no other process
// writes them then.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <thread>

#include "queue/runner.hpp"

namespace postern::queue {

class QueueControl {
public:
    QueueControl(std::filesystem::path path, QueueRunner& runner);  // throws when the socket cannot be made
    ~QueueControl();
    void close();

    std::string execute(std::string_view line);

private:
    void run();

    std::filesystem::path path_;
    QueueRunner& runner_;
    int listen_fd_ = -1;
    int wake_[2] = {-1, -1};
    std::thread thread_;
};

// The same commands on the spool directory of a server that is not running.
std::string offline_queue_command(const std::filesystem::path& spool_dir, std::string_view line);

// Client side: sends one line, returns the whole answer. Throws std::runtime_error when nothing listens there.
std::string queue_request(const std::filesystem::path& path, std::string_view line);

}  // namespace postern::queue
