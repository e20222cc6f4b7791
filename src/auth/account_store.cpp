// Accounts in SQLite: names and argon2id hashes. Hashing runs outside the lock; only SQL is serialised.
#include "auth/account_store.hpp"

#include <sodium.h>

#include <ctime>
#include <mutex>

#include "auth/password_hash.hpp"
#include "store/sqlite.hpp"

namespace postern::auth {

namespace {

constexpr store::Migration migrations[] = {
    // 1: accounts with their password hash and creation time (unix seconds).
    "CREATE TABLE users(name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, created INTEGER NOT NULL)",
};

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

}  // namespace

struct AccountStore::Impl {
    Impl(const std::filesystem::path& file, config::Auth c) : db(file), cost(c) {}

    // The user's stored hash, or "" when there is none.
    std::string find_hash(const std::string& name) {
        std::lock_guard lock(mutex);
        auto st = db.query("SELECT password_hash FROM users WHERE name = ?1", name);
        return st.step() ? st.column_text(0) : std::string();
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

void AccountStore::add_user(std::string_view name, std::string_view password) {
    std::string user = normalized(name);
    check_password_length(password);
    // Checked before hashing so a duplicate fails fast; the primary key still settles a race.
    if (user_exists(user)) throw AccountError("user " + user + " already exists");
    std::string hash = hash_password(password, impl_->cost);
    std::lock_guard lock(impl_->mutex);
    try {
        impl_->db.query("INSERT INTO users(name, password_hash, created) VALUES(?1, ?2, ?3)", user, hash,
                        static_cast<int64_t>(std::time(nullptr)))
            .run();
    } catch (const store::ConstraintError&) {
        throw AccountError("user " + user + " already exists");
    }
}

void AccountStore::set_password(std::string_view name, std::string_view password) {
    std::string user = normalized(name);
    check_password_length(password);
    if (!user_exists(user)) throw AccountError("user " + user + " does not exist");
    std::string hash = hash_password(password, impl_->cost);
    std::lock_guard lock(impl_->mutex);
    impl_->db.query("UPDATE users SET password_hash = ?2 WHERE name = ?1", user, hash).run();
    if (impl_->db.changes() == 0) throw AccountError("user " + user + " does not exist");
}

void AccountStore::delete_user(std::string_view name) {
    std::string user = normalized(name);
    std::lock_guard lock(impl_->mutex);
    impl_->db.query("DELETE FROM users WHERE name = ?1", user).run();
    if (impl_->db.changes() == 0) throw AccountError("user " + user + " does not exist");
}

std::vector<UserInfo> AccountStore::list_users() {
    std::lock_guard lock(impl_->mutex);
    std::vector<UserInfo> users;
    auto st = impl_->db.prepare("SELECT name, created FROM users ORDER BY name");
    while (st.step()) users.push_back({st.column_text(0), st.column_int(1)});
    return users;
}

bool AccountStore::user_exists(std::string_view name) {
    if (!valid_user_name(name)) return false;
    std::lock_guard lock(impl_->mutex);
    auto st = impl_->db.query("SELECT 1 FROM users WHERE name = ?1", to_lower(name));
    return st.step();
}

bool AccountStore::verify_password(std::string_view name, std::string_view password) {
    // Length limits are public, so refusing early tells an attacker nothing about the user.
    if (password.empty() || password.size() > max_password_bytes) return false;
    const std::string& dummy = impl_->dummy();
    std::string hash = valid_user_name(name) ? impl_->find_hash(to_lower(name)) : std::string();
    // An unknown user is checked against the dummy hash, so both paths cost one argon2 run.
    bool found = !hash.empty();
    bool ok = verify_hash(found ? hash : dummy, password);
    if (!found || !ok) return false;
    if (needs_rehash(hash, impl_->cost)) {
        // The admin changed the cost: upgrade this hash now that we know the password. Skipped if a
        // concurrent passwd already replaced it (the WHERE clause matches the old hash only).
        std::string fresh = hash_password(password, impl_->cost);
        std::lock_guard lock(impl_->mutex);
        impl_->db.query("UPDATE users SET password_hash = ?3 WHERE name = ?1 AND password_hash = ?2", to_lower(name),
                        hash, fresh)
            .run();
    }
    return true;
}

}  // namespace postern::auth
