// Accounts and the addresses they own, kept in SQLite under data_dir (accounts.db).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace postern::auth {

struct AccountError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Where the store lives inside a data_dir; the server and every CLI command use this one name.
inline std::filesystem::path accounts_file(const std::filesystem::path& data_dir) {
    return data_dir / "accounts.db";
}

struct UserInfo {
    std::string name;
    int64_t created = 0;  // unix seconds
};

// Thread-safe: each call takes its own connection lock, released while argon2 runs so logins hash in parallel.
// Opening creates the file (mode 0600), its directory and the schema when missing.
// Database failures surface as store::DbError (a std::runtime_error): treat them as "backend down".
class AccountStore {
public:
    explicit AccountStore(const std::filesystem::path& db_file, config::Auth cost = {});
    ~AccountStore();
    AccountStore(const AccountStore&) = delete;
    AccountStore& operator=(const AccountStore&) = delete;

    // User names: 1-64 of [a-z0-9._-], starting with a letter or digit; stored lower-case.
    static bool valid_user_name(std::string_view name);

    void add_user(std::string_view name, std::string_view password);     // throws AccountError if exists / invalid
    void set_password(std::string_view name, std::string_view password);  // throws if missing
    void delete_user(std::string_view name);                              // throws if missing
    std::vector<UserInfo> list_users();
    bool user_exists(std::string_view name);
    bool verify_password(std::string_view name, std::string_view password);  // constant-time via libsodium

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace postern::auth
