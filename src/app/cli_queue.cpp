// `postern queue list|show ID|flush [ID]|delete ID|hold ID|release ID`: the queue of the running server (over
// <data_dir>/queue.sock), or, when no server runs, the spool files themselves.
#include <iostream>
#include <memory>

#include "app/cli.hpp"
#include "queue/control.hpp"

namespace postern::app {

namespace {

int queue_command(const ConfigOptions& options, const std::string& line) {
    auto cfg = load_config(options);
    std::string answer;
    try {
        answer = queue::queue_request(cfg.data_dir / "queue.sock", line);
    } catch (const std::exception&) {
        answer = queue::offline_queue_command(cfg.data_dir / "spool", line);  // no server running
    }
    auto nl = answer.find('\n');
    auto status = answer.substr(0, nl);
    auto rest = nl == std::string::npos ? std::string{} : answer.substr(nl + 1);
    if (status.starts_with("error")) throw CliError(status.substr(std::min(status.size(), size_t{6})), exit_failure);
    if (!status.starts_with("ok")) throw CliError("unexpected answer from the server: " + status, exit_failure);
    if (status.size() > 3) std::cout << status.substr(3) << "\n";
    std::cout << rest;
    return exit_ok;
}

}  // namespace

void add_queue_commands(CLI::App& app, Action& action) {
    auto options = std::make_shared<ConfigOptions>();
    auto id = std::make_shared<std::string>();
    auto* queue = app.add_subcommand("queue", "Inspect and manage the mail queue");
    queue->require_subcommand(1);
    auto sub = [&](const std::string& name, const std::string& help) {
        auto* cmd = queue->add_subcommand(name, help);
        add_config_option(*cmd, *options);
        add_data_dir_option(*cmd, *options);
        return cmd;
    };
    sub("list", "One line per message (id, state, size, arrival, sender), then its recipients")
        ->callback([&action, options] { action = [options] { return queue_command(*options, "list"); }; });
    auto with_id = [&](const std::string& name, const std::string& help, bool optional) {
        auto* cmd = sub(name, help);
        auto* opt = cmd->add_option("ID", *id, "Queue id (from `postern queue list`)");
        if (!optional) opt->required();
        cmd->callback([&action, options, id, name] {
            action = [options, id, name] { return queue_command(*options, id->empty() ? name : name + " " + *id); };
        });
    };
    with_id("show", "Envelope, recipient states and the message text", false);
    with_id("flush", "Try deferred messages now (all, or one)", true);
    with_id("delete", "Remove a message from the queue, without a bounce", false);
    with_id("hold", "Keep a message from being delivered until released", false);
    with_id("release", "Deliver a held message again, now", false);
}

}  // namespace postern::app
