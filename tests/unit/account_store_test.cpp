// AccountStore on a real SQLite file with a cheap argon2 cost (ops=1, 8 MiB) to keep the tests fast.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <thread>

#include "auth/account_store.hpp"
#include "store/sqlite.hpp"

using namespace postern;
using auth::AccountError;
using auth::AccountStore;
namespace fs = std::filesystem;

namespace {

constexpr config::Auth cheap{1, 8192};

class AccountStoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "postern-accounts-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        file_ = auth::accounts_file(dir_ / "var");
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string stored_hash(const std::string& name) {
        store::Database db(file_);
        auto st = db.query("SELECT password_hash FROM users WHERE name = ?1", name);
        return st.step() ? st.column_text(0) : std::string();
    }

    fs::path dir_;
    fs::path file_;
};

bool logs_in(AccountStore& store, std::string_view user, std::string_view password) {
    return store.verify_password(user, password).status == auth::VerifyResult::Status::ok;
}

template <typename F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const AccountError& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace

TEST_F(AccountStoreTest, CreatesPrivateFileInNewDirectory) {
    AccountStore store(file_, cheap);
    EXPECT_EQ(file_, dir_ / "var" / "accounts.db");
    struct stat st {};
    ASSERT_EQ(stat(file_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(AccountStoreTest, RecordsSchemaVersion) {
    { AccountStore store(file_, cheap); }
    store::Database db(file_);
    auto st = db.prepare("SELECT version FROM schema_version WHERE component = 'accounts'");
    ASSERT_TRUE(st.step());
    EXPECT_EQ(st.column_int(0), 2);
}

TEST_F(AccountStoreTest, AddThenVerify) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "correct horse");
    EXPECT_TRUE(store.user_exists("alice"));
    EXPECT_TRUE(logs_in(store, "alice", "correct horse"));
    EXPECT_FALSE(logs_in(store, "alice", "Correct horse"));
    EXPECT_FALSE(logs_in(store, "alice", "correct horse "));
    EXPECT_FALSE(logs_in(store, "alice", ""));
    EXPECT_FALSE(logs_in(store, "bob", "correct horse"));
    EXPECT_FALSE(logs_in(store, "not a name", "correct horse"));
}

TEST_F(AccountStoreTest, StoresArgon2idHashNotPassword) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "correct horse");
    std::string hash = stored_hash("alice");
    EXPECT_EQ(hash.rfind("$argon2id$", 0), 0u) << hash;
    EXPECT_EQ(hash.find("correct horse"), std::string::npos);
}

TEST_F(AccountStoreTest, NamesAreCaseInsensitiveAndStoredLowerCase) {
    AccountStore store(file_, cheap);
    store.add_user("Alice", "pw");
    EXPECT_TRUE(store.user_exists("ALICE"));
    EXPECT_TRUE(logs_in(store, "aLiCe", "pw"));
    ASSERT_EQ(store.list_users().size(), 1u);
    EXPECT_EQ(store.list_users()[0].name, "alice");
    EXPECT_EQ(error_of([&] { store.add_user("ALICE", "pw"); }), "user alice already exists");
}

TEST_F(AccountStoreTest, DuplicateIsRefused) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "one");
    EXPECT_EQ(error_of([&] { store.add_user("alice", "two"); }), "user alice already exists");
    EXPECT_TRUE(logs_in(store, "alice", "one"));  // the first password survives
}

TEST_F(AccountStoreTest, ValidNames) {
    for (const std::string& name : {std::string("a"), std::string("0abc"), std::string("a.b_c-d"),
                                    std::string("Alice"), std::string(64, 'x')})
        EXPECT_TRUE(AccountStore::valid_user_name(name)) << name;
}

TEST_F(AccountStoreTest, InvalidNames) {
    AccountStore store(file_, cheap);
    for (const std::string& name :
         {std::string(""), std::string(".bob"), std::string("-x"), std::string("_x"), std::string("a b"),
          std::string("a/b"), std::string(".."), std::string("a@b"), std::string("caf\xc3\xa9"),
          std::string("a\nb"), std::string(65, 'x'), std::string("a\0b", 3)}) {
        EXPECT_FALSE(AccountStore::valid_user_name(name)) << name;
        std::string message = error_of([&] { store.add_user(name, "pw"); });
        EXPECT_EQ(message.rfind("invalid user name", 0), 0u) << message;
        EXPECT_EQ(message.find('\n'), std::string::npos) << "control characters must not reach the terminal";
    }
    EXPECT_TRUE(store.list_users().empty());
}

TEST_F(AccountStoreTest, PasswordLengthLimits) {
    AccountStore store(file_, cheap);
    EXPECT_EQ(error_of([&] { store.add_user("alice", ""); }), "password must not be empty");
    EXPECT_EQ(error_of([&] { store.add_user("alice", std::string(257, 'p')); }),
              "password is longer than 256 bytes");
    EXPECT_FALSE(store.user_exists("alice"));
    store.add_user("alice", std::string(256, 'p'));
    EXPECT_TRUE(logs_in(store, "alice", std::string(256, 'p')));
    EXPECT_FALSE(logs_in(store, "alice", std::string(257, 'p')));
    EXPECT_EQ(error_of([&] { store.set_password("alice", ""); }), "password must not be empty");
    EXPECT_EQ(error_of([&] { store.set_password("alice", std::string(300, 'p')); }),
              "password is longer than 256 bytes");
    EXPECT_TRUE(logs_in(store, "alice", std::string(256, 'p')));
}

