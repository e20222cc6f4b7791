// `postern user add|passwd|del|list`: manage the accounts in <data_dir>/accounts.db.
#include <ctime>
#include <iostream>
#include <memory>

#include "app/cli.hpp"
#include "app/password_input.hpp"
#include "auth/account_store.hpp"

namespace postern::app {

namespace {

struct UserOptions {
    ConfigOptions config;
    std::string user;
    bool long_format = false;  // list: add the creation time
};

std::filesystem::path store_file(const config::Config& cfg) { return auth::accounts_file(cfg.data_dir); }

// Name checks come before the password prompt, so a typo fails before the user types a secret.
void require_valid_name(const std::string& name) {
    if (auth::AccountStore::valid_user_name(name)) return;
    std::string shown;
    for (char c : name) shown += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
    throw CliError("invalid user name \"" + shown + "\": use 1-64 of a-z 0-9 . _ -, starting with a letter or digit",
                   exit_failure);
}

std::string lower(std::string text) {
    for (char& c : text)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return text;
}

int user_add(const UserOptions& options) {
    config::Config cfg = load_config(options.config);
    require_valid_name(options.user);
    auth::AccountStore store(store_file(cfg), cfg.auth);
    const std::string name = lower(options.user);
    if (store.user_exists(name)) throw CliError("user " + name + " already exists", exit_failure);
    store.add_user(name, read_new_password());
    std::cerr << "user " << name << " added\n";
    return exit_ok;
}

// Opening the store creates it; commands that only act on existing users must not leave an empty file
// behind a mistyped --data-dir, so they check for it first.
bool store_missing(const config::Config& cfg) {
    std::error_code ec;
    return !std::filesystem::exists(store_file(cfg), ec);
}

int user_passwd(const UserOptions& options) {
    config::Config cfg = load_config(options.config);
    require_valid_name(options.user);
    const std::string name = lower(options.user);
    if (store_missing(cfg)) throw CliError("user " + name + " does not exist", exit_failure);
    auth::AccountStore store(store_file(cfg), cfg.auth);
    if (!store.user_exists(name)) throw CliError("user " + name + " does not exist", exit_failure);
    store.set_password(name, read_new_password());
    std::cerr << "password of " << name << " changed\n";
    return exit_ok;
}

int user_del(const UserOptions& options) {
    config::Config cfg = load_config(options.config);
    require_valid_name(options.user);
    const std::string name = lower(options.user);
    if (store_missing(cfg)) throw CliError("user " + name + " does not exist", exit_failure);
    auth::AccountStore store(store_file(cfg), cfg.auth);
    store.delete_user(name);
    std::cerr << "user " << name << " deleted\n";
    return exit_ok;
}

std::string utc_time(int64_t unix_seconds) {
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buffer;
}

int user_list(const UserOptions& options) {
    config::Config cfg = load_config(options.config);
    if (store_missing(cfg)) return exit_ok;  // no store yet: no users
    auth::AccountStore store(store_file(cfg), cfg.auth);
    std::vector<auth::UserInfo> users = store.list_users();
    // Plain output is names only, one per line, so `postern user list | xargs ...` works.
    size_t width = 0;
    for (const auth::UserInfo& u : users) width = std::max(width, u.name.size());
    for (const auth::UserInfo& u : users) {
        std::cout << u.name;
        if (options.long_format) std::cout << std::string(width - u.name.size() + 2, ' ') << utc_time(u.created);
        std::cout << "\n";
    }
    return exit_ok;
}

// Adds one `user` subcommand; `with_name` gives it the USER argument.
CLI::App* add(CLI::App& user, Action& action, const char* name, const char* help, bool with_name,
              int (*run)(const UserOptions&), std::shared_ptr<UserOptions> options = std::make_shared<UserOptions>()) {
    CLI::App* command = user.add_subcommand(name, help);
    if (with_name) command->add_option("USER", options->user, "User name")->required();
    add_config_option(*command, options->config);
    add_data_dir_option(*command, options->config);
    command->callback([options, run, &action] {
        action = [options, run] { return run(*options); };
    });
    return command;
}

}  // namespace

void add_user_commands(CLI::App& app, Action& action) {
    CLI::App* user = app.add_subcommand("user", "Manage accounts (password read from standard input)");
    user->require_subcommand(1);
    add(*user, action, "add", "Add a user", true, user_add);
    add(*user, action, "passwd", "Change a user's password", true, user_passwd);
    add(*user, action, "del", "Delete a user", true, user_del);
    auto list_options = std::make_shared<UserOptions>();
    CLI::App* list = add(*user, action, "list", "List user names, one per line", false, user_list, list_options);
    list->add_flag("-l,--long", list_options->long_format, "Also show each user's creation time (UTC)");
}

}  // namespace postern::app
