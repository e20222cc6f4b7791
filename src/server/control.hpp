// The control socket: <data_dir>/control.sock, a Unix socket only the server's owner can open (0600 in a 0700
// directory). One command line in, the answer lines out, then close. `postern maintenance` and `postern ban`
// speak it, so a running server is switched without a restart.
//
//   maintenance on [MESSAGE] | maintenance off | status | bans | unban SUBJECT | reload
#pragma once

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/local/stream_protocol.hpp>

#include <filesystem>
#include <functional>
#include <string>

#include "server/server_context.hpp"

namespace postern::server {

class ControlSocket {
public:
    ControlSocket(asio::io_context& io, const std::filesystem::path& path, ServerContext& ctx,
                  std::function<void()> reload);
    ~ControlSocket();
    void close();

    // The answer to one command line; the first line is "ok ..." or "error ...".
    std::string execute(std::string_view line);

private:
    asio::awaitable<void> accept_loop();
    asio::awaitable<void> serve(asio::local::stream_protocol::socket socket);

    std::filesystem::path path_;
    ServerContext& ctx_;
    std::function<void()> reload_;
    asio::local::stream_protocol::acceptor acceptor_;
};

// Client side, for the CLI: sends one line, returns the whole answer. Throws std::runtime_error when no server
// is listening there.
std::string control_request(const std::filesystem::path& path, std::string_view line);

}  // namespace postern::server
