// AccountStore as a CredentialVerifier: app passwords, require_app_password, SCRAM keys, extra addresses and the
// schema upgrade from version 1. Real SQLite files, cheap argon2 cost (ops=1, 8 MiB).
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <fstream>
#include <iterator>
#include <regex>
#include <set>

#include "auth/account_store.hpp"
#include "auth/password_hash.hpp"
#include "auth/sasl.hpp"
#include "auth/scram.hpp"
#include "smtp/base64.hpp"
#include "store/sqlite.hpp"

using namespace postern;
using auth::AccountError;
using auth::AccountStore;
using auth::VerifyResult;
using Status = auth::VerifyResult::Status;
namespace fs = std::filesystem;

namespace {

constexpr config::Auth cheap{1, 8192};

class AccountCredentialsTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "postern-credentials-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        file_ = auth::accounts_file(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string file_bytes() {
        std::ifstream in(file_, std::ios::binary);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        for (const char* extra : {"-wal"}) {
            std::ifstream more(file_.string() + extra, std::ios::binary);
            text.append(std::istreambuf_iterator<char>(more), std::istreambuf_iterator<char>());
        }
        return text;
    }

    fs::path dir_;
    fs::path file_;
};

template <typename F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const AccountError& e) {
        return e.what();
    }
    return "no error";
}

// The key the client side would compute from the password, the salt and the count the server announces.
auth::ScramKey client_side(std::string_view password, const auth::ScramCredentials& creds) {
    return auth::derive_scram_key(password, creds.salt, creds.iterations);
}

const auth::ScramKey* key_labelled(const auth::ScramCredentials& creds, const std::string& label) {
    for (const auth::ScramKey& key : creds.keys)
        if (key.app_password_label == label) return &key;
    return nullptr;
}

}  // namespace

// ---- verify_password ----

TEST_F(AccountCredentialsTest, IsACredentialVerifier) {
    AccountStore store(file_, cheap);
    store.add_user("Alice", "main pw");
    auth::CredentialVerifier& verifier = store;
    VerifyResult ok = verifier.verify_password("ALICE", "main pw");
    EXPECT_EQ(ok.status, Status::ok);
    EXPECT_EQ(ok.user, "alice");
    EXPECT_EQ(ok.app_password_label, "");
}

TEST_F(AccountCredentialsTest, FailureReasons) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "main pw");
    VerifyResult r = store.verify_password("bob", "main pw");
    EXPECT_EQ(r.status, Status::bad);
    EXPECT_EQ(r.reason, "unknown user");
    r = store.verify_password("not a name", "main pw");
    EXPECT_EQ(r.status, Status::bad);
    EXPECT_EQ(r.reason, "unknown user");
    r = store.verify_password("alice", "other");
    EXPECT_EQ(r.status, Status::bad);
    EXPECT_EQ(r.reason, "wrong password");
    EXPECT_EQ(r.user, "");
    EXPECT_EQ(store.verify_password("alice", "").status, Status::bad);
    EXPECT_EQ(store.verify_password("alice", std::string(257, 'p')).status, Status::bad);
}

TEST_F(AccountCredentialsTest, AppPasswordLogsIn) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "main pw");
    std::string phone = store.create_app_password("alice", "phone");
    std::string laptop = store.create_app_password("Alice", "Laptop");
    EXPECT_NE(phone, laptop);

    VerifyResult r = store.verify_password("alice", phone);
    EXPECT_EQ(r.status, Status::ok);
    EXPECT_EQ(r.user, "alice");
    EXPECT_EQ(r.app_password_label, "phone");
    r = store.verify_password("alice", laptop);
    EXPECT_EQ(r.status, Status::ok);
    EXPECT_EQ(r.app_password_label, "Laptop");
    // The main password still works, and is reported as such.
    r = store.verify_password("alice", "main pw");
    EXPECT_EQ(r.status, Status::ok);
    EXPECT_EQ(r.app_password_label, "");
    // An app password is the user's only.
    store.add_user("bob", "bob pw");
    EXPECT_EQ(store.verify_password("bob", phone).reason, "wrong password");
}