TEST_F(AccountStoreTest, PasswordsMayHoldAnyBytes) {
    AccountStore store(file_, cheap);
    std::string odd("p\0w \xff\xc3\xa9", 7);
    store.add_user("alice", odd);
    EXPECT_TRUE(logs_in(store, "alice", odd));
    EXPECT_FALSE(logs_in(store, "alice", "p"));  // no truncation at the NUL
}

TEST_F(AccountStoreTest, SetPassword) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "old");
    store.set_password("alice", "new");
    EXPECT_FALSE(logs_in(store, "alice", "old"));
    EXPECT_TRUE(logs_in(store, "alice", "new"));
    EXPECT_EQ(error_of([&] { store.set_password("bob", "x"); }), "user bob does not exist");
}

TEST_F(AccountStoreTest, DeleteUser) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "pw");
    store.add_user("bob", "pw");
    store.delete_user("ALICE");
    EXPECT_FALSE(store.user_exists("alice"));
    EXPECT_FALSE(logs_in(store, "alice", "pw"));
    EXPECT_TRUE(store.user_exists("bob"));
    EXPECT_EQ(error_of([&] { store.delete_user("alice"); }), "user alice does not exist");
}

TEST_F(AccountStoreTest, ListIsSortedWithCreationTime) {
    AccountStore store(file_, cheap);
    EXPECT_TRUE(store.list_users().empty());
    int64_t before = std::time(nullptr);
    store.add_user("carol", "pw");
    store.add_user("alice", "pw");
    store.add_user("bob", "pw");
    int64_t after = std::time(nullptr);
    auto users = store.list_users();
    ASSERT_EQ(users.size(), 3u);
    EXPECT_EQ(users[0].name, "alice");
    EXPECT_EQ(users[1].name, "bob");
    EXPECT_EQ(users[2].name, "carol");
    for (const auto& u : users) {
        EXPECT_GE(u.created, before);
        EXPECT_LE(u.created, after);
    }
}

TEST_F(AccountStoreTest, PersistsAcrossOpens) {
    { AccountStore(file_, cheap).add_user("alice", "pw"); }
    AccountStore store(file_, cheap);
    EXPECT_TRUE(logs_in(store, "alice", "pw"));
}

TEST_F(AccountStoreTest, TwoStoresOnOneFile) {
    // The CLI and the server open the same file at once.
    AccountStore server(file_, cheap);
    AccountStore cli(file_, cheap);
    cli.add_user("alice", "pw");
    EXPECT_TRUE(logs_in(server, "alice", "pw"));
    cli.delete_user("alice");
    EXPECT_FALSE(server.user_exists("alice"));
}

TEST_F(AccountStoreTest, RehashesWhenCostChanges) {
    { AccountStore(file_, cheap).add_user("alice", "pw"); }
    EXPECT_NE(stored_hash("alice").find("t=1"), std::string::npos);
    AccountStore store(file_, config::Auth{2, 8192});
    EXPECT_FALSE(logs_in(store, "alice", "wrong"));
    EXPECT_NE(stored_hash("alice").find("t=1"), std::string::npos) << "no rehash without the right password";
    EXPECT_TRUE(logs_in(store, "alice", "pw"));
    EXPECT_NE(stored_hash("alice").find("t=2"), std::string::npos);
    EXPECT_TRUE(logs_in(store, "alice", "pw"));
}

TEST_F(AccountStoreTest, RefusesCostLibsodiumCannotUse) {
    EXPECT_THROW(AccountStore(file_, config::Auth{0, 8192}), AccountError);
    EXPECT_THROW(AccountStore(file_, config::Auth{1, 4}), AccountError);
}

TEST_F(AccountStoreTest, ConcurrentUse) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "pw");
    std::vector<std::thread> threads;
    std::atomic<int> good{0};
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            std::string name = "user" + std::to_string(t);
            store.add_user(name, "pw" + std::to_string(t));
            for (int i = 0; i < 3; ++i) {
                if (logs_in(store, "alice", "pw")) ++good;
                if (logs_in(store, name, "pw" + std::to_string(t))) ++good;
            }
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(good.load(), 24);
    EXPECT_EQ(store.list_users().size(), 5u);
}

TEST_F(AccountStoreTest, UnknownUserCostsAHashToo) {
    // Without the dummy hash an unknown user answers about a thousand times faster than a known one;
    // a loose bound catches that without being flaky on a busy machine.
    constexpr config::Auth cost{1, 32 * 1024};
    AccountStore store(file_, cost);
    store.add_user("alice", "pw");
    auto median = [&](const char* user) {
        std::vector<double> times;
        for (int i = 0; i < 5; ++i) {
            auto start = std::chrono::steady_clock::now();
            EXPECT_FALSE(logs_in(store, user, "wrong"));
            times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        }
        std::sort(times.begin(), times.end());
        return times[2];
    };
    median("alice");  // warm-up: the dummy hash is made on first use
    double known = median("alice");
    double unknown = median("nobody");
    EXPECT_GT(unknown, known * 0.25) << "known " << known << "s, unknown " << unknown << "s";
}
