// `postern app-password add|list|revoke`: per-device passwords of an account, kept in <data_dir>/accounts.db.
#include <algorithm>
#include <iostream>
#include <memory>

#include "app/cli_accounts.hpp"
#include "auth/account_store.hpp"

namespace postern::app {

namespace {

using namespace accounts;

struct AppPasswordOptions {
    ConfigOptions config;
    std::string user;
    std::string label;
};

void require_valid_label(const std::string& label) {
    if (auth::AccountStore::valid_app_password_label(label)) return;
    std::string shown;
    for (char c : label) shown += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
    throw CliError("invalid app password label \"" + shown +
                       "\": use 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit",
                   exit_failure);
}

// The password goes to stdout alone (so `pw=$(postern app-password add alice phone)` works); the rest to stderr.
int app_password_add(const AppPasswordOptions& options) {
    config::Config cfg = load_config(options.config);
    const std::string user = existing_user(cfg, options.user);
    require_valid_label(options.label);
    auth::AccountStore store(store_file(cfg), cfg.auth);
    const std::string password = store.create_app_password(user, options.label);
    std::cout << password << "\n" << std::flush;
    std::cerr << "app password \"" << options.label << "\" added for " << user
              << ". It is shown this once: enter it, dashes included, as the password in the mail program.\n";
    return exit_ok;
}

// One line per app password, oldest first, columns aligned:
//   LABEL  CREATED  LAST-USED|never  active
//   LABEL  CREATED  LAST-USED|never  revoked  REVOKED-AT
int app_password_list(const AppPasswordOptions& options) {
    config::Config cfg = load_config(options.config);
    const std::string user = existing_user(cfg, options.user);
    auth::AccountStore store(store_file(cfg), cfg.auth);
    const std::vector<auth::AppPasswordInfo> list = store.list_app_passwords(user);
    size_t width = 0;
    for (const auth::AppPasswordInfo& info : list) width = std::max(width, info.label.size());
    const std::string never = "never";
    const size_t time_width = utc_time(0).size();
    for (const auth::AppPasswordInfo& info : list) {
        const std::string last_used = info.last_used ? utc_time(*info.last_used) : never;
        std::cout << info.label << std::string(width - info.label.size() + 2, ' ') << utc_time(info.created) << "  "
                  << last_used << std::string(time_width - last_used.size() + 2, ' ');
        if (info.revoked)
            std::cout << "revoked  " << utc_time(*info.revoked);
        else
            std::cout << "active";
        std::cout << "\n";
    }
    return exit_ok;
}

int app_password_revoke(const AppPasswordOptions& options) {
    config::Config cfg = load_config(options.config);
    const std::string user = existing_user(cfg, options.user);
    auth::AccountStore store(store_file(cfg), cfg.auth);
    store.revoke_app_password(user, options.label);
    std::cerr << "app password \"" << options.label << "\" of " << user << " revoked\n";
    return exit_ok;
}

void add(CLI::App& parent, Action& action, const char* name, const char* help, bool with_label,
         int (*run)(const AppPasswordOptions&)) {
    auto options = std::make_shared<AppPasswordOptions>();
    CLI::App* command = parent.add_subcommand(name, help);
    command->add_option("USER", options->user, "User name")->required();
    if (with_label) command->add_option("LABEL", options->label, "Which device or program it is for")->required();
    add_config_option(*command, options->config);
    add_data_dir_option(*command, options->config);
    command->callback([options, run, &action] {
        action = [options, run] { return run(*options); };
    });
}

}  // namespace

void add_app_password_commands(CLI::App& app, Action& action) {
    CLI::App* group = app.add_subcommand("app-password", "Per-device passwords of an account");
    group->require_subcommand(1);
    add(*group, action, "add", "Generate an app password and print it once on standard output", true,
        app_password_add);
    add(*group, action, "list", "List a user's app passwords: label, created, last used, status", false,
        app_password_list);
    add(*group, action, "revoke", "Revoke an app password; its label can then be used again", true,
        app_password_revoke);
}

}  // namespace postern::app