TEST_F(AccountCredentialsTest, GivenAppPassword) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "main pw");
    store.add_app_password("alice", "imported", "chosen secret");
    EXPECT_EQ(store.verify_password("alice", "chosen secret").app_password_label, "imported");
    EXPECT_EQ(error_of([&] { store.add_app_password("alice", "x", ""); }), "password must not be empty");
    EXPECT_EQ(error_of([&] { store.add_app_password("alice", "x", std::string(257, 'p')); }),
              "password is longer than 256 bytes");
}

TEST_F(AccountCredentialsTest, GeneratedPasswordFormat) {
    std::set<std::string> seen;
    const std::regex shape("^[2-9a-km-np-z]{4}(-[2-9a-km-np-z]{4}){5}$");
    std::set<char> symbols;
    for (int i = 0; i < 200; ++i) {
        std::string pw = auth::generate_app_password();
        EXPECT_TRUE(std::regex_match(pw, shape)) << pw;
        EXPECT_EQ(pw.find_first_of("01lo"), std::string::npos) << pw;
        seen.insert(pw);
        for (char c : pw)
            if (c != '-') symbols.insert(c);
    }
    EXPECT_EQ(seen.size(), 200u);
    EXPECT_EQ(symbols.size(), 32u);  // 4800 draws from 32 symbols: every one shows up
}

TEST_F(AccountCredentialsTest, NoPasswordIsStored) {
    {
        AccountStore store(file_, cheap);
        store.add_user("alice", "main-password-1234");
        std::string app = store.create_app_password("alice", "phone");
        std::string bytes = file_bytes();
        EXPECT_EQ(bytes.find("main-password-1234"), std::string::npos);
        EXPECT_EQ(bytes.find(app), std::string::npos);
        EXPECT_EQ(bytes.find(app.substr(0, 9)), std::string::npos);
    }
    store::Database db(file_);
    auto st = db.prepare("SELECT hash, length(scram_stored_key), length(scram_server_key) FROM app_passwords");
    ASSERT_TRUE(st.step());
    EXPECT_EQ(st.column_text(0).rfind("$argon2id$", 0), 0u);
    EXPECT_EQ(st.column_int(1), 64);  // 32 octets, hex
    EXPECT_EQ(st.column_int(2), 64);
}

TEST_F(AccountCredentialsTest, RequireAppPassword) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "main pw");
    std::string app = store.create_app_password("alice", "phone");
    EXPECT_FALSE(store.user_info("alice")->require_app_password);
    store.set_require_app_password("ALICE", true);
    EXPECT_TRUE(store.user_info("alice")->require_app_password);
    EXPECT_TRUE(store.list_users()[0].require_app_password);

    VerifyResult r = store.verify_password("alice", "main pw");
    EXPECT_EQ(r.status, Status::bad);
    EXPECT_EQ(r.reason, "main password not allowed (require_app_password)");
    EXPECT_EQ(store.verify_password("alice", "wrong").reason, "wrong password");
    EXPECT_EQ(store.verify_password("alice", app).status, Status::ok);

    store.set_require_app_password("alice", false);
    EXPECT_EQ(store.verify_password("alice", "main pw").status, Status::ok);
    EXPECT_EQ(error_of([&] { store.set_require_app_password("bob", true); }), "user bob does not exist");
}

TEST_F(AccountCredentialsTest, RevokedAppPassword) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "main pw");
    std::string old_phone = store.create_app_password("alice", "phone");
    store.revoke_app_password("alice", "phone");
    VerifyResult r = store.verify_password("alice", old_phone);
    EXPECT_EQ(r.status, Status::bad);
    EXPECT_EQ(r.reason, "revoked app password");
    EXPECT_EQ(store.verify_password("alice", "never was").reason, "wrong password");

    // The label is free again; the new password works, the old one stays revoked.
    std::string new_phone = store.create_app_password("alice", "phone");
    EXPECT_EQ(store.verify_password("alice", new_phone).status, Status::ok);
    EXPECT_EQ(store.verify_password("alice", old_phone).reason, "revoked app password");

    auto list = store.list_app_passwords("alice");
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].label, "phone");
    EXPECT_TRUE(list[0].revoked.has_value());
    EXPECT_FALSE(list[1].revoked.has_value());
}

