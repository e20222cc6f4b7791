// `postern version`.
#include <iostream>

#include "app/cli.hpp"

namespace postern::app {

void add_version_command(CLI::App& app, Action& action) {
    CLI::App* version = app.add_subcommand("version", "Print the version");
    version->callback([&action] {
        action = [] {
            std::cout << "postern " << POSTERN_VERSION << "\n";
            return exit_ok;
        };
    });
}

}  // namespace postern::app
