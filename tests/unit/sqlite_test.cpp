// The SQLite wrapper on real files: creation mode, WAL, migrations, constraints, transactions.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>

#include "store/sqlite.hpp"

using namespace postern::store;
namespace fs = std::filesystem;

namespace {

class SqliteTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "postern-sqlite-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

// -1 when the component (or the whole schema_version table) is absent.
int64_t schema_version(Database& db, std::string_view component) {
    auto table = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'schema_version'");
    if (!table.step()) return -1;
    auto st = db.query("SELECT version FROM schema_version WHERE component = ?1", component);
    return st.step() ? st.column_int(0) : -1;
}

}  // namespace

TEST_F(SqliteTest, CreatesPrivateFileAndDirectory) {
    fs::path file = dir_ / "a" / "b" / "test.db";
    Database db(file);
    struct stat st {};
    ASSERT_EQ(stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(stat((dir_ / "a" / "b").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(SqliteTest, UsesWal) {
    Database db(dir_ / "test.db");
    auto st = db.prepare("PRAGMA journal_mode");
    ASSERT_TRUE(st.step());
    EXPECT_EQ(st.column_text(0), "wal");
}

TEST_F(SqliteTest, BindsAndReadsColumns) {
    Database db(dir_ / "test.db");
    db.exec("CREATE TABLE t(a TEXT, b INTEGER, c TEXT)");
    db.query("INSERT INTO t VALUES(?1, ?2, ?3)", std::string("x\0y", 3), int64_t{1} << 40, "z").run();
    db.prepare("INSERT INTO t VALUES('n', 1, NULL)").run();
    EXPECT_EQ(db.changes(), 1);
    auto st = db.prepare("SELECT a, b, c FROM t ORDER BY b DESC");
    ASSERT_TRUE(st.step());
    EXPECT_EQ(st.column_text(0), std::string("x\0y", 3));
    EXPECT_EQ(st.column_int(1), int64_t{1} << 40);
    EXPECT_EQ(st.column_text(2), "z");
    ASSERT_TRUE(st.step());
    EXPECT_TRUE(st.column_is_null(2));
    EXPECT_FALSE(st.step());
}

TEST_F(SqliteTest, MigratesOnceAndThenIncrementally) {
    fs::path file = dir_ / "test.db";
    constexpr Migration v1[] = {"CREATE TABLE a(x INTEGER)"};
    constexpr Migration v2[] = {"CREATE TABLE a(x INTEGER)", "ALTER TABLE a ADD COLUMN y TEXT"};
    {
        Database db(file);
        db.migrate("demo", v1);
        db.migrate("demo", v1);  // a second open must not re-run step 1
        EXPECT_EQ(schema_version(db, "demo"), 1);
    }
    {
        Database db(file);
        db.migrate("demo", v2);
        EXPECT_EQ(schema_version(db, "demo"), 2);
        db.query("INSERT INTO a(x, y) VALUES(1, ?1)", "ok").run();
        constexpr Migration other[] = {"CREATE TABLE o(x INTEGER)"};
        db.migrate("other", other);  // each component has its own version
        EXPECT_EQ(schema_version(db, "other"), 1);
        EXPECT_EQ(schema_version(db, "demo"), 2);
    }
}

TEST_F(SqliteTest, RefusesNewerSchema) {
    fs::path file = dir_ / "test.db";
    constexpr Migration v2[] = {"CREATE TABLE a(x INTEGER)", "CREATE TABLE b(x INTEGER)"};
    constexpr Migration v1[] = {"CREATE TABLE a(x INTEGER)"};
    Database(file).migrate("demo", v2);
    Database db(file);
    EXPECT_THROW(db.migrate("demo", v1), DbError);
}

TEST_F(SqliteTest, FailedMigrationChangesNothing) {
    fs::path file = dir_ / "test.db";
    constexpr Migration broken[] = {"CREATE TABLE a(x INTEGER)", "THIS IS NOT SQL"};
    Database db(file);
    EXPECT_THROW(db.migrate("demo", broken), DbError);
    EXPECT_EQ(schema_version(db, "demo"), -1);
    {
        // Exactly as it was: not even the schema_version table that migrate() created inside the transaction.
        auto st = db.prepare("SELECT count(*) FROM sqlite_master WHERE name IN ('a', 'schema_version')");
        ASSERT_TRUE(st.step());
        EXPECT_EQ(st.column_int(0), 0);
    }
    // And the connection is out of the transaction: the corrected migration can take the write lock and run.
    constexpr Migration fixed[] = {"CREATE TABLE a(x INTEGER)", "ALTER TABLE a ADD COLUMN y TEXT"};
    db.migrate("demo", fixed);
    EXPECT_EQ(schema_version(db, "demo"), 2);
}

TEST_F(SqliteTest, ConstraintViolationHasItsOwnType) {
    Database db(dir_ / "test.db");
    db.exec("CREATE TABLE t(k TEXT PRIMARY KEY)");
    db.query("INSERT INTO t VALUES(?1)", "a").run();
    EXPECT_THROW(db.query("INSERT INTO t VALUES(?1)", "a").run(), ConstraintError);
}

TEST_F(SqliteTest, TransactionRollsBackUnlessCommitted) {
    Database db(dir_ / "test.db");
    db.exec("CREATE TABLE t(k INTEGER)");
    {
        Transaction tx(db);
        db.prepare("INSERT INTO t VALUES(1)").run();
    }
    {
        Transaction tx(db);
        db.prepare("INSERT INTO t VALUES(2)").run();
        tx.commit();
    }
    auto st = db.prepare("SELECT group_concat(k) FROM t");
    ASSERT_TRUE(st.step());
    EXPECT_EQ(st.column_text(0), "2");
}

TEST_F(SqliteTest, TransactionRollsBackWithAStatementStillPending) {
    Database db(dir_ / "test.db");
    db.exec("CREATE TABLE t(k INTEGER); INSERT INTO t VALUES(1), (2);");
    auto reading = db.prepare("SELECT k FROM t");  // outlives the transaction, stopped mid-result
    {
        Transaction tx(db);
        db.prepare("INSERT INTO t VALUES(3)").run();
        ASSERT_TRUE(reading.step());
    }
    reading.reset();
    Transaction next(db);  // would throw "cannot start a transaction within a transaction" if ROLLBACK had failed
    auto st = db.prepare("SELECT group_concat(k) FROM t");
    ASSERT_TRUE(st.step());
    EXPECT_EQ(st.column_text(0), "1,2");
}

TEST_F(SqliteTest, TransactionAlreadyEndedIsLeftAlone) {
    Database db(dir_ / "test.db");
    db.exec("CREATE TABLE t(k INTEGER)");
    {
        Transaction tx(db);
        db.prepare("INSERT INTO t VALUES(1)").run();
        db.exec("ROLLBACK");  // what SQLite does by itself on SQLITE_FULL or SQLITE_IOERR
        db.prepare("INSERT INTO t VALUES(2)").run();  // autocommit: kept, not undone by ~Transaction
    }
    auto st = db.prepare("SELECT group_concat(k) FROM t");
    ASSERT_TRUE(st.step());
    EXPECT_EQ(st.column_text(0), "2");
}

TEST_F(SqliteTest, BadSqlNamesTheFile) {
    Database db(dir_ / "test.db");
    try {
        db.prepare("SELECT * FROM missing_table");
        FAIL() << "no error";
    } catch (const DbError& e) {
        EXPECT_NE(std::string(e.what()).find("test.db"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("missing_table"), std::string::npos) << e.what();
    }
}