TEST_F(AccountCredentialsTest, RevokeErrors) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "main pw");
    store.create_app_password("alice", "phone");
    EXPECT_EQ(error_of([&] { store.revoke_app_password("alice", "tablet"); }),
              "alice has no app password labelled \"tablet\"");
    EXPECT_EQ(error_of([&] { store.revoke_app_password("alice", "Phone"); }),
              "alice has no app password labelled \"Phone\"");  // labels keep their case
    store.revoke_app_password("alice", "phone");
    EXPECT_EQ(error_of([&] { store.revoke_app_password("alice", "phone"); }),
              "alice has no app password labelled \"phone\"");
    EXPECT_EQ(error_of([&] { store.revoke_app_password("bob", "phone"); }), "user bob does not exist");
}

TEST_F(AccountCredentialsTest, AddAppPasswordErrors) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "main pw");
    store.create_app_password("alice", "phone");
    EXPECT_EQ(error_of([&] { store.create_app_password("alice", "phone"); }),
              "alice already has an app password labelled \"phone\"");
    EXPECT_EQ(error_of([&] { store.create_app_password("bob", "phone"); }), "user bob does not exist");
    for (const char* bad : {"", "two words", "-dash", "a/b", "tab\t", "ü"})
        EXPECT_NE(error_of([&] { store.create_app_password("alice", bad); }).find("invalid app password label"),
                  std::string::npos)
            << bad;
    EXPECT_NE(error_of([&] { store.create_app_password("alice", std::string(65, 'x')); }), "no error");
    EXPECT_EQ(error_of([&] { store.create_app_password("alice", std::string(64, 'x')); }), "no error");
}

TEST_F(AccountCredentialsTest, AtMostTwentyValidAppPasswords) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "main pw");
    for (size_t i = 0; i < auth::max_app_passwords; ++i) store.add_app_password("alice", "d" + std::to_string(i), "pw");
    EXPECT_EQ(error_of([&] { store.create_app_password("alice", "one-more"); }),
              "alice already has 20 app passwords, the most allowed; revoke one first");
    store.revoke_app_password("alice", "d3");
    EXPECT_EQ(error_of([&] { store.create_app_password("alice", "one-more"); }), "no error");
    EXPECT_EQ(store.list_app_passwords("alice").size(), 21u);
    EXPECT_EQ(store.scram_credentials("alice")->keys.size(), 21u);  // main + 20
}

TEST_F(AccountCredentialsTest, LastUsed) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "main pw");
    store.create_app_password("alice", "phone");
    store.create_app_password("alice", "laptop");
    auto list = store.list_app_passwords("alice");
    ASSERT_EQ(list.size(), 2u);
    EXPECT_FALSE(list[0].last_used.has_value());
    int64_t before = static_cast<int64_t>(std::time(nullptr));
    store.app_password_used("ALICE", "laptop");
    list = store.list_app_passwords("alice");
    EXPECT_FALSE(list[0].last_used.has_value());
    ASSERT_TRUE(list[1].last_used.has_value());
    EXPECT_GE(*list[1].last_used, before);
    EXPECT_GE(list[1].created, before - 5);
    // Unknown users and labels are ignored (the login already succeeded).
    store.app_password_used("bob", "phone");
    store.app_password_used("alice", "tablet");
    store.app_password_used("not a name", "phone");
    EXPECT_EQ(error_of([&] { store.list_app_passwords("bob"); }), "user bob does not exist");
}

