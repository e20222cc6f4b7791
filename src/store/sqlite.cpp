// SQLite connection, statement and transaction wrappers; see sqlite.hpp.
#include "store/sqlite.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "observe/log.hpp"

namespace postern::store {

namespace {

std::string where(sqlite3* db) {
    const char* name = db ? sqlite3_db_filename(db, "main") : nullptr;
    return (name && *name) ? std::string(name) + ": " : std::string();
}

[[noreturn]] void throw_error(sqlite3* db, int rc, std::string_view context) {
    std::string message = where(db) + std::string(context) + (context.empty() ? "" : ": ") +
                          (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    if ((rc & 0xff) == SQLITE_CONSTRAINT) throw ConstraintError(message);
    throw DbError(message);
}

// Creates the file ourselves so its mode is ours, not SQLite's default 0644.
void create_file(const std::filesystem::path& file, unsigned mode) {
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, static_cast<mode_t>(mode));
    if (fd < 0) {
        if (errno == EEXIST) return;  // another process won the race; use its file
        throw DbError(file.string() + ": cannot create: " + std::strerror(errno));
    }
    ::close(fd);
}

void make_private_directory(const std::filesystem::path& dir) {
    if (dir.empty()) return;
    std::error_code ec;
    if (std::filesystem::is_directory(dir, ec)) return;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw DbError(dir.string() + ": cannot create directory: " + ec.message());
    // Account and queue data is private to the server's user.
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
}

}  // namespace

// ---- Statement ----

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db) {
    int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr);
    if (rc != SQLITE_OK) throw_error(db_, rc, "prepare");
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement::Statement(Statement&& other) noexcept : db_(other.db_), stmt_(other.stmt_) { other.stmt_ = nullptr; }

void Statement::fail(int rc) const { throw_error(db_, rc, ""); }

Statement& Statement::bind(int index, std::string_view text) {
    int rc = sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) fail(rc);
    return *this;
}

Statement& Statement::bind(int index, int64_t value) {
    int rc = sqlite3_bind_int64(stmt_, index, value);
    if (rc != SQLITE_OK) fail(rc);
    return *this;
}

Statement& Statement::bind_null(int index) {
    int rc = sqlite3_bind_null(stmt_, index);
    if (rc != SQLITE_OK) fail(rc);
    return *this;
}

bool Statement::step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    sqlite3_reset(stmt_);  // leaves the statement reusable after a failed step
    fail(rc);
}

void Statement::run() {
    while (step()) {
    }
}

void Statement::reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

std::string Statement::column_text(int index) const {
    const unsigned char* text = sqlite3_column_text(stmt_, index);
    if (!text) return {};
    return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(sqlite3_column_bytes(stmt_, index)));
}

int64_t Statement::column_int(int index) const { return sqlite3_column_int64(stmt_, index); }

bool Statement::column_is_null(int index) const { return sqlite3_column_type(stmt_, index) == SQLITE_NULL; }

// ---- Database ----

Database::Database(const std::filesystem::path& file, Options options) : file_(file) {
    if (options.create_directory) make_private_directory(file.parent_path());
    create_file(file, options.file_mode);
    int rc = sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        std::string message = file.string() + ": cannot open database: " +
                              (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
        sqlite3_close(db_);
        throw DbError(message);
    }
    sqlite3_extended_result_codes(db_, 1);
    // Waits for another process's write lock (the CLI while the server runs) instead of failing at once.
    sqlite3_busy_timeout(db_, 5000);
    try {
        // WAL: readers do not block the writer, and a crash mid-write leaves the file consistent.
        exec("PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;");
    } catch (...) {
        sqlite3_close(db_);
        throw;
    }
}

Database::~Database() { sqlite3_close(db_); }

void Database::exec(std::string_view sql) {
    std::string text(sql);
    char* error = nullptr;
    int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error);
    if (rc != SQLITE_OK) {
        std::string message = error ? error : sqlite3_errstr(rc);
        sqlite3_free(error);
        std::string full = file_.string() + ": " + message;
        if ((rc & 0xff) == SQLITE_CONSTRAINT) throw ConstraintError(full);
        throw DbError(full);
    }
}

int64_t Database::changes() const { return sqlite3_changes64(db_); }

void Database::migrate(std::string_view component, std::span<const Migration> migrations) {
    Transaction tx(*this);
    exec("CREATE TABLE IF NOT EXISTS schema_version(component TEXT PRIMARY KEY, version INTEGER NOT NULL)");
    int64_t version = 0;
    {
        Statement st = query("SELECT version FROM schema_version WHERE component = ?1", component);
        if (st.step()) version = st.column_int(0);
    }
    const auto known = static_cast<int64_t>(migrations.size());
    if (version > known)
        throw DbError(file_.string() + ": " + std::string(component) + " schema version " + std::to_string(version) +
                      " is newer than this postern understands (" + std::to_string(known) + ")");
    if (version == known) return;  // the transaction rolls back: nothing was changed
    for (int64_t v = version; v < known; ++v) exec(migrations[static_cast<size_t>(v)]);
    query("INSERT INTO schema_version(component, version) VALUES(?1, ?2) "
          "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
          component, known)
        .run();
    tx.commit();
}

// ---- Transaction ----

Transaction::Transaction(Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
    if (done_) return;
    sqlite3* db = db_.handle();
    // Back in autocommit mode: SQLite already rolled the transaction back itself (SQLITE_FULL, SQLITE_IOERR,
    // SQLITE_NOMEM, ...) or someone ran ROLLBACK by hand, so there is nothing left to undo.
    if (sqlite3_get_autocommit(db)) return;
    char* error = nullptr;
    int rc = sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, &error);
    if (rc != SQLITE_OK) {
        // A destructor may run during unwinding, so this cannot throw; but a transaction that is still open keeps
        // the write lock and makes the next BEGIN fail, so say so loudly instead of discarding the error.
        observe::error("rollback failed file={} code={} error=\"{}\" still_in_transaction={}",
                       db_.file().string(), rc, error ? error : sqlite3_errstr(rc),
                       sqlite3_get_autocommit(db) ? "no" : "yes");
    }
    sqlite3_free(error);
}

void Transaction::commit() {
    db_.exec("COMMIT");
    done_ = true;
}

}  // namespace postern::store
