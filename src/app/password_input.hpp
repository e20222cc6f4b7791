// Reading a new password for `user add` / `user passwd` from standard input.
#pragma once

#include <istream>
#include <optional>
#include <string>

namespace postern::app {

// One line from `in` without its trailing "\n" or "\r\n"; nullopt at end of input with nothing read.
std::optional<std::string> read_line(std::istream& in);

// On a terminal: prompts "Password: " and "Again: " on stderr with echo off, and the two must match.
// Otherwise: reads one line, for scripts (`echo secret | postern user add alice`). Throws CliError.
std::string read_new_password();

}  // namespace postern::app