TEST_F(AccountCredentialsTest, AppPasswordHashUpgradedWhenCostChanges) {
    std::string app;
    {
        AccountStore store(file_, cheap);
        store.add_user("alice", "main pw");
        app = store.create_app_password("alice", "phone");
    }
    auto stored = [&] {
        store::Database db(file_);
        auto st = db.prepare("SELECT hash FROM app_passwords");
        return st.step() ? st.column_text(0) : std::string();
    };
    const std::string before = stored();
    AccountStore store(file_, config::Auth{2, 8192});
    EXPECT_EQ(store.verify_password("alice", app).status, Status::ok);
    EXPECT_NE(stored(), before);
    EXPECT_FALSE(auth::needs_rehash(stored(), config::Auth{2, 8192}));
    EXPECT_EQ(store.verify_password("alice", app).status, Status::ok);
}

TEST_F(AccountCredentialsTest, StoreFailureIsUnavailable) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "main pw");
    {
        store::Database db(file_);
        db.exec("DROP TABLE app_passwords");
    }
    VerifyResult r = store.verify_password("alice", "main pw");
    EXPECT_EQ(r.status, Status::unavailable);
    EXPECT_NE(r.reason.find("account store: "), std::string::npos) << r.reason;
    EXPECT_THROW(store.scram_credentials("alice"), store::DbError);
    EXPECT_THROW(store.app_password_used("alice", "phone"), store::DbError);
}

// ---- SCRAM ----

TEST_F(AccountCredentialsTest, ScramKeysMatchWhatTheClientDerives) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "main pw");
    std::string phone = store.create_app_password("alice", "phone");
    EXPECT_EQ(store.scram_credentials("bob"), std::nullopt);
    EXPECT_EQ(store.scram_credentials("not a name"), std::nullopt);

    auto creds = store.scram_credentials("ALICE");
    ASSERT_TRUE(creds.has_value());
    EXPECT_EQ(creds->user, "alice");
    EXPECT_EQ(creds->salt.size(), auth::kScramSaltSize);
    EXPECT_EQ(creds->iterations, 4096u);
    ASSERT_EQ(creds->keys.size(), 2u);
    const auth::ScramKey* main = key_labelled(*creds, "");
    const auth::ScramKey* app = key_labelled(*creds, "phone");
    ASSERT_TRUE(main && app);
    auth::ScramKey expect_main = client_side("main pw", *creds);
    auth::ScramKey expect_app = client_side(phone, *creds);
    EXPECT_EQ(main->stored_key, expect_main.stored_key);
    EXPECT_EQ(main->server_key, expect_main.server_key);
    EXPECT_EQ(app->stored_key, expect_app.stored_key);
    EXPECT_EQ(app->server_key, expect_app.server_key);
    EXPECT_EQ(main->stored_key.size(), auth::kScramHashSize);

    // Each account has its own salt.
    store.add_user("bob", "main pw");
    EXPECT_NE(store.scram_credentials("bob")->salt, creds->salt);
}

TEST_F(AccountCredentialsTest, ScramOmitsMainPasswordWhenAppPasswordsRequiredAndRevokedOnes) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "main pw");
    store.create_app_password("alice", "phone");
    store.create_app_password("alice", "old");
    store.revoke_app_password("alice", "old");
    store.set_require_app_password("alice", true);
    auto creds = store.scram_credentials("alice");
    ASSERT_EQ(creds->keys.size(), 1u);
    EXPECT_EQ(creds->keys[0].app_password_label, "phone");
    store.revoke_app_password("alice", "phone");
    creds = store.scram_credentials("alice");
    ASSERT_TRUE(creds.has_value());  // the account exists, but nothing may log in
    EXPECT_TRUE(creds->keys.empty());
}

TEST_F(AccountCredentialsTest, ConfiguredIterations) {
    config::Auth cost = cheap;
    cost.scram_iterations = 5000;
    AccountStore store(file_, cost);
    store.add_user("alice", "main pw");
    auto creds = store.scram_credentials("alice");
    EXPECT_EQ(creds->iterations, 5000u);
    EXPECT_EQ(creds->keys[0].stored_key, client_side("main pw", *creds).stored_key);
}

