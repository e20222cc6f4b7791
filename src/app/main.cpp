// postern: the one binary. Parses the command line, then runs the chosen command; see app/cli.hpp.
#include "app/cli.hpp"

int main(int argc, char** argv) {
    using namespace postern::app;
    CLI::App app{"Postern: an SMTP server for mail submission and local domains", "postern"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "postern " POSTERN_VERSION);
    app.failure_message([](const CLI::App* failed, const CLI::Error& e) {
        return "postern: " + CLI::FailureMessage::simple(failed, e);
    });

    Action action;
    add_serve_command(app, action);
    add_check_config_command(app, action);
    add_user_commands(app, action);
    add_app_password_commands(app, action);
    add_control_commands(app, action);
    add_version_command(app, action);
    add_explain_commands(app, action);
    add_queue_commands(app, action);
    add_dkim_commands(app, action);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // CLI11 uses its own codes (106, 109...); scripts expect 2 for bad usage, 0 for --help/--version.
        return app.exit(e) == 0 ? exit_ok : exit_usage;
    }
    return run_action(action);
}
