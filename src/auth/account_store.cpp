// Accounts in SQLite: names, argon2id hashes, SCRAM-SHA-256 keys, app passwords and extra addresses.
// Hashing and key derivation run outside the lock; only SQL is serialised.
#include "auth/account_store.hpp"

#include <sodium.h>

#include <algorithm>
#include <ctime>
#include <mutex>

#include "auth/password_hash.hpp"
#include "auth/scram.hpp"
#include "store/sqlite.hpp"

namespace postern::auth {

namespace {

// Binary values (salts, SCRAM keys) are stored as lower-case hex text, so the file stays readable with sqlite3.
constexpr store::Migration migrations[] = {
    // 1: accounts with their password hash and creation time (unix seconds).
    "CREATE TABLE users(name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, created INTEGER NOT NULL)",
    // 2: SCRAM-SHA-256 keys, app passwords and extra addresses. Existing accounts get their salt now; their
    // SCRAM keys appear at the next password change or successful password login (NULL until then).
    "ALTER TABLE users ADD COLUMN scram_salt TEXT;"
    "ALTER TABLE users ADD COLUMN scram_iterations INTEGER;"
    "ALTER TABLE users ADD COLUMN scram_stored_key TEXT;"
    "ALTER TABLE users ADD COLUMN scram_server_key TEXT;"
    "ALTER TABLE users ADD COLUMN require_app_password INTEGER NOT NULL DEFAULT 0;"
    "UPDATE users SET scram_salt = lower(hex(randomblob(16)));"
    // revoked: unix seconds of the revocation, NULL while the app password is valid.
    "CREATE TABLE app_passwords(id INTEGER PRIMARY KEY, user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"
    " label TEXT NOT NULL, hash TEXT NOT NULL, scram_stored_key TEXT NOT NULL, scram_server_key TEXT NOT NULL,"
    " created INTEGER NOT NULL, last_used INTEGER, revoked INTEGER);"
    "CREATE UNIQUE INDEX app_passwords_valid_label ON app_passwords(user, label) WHERE revoked IS NULL;"
    "CREATE TABLE addresses(address TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE);"
    "CREATE INDEX addresses_by_user ON addresses(user);",
};

// Revoked app passwords compared when a login fails, to log "revoked app password": the most recent ones.
constexpr int revoked_keys_checked = 100;

std::string to_lower(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// For messages: a hostile name must not put control characters on the terminal or in logs.
std::string printable(std::string_view text) {
    std::string out;
    for (char c : text.substr(0, 80)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
    return out;
}

// The lower-cased name, or AccountError when it is not a valid user name.
std::string normalized(std::string_view name) {
    if (!AccountStore::valid_user_name(name))
        throw AccountError("invalid user name \"" + printable(name) +
                           "\": use 1-64 of a-z 0-9 . _ -, starting with a letter or digit");
    return to_lower(name);
}

void check_label(std::string_view label) {
    if (!AccountStore::valid_app_password_label(label))
        throw AccountError("invalid app password label \"" + printable(label) +
                           "\": use 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit");
}

int64_t now() { return static_cast<int64_t>(std::time(nullptr)); }

std::string to_hex(std::string_view bin) {
    std::string out(bin.size() * 2 + 1, '\0');
    sodium_bin2hex(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bin.data()), bin.size());
    out.pop_back();
    return out;
}

std::string from_hex(const std::string& hex) {
    std::string out(hex.size() / 2, '\0');
    size_t length = 0;
    if (hex.size() % 2 != 0 ||
        sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), hex.data(), hex.size(), nullptr,
                       &length, nullptr) != 0 ||
        length != out.size())
        throw store::DbError("accounts.db: malformed hex value in a SCRAM column");
    return out;
}

// Constant-time comparison of two raw keys of equal, non-zero length.
bool same_key(const std::string& a, const std::string& b) {
    return !a.empty() && a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string user_missing(const std::string& user) { return "user " + user + " does not exist"; }

bool is_atext(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

bool valid_dot_atom(std::string_view text) {
    if (text.empty() || text.front() == '.' || text.back() == '.') return false;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '.') {
            if (text[i + 1] == '.') return false;  // i + 1 < size: the last character is not a dot
        } else if (!is_atext(text[i])) {
            return false;
        }
    }
    return true;
}

bool valid_domain(std::string_view domain) {
    if (domain.empty() || domain.size() > 253) return false;
    size_t start = 0;
    while (true) {
        size_t dot = domain.find('.', start);
        std::string_view label = domain.substr(start, dot == std::string_view::npos ? domain.npos : dot - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
        for (char c : label)
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
                return false;
        if (dot == std::string_view::npos) return true;
        start = dot + 1;
    }
}

}  // namespace

struct AccountStore::Impl {
    Impl(const std::filesystem::path& file, config::Auth c) : db(file), cost(c) {}