TEST_F(AccountCredentialsTest, SetPasswordKeepsSaltAndAppPasswordKeys) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "old pw");
    std::string phone = store.create_app_password("alice", "phone");
    auto before = store.scram_credentials("alice");
    store.set_password("alice", "new pw");
    auto after = store.scram_credentials("alice");
    EXPECT_EQ(after->salt, before->salt);
    EXPECT_EQ(after->iterations, before->iterations);
    EXPECT_EQ(key_labelled(*after, "")->stored_key, client_side("new pw", *after).stored_key);
    EXPECT_EQ(key_labelled(*after, "")->server_key, client_side("new pw", *after).server_key);
    EXPECT_EQ(key_labelled(*after, "phone")->stored_key, client_side(phone, *after).stored_key);
    EXPECT_EQ(store.verify_password("alice", "old pw").reason, "wrong password");
    EXPECT_EQ(store.verify_password("alice", "new pw").status, Status::ok);
    EXPECT_EQ(store.verify_password("alice", phone).status, Status::ok);
}

TEST_F(AccountCredentialsTest, IterationCountChangesOnlyWithoutAppPasswords) {
    { AccountStore(file_, cheap).add_user("alice", "pw"); }
    config::Auth more = cheap;
    more.scram_iterations = 6000;
    AccountStore store(file_, more);
    EXPECT_EQ(store.scram_credentials("alice")->iterations, 4096u);  // keys are not re-derived on opening
    std::string phone = store.create_app_password("alice", "phone");
    EXPECT_EQ(store.scram_credentials("alice")->iterations, 4096u);  // shared with the main password's key
    store.set_password("alice", "pw2");
    EXPECT_EQ(store.scram_credentials("alice")->iterations, 4096u);  // phone's key was made with 4096
    store.revoke_app_password("alice", "phone");
    store.set_password("alice", "pw3");
    auto creds = store.scram_credentials("alice");
    EXPECT_EQ(creds->iterations, 6000u);
    EXPECT_EQ(creds->keys[0].stored_key, client_side("pw3", *creds).stored_key);
    std::string tablet = store.create_app_password("alice", "tablet");
    creds = store.scram_credentials("alice");
    EXPECT_EQ(key_labelled(*creds, "tablet")->stored_key, client_side(tablet, *creds).stored_key);
}

// ---- delete ----

TEST_F(AccountCredentialsTest, DeletingAUserDeletesItsAppPasswordsAndAddresses) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "pw");
    std::string phone = store.create_app_password("alice", "phone");
    store.add_address("alice", "a.smith@example.org");
    store.delete_user("alice");
    EXPECT_EQ(store.user_for_address("a.smith@example.org"), std::nullopt);
    store.add_user("alice", "pw");
    EXPECT_TRUE(store.list_app_passwords("alice").empty());
    EXPECT_TRUE(store.list_addresses("alice").empty());
    EXPECT_EQ(store.verify_password("alice", phone).reason, "wrong password");
    store.add_user("bob", "pw");
    store.add_address("bob", "a.smith@example.org");  // free again
    store::Database db(file_);
    auto st = db.prepare("SELECT count(*) FROM app_passwords");
    ASSERT_TRUE(st.step());
    EXPECT_EQ(st.column_int(0), 0);
}

// ---- addresses ----

TEST_F(AccountCredentialsTest, NormalizeAddress) {
    EXPECT_EQ(AccountStore::normalize_address("A.Smith@Example.ORG"), "a.smith@example.org");
    EXPECT_EQ(AccountStore::normalize_address("sales+eu@x.example"), "sales+eu@x.example");
    EXPECT_EQ(AccountStore::normalize_address("o'brien@localhost"), "o'brien@localhost");
    EXPECT_EQ(AccountStore::normalize_address("x@a-b.c0"), "x@a-b.c0");
    EXPECT_TRUE(AccountStore::normalize_address(std::string(64, 'l') + "@example.org"));
    for (const char* bad :
         {"", "alice", "@example.org", "alice@", "alice@@example.org", "a@b@example.org", ".a@example.org",
          "a.@example.org", "a..b@example.org", "a b@example.org", "\"a b\"@example.org", "a@example..org",
          "a@.example.org", "a@example.org.", "a@-example.org", "a@example-.org", "a@exa_mple.org", "a@[127.0.0.1]",
          "ü@example.org", "a@exämple.org", "a\n@example.org", "a@example.org\r\n"})
        EXPECT_EQ(AccountStore::normalize_address(bad), std::nullopt) << bad;
    EXPECT_FALSE(AccountStore::normalize_address(std::string(65, 'l') + "@example.org"));
    EXPECT_FALSE(AccountStore::normalize_address("a@" + std::string(64, 'd') + ".org"));
    std::string long_domain;
    for (int i = 0; i < 5; ++i) long_domain += std::string(50, 'd') + ".";
    EXPECT_FALSE(AccountStore::normalize_address("a@" + long_domain + "org"));  // over 254 in all
}

