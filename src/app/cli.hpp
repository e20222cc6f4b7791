// Shared pieces of the command line: exit statuses, the --config / --data-dir options, and how each command
// family registers itself. Each family lives in its own cli_*.cpp; main.cpp only wires them together.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>

#include "config/config.hpp"

namespace postern::app {

inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;  // the command could not do its job (user exists, database error...)
inline constexpr int exit_usage = 2;    // bad command line or bad config file

// What the parsed command will do. Commands set it from their CLI11 callback; main runs it after parsing.
using Action = std::function<int()>;

// A failure the user can fix; main prints "postern: <what>" and exits with `status`.
struct CliError : std::runtime_error {
    CliError(const std::string& message, int exit_status) : std::runtime_error(message), status(exit_status) {}
    int status;
};

// Where a command finds its configuration and data.
struct ConfigOptions {
    std::string config_file;  // empty: the embedded default
    std::string data_dir;     // non-empty: overrides the config's data_dir
};

void add_config_option(CLI::App& command, ConfigOptions& options);
void add_data_dir_option(CLI::App& command, ConfigOptions& options);

// The config named by the options (embedded default when none), with --data-dir applied. Throws ConfigError.
config::Config load_config(const ConfigOptions& options);

// Runs the action and turns every exception into "postern: <message>" on stderr and an exit status:
// ConfigError → 2, CliError → its status, anything else → 1.
int run_action(const Action& action);

void add_serve_command(CLI::App& app, Action& action);
void add_check_config_command(CLI::App& app, Action& action);
void add_user_commands(CLI::App& app, Action& action);
void add_app_password_commands(CLI::App& app, Action& action);
void add_control_commands(CLI::App& app, Action& action);
void add_version_command(CLI::App& app, Action& action);
void add_explain_commands(CLI::App& app, Action& action);  // explain and probe (cli_explain.cpp, cli_probe.cpp)
void add_queue_commands(CLI::App& app, Action& action);
void add_dkim_commands(CLI::App& app, Action& action);

}  // namespace postern::app