    // What one login needs, read in one go under the lock.
    struct LoginData {
        bool found = false;
        std::string hash;
        bool require_app_password = false;
        std::string salt_hex;                 // empty when missing
        std::optional<uint32_t> iterations;  // nullopt before the account's first SCRAM key
        bool main_key_missing = true;
        struct App {
            int64_t id = 0;
            std::string label;
            std::string hash;
        };
        std::vector<App> apps;                   // valid ones, oldest first
        std::vector<std::string> revoked_keys;  // StoredKeys (hex) of the most recently revoked ones
    };

    LoginData login_data(const std::string& user) {
        LoginData d;
        std::lock_guard lock(mutex);
        {
            auto st = db.query(
                "SELECT password_hash, require_app_password, scram_salt, scram_iterations, scram_stored_key IS NULL "
                "FROM users WHERE name = ?1",
                user);
            if (!st.step()) return d;
            d.found = true;
            d.hash = st.column_text(0);
            d.require_app_password = st.column_int(1) != 0;
            d.salt_hex = st.column_text(2);
            if (!st.column_is_null(3)) d.iterations = static_cast<uint32_t>(st.column_int(3));
            d.main_key_missing = st.column_int(4) != 0;
        }
        {
            auto st = db.query("SELECT id, label, hash FROM app_passwords WHERE user = ?1 AND revoked IS NULL "
                               "ORDER BY id LIMIT ?2",
                               user, static_cast<int64_t>(max_app_passwords));
            while (st.step()) d.apps.push_back({st.column_int(0), st.column_text(1), st.column_text(2)});
        }
        {
            auto st = db.query("SELECT scram_stored_key FROM app_passwords WHERE user = ?1 AND revoked IS NOT NULL "
                               "ORDER BY revoked DESC, id DESC LIMIT ?2",
                               user, static_cast<int64_t>(revoked_keys_checked));
            while (st.step()) d.revoked_keys.push_back(st.column_text(0));
        }
        return d;
    }

    // After a successful main-password login: upgrade the hash to the configured cost, and derive the SCRAM keys
    // of an account that predates them. Opportunistic: a failure here is retried at the next login.
    void maintain_main(const std::string& user, const LoginData& d, std::string_view password) {
        try {
            if (d.main_key_missing && !d.salt_hex.empty()) {
                uint32_t iterations = d.iterations.value_or(cost.scram_iterations);
                ScramKey key = derive_scram_key(password, from_hex(d.salt_hex), iterations);
                std::lock_guard lock(mutex);
                db.query("UPDATE users SET scram_stored_key = ?3, scram_server_key = ?4, scram_iterations = ?5 "
                         "WHERE name = ?1 AND password_hash = ?2 AND scram_stored_key IS NULL "
                         "AND scram_salt = ?6 AND (scram_iterations IS NULL OR scram_iterations = ?5)",
                         user, d.hash, to_hex(key.stored_key), to_hex(key.server_key),
                         static_cast<int64_t>(iterations), d.salt_hex)
                    .run();
            }
            if (needs_rehash(d.hash, cost)) {
                // Skipped if a concurrent passwd already replaced it (the WHERE clause matches the old hash only).
                std::string fresh = hash_password(password, cost);
                std::lock_guard lock(mutex);
                db.query("UPDATE users SET password_hash = ?3 WHERE name = ?1 AND password_hash = ?2", user, d.hash,
                         fresh)
                    .run();
            }
        } catch (const std::exception&) {
        }
    }