TEST_F(AccountCredentialsTest, AddListDeleteAddresses) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "pw");
    store.add_address("Alice", "Sales@Example.ORG");
    store.add_address("alice", "a.smith@example.org");
    EXPECT_EQ(store.list_addresses("alice"), (std::vector<std::string>{"a.smith@example.org", "sales@example.org"}));
    EXPECT_EQ(store.user_for_address("sales@example.org"), "alice");
    EXPECT_EQ(store.user_for_address("SALES@example.org"), "alice");
    EXPECT_EQ(store.user_for_address("nobody@example.org"), std::nullopt);
    EXPECT_EQ(store.user_for_address("alice@example.org"), std::nullopt);  // implicit addresses are not aliases

    store.delete_address("alice", "SALES@example.org");
    EXPECT_EQ(store.list_addresses("alice"), (std::vector<std::string>{"a.smith@example.org"}));
    EXPECT_EQ(store.user_for_address("sales@example.org"), std::nullopt);
    EXPECT_EQ(error_of([&] { store.delete_address("alice", "sales@example.org"); }),
              "alice has no address sales@example.org");
    EXPECT_EQ(error_of([&] { store.delete_address("bob", "sales@example.org"); }), "user bob does not exist");
    EXPECT_EQ(error_of([&] { store.list_addresses("bob"); }), "user bob does not exist");
}

TEST_F(AccountCredentialsTest, AddressErrors) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "pw");
    store.add_user("bob", "pw");
    const std::vector<std::string> local{"example.org", "Example.NET"};
    store.add_address("alice", "sales@example.org", local);
    EXPECT_EQ(error_of([&] { store.add_address("bob", "Sales@example.org", local); }),
              "sales@example.org is already owned by user alice");
    EXPECT_EQ(error_of([&] { store.add_address("alice", "sales@example.org", local); }),
              "sales@example.org is already an address of alice");
    EXPECT_EQ(error_of([&] { store.add_address("alice", "bob@example.net", local); }),
              "bob@example.net is already owned by user bob");
    EXPECT_EQ(error_of([&] { store.add_address("alice", "alice@example.org", local); }),
              "alice@example.org is already an address of alice");
    EXPECT_EQ(error_of([&] { store.add_address("alice", "postmaster@example.org", local); }),
              "postmaster@example.org is the postmaster's address");
    EXPECT_EQ(error_of([&] { store.add_address("alice", "not an address", local); }),
              "invalid address \"not an address\": expected local@domain");
    EXPECT_EQ(error_of([&] { store.add_address("carol", "c@example.org", local); }), "user carol does not exist");
    // Outside the local domains these are ordinary addresses (the user may send from them).
    store.add_address("alice", "bob@elsewhere.example", local);
    store.add_address("alice", "alice@elsewhere.example", local);
    EXPECT_EQ(store.list_addresses("alice").size(), 3u);
}

