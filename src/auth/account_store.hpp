// Accounts, their app passwords and the extra addresses they own, kept in SQLite under data_dir (accounts.db).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "auth/credentials.hpp"
#include "config/config.hpp"

namespace postern::auth {

struct AccountError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Where the store lives inside a data_dir; the server and every CLI command use this one name.
inline std::filesystem::path accounts_file(const std::filesystem::path& data_dir) {
    return data_dir / "accounts.db";
}

// Unrevoked app passwords one user may hold: each login checks every one of them with argon2.
inline constexpr size_t max_app_passwords = 20;

struct UserInfo {
    std::string name;
    int64_t created = 0;  // unix seconds
    bool require_app_password = false;
};

struct AppPasswordInfo {
    std::string label;
    int64_t created = 0;              // unix seconds
    std::optional<int64_t> last_used;  // unix seconds of the last successful login with it
    std::optional<int64_t> revoked;    // unix seconds of its revocation; nullopt while it is valid
};

// Thread-safe: each call takes its own connection lock, released while argon2 and PBKDF2 run so logins hash in
// parallel. Opening creates the file (mode 0600), its directory and the schema when missing, and upgrades an
// older schema. Database failures surface as store::DbError (a std::runtime_error): treat them as "backend down"
// — except in verify_password, which reports them as VerifyResult::Status::unavailable.
//
// Every account has one SCRAM-SHA-256 salt for life and one iteration count shared by all its credentials, so a
// SCRAM exchange can be checked against the main password and each app password. Keys are derived whenever a
// password or app password is set; only StoredKey and ServerKey are kept, never a password.
class AccountStore : public CredentialVerifier {
public:
    explicit AccountStore(const std::filesystem::path& db_file, config::Auth cost = {});
    ~AccountStore() override;
    AccountStore(const AccountStore&) = delete;
    AccountStore& operator=(const AccountStore&) = delete;

    // User names: 1-64 of [a-z0-9._-], starting with a letter or digit; stored lower-case.
    static bool valid_user_name(std::string_view name);
    // App password labels: 1-64 of [A-Za-z0-9._-], starting with a letter or digit; compared as given.
    static bool valid_app_password_label(std::string_view label);
    // An extra address "local@domain", lower-cased: local is a dot-atom (RFC 5321 atext and dots) of at most 64
    // octets, domain is dot-separated LDH labels; 254 octets at most; ASCII only. nullopt when invalid.
    static std::optional<std::string> normalize_address(std::string_view address);

    // ---- accounts ----
    void add_user(std::string_view name, std::string_view password);     // throws AccountError if exists / invalid
    // Replaces the argon2id hash and the main password's SCRAM keys (same salt). When the user has no valid app
    // password, the account also moves to the configured scram_iterations.
    void set_password(std::string_view name, std::string_view password);  // throws if missing
    void delete_user(std::string_view name);  // also deletes its app passwords and addresses; throws if missing
    std::vector<UserInfo> list_users();
    std::optional<UserInfo> user_info(std::string_view name);
    bool user_exists(std::string_view name);
    // When on, the main password no longer logs in to SMTP (PLAIN, LOGIN, SCRAM): only app passwords do.
    void set_require_app_password(std::string_view name, bool required);  // throws if missing

    // ---- CredentialVerifier ----
    // One argon2 run for the main password (against a dummy hash for unknown users), then one per valid app
    // password until one matches. A password that matches a revoked app password is told apart by a single
    // PBKDF2 run against the revoked ones' SCRAM keys. Reasons (logs only): "unknown user", "wrong password",
    // "main password not allowed (require_app_password)", "revoked app password". Never throws: a store
    // failure is Status::unavailable.
    VerifyResult verify_password(std::string_view user, std::string_view password) override;
    // What a successful verification depends on: the password hash, the require_app_password flag and the
    // valid app passwords. Any change to them (passwd, revoke, del) changes it. nullopt for an unknown user;
    // throws store::DbError. One small query: cheap next to an argon2 run.
    std::optional<std::string> credential_fingerprint(std::string_view user);
    std::optional<ScramCredentials> scram_credentials(std::string_view user) override;
    void app_password_used(std::string_view user, std::string_view label) override;

    // ---- app passwords ----
    // Generates a password (generate_app_password()), stores its hash and SCRAM keys, and returns it: the only
    // time it can be seen. Throws AccountError for an unknown user, a bad label, a label already in use by a
    // valid app password, or when the user already has max_app_passwords valid ones.
    std::string create_app_password(std::string_view user, std::string_view label);
    // The same with a given password (imports, tests); the password follows the main password's length rule.
    void add_app_password(std::string_view user, std::string_view label, std::string_view password);
    // Throws AccountError when the user has no valid app password with this label. The label is free again.
    void revoke_app_password(std::string_view user, std::string_view label);
    // Revoked ones included, oldest first. Throws AccountError for an unknown user.
    std::vector<AppPasswordInfo> list_app_passwords(std::string_view user);

    // ---- addresses ----
    // Gives the user an extra address (an alias: mail to it is delivered to the user, and the user may send
    // from it). Throws AccountError for an unknown user, an invalid address, an address some user already owns
    // (an extra address, or user@d of an existing user when d is one of local_domains), or postmaster@ a local
    // domain.
    void add_address(std::string_view user, std::string_view address,
                     const std::vector<std::string>& local_domains = {});
    void delete_address(std::string_view user, std::string_view address);  // throws if the user does not own it
    std::vector<std::string> list_addresses(std::string_view user);         // extra addresses only, sorted
    // user@d for each local domain, then the user's extra addresses; lower-case, without duplicates. Empty for
    // an unknown user.
    std::vector<std::string> addresses_of(std::string_view user, const std::vector<std::string>& local_domains);
    // The owner of an extra address; nullopt when no user has added it.
    std::optional<std::string> user_for_address(std::string_view address_lowercase);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace postern::auth