    void maintain_app(const LoginData::App& app, std::string_view password) {
        try {
            if (!needs_rehash(app.hash, cost)) return;
            std::string fresh = hash_password(password, cost);
            std::lock_guard lock(mutex);
            db.query("UPDATE app_passwords SET hash = ?3 WHERE id = ?1 AND hash = ?2", app.id, app.hash, fresh).run();
        } catch (const std::exception&) {
        }
    }

    // The account's SCRAM salt (hex) and iteration count as stored; found = false when the user does not exist.
    struct ScramParams {
        bool found = false;
        std::string salt_hex;
        std::optional<uint32_t> iterations;
        int64_t valid_apps = 0;
    };

    // Caller holds the lock.
    ScramParams scram_params(const std::string& user) {
        ScramParams p;
        auto st = db.query("SELECT scram_salt, scram_iterations, "
                           "(SELECT count(*) FROM app_passwords WHERE user = ?1 AND revoked IS NULL) "
                           "FROM users WHERE name = ?1",
                           user);
        if (!st.step()) return p;
        p.found = true;
        p.salt_hex = st.column_text(0);
        if (!st.column_is_null(1)) p.iterations = static_cast<uint32_t>(st.column_int(1));
        p.valid_apps = st.column_int(2);
        return p;
    }

    ScramParams locked_scram_params(const std::string& user) {
        std::lock_guard lock(mutex);
        return scram_params(user);
    }

    // Caller holds the lock.
    bool exists(const std::string& user) {
        auto st = db.query("SELECT 1 FROM users WHERE name = ?1", user);
        return st.step();
    }

    const std::string& dummy() {
        // Made on first use, by any caller, so its one-time cost does not single out unknown users.
        std::call_once(dummy_once, [this] {
            unsigned char random[32];
            randombytes_buf(random, sizeof random);
            dummy_hash = hash_password(std::string_view(reinterpret_cast<char*>(random), sizeof random), cost);
        });
        return dummy_hash;
    }

    store::Database db;
    config::Auth cost;
    std::mutex mutex;
    std::once_flag dummy_once;
    std::string dummy_hash;
};

AccountStore::AccountStore(const std::filesystem::path& db_file, config::Auth cost) {
    check_cost(cost);
    if (cost.scram_iterations == 0 || cost.scram_iterations > 0x7fffffffu)
        throw AccountError("scram_iterations " + std::to_string(cost.scram_iterations) + " is out of range");
    impl_ = std::make_unique<Impl>(db_file, cost);
    impl_->db.migrate("accounts", migrations);
}

AccountStore::~AccountStore() = default;

bool AccountStore::valid_user_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
    if (!alnum(name.front())) return false;
    for (char c : name)
        if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
    return true;
}

bool AccountStore::valid_app_password_label(std::string_view label) {
    return valid_user_name(label);  // the same characters; labels keep their case
}

std::optional<std::string> AccountStore::normalize_address(std::string_view address) {
    if (address.empty() || address.size() > 254) return std::nullopt;
    size_t at = address.rfind('@');
    if (at == std::string_view::npos || at == 0 || at > 64) return std::nullopt;
    if (!valid_dot_atom(address.substr(0, at)) || !valid_domain(address.substr(at + 1))) return std::nullopt;
    return to_lower(address);
}

// ---- accounts ----

void AccountStore::add_user(std::string_view name, std::string_view password) {
    std::string user = normalized(name);
    check_password_length(password);
    // Checked before hashing so a duplicate fails fast; the primary key still settles a race.
    if (user_exists(user)) throw AccountError("user " + user + " already exists");
    std::string hash = hash_password(password, impl_->cost);
    std::string salt = random_salt();
    ScramKey key = derive_scram_key(password, salt, impl_->cost.scram_iterations);
    std::lock_guard lock(impl_->mutex);
    try {
        impl_->db
            .query("INSERT INTO users(name, password_hash, created, scram_salt, scram_iterations, scram_stored_key, "
                   "scram_server_key) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                   user, hash, now(), to_hex(salt), static_cast<int64_t>(impl_->cost.scram_iterations),
                   to_hex(key.stored_key), to_hex(key.server_key))
            .run();
    } catch (const store::ConstraintError&) {
        throw AccountError("user " + user + " already exists");
    }
}

