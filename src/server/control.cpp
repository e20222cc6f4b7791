#include "server/control.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/streambuf.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <sys/stat.h>

#include <fmt/format.h>

#include "observe/log.hpp"

namespace postern::server {

namespace fs = std::filesystem;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using local = asio::local::stream_protocol;

namespace {
constexpr size_t kMaxCommand = 4096;
}

ControlSocket::ControlSocket(asio::io_context& io, const fs::path& path, ServerContext& ctx,
                             std::function<void()> reload)
    : path_(path), ctx_(ctx), reload_(std::move(reload)), acceptor_(io) {
    std::error_code ec;
    fs::remove(path_, ec);  // a socket file left by a previous run
    auto old_mask = ::umask(0077);  // the socket is born owner-only
    acceptor_.open();
    acceptor_.bind(local::endpoint(path_.string()));
    ::umask(old_mask);
    ::chmod(path_.c_str(), 0600);
    acceptor_.listen();
    asio::co_spawn(io, accept_loop(), asio::detached);
}

ControlSocket::~ControlSocket() { close(); }

void ControlSocket::close() {
    if (!acceptor_.is_open()) return;
    std::error_code ec;
    acceptor_.close(ec);
    fs::remove(path_, ec);
}

asio::awaitable<void> ControlSocket::accept_loop() {
    while (acceptor_.is_open()) {
        auto [ec, socket] = co_await acceptor_.async_accept(as_tuple(use_awaitable));
        if (ec) {
            if (!acceptor_.is_open()) break;
            continue;
        }
        asio::co_spawn(acceptor_.get_executor(), serve(std::move(socket)), asio::detached);
    }
}

asio::awaitable<void> ControlSocket::serve(local::socket socket) {
    asio::streambuf buf(kMaxCommand);
    auto [ec, n] = co_await asio::async_read_until(socket, buf, '\n', as_tuple(use_awaitable));
    if (ec) co_return;
    std::string line(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + static_cast<long>(n));
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    auto answer = execute(line);
    co_await asio::async_write(socket, asio::buffer(answer), as_tuple(use_awaitable));
}

std::string ControlSocket::execute(std::string_view line) {
    auto space = line.find(' ');
    auto verb = line.substr(0, space);
    auto rest = space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
    auto now = policy::Clock::now();
    if (verb == "maintenance") {
        auto sub = rest.substr(0, rest.find(' '));
        if (sub == "on") {
            auto message = rest.size() > 3 ? std::string(rest.substr(3)) : std::string{};
            if (message.empty()) message = "Service in maintenance; try again later";
            for (auto& c : message)
                if (c == '\r' || c == '\n') c = ' ';
            ctx_.set_maintenance(message);
            observe::info("maintenance on message=\"{}\"", message);
            return "ok maintenance on\n";
        }
        if (sub == "off") {
            ctx_.set_maintenance(std::nullopt);
            observe::info("maintenance off");
            return "ok maintenance off\n";
        }
        return "error usage: maintenance on [MESSAGE] | maintenance off\n";
    }
    if (verb == "status") {
        auto m = ctx_.maintenance();
        return fmt::format("ok\nmaintenance {}{}\nsessions {}\nbans {}\n", m ? "on" : "off",
                           m ? fmt::format(" \"{}\"", *m) : std::string{}, ctx_.registry.size(),
                           ctx_.policy.bans(now).size());
    }
    if (verb == "bans") {
        std::string out = "ok\n";
        for (const auto& b : ctx_.policy.bans(now)) {
            auto left = std::chrono::duration_cast<std::chrono::seconds>(b.until - now).count();
            out += fmt::format("{} {}s {}\n", b.subject, left, b.reason);
        }
        return out;
    }
    if (verb == "unban") {
        if (rest.empty()) return "error usage: unban SUBJECT\n";
        bool lifted = ctx_.policy.unban(std::string(rest));
        observe::info("unban subject={} lifted={}", rest, lifted);
        return lifted ? "ok lifted\n" : "error no such ban\n";
    }
    if (verb == "reload") {
        reload_();
        return "ok reloading\n";
    }
    return "error unknown command\n";
}

std::string control_request(const fs::path& path, std::string_view line) {
    asio::io_context io;
    local::socket socket(io);
    std::error_code ec;
    socket.connect(local::endpoint(path.string()), ec);
    if (ec) throw std::runtime_error(fmt::format("no running server answers on {} ({})", path.string(), ec.message()));
    std::string request(line);
    request += "\n";
    asio::write(socket, asio::buffer(request));
    std::string answer;
    asio::read(socket, asio::dynamic_buffer(answer), ec);  // until the server closes
    return answer;
}

}  // namespace postern::server
