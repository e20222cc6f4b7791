// Runs the listeners of a configuration until SIGTERM/SIGINT; returns the process exit status.
#pragma once

#include "config/config.hpp"

namespace postern::server {

int run_server(const config::Config& cfg);

}  // namespace postern::server