TEST_F(AccountCredentialsTest, AddressesOf) {
    AccountStore store(file_, cheap);
    store.add_user("alice", "pw");
    EXPECT_EQ(store.addresses_of("alice", {"example.org", "Example.NET"}),
              (std::vector<std::string>{"alice@example.org", "alice@example.net"}));
    store.add_address("alice", "sales@example.org");
    store.add_address("alice", "alice@other.example");
    EXPECT_EQ(store.addresses_of("ALICE", {"example.org", "example.org"}),
              (std::vector<std::string>{"alice@example.org", "alice@other.example", "sales@example.org"}));
    EXPECT_EQ(store.addresses_of("alice", {}),
              (std::vector<std::string>{"alice@other.example", "sales@example.org"}));
    EXPECT_TRUE(store.addresses_of("bob", {"example.org"}).empty());
    EXPECT_TRUE(store.addresses_of("not a name", {"example.org"}).empty());
}

// ---- upgrade from schema version 1 ----

TEST_F(AccountCredentialsTest, UpgradesVersionOneStore) {
    {
        // What the first release wrote.
        store::Database db(file_);
        db.exec("CREATE TABLE schema_version(component TEXT PRIMARY KEY, version INTEGER NOT NULL);"
                "INSERT INTO schema_version VALUES('accounts', 1);"
                "CREATE TABLE users(name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, created INTEGER NOT NULL)");
        db.query("INSERT INTO users VALUES('alice', ?1, 1700000000)", auth::hash_password("old pw", cheap)).run();
        db.query("INSERT INTO users VALUES('bob', ?1, 1700000001)", auth::hash_password("bob pw", cheap)).run();
    }
    AccountStore store(file_, cheap);
    {
        store::Database db(file_);
        auto st = db.prepare("SELECT version FROM schema_version WHERE component = 'accounts'");
        ASSERT_TRUE(st.step());
        EXPECT_EQ(st.column_int(0), 2);
    }
    EXPECT_EQ(store.list_users().size(), 2u);
    EXPECT_EQ(store.list_users()[0].created, 1700000000);
    EXPECT_FALSE(store.user_info("alice")->require_app_password);

    // Salts exist (one per account); SCRAM keys do not yet.
    auto alice = store.scram_credentials("alice");
    auto bob = store.scram_credentials("bob");
    ASSERT_TRUE(alice && bob);
    EXPECT_EQ(alice->salt.size(), 16u);
    EXPECT_NE(alice->salt, bob->salt);
    EXPECT_TRUE(alice->keys.empty());

    // The first password login makes them.
    EXPECT_EQ(store.verify_password("alice", "wrong").reason, "wrong password");
    EXPECT_TRUE(store.scram_credentials("alice")->keys.empty());
    EXPECT_EQ(store.verify_password("alice", "old pw").status, Status::ok);
    alice = store.scram_credentials("alice");
    ASSERT_EQ(alice->keys.size(), 1u);
    EXPECT_EQ(alice->iterations, 4096u);
    EXPECT_EQ(alice->keys[0].stored_key, client_side("old pw", *alice).stored_key);
    EXPECT_EQ(alice->keys[0].server_key, client_side("old pw", *alice).server_key);

    // So does a password change, and app passwords work at once.
    std::string phone = store.create_app_password("bob", "phone");
    bob = store.scram_credentials("bob");
    ASSERT_EQ(bob->keys.size(), 1u);
    EXPECT_EQ(bob->keys[0].stored_key, client_side(phone, *bob).stored_key);
    store.set_password("bob", "new pw");
    bob = store.scram_credentials("bob");
    EXPECT_EQ(bob->keys.size(), 2u);
    EXPECT_EQ(key_labelled(*bob, "")->stored_key, client_side("new pw", *bob).stored_key);

    // Reopening does not migrate again.
    AccountStore again(file_, cheap);
    EXPECT_EQ(again.scram_credentials("alice")->salt, alice->salt);
}

// ---- through the real SASL mechanisms ----

