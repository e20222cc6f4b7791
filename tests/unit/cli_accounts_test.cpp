// `postern app-password ...`, `postern user require-app-password ...` and `postern user address ...`, run in
// process through the same CLI11 wiring as main(), on a real store in a temporary directory.
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include "app/cli.hpp"
#include "auth/account_store.hpp"

using namespace postern;
namespace fs = std::filesystem;

namespace {

constexpr config::Auth cheap{1, 8192};

struct Result {
    int status = -1;
    std::string out;
    std::string err;
};

// Swaps a stream's buffer for a string buffer while alive.
class Capture {
public:
    explicit Capture(std::ostream& stream) : stream_(stream), old_(stream.rdbuf(buffer_.rdbuf())) {}
    ~Capture() { stream_.rdbuf(old_); }
    std::string text() const { return buffer_.str(); }

private:
    std::ostream& stream_;
    std::ostringstream buffer_;
    std::streambuf* old_;
};

class CliAccountsTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "postern-cli-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        config_ = dir_ / "postern.toml";
        std::ofstream(config_) << "data_dir = \"var\"\n"
                                  "local_domains = [\"example.org\", \"example.net\"]\n"
                                  "[auth]\nargon2_ops = 1\nargon2_mem_kib = 8192\n";
        store_file_ = auth::accounts_file(dir_ / "var");
    }
    void TearDown() override { fs::remove_all(dir_); }

    // `postern ARGS... --config <temp config>`
    Result run(std::vector<std::string> args, bool with_config = true) {
        if (with_config) {
            args.push_back("--config");
            args.push_back(config_.string());
        }
        std::vector<const char*> argv{"postern"};
        for (const std::string& a : args) argv.push_back(a.c_str());
        CLI::App app{"test", "postern"};
        app.require_subcommand(1);
        app::Action action;
        app::add_user_commands(app, action);
        app::add_app_password_commands(app, action);
        Result result;
        Capture out(std::cout), err(std::cerr);
        try {
            app.parse(static_cast<int>(argv.size()), argv.data());
            result.status = app::run_action(action);
        } catch (const CLI::ParseError& e) {
            result.status = app.exit(e) == 0 ? app::exit_ok : app::exit_usage;
        }
        result.out = out.text();
        result.err = err.text();
        return result;
    }

    void add_user(const std::string& name, const std::string& password) {
        auth::AccountStore(store_file_, cheap).add_user(name, password);
    }
    auth::VerifyResult verify(const std::string& name, const std::string& password) {
        return auth::AccountStore(store_file_, cheap).verify_password(name, password);
    }

    fs::path dir_;
    fs::path config_;
    fs::path store_file_;
};

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

}  // namespace

// ---- app-password ----

TEST_F(CliAccountsTest, AppPasswordAddPrintsThePasswordOnce) {
    add_user("alice", "main pw");
    Result r = run({"app-password", "add", "Alice", "phone"});
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_EQ(lines(r.out).size(), 1u) << r.out;
    const std::string password = lines(r.out)[0];
    EXPECT_TRUE(std::regex_match(password, std::regex("^[2-9a-km-np-z]{4}(-[2-9a-km-np-z]{4}){5}$"))) << password;
    EXPECT_NE(r.err.find("app password \"phone\" added for alice"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find(password), std::string::npos);  // only on stdout
    auth::VerifyResult v = verify("alice", password);
    EXPECT_EQ(v.status, auth::VerifyResult::Status::ok);
    EXPECT_EQ(v.app_password_label, "phone");
}

TEST_F(CliAccountsTest, AppPasswordAddErrors) {
    Result r = run({"app-password", "add", "alice", "phone"});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "postern: user alice does not exist\n");
    EXPECT_FALSE(fs::exists(store_file_));  // a mistyped --data-dir leaves nothing behind
    add_user("alice", "main pw");
    EXPECT_EQ(run({"app-password", "add", "bob", "phone"}).err, "postern: user bob does not exist\n");
    r = run({"app-password", "add", "alice", "my phone"});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("invalid app password label \"my phone\""), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(run({"app-password", "add", "alice", "phone"}).status, 0);
    r = run({"app-password", "add", "alice", "phone"});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "postern: alice already has an app password labelled \"phone\"\n");
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(run({"app-password", "add", "alice"}).status, 2);  // LABEL missing
    EXPECT_EQ(run({"app-password", "add", "bad name", "phone"}).status, 1);
}