void AccountStore::set_password(std::string_view name, std::string_view password) {
    std::string user = normalized(name);
    check_password_length(password);
    Impl::ScramParams before = impl_->locked_scram_params(user);
    if (!before.found) throw AccountError(user_missing(user));
    // The salt stays for the life of the account: app passwords' keys were made with it. So does the iteration
    // count while app passwords exist; without any, the account takes the configured count.
    std::string salt_hex = before.salt_hex.empty() ? to_hex(random_salt()) : before.salt_hex;
    uint32_t iterations = (before.valid_apps == 0 || !before.iterations) ? impl_->cost.scram_iterations
                                                                          : *before.iterations;
    std::string hash = hash_password(password, impl_->cost);
    ScramKey key = derive_scram_key(password, from_hex(salt_hex), iterations);

    std::lock_guard lock(impl_->mutex);
    store::Transaction tx(impl_->db);
    Impl::ScramParams now_params = impl_->scram_params(user);
    if (!now_params.found) throw AccountError(user_missing(user));
    if (now_params.salt_hex != before.salt_hex ||
        (now_params.valid_apps > 0 && now_params.iterations && *now_params.iterations != iterations))
        throw AccountError("the account " + user + " changed while its password was being set; try again");
    impl_->db
        .query("UPDATE users SET password_hash = ?2, scram_salt = ?3, scram_iterations = ?4, scram_stored_key = ?5, "
               "scram_server_key = ?6 WHERE name = ?1",
               user, hash, salt_hex, static_cast<int64_t>(iterations), to_hex(key.stored_key),
               to_hex(key.server_key))
        .run();
    tx.commit();
}

void AccountStore::delete_user(std::string_view name) {
    std::string user = normalized(name);
    std::lock_guard lock(impl_->mutex);
    store::Transaction tx(impl_->db);
    impl_->db.query("DELETE FROM addresses WHERE user = ?1", user).run();
    impl_->db.query("DELETE FROM app_passwords WHERE user = ?1", user).run();
    impl_->db.query("DELETE FROM users WHERE name = ?1", user).run();
    if (impl_->db.changes() == 0) throw AccountError(user_missing(user));
    tx.commit();
}

std::vector<UserInfo> AccountStore::list_users() {
    std::lock_guard lock(impl_->mutex);
    std::vector<UserInfo> users;
    auto st = impl_->db.prepare("SELECT name, created, require_app_password FROM users ORDER BY name");
    while (st.step()) users.push_back({st.column_text(0), st.column_int(1), st.column_int(2) != 0});
    return users;
}

std::optional<UserInfo> AccountStore::user_info(std::string_view name) {
    if (!valid_user_name(name)) return std::nullopt;
    std::lock_guard lock(impl_->mutex);
    auto st = impl_->db.query("SELECT name, created, require_app_password FROM users WHERE name = ?1", to_lower(name));
    if (!st.step()) return std::nullopt;
    return UserInfo{st.column_text(0), st.column_int(1), st.column_int(2) != 0};
}

bool AccountStore::user_exists(std::string_view name) {
    if (!valid_user_name(name)) return false;
    std::lock_guard lock(impl_->mutex);
    return impl_->exists(to_lower(name));
}

void AccountStore::set_require_app_password(std::string_view name, bool required) {
    std::string user = normalized(name);
    std::lock_guard lock(impl_->mutex);
    impl_->db.query("UPDATE users SET require_app_password = ?2 WHERE name = ?1", user, required ? 1 : 0).run();
    if (impl_->db.changes() == 0) throw AccountError(user_missing(user));
}

// ---- CredentialVerifier ----

