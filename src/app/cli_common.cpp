// The options every command shares and the one place that maps errors to messages and exit statuses.
#include <iostream>

#include "app/cli.hpp"

namespace postern::app {

void add_config_option(CLI::App& command, ConfigOptions& options) {
    command.add_option("-c,--config", options.config_file, "TOML configuration file (default: the embedded default)");
}

void add_data_dir_option(CLI::App& command, ConfigOptions& options) {
    command.add_option("-d,--data-dir", options.data_dir, "Data directory; overrides the config's data_dir");
}

config::Config load_config(const ConfigOptions& options) {
    config::Config cfg = options.config_file.empty() ? config::embedded_default()
                                                     : config::load_file(options.config_file);
    if (!options.data_dir.empty()) cfg.data_dir = options.data_dir;
    return cfg;
}

int run_action(const Action& action) {
    try {
        return action();
    } catch (const config::ConfigError& e) {
        std::cerr << "postern: " << e.what() << "\n";
        return exit_usage;
    } catch (const CliError& e) {
        std::cerr << "postern: " << e.what() << "\n";
        return e.status;
    } catch (const std::exception& e) {
        std::cerr << "postern: " << e.what() << "\n";
        return exit_failure;
    }
}

}  // namespace postern::app