TEST_F(CliAccountsTest, AppPasswordListAndRevoke) {
    add_user("alice", "main pw");
    Result r = run({"app-password", "list", "alice"});
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out, "");
    ASSERT_EQ(run({"app-password", "add", "alice", "phone"}).status, 0);
    ASSERT_EQ(run({"app-password", "add", "alice", "work-laptop"}).status, 0);
    auth::AccountStore(store_file_, cheap).app_password_used("alice", "work-laptop");

    r = run({"app-password", "list", "alice"});
    ASSERT_EQ(r.status, 0) << r.err;
    std::vector<std::string> out = lines(r.out);
    ASSERT_EQ(out.size(), 2u) << r.out;
    const std::string time = "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z";
    EXPECT_TRUE(std::regex_match(out[0], std::regex("phone        " + time + "  never                 active")))
        << out[0];
    EXPECT_TRUE(std::regex_match(out[1], std::regex("work-laptop  " + time + "  " + time + "  active"))) << out[1];

    r = run({"app-password", "revoke", "alice", "phone"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "app password \"phone\" of alice revoked\n");
    out = lines(run({"app-password", "list", "alice"}).out);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_TRUE(
        std::regex_match(out[0], std::regex("phone        " + time + "  never                 revoked  " + time)))
        << out[0];

    r = run({"app-password", "revoke", "alice", "phone"});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "postern: alice has no app password labelled \"phone\"\n");
    r = run({"app-password", "revoke", "alice", "tablet"});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "postern: alice has no app password labelled \"tablet\"\n");
    EXPECT_EQ(run({"app-password", "list", "bob"}).status, 1);
    EXPECT_EQ(run({"app-password", "revoke", "bob", "phone"}).status, 1);
}

TEST_F(CliAccountsTest, DataDirOption) {
    const fs::path other = dir_ / "other";
    auth::AccountStore(auth::accounts_file(other), cheap).add_user("carol", "pw");
    Result r = run({"app-password", "add", "carol", "phone", "--data-dir", other.string()});
    EXPECT_EQ(r.status, 0) << r.err;
    // --data-dir alone (embedded default otherwise: argon2 at full cost, so only list here).
    r = run({"app-password", "list", "carol", "-d", other.string()}, false);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(lines(r.out).size(), 1u);
}

// ---- user require-app-password ----

TEST_F(CliAccountsTest, RequireAppPassword) {
    add_user("alice", "main pw");
    Result r = run({"user", "require-app-password", "alice", "on"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.err.find("only app passwords"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("has no app password yet"), std::string::npos) << r.err;
    EXPECT_EQ(verify("alice", "main pw").reason, "main password not allowed (require_app_password)");
    r = run({"user", "list", "--long"});
    EXPECT_TRUE(std::regex_match(lines(r.out).at(0), std::regex("alice  \\S+Z  require_app_password"))) << r.out;
    EXPECT_EQ(run({"user", "list"}).out, "alice\n");

    r = run({"user", "require-app-password", "alice", "off"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(verify("alice", "main pw").status, auth::VerifyResult::Status::ok);
    EXPECT_EQ(run({"user", "require-app-password", "alice", "yes"}).status, 2);
    EXPECT_EQ(run({"user", "require-app-password", "alice"}).status, 2);
    r = run({"user", "require-app-password", "bob", "on"});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "postern: user bob does not exist\n");
}

// ---- user address ----

TEST_F(CliAccountsTest, Addresses) {
    add_user("alice", "pw");
    add_user("bob", "pw");
    Result r = run({"user", "address", "add", "alice", "Sales@Example.ORG"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "address sales@example.org added to alice\n");
    r = run({"user", "address", "add", "alice", "alice@elsewhere.example"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.err.find("note: elsewhere.example is not one of local_domains"), std::string::npos) << r.err;

    EXPECT_EQ(run({"user", "address", "list", "alice"}).out, "alice@elsewhere.example\nsales@example.org\n");
    EXPECT_EQ(run({"user", "address", "list", "alice", "--all"}).out,
              "alice@example.org\nalice@example.net\nalice@elsewhere.example\nsales@example.org\n");
    EXPECT_EQ(run({"user", "address", "list", "bob"}).out, "");
    EXPECT_EQ(auth::AccountStore(store_file_, cheap).user_for_address("sales@example.org"), "alice");

    r = run({"user", "address", "add", "bob", "sales@example.org"});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "postern: sales@example.org is already owned by user alice\n");
    r = run({"user", "address", "add", "alice", "bob@example.net"});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "postern: bob@example.net is already owned by user bob\n");
    r = run({"user", "address", "add", "alice", "not-an-address"});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "postern: invalid address \"not-an-address\": expected local@domain\n");
    EXPECT_EQ(run({"user", "address", "add", "carol", "c@example.org"}).status, 1);
    EXPECT_EQ(run({"user", "address", "add", "alice"}).status, 2);

    r = run({"user", "address", "del", "alice", "SALES@example.org"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "address sales@example.org removed from alice\n");
    r = run({"user", "address", "del", "alice", "sales@example.org"});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "postern: alice has no address sales@example.org\n");
    EXPECT_EQ(run({"user", "address", "add", "bob", "sales@example.org"}).status, 0);
}

TEST_F(CliAccountsTest, DeletingAUserFreesItsAddresses) {
    add_user("alice", "pw");
    add_user("bob", "pw");
    ASSERT_EQ(run({"user", "address", "add", "alice", "sales@example.org"}).status, 0);
    ASSERT_EQ(run({"app-password", "add", "alice", "phone"}).status, 0);
    ASSERT_EQ(run({"user", "del", "alice"}).status, 0);
    EXPECT_EQ(run({"user", "address", "add", "bob", "sales@example.org"}).status, 0);
}