VerifyResult AccountStore::verify_password(std::string_view name, std::string_view password) {
    VerifyResult result;
    result.status = VerifyResult::Status::bad;
    try {
        // Length limits are public, so refusing early tells an attacker nothing about the user.
        if (password.empty() || password.size() > max_password_bytes) {
            result.reason = "wrong password";
            return result;
        }
        const std::string& dummy = impl_->dummy();
        std::string user = valid_user_name(name) ? to_lower(name) : std::string();
        Impl::LoginData d = user.empty() ? Impl::LoginData{} : impl_->login_data(user);
        if (!d.found) {
            // An unknown user is checked against the dummy hash, so it costs one argon2 run like a known one.
            (void)verify_hash(dummy, password);
            result.reason = "unknown user";
            return result;
        }
        if (verify_hash(d.hash, password)) {
            impl_->maintain_main(user, d, password);
            if (d.require_app_password) {
                result.reason = "main password not allowed (require_app_password)";
                return result;
            }
            result.status = VerifyResult::Status::ok;
            result.user = user;
            return result;
        }
        for (const Impl::LoginData::App& app : d.apps) {
            if (!verify_hash(app.hash, password)) continue;
            impl_->maintain_app(app, password);
            result.status = VerifyResult::Status::ok;
            result.user = user;
            result.app_password_label = app.label;
            return result;
        }
        // All credentials share one salt and count, so one PBKDF2 run checks every revoked app password.
        if (!d.revoked_keys.empty() && !d.salt_hex.empty() && d.iterations) {
            ScramKey key = derive_scram_key(password, from_hex(d.salt_hex), *d.iterations);
            bool revoked = false;
            for (const std::string& stored : d.revoked_keys) revoked |= same_key(from_hex(stored), key.stored_key);
            if (revoked) {
                result.reason = "revoked app password";
                return result;
            }
        }
        result.reason = "wrong password";
        return result;
    } catch (const std::exception& e) {
        result = {};
        result.status = VerifyResult::Status::unavailable;
        result.reason = std::string("account store: ") + e.what();
        return result;
    }
}

std::optional<std::string> AccountStore::credential_fingerprint(std::string_view name) {
    if (!valid_user_name(name)) return std::nullopt;
    std::string user = to_lower(name);
    std::lock_guard lock(impl_->mutex);
    auto st = impl_->db.query(
        "SELECT u.password_hash || '|' || u.require_app_password || '|' || "
        "coalesce((SELECT group_concat(id || ':' || hash, ',') FROM app_passwords "
        "          WHERE user = u.name AND revoked IS NULL), '') FROM users u WHERE u.name = ?1",
        user);
    if (!st.step()) return std::nullopt;
    return st.column_text(0);
}

std::optional<ScramCredentials> AccountStore::scram_credentials(std::string_view name) {
    if (!valid_user_name(name)) return std::nullopt;
    std::string user = to_lower(name);
    ScramCredentials creds;
    creds.user = user;
    std::lock_guard lock(impl_->mutex);
    bool main_allowed = false;
    {
        auto st = impl_->db.query("SELECT scram_salt, scram_iterations, scram_stored_key, scram_server_key, "
                                  "require_app_password FROM users WHERE name = ?1",
                                  user);
        if (!st.step()) return std::nullopt;
        creds.salt = st.column_is_null(0) ? std::string() : from_hex(st.column_text(0));
        creds.iterations =
            st.column_is_null(1) ? impl_->cost.scram_iterations : static_cast<uint32_t>(st.column_int(1));
        main_allowed = st.column_int(4) == 0;
        if (main_allowed && !st.column_is_null(2) && !st.column_is_null(3))
            creds.keys.push_back({from_hex(st.column_text(2)), from_hex(st.column_text(3)), std::string()});
    }
    auto st = impl_->db.query("SELECT label, scram_stored_key, scram_server_key FROM app_passwords "
                              "WHERE user = ?1 AND revoked IS NULL ORDER BY id LIMIT ?2",
                              user, static_cast<int64_t>(max_app_passwords));
    while (st.step())
        creds.keys.push_back({from_hex(st.column_text(1)), from_hex(st.column_text(2)), st.column_text(0)});
    return creds;
}

