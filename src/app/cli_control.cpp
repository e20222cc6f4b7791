// `postern maintenance on|off|status` and `postern ban list|remove`: commands for a running server, sent over
// its control socket (<data_dir>/control.sock).
#include <iostream>
#include <memory>

#include "app/cli.hpp"
#include "server/control.hpp"

namespace postern::app {

namespace {

// Sends one line; prints the answer without its "ok" status line. "error ..." answers exit 1.
int request(const ConfigOptions& options, const std::string& line) {
    auto cfg = load_config(options);
    std::string answer;
    try {
        answer = server::control_request(cfg.data_dir / "control.sock", line);
    } catch (const std::exception& e) {
        throw CliError(e.what(), exit_failure);
    }
    auto nl = answer.find('\n');
    auto status = answer.substr(0, nl);
    auto rest = nl == std::string::npos ? std::string{} : answer.substr(nl + 1);
    if (status.starts_with("error")) throw CliError(status.substr(status.find(' ') + 1), exit_failure);
    if (status.size() > 3) std::cout << status.substr(3) << "\n";
    std::cout << rest;
    return exit_ok;
}

CLI::App* control_subcommand(CLI::App& parent, const std::string& name, const std::string& help,
                             std::shared_ptr<ConfigOptions> options) {
    auto* cmd = parent.add_subcommand(name, help);
    add_config_option(*cmd, *options);
    add_data_dir_option(*cmd, *options);
    return cmd;
}

}  // namespace

void add_control_commands(CLI::App& app, Action& action) {
    auto options = std::make_shared<ConfigOptions>();

    auto* maintenance = app.add_subcommand("maintenance", "Switch maintenance mode of the running server");
    maintenance->require_subcommand(1);
    auto message = std::make_shared<std::string>();
    auto* on = control_subcommand(*maintenance, "on", "New sessions get 421 4.3.2; sessions in progress finish",
                                  options);
    on->add_option("-m,--message", *message, "Text of the 421 reply");
    on->callback([&action, options, message] {
        action = [options, message] { return request(*options, "maintenance on " + *message); };
    });
    control_subcommand(*maintenance, "off", "Serve new sessions again", options)->callback([&action, options] {
        action = [options] { return request(*options, "maintenance off"); };
    });
    control_subcommand(*maintenance, "status", "Maintenance mode, live sessions, bans", options)
        ->callback([&action, options] { action = [options] { return request(*options, "status"); }; });

    auto* ban = app.add_subcommand("ban", "List or lift bans of the running server (auth-failure lockouts)");
    ban->require_subcommand(1);
    control_subcommand(*ban, "list", "One ban per line: subject, seconds left, reason", options)
        ->callback([&action, options] { action = [options] { return request(*options, "bans"); }; });
    auto subject = std::make_shared<std::string>();
    auto* remove = control_subcommand(*ban, "remove", "Lift a ban: an IP address, ip:ADDR or account:USER", options);
    remove->add_option("SUBJECT", *subject, "What to unban")->required();
    remove->callback([&action, options, subject] {
        action = [options, subject] { return request(*options, "unban " + *subject); };
    });

    control_subcommand(app, "reload", "Re-read the configuration and certificates (like SIGHUP)", options)
        ->callback([&action, options] { action = [options] { return request(*options, "reload"); }; });
}

}  // namespace postern::app
