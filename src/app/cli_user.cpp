// `postern user add|passwd|del|list|require-app-password|address`: manage the accounts in <data_dir>/accounts.db.
#include <algorithm>
#include <ctime>
#include <iostream>
#include <memory>

#include "app/cli_accounts.hpp"
#include "app/password_input.hpp"
#include "auth/account_store.hpp"

namespace postern::app {

namespace accounts {

std::filesystem::path store_file(const config::Config& cfg) { return auth::accounts_file(cfg.data_dir); }

bool store_missing(const config::Config& cfg) {
    std::error_code ec;
    return !std::filesystem::exists(store_file(cfg), ec);
}

// Name checks come before the password prompt, so a typo fails before the user types a secret.
void require_valid_name(const std::string& name) {
    if (auth::AccountStore::valid_user_name(name)) return;
    std::string shown;
    for (char c : name) shown += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
    throw CliError("invalid user name \"" + shown + "\": use 1-64 of a-z 0-9 . _ -, starting with a letter or digit",
                   exit_failure);
}

std::string existing_user(const config::Config& cfg, const std::string& name) {
    require_valid_name(name);
    const std::string user = lower(name);
    if (store_missing(cfg) || !auth::AccountStore(store_file(cfg), cfg.auth).user_exists(user))
        throw CliError("user " + user + " does not exist", exit_failure);
    return user;
}

std::string lower(std::string text) {
    for (char& c : text)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return text;
}

std::string utc_time(int64_t unix_seconds) {
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buffer;
}

}  // namespace accounts

namespace {

using namespace accounts;

struct UserOptions {
    ConfigOptions config;
    std::string user;
    std::string value;         // require-app-password: on|off; address add|del: the address
    bool long_format = false;  // list: add the creation time; address list: --all
};

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
        if (options.long_format) {
            std::cout << std::string(width - u.name.size() + 2, ' ') << utc_time(u.created);
            if (u.require_app_password) std::cout << "  require_app_password";
        }
        std::cout << "\n";
    }
    return exit_ok;
}

int user_require_app_password(const UserOptions& options) {
    config::Config cfg = load_config(options.config);
    const std::string name = existing_user(cfg, options.user);
    const bool on = options.value == "on";
    auth::AccountStore store(store_file(cfg), cfg.auth);
    store.set_require_app_password(name, on);
    if (on) {
        std::cerr << name << ": the main password no longer logs in to SMTP; only app passwords do\n";
        bool any = false;
        for (const auth::AppPasswordInfo& info : store.list_app_passwords(name)) any |= !info.revoked;
        if (!any)
            std::cerr << "note: " << name << " has no app password yet: `postern app-password add " << name
                      << " LABEL` makes one\n";
    } else {
        std::cerr << name << ": the main password logs in to SMTP again\n";
    }
    return exit_ok;
}

int address_add(const UserOptions& options) {
    config::Config cfg = load_config(options.config);
    const std::string name = existing_user(cfg, options.user);
    auth::AccountStore store(store_file(cfg), cfg.auth);
    store.add_address(name, options.value, cfg.local_domains);  // validates; AccountError → exit 1
    const std::optional<std::string> address = auth::AccountStore::normalize_address(options.value);
    std::cerr << "address " << *address << " added to " << name << "\n";
    const std::string domain = address->substr(address->rfind('@') + 1);
    if (std::find(cfg.local_domains.begin(), cfg.local_domains.end(), domain) == cfg.local_domains.end())
        std::cerr << "note: " << domain << " is not one of local_domains: " << name
                  << " may send from this address, but mail to it is not received here\n";
    return exit_ok;
}

int address_del(const UserOptions& options) {
    config::Config cfg = load_config(options.config);
    const std::string name = existing_user(cfg, options.user);
    auth::AccountStore store(store_file(cfg), cfg.auth);
    store.delete_address(name, options.value);
    std::cerr << "address " << lower(options.value) << " removed from " << name << "\n";
    return exit_ok;
}

// One address per line: the extra addresses; with --all, first user@ each local domain (the implicit ones).
int address_list(const UserOptions& options) {
    config::Config cfg = load_config(options.config);
    const std::string name = existing_user(cfg, options.user);
    auth::AccountStore store(store_file(cfg), cfg.auth);
    const std::vector<std::string> addresses =
        options.long_format ? store.addresses_of(name, cfg.local_domains) : store.list_addresses(name);
    for (const std::string& address : addresses) std::cout << address << "\n";
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
    list->add_flag("-l,--long", list_options->long_format,
                   "Also show each user's creation time (UTC) and whether it requires app passwords");

    auto require_options = std::make_shared<UserOptions>();
    CLI::App* require = add(*user, action, "require-app-password",
                            "on: only app passwords log in to SMTP, not the main password; off: both do", true,
                            user_require_app_password, require_options);
    require->add_option("STATE", require_options->value, "on or off")
        ->required()
        ->check(CLI::IsMember({"on", "off"}));

    CLI::App* address =
        user->add_subcommand("address", "Extra addresses (aliases) a user receives mail at and sends from");
    address->require_subcommand(1);
    auto add_options = std::make_shared<UserOptions>();
    add(*address, action, "add", "Give the user an extra address", true, address_add, add_options)
        ->add_option("ADDRESS", add_options->value, "local@domain")
        ->required();
    auto del_options = std::make_shared<UserOptions>();
    add(*address, action, "del", "Take an extra address away from the user", true, address_del, del_options)
        ->add_option("ADDRESS", del_options->value, "local@domain")
        ->required();
    auto list_addresses_options = std::make_shared<UserOptions>();
    add(*address, action, "list", "List the user's extra addresses, one per line", true, address_list,
        list_addresses_options)
        ->add_flag("-a,--all", list_addresses_options->long_format,
                   "Also list user@ each local domain, which every user has");
}

}  // namespace postern::app
