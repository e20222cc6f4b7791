// `postern check-config`: parse the configuration and show what the server would run with.
#include <iostream>
#include <memory>

#include "app/cli.hpp"

namespace postern::app {

namespace {

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
    return out;
}

int check_config(const ConfigOptions& options) {
    const config::Config cfg = load_config(options);
    std::cout << "config ok" << (options.config_file.empty() ? " (embedded default)" : ": " + options.config_file)
              << "\n";
    std::cout << "hostname:      " << cfg.hostname << "\n";
    std::cout << "data_dir:      " << cfg.data_dir.string() << "\n";
    std::cout << "local_domains: " << join(cfg.local_domains) << "\n";
    for (const config::Listener& l : cfg.listeners)
        std::cout << "listener:      " << config::mode_name(l.mode) << " " << l.address << "\n";
    if (cfg.tls.cert.empty())
        std::cout << "tls:           self-signed certificate in " << (cfg.data_dir / "tls").string() << "\n";
    else
        std::cout << "tls:           cert " << cfg.tls.cert.string() << ", key " << cfg.tls.key.string() << "\n";
    const config::Limits& limits = cfg.limits;
    std::cout << "limits:        max_message_size " << limits.max_message_size << ", max_recipients "
              << limits.max_recipients << ", command_timeout " << config::format_duration(limits.command_timeout)
              << ", data_timeout " << config::format_duration(limits.data_timeout) << ", idle_timeout "
              << config::format_duration(limits.idle_timeout) << "\n";
    const config::Auth& auth = cfg.auth;
    std::cout << "auth:          argon2_ops " << auth.argon2_ops << ", argon2_mem_kib " << auth.argon2_mem_kib
              << ", failure_delay " << config::format_duration(auth.failure_delay) << ", scram_iterations "
              << auth.scram_iterations << "\n";
    return exit_ok;
}

}  // namespace

void add_check_config_command(CLI::App& app, Action& action) {
    auto options = std::make_shared<ConfigOptions>();
    CLI::App* check = app.add_subcommand("check-config", "Check the configuration and print a summary");
    add_config_option(*check, *options);
    check->callback([options, &action] {
        action = [options] { return check_config(*options); };
    });
}

}  // namespace postern::app
