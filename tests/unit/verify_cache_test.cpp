// The cache of successful password checks: hits for the same credentials, and never across a change.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "auth/account_store.hpp"
#include "auth/verify_cache.hpp"

namespace postern::auth {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Status = VerifyResult::Status;

class VerifyCacheTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "postern-cache-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
    config::Auth cheap_{1, 8192};
};

TEST_F(VerifyCacheTest, SecondCheckOfTheSameCredentialsIsAHit) {
    AccountStore store(dir_ / "accounts.db", cheap_);
    store.add_user("alice", "right");
    CachingVerifier cache(store, 5min);
    EXPECT_EQ(cache.verify_password("alice", "right").status, Status::ok);
    EXPECT_EQ(cache.hits(), 0u);
    auto again = cache.verify_password("alice", "right");
    EXPECT_EQ(again.status, Status::ok);
    EXPECT_EQ(again.user, "alice");
    EXPECT_EQ(cache.hits(), 1u);
    EXPECT_EQ(cache.verify_password("alice", "wrong").status, Status::bad);  // failures are never cached
    EXPECT_EQ(cache.verify_password("nobody", "right").status, Status::bad);
    EXPECT_EQ(cache.hits(), 1u);
}

TEST_F(VerifyCacheTest, PasswordChangeInvalidatesAtOnce) {
    AccountStore store(dir_ / "accounts.db", cheap_);
    store.add_user("alice", "old");
    CachingVerifier cache(store, 5min);
    ASSERT_EQ(cache.verify_password("alice", "old").status, Status::ok);
    AccountStore other_process(dir_ / "accounts.db", cheap_);  // as the CLI would, through the file
    other_process.set_password("alice", "new");
    EXPECT_EQ(cache.verify_password("alice", "old").status, Status::bad);
    EXPECT_EQ(cache.verify_password("alice", "new").status, Status::ok);
    EXPECT_EQ(cache.hits(), 0u);
}

TEST_F(VerifyCacheTest, RevokedAppPasswordAndDeletedUserAreNotServedFromTheCache) {
    AccountStore store(dir_ / "accounts.db", cheap_);
    store.add_user("alice", "main");
    auto app = store.create_app_password("alice", "phone");
    CachingVerifier cache(store, 5min);
    ASSERT_EQ(cache.verify_password("alice", app).status, Status::ok);
    ASSERT_EQ(cache.verify_password("alice", "main").status, Status::ok);
    store.revoke_app_password("alice", "phone");
    EXPECT_EQ(cache.verify_password("alice", app).status, Status::bad);
    store.delete_user("alice");
    EXPECT_EQ(cache.verify_password("alice", "main").status, Status::bad);
    EXPECT_EQ(cache.hits(), 0u);
}

TEST_F(VerifyCacheTest, RequireAppPasswordInvalidatesTheMainPassword) {
    AccountStore store(dir_ / "accounts.db", cheap_);
    store.add_user("alice", "main");
    CachingVerifier cache(store, 5min);
    ASSERT_EQ(cache.verify_password("alice", "main").status, Status::ok);
    store.set_require_app_password("alice", true);
    EXPECT_EQ(cache.verify_password("alice", "main").status, Status::bad);
}

TEST_F(VerifyCacheTest, ZeroTtlTurnsItOff) {
    AccountStore store(dir_ / "accounts.db", cheap_);
    store.add_user("alice", "right");
    CachingVerifier cache(store, 0ms);
    cache.verify_password("alice", "right");
    cache.verify_password("alice", "right");
    EXPECT_EQ(cache.hits(), 0u);
}

}  // namespace
}  // namespace postern::auth
