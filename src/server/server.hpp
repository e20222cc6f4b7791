// Runs the listeners of a configuration until SIGTERM/SIGINT; returns the process exit status.
#pragma once

#include <functional>

#include "config/config.hpp"

namespace postern::server {

// `reload_config` is called on SIGHUP (and `reload` on the control socket) to read the configuration anew;
// when it throws, the running configuration stays.
int run_server(const config::Config& cfg, std::function<config::Config()> reload_config = {});

}  // namespace postern::server
