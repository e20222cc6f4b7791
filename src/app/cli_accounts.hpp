// Helpers shared by the account commands (`user ...` in cli_user.cpp, `app-password ...` in cli_app_password.cpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "app/cli.hpp"

namespace postern::app::accounts {

std::filesystem::path store_file(const config::Config& cfg);

// Opening the store creates it; commands that only act on existing users must not leave an empty file behind a
// mistyped --data-dir, so they check for it first.
bool store_missing(const config::Config& cfg);

// Throws CliError (exit 1) for an invalid user name, before any password prompt.
void require_valid_name(const std::string& name);

// The lower-cased name of an existing user; throws CliError (exit 1) "user X does not exist" otherwise,
// without creating a store that is not there.
std::string existing_user(const config::Config& cfg, const std::string& name);

std::string lower(std::string text);

// "2024-05-01T10:00:00Z"
std::string utc_time(int64_t unix_seconds);

}  // namespace postern::app::accounts
