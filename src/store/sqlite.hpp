// A small RAII layer over SQLite, shared by auth, policy and queue: connections, statements, transactions,
// and numbered schema migrations per component.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

struct sqlite3;
struct sqlite3_stmt;

namespace postern::store {

// Any SQLite failure; what() holds SQLite's own message and the file.
struct DbError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A UNIQUE / PRIMARY KEY / NOT NULL / CHECK violation, so callers can turn a lost race into "already exists".
struct ConstraintError : DbError {
    using DbError::DbError;
};

// A prepared statement. Bind with 1-based indexes, then step() until it returns false.
class Statement {
public:
    Statement(sqlite3* db, std::string_view sql);
    ~Statement();
    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&&) = delete;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int index, std::string_view text);
    Statement& bind(int index, int64_t value);
    Statement& bind_null(int index);
    template <typename T>
        requires std::is_integral_v<T>
    Statement& bind(int index, T value) {
        return bind(index, static_cast<int64_t>(value));
    }
    Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
    Statement& bind(int index, const std::string& text) { return bind(index, std::string_view(text)); }

    // Binds each argument to ?1, ?2, ... in order.
    template <typename... Args>
    Statement& bind_all(const Args&... args) {
        int index = 0;
        (bind(++index, args), ...);
        return *this;
    }

    bool step();  // true while a row is available; throws DbError (including constraint violations)
    void run();   // steps to completion, for statements that return no rows
    void reset();

    std::string column_text(int index) const;  // 0-based, as in SQLite
    int64_t column_int(int index) const;
    bool column_is_null(int index) const;

private:
    [[noreturn]] void fail(int rc) const;
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

// A migration: the SQL that takes a component's schema from version N-1 to version N (N = its index + 1).
using Migration = std::string_view;

class Database {
public:
    struct Options {
        // Created files get these permissions; SQLite gives its -wal and -shm files the same ones.
        unsigned file_mode = 0600;
        // Create the parent directory (mode 0700) when it is missing.
        bool create_directory = true;
    };

    // Opens (creating if missing) with WAL journaling and a 5 s busy timeout.
    explicit Database(const std::filesystem::path& file, Options options);
    explicit Database(const std::filesystem::path& file) : Database(file, Options{}) {}
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    void exec(std::string_view sql);  // one or more statements, no results
    Statement prepare(std::string_view sql) { return Statement(db_, sql); }
    template <typename... Args>
    Statement query(std::string_view sql, const Args&... args) {
        Statement st = prepare(sql);
        st.bind_all(args...);
        return st;
    }
    int64_t changes() const;  // rows touched by the last INSERT/UPDATE/DELETE

    // Brings `component` (e.g. "accounts") up to version migrations.size() in one transaction, recorded in the
    // schema_version table. Throws DbError when the file is newer than this build knows.
    void migrate(std::string_view component, std::span<const Migration> migrations);

    const std::filesystem::path& file() const { return file_; }
    sqlite3* handle() { return db_; }

private:
    std::filesystem::path file_;
    sqlite3* db_ = nullptr;
};

// BEGIN IMMEDIATE on construction (takes the write lock up front, so no deadlock upgrading later);
// rolls back unless commit() was called. A ROLLBACK that fails is logged (a destructor cannot throw).
class Transaction {
public:
    explicit Transaction(Database& db);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit();

private:
    Database& db_;
    bool done_ = false;
};

}  // namespace postern::store