void AccountStore::app_password_used(std::string_view name, std::string_view label) {
    if (!valid_user_name(name)) return;
    std::lock_guard lock(impl_->mutex);
    impl_->db
        .query("UPDATE app_passwords SET last_used = ?3 WHERE user = ?1 AND label = ?2 AND revoked IS NULL",
               to_lower(name), label, now())
        .run();
}

// ---- app passwords ----

std::string AccountStore::create_app_password(std::string_view user, std::string_view label) {
    std::string password = generate_app_password();
    add_app_password(user, label, password);
    return password;
}

void AccountStore::add_app_password(std::string_view name, std::string_view label, std::string_view password) {
    std::string user = normalized(name);
    check_label(label);
    check_password_length(password);
    const std::string in_use = user + " already has an app password labelled \"" + std::string(label) + "\"";
    const std::string too_many = user + " already has " + std::to_string(max_app_passwords) +
                                 " app passwords, the most allowed; revoke one first";

    // Checked before hashing so mistakes fail fast; the transaction below checks again.
    Impl::ScramParams before;
    {
        std::lock_guard lock(impl_->mutex);
        before = impl_->scram_params(user);
        if (!before.found) throw AccountError(user_missing(user));
        if (before.valid_apps >= static_cast<int64_t>(max_app_passwords)) throw AccountError(too_many);
        auto st = impl_->db.query("SELECT 1 FROM app_passwords WHERE user = ?1 AND label = ?2 AND revoked IS NULL",
                                  user, label);
        if (st.step()) throw AccountError(in_use);
    }
    std::string salt_hex = before.salt_hex.empty() ? to_hex(random_salt()) : before.salt_hex;
    uint32_t iterations = before.iterations.value_or(impl_->cost.scram_iterations);
    std::string hash = hash_password(password, impl_->cost);
    ScramKey key = derive_scram_key(password, from_hex(salt_hex), iterations);

    std::lock_guard lock(impl_->mutex);
    store::Transaction tx(impl_->db);
    Impl::ScramParams now_params = impl_->scram_params(user);
    if (!now_params.found) throw AccountError(user_missing(user));
    if (now_params.salt_hex != before.salt_hex || now_params.iterations != before.iterations)
        throw AccountError("the account " + user + " changed while the app password was being made; try again");
    if (now_params.valid_apps >= static_cast<int64_t>(max_app_passwords)) throw AccountError(too_many);
    impl_->db
        .query("UPDATE users SET scram_salt = ?2, scram_iterations = ?3 WHERE name = ?1", user, salt_hex,
               static_cast<int64_t>(iterations))
        .run();
    try {
        impl_->db
            .query("INSERT INTO app_passwords(user, label, hash, scram_stored_key, scram_server_key, created) "
                   "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                   user, label, hash, to_hex(key.stored_key), to_hex(key.server_key), now())
            .run();
    } catch (const store::ConstraintError&) {
        throw AccountError(in_use);
    }
    tx.commit();
}

void AccountStore::revoke_app_password(std::string_view name, std::string_view label) {
    std::string user = normalized(name);
    std::lock_guard lock(impl_->mutex);
    impl_->db
        .query("UPDATE app_passwords SET revoked = ?3 WHERE user = ?1 AND label = ?2 AND revoked IS NULL", user,
               label, now())
        .run();
    if (impl_->db.changes() > 0) return;
    if (!impl_->exists(user)) throw AccountError(user_missing(user));
    throw AccountError(user + " has no app password labelled \"" + printable(label) + "\"");
}

std::vector<AppPasswordInfo> AccountStore::list_app_passwords(std::string_view name) {
    std::string user = normalized(name);
    std::lock_guard lock(impl_->mutex);
    if (!impl_->exists(user)) throw AccountError(user_missing(user));
    std::vector<AppPasswordInfo> out;
    auto st = impl_->db.query(
        "SELECT label, created, last_used, revoked FROM app_passwords WHERE user = ?1 ORDER BY created, id", user);
    while (st.step()) {
        AppPasswordInfo info;
        info.label = st.column_text(0);
        info.created = st.column_int(1);
        if (!st.column_is_null(2)) info.last_used = st.column_int(2);
        if (!st.column_is_null(3)) info.revoked = st.column_int(3);
        out.push_back(std::move(info));
    }
    return out;
}

// ---- addresses ----

void AccountStore::add_address(std::string_view name, std::string_view address_text,
                               const std::vector<std::string>& local_domains) {
    std::string user = normalized(name);
    std::optional<std::string> address = normalize_address(address_text);
    if (!address)
        throw AccountError("invalid address \"" + printable(address_text) + "\": expected local@domain");
    size_t at = address->rfind('@');
    std::string local = address->substr(0, at);
    std::string domain = address->substr(at + 1);
    bool local_domain = std::any_of(local_domains.begin(), local_domains.end(),
                                    [&](const std::string& d) { return to_lower(d) == domain; });

    std::lock_guard lock(impl_->mutex);
    store::Transaction tx(impl_->db);
    if (!impl_->exists(user)) throw AccountError(user_missing(user));
    if (local_domain) {
        // user@<local domain> is implicitly the user's own: it cannot be given to somebody else.
        if (local == user) throw AccountError(*address + " is already an address of " + user);
        if (local == "postmaster") throw AccountError(*address + " is the postmaster's address");
        if (valid_user_name(local) && impl_->exists(local))
            throw AccountError(*address + " is already owned by user " + local);
    }
    try {
        impl_->db.query("INSERT INTO addresses(address, user) VALUES(?1, ?2)", *address, user).run();
    } catch (const store::ConstraintError&) {
        auto st = impl_->db.query("SELECT user FROM addresses WHERE address = ?1", *address);
        std::string owner = st.step() ? st.column_text(0) : std::string();
        if (owner == user) throw AccountError(*address + " is already an address of " + user);
        throw AccountError(*address + " is already owned by user " + owner);
    }
    tx.commit();
}

void AccountStore::delete_address(std::string_view name, std::string_view address_text) {
    std::string user = normalized(name);
    std::string address = normalize_address(address_text).value_or(std::string(address_text));
    std::lock_guard lock(impl_->mutex);
    impl_->db.query("DELETE FROM addresses WHERE address = ?1 AND user = ?2", address, user).run();
    if (impl_->db.changes() > 0) return;
    if (!impl_->exists(user)) throw AccountError(user_missing(user));
    throw AccountError(user + " has no address " + printable(address));
}

std::vector<std::string> AccountStore::list_addresses(std::string_view name) {
    std::string user = normalized(name);
    std::lock_guard lock(impl_->mutex);
    if (!impl_->exists(user)) throw AccountError(user_missing(user));
    std::vector<std::string> out;
    auto st = impl_->db.query("SELECT address FROM addresses WHERE user = ?1 ORDER BY address", user);
    while (st.step()) out.push_back(st.column_text(0));
    return out;
}

std::vector<std::string> AccountStore::addresses_of(std::string_view name,
                                                    const std::vector<std::string>& local_domains) {
    std::vector<std::string> out;
    if (!valid_user_name(name)) return out;
    std::string user = to_lower(name);
    std::vector<std::string> extra;
    {
        std::lock_guard lock(impl_->mutex);
        if (!impl_->exists(user)) return out;
        auto st = impl_->db.query("SELECT address FROM addresses WHERE user = ?1 ORDER BY address", user);
        while (st.step()) extra.push_back(st.column_text(0));
    }
    auto add = [&out](std::string address) {
        if (std::find(out.begin(), out.end(), address) == out.end()) out.push_back(std::move(address));
    };
    for (const std::string& domain : local_domains) add(user + "@" + to_lower(domain));
    for (std::string& address : extra) add(to_lower(address));
    return out;
}

std::optional<std::string> AccountStore::user_for_address(std::string_view address) {
    std::lock_guard lock(impl_->mutex);
    auto st = impl_->db.query("SELECT user FROM addresses WHERE address = ?1", to_lower(address));
    if (!st.step()) return std::nullopt;
    return st.column_text(0);
}

}  // namespace postern::auth
