// `postern serve`: load the configuration and hand it to the server.
#include <memory>

#include "app/cli.hpp"
#include "server/server.hpp"

namespace postern::app {

void add_serve_command(CLI::App& app, Action& action) {
    auto options = std::make_shared<ConfigOptions>();
    CLI::App* serve = app.add_subcommand("serve", "Run the SMTP server until SIGTERM or SIGINT");
    add_config_option(*serve, *options);
    add_data_dir_option(*serve, *options);
    serve->callback([options, &action] {
        action = [options] { return server::run_server(load_config(*options), [options] { return load_config(*options); }); };
    });
}

}  // namespace postern::app