namespace {

std::string attr(std::string_view message, char name) {
    std::string key = std::string(1, name) + "=";
    size_t pos = 0;
    while (pos < message.size()) {
        size_t comma = message.find(',', pos);
        std::string_view item = message.substr(pos, comma == std::string_view::npos ? message.npos : comma - pos);
        if (item.starts_with(key)) return std::string(item.substr(2));
        if (comma == std::string_view::npos) break;
        pos = comma + 1;
    }
    return {};
}

// A whole SCRAM-SHA-256 exchange from the client side (keys via derive_scram_key, proof by hand).
auth::SaslOutcome scram_login(auth::CredentialVerifier& verifier, const std::string& user,
                              const std::string& password) {
    auto m = auth::make_mechanism("SCRAM-SHA-256", verifier);
    const std::string bare = "n=" + user + ",r=clientnonce123";
    auth::SaslOutcome first = m->step("n,," + bare);
    if (first.kind != auth::SaslOutcome::Kind::challenge) return first;
    const std::string server_first = first.data;
    std::string salt = *smtp::base64_decode(attr(server_first, 's'));
    auto iterations = static_cast<uint32_t>(std::stoul(attr(server_first, 'i')));
    auth::ScramKey key = auth::derive_scram_key(password, salt, iterations);
    std::string without_proof = "c=biws,r=" + attr(server_first, 'r');
    std::string auth_message = bare + "," + server_first + "," + without_proof;
    // ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage). derive_scram_key does not return ClientKey, so
    // the client computes it from PBKDF2 directly (and checks it against StoredKey).
    std::string client_key;
    {
        unsigned char out[32];
        PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                          reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()),
                          static_cast<int>(iterations), EVP_sha256(), 32, out);
        client_key = auth::hmac_sha256(std::string(reinterpret_cast<char*>(out), 32), "Client Key");
    }
    EXPECT_EQ(auth::sha256(client_key), key.stored_key);
    std::string signature = auth::hmac_sha256(key.stored_key, auth_message);
    std::string proof = client_key;
    for (size_t i = 0; i < proof.size(); ++i) proof[i] = static_cast<char>(proof[i] ^ signature[i]);
    auth::SaslOutcome out = m->step(without_proof + ",p=" + smtp::base64_encode(proof));
    if (out.kind == auth::SaslOutcome::Kind::success) {
        EXPECT_EQ(out.data, "v=" + smtp::base64_encode(auth::hmac_sha256(key.server_key, auth_message)));
    }
    return out;
}

auth::SaslOutcome plain_login(auth::CredentialVerifier& verifier, const std::string& user,
                              const std::string& password) {
    return auth::make_mechanism("PLAIN", verifier)->step(std::string(1, '\0') + user + '\0' + password);
}

}  // namespace

TEST_F(AccountCredentialsTest, SaslMechanismsAgainstTheStore) {
    using Kind = auth::SaslOutcome::Kind;
    AccountStore store(file_, cheap);
    store.add_user("alice", "main pw");
    std::string phone = store.create_app_password("alice", "phone");

    EXPECT_EQ(plain_login(store, "alice", "main pw").kind, Kind::success);
    EXPECT_EQ(scram_login(store, "alice", "main pw").kind, Kind::success);
    EXPECT_EQ(scram_login(store, "alice", phone).kind, Kind::success);
    EXPECT_TRUE(store.list_app_passwords("alice")[0].last_used.has_value());  // SCRAM records the use too
    auth::SaslOutcome plain = plain_login(store, "alice", phone);
    EXPECT_EQ(plain.kind, Kind::success);
    EXPECT_EQ(plain.user, "alice");
    EXPECT_EQ(scram_login(store, "alice", "wrong").kind, Kind::failure);
    EXPECT_EQ(scram_login(store, "bob", "main pw").kind, Kind::failure);

    store.set_require_app_password("alice", true);
    auth::SaslOutcome refused = plain_login(store, "alice", "main pw");
    EXPECT_EQ(refused.kind, Kind::failure);
    EXPECT_EQ(refused.log_reason, "main password not allowed (require_app_password)");
    EXPECT_EQ(scram_login(store, "alice", "main pw").kind, Kind::failure);
    EXPECT_EQ(scram_login(store, "alice", phone).kind, Kind::success);

    store.revoke_app_password("alice", "phone");
    EXPECT_EQ(plain_login(store, "alice", phone).log_reason, "revoked app password");
    EXPECT_EQ(scram_login(store, "alice", phone).kind, Kind::failure);
}
