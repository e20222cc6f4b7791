// The config loader: value syntaxes, defaults, and one test per error path (each must name file, line and key).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "config/config.hpp"

using namespace postern::config;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

class ConfigFileTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "postern-config-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { fs::remove_all(dir_); }

    fs::path write(const std::string& text, const std::string& name = "postern.toml") {
        fs::path file = dir_ / name;
        std::ofstream(file) << text;
        return file;
    }

    Config load(const std::string& text) { return load_file(write(text)); }

    // The ConfigError message with the directory removed, so tests read "postern.toml:3: key: ...".
    std::string error_of(const std::string& text) {
        try {
            load(text);
        } catch (const ConfigError& e) {
            std::string message = e.what();
            std::string prefix = dir_.string() + "/";
            if (message.rfind(prefix, 0) == 0) message.erase(0, prefix.size());
            return message;
        }
        return "no error";
    }

    fs::path dir_;
};

}  // namespace

// ---- value syntaxes ----

TEST(ConfigDuration, ParsesEachUnit) {
    EXPECT_EQ(parse_duration("250ms"), 250ms);
    EXPECT_EQ(parse_duration("30s"), 30s);
    EXPECT_EQ(parse_duration("5m"), 5min);
    EXPECT_EQ(parse_duration("2h"), 2h);
    EXPECT_EQ(parse_duration("1d"), 24h);
    EXPECT_EQ(parse_duration("0s"), 0ms);
}

TEST(ConfigDuration, ParsesSums) {
    EXPECT_EQ(parse_duration("1h30m"), 90min);
    EXPECT_EQ(parse_duration("1m500ms"), 60500ms);
}

TEST(ConfigDuration, RejectsMalformed) {
    for (const char* bad : {"", "5", "5 minutes", "m", "5x", "-5s", "5s ", " 5s", "5S", "1.5s", "s5",
                            "99999999999999999999d", "9999999999999999d"})
        EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
}

TEST(ConfigDuration, FormatsShortestUnit) {
    EXPECT_EQ(format_duration(5min), "5m");
    EXPECT_EQ(format_duration(90s), "90s");
    EXPECT_EQ(format_duration(250ms), "250ms");
    EXPECT_EQ(format_duration(48h), "2d");
    EXPECT_EQ(format_duration(0ms), "0ms");
}

TEST(ConfigSize, ParsesUnits) {
    EXPECT_EQ(parse_size("1024"), 1024u);
    EXPECT_EQ(parse_size("10k"), 10u * 1024);
    EXPECT_EQ(parse_size("10KiB"), 10u * 1024);
    EXPECT_EQ(parse_size("25M"), 25u * 1024 * 1024);
    EXPECT_EQ(parse_size("25mb"), 25u * 1024 * 1024);
    EXPECT_EQ(parse_size("1G"), 1024u * 1024 * 1024);
}

TEST(ConfigSize, RejectsMalformed) {
    for (const char* bad : {"", "M", "10 M", "10T", "-5", "1.5M", "99999999999999999999", "99999999999G"})
        EXPECT_FALSE(parse_size(bad).has_value()) << bad;
}

TEST(ConfigListenAddress, ParsesIpv4AndIpv6) {
    Listener l;
    ASSERT_TRUE(parse_listen_address("127.0.0.1:2525", l));
    EXPECT_EQ(l.host, "127.0.0.1");
    EXPECT_EQ(l.port, 2525);
    EXPECT_EQ(l.address, "127.0.0.1:2525");
    ASSERT_TRUE(parse_listen_address("[::1]:2587", l));
    EXPECT_EQ(l.host, "::1");
    EXPECT_EQ(l.port, 2587);
    ASSERT_TRUE(parse_listen_address("0.0.0.0:25", l));
    EXPECT_EQ(l.host, "0.0.0.0");
    EXPECT_EQ(l.port, 25);
    ASSERT_TRUE(parse_listen_address("[::]:65535", l));
    EXPECT_EQ(l.port, 65535);
}

TEST(ConfigListenAddress, RejectsMalformed) {
    for (const char* bad : {"", "127.0.0.1", "::1:25", "[::1]25", "[::1]:", "[::1", "localhost:25", "1.2.3.4:0",
                            "1.2.3.4:65536", "1.2.3.4:abc", "1.2.3.4:+25", "256.1.1.1:25", "[127.0.0.1]:25", ":25",
                            "1.2.3.4:025252"}) {
        Listener l;
        EXPECT_FALSE(parse_listen_address(bad, l)) << bad;
    }
}

TEST(ConfigMode, Names) {
    EXPECT_STREQ(mode_name(ListenerMode::mx), "mx");
    EXPECT_STREQ(mode_name(ListenerMode::submission), "submission");
    EXPECT_STREQ(mode_name(ListenerMode::submissions), "submissions");
}

// ---- defaults ----

TEST(ConfigDefault, MatchesDesign) {
    Config cfg = embedded_default();
    char name[256] = {};
    ASSERT_EQ(gethostname(name, sizeof name - 1), 0);
    EXPECT_EQ(cfg.hostname, name);
    EXPECT_EQ(cfg.data_dir, fs::path("var"));
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ASSERT_FALSE(cfg.local_domains.empty());
    EXPECT_EQ(cfg.local_domains.front(), lower);
    EXPECT_EQ(cfg.local_domains.back(), "localhost");
    ASSERT_EQ(cfg.listeners.size(), 3u);
    EXPECT_EQ(cfg.listeners[0].mode, ListenerMode::mx);
    EXPECT_EQ(cfg.listeners[0].address, "127.0.0.1:2525");
    EXPECT_EQ(cfg.listeners[0].host, "127.0.0.1");
    EXPECT_EQ(cfg.listeners[0].port, 2525);
    EXPECT_EQ(cfg.listeners[1].mode, ListenerMode::submission);
    EXPECT_EQ(cfg.listeners[1].port, 2587);
    EXPECT_EQ(cfg.listeners[2].mode, ListenerMode::submissions);
    EXPECT_EQ(cfg.listeners[2].port, 2465);
    EXPECT_EQ(cfg.postmaster, "postmaster");
    EXPECT_EQ(cfg.limits.max_message_size, 25u * 1024 * 1024);
    EXPECT_EQ(cfg.limits.command_timeout, 5min);
}

// ---- loading ----

TEST_F(ConfigFileTest, EmptyFileIsTheDefault) {
    Config cfg = load("# nothing\n");
    Config def = embedded_default();
    EXPECT_EQ(cfg.hostname, def.hostname);
    EXPECT_EQ(cfg.data_dir, def.data_dir);
    EXPECT_EQ(cfg.local_domains, def.local_domains);
    EXPECT_EQ(cfg.listeners.size(), 3u);
}

TEST_F(ConfigFileTest, ReadsEveryKey) {
    Config cfg = load(R"(
hostname = "Mail.Example.org"
data_dir = "/srv/postern"
local_domains = ["Example.org", "example.net", "EXAMPLE.org"]
postmaster = "admin"
io_threads = 4

[[listeners]]
mode = "mx"
address = "0.0.0.0:25"

[[listeners]]
mode = "submissions"
address = "[::1]:465"

[limits]
max_message_size = "10M"
max_recipients = 50
command_timeout = "30s"
data_timeout = "10m"
idle_timeout = "250ms"

[auth]
argon2_ops = 3
argon2_mem_kib = 32768
scram_iterations = 8192
)");
    EXPECT_EQ(cfg.hostname, "Mail.Example.org");
    EXPECT_EQ(cfg.data_dir, fs::path("/srv/postern"));
    EXPECT_EQ(cfg.local_domains, (std::vector<std::string>{"example.org", "example.net"}));
    EXPECT_EQ(cfg.postmaster, "admin");
    EXPECT_EQ(cfg.io_threads, 4u);
    ASSERT_EQ(cfg.listeners.size(), 2u);  // replace the defaults, not add to them
    EXPECT_EQ(cfg.listeners[0].mode, ListenerMode::mx);
    EXPECT_EQ(cfg.listeners[0].host, "0.0.0.0");
    EXPECT_EQ(cfg.listeners[0].port, 25);
    EXPECT_EQ(cfg.listeners[1].mode, ListenerMode::submissions);
    EXPECT_EQ(cfg.listeners[1].host, "::1");
    EXPECT_EQ(cfg.listeners[1].port, 465);
    EXPECT_EQ(cfg.limits.max_message_size, 10u * 1024 * 1024);
    EXPECT_EQ(cfg.limits.max_recipients, 50u);
    EXPECT_EQ(cfg.limits.command_timeout, 30s);
    EXPECT_EQ(cfg.limits.data_timeout, 10min);
    EXPECT_EQ(cfg.limits.idle_timeout, 250ms);
    EXPECT_EQ(cfg.auth.argon2_ops, 3u);
    EXPECT_EQ(cfg.auth.argon2_mem_kib, 32768u);
    EXPECT_EQ(cfg.auth.scram_iterations, 8192u);
}

TEST_F(ConfigFileTest, TlsFilesRelativeToTheFile) {
    fs::create_directories(dir_ / "tls");
    std::ofstream(dir_ / "tls" / "cert.pem") << "x";
    std::ofstream(dir_ / "tls" / "key.pem") << "x";
    Config cfg = load("[tls]\ncert = \"tls/cert.pem\"\nkey = \"tls/key.pem\"\n");
    EXPECT_EQ(cfg.tls.cert, dir_ / "tls" / "cert.pem");
    EXPECT_EQ(cfg.tls.key, dir_ / "tls" / "key.pem");
    EXPECT_TRUE(embedded_default().tls.cert.empty());
}

TEST_F(ConfigFileTest, FailureDelay) {
    EXPECT_EQ(embedded_default().auth.failure_delay, 1s);
    EXPECT_EQ(load("[auth]\nfailure_delay = \"0s\"\n").auth.failure_delay, 0ms);
    EXPECT_EQ(load("[auth]\nfailure_delay = \"2s\"\n").auth.failure_delay, 2s);
}

TEST_F(ConfigFileTest, IntegerMessageSize) {
    EXPECT_EQ(load("[limits]\nmax_message_size = 2048\n").limits.max_message_size, 2048u);
}

TEST_F(ConfigFileTest, PartialTablesKeepOtherDefaults) {
    Config cfg = load("[limits]\nmax_recipients = 7\n");
    EXPECT_EQ(cfg.limits.max_recipients, 7u);
    EXPECT_EQ(cfg.limits.data_timeout, 5min);
    EXPECT_EQ(cfg.limits.max_message_size, 25u * 1024 * 1024);
}

TEST_F(ConfigFileTest, HostnameWithoutLocalDomains) {
    Config cfg = load("hostname = \"MX.Example.org\"\n");
    EXPECT_EQ(cfg.local_domains, (std::vector<std::string>{"mx.example.org", "localhost"}));
}

TEST_F(ConfigFileTest, LocalDomainsMayBeEmpty) {
    EXPECT_TRUE(load("hostname = \"mx.example.org\"\nlocal_domains = []\n").local_domains.empty());
}

TEST_F(ConfigFileTest, RelativeDataDirIsRelativeToTheFile) {
    fs::create_directories(dir_ / "etc");
    Config cfg = load_file(write("data_dir = \"../spool\"\n", "etc/postern.toml"));
    EXPECT_EQ(cfg.data_dir, (dir_ / "spool").lexically_normal());
}

// ---- errors: every message is "<file>:<line>: <key>: <what is wrong>" ----

TEST_F(ConfigFileTest, ErrorBadDurationIsExplained) {
    EXPECT_EQ(error_of("hostname = \"mx.example.org\"\n\n[limits]\nmax_recipients = 10\n\n\n"
                       "command_timeout = \"5 minutes\"\n"),
              "postern.toml:7: limits.command_timeout: expected a duration such as \"30s\" or \"5m\", got "
              "\"5 minutes\"");
}

TEST_F(ConfigFileTest, ErrorZeroDuration) {
    EXPECT_EQ(error_of("[limits]\nidle_timeout = \"0s\"\n"),
              "postern.toml:2: limits.idle_timeout: must be longer than zero, got \"0s\"");
}

TEST_F(ConfigFileTest, ErrorDurationAsNumber) {
    EXPECT_EQ(error_of("[limits]\ndata_timeout = 300\n"),
              "postern.toml:2: limits.data_timeout: expected a duration such as \"30s\" or \"5m\", got 300");
}

TEST_F(ConfigFileTest, ErrorUnknownTopLevelKeySuggests) {
    EXPECT_EQ(error_of("\nhostnme = \"x\"\n"), "postern.toml:2: hostnme: unknown key (did you mean \"hostname\"?)");
}

TEST_F(ConfigFileTest, ErrorUnknownTopLevelKeyListsKnown) {
    EXPECT_EQ(error_of("webmail = true\n"),
              "postern.toml:1: webmail: unknown key; expected one of: hostname data_dir local_domains postmaster "
              "io_threads listeners limits greylist auth tls queue delivery lmtp relay dns dkim");
}

TEST_F(ConfigFileTest, ErrorUnknownTable) {
    EXPECT_EQ(error_of("hostname = \"a.example\"\n[limts]\nmax_recipients = 5\n"),
              "postern.toml:2: limts: unknown key (did you mean \"limits\"?)");
}

TEST_F(ConfigFileTest, ErrorUnknownKeyInLimits) {
    EXPECT_EQ(error_of("[limits]\nmax_recipent = 5\n"),
              "postern.toml:2: limits.max_recipent: unknown key (did you mean \"max_recipients\"?)");
}

TEST_F(ConfigFileTest, ErrorUnknownKeyInAuth) {
    EXPECT_EQ(error_of("[auth]\nargon2_mem_kb = 5\n"),
              "postern.toml:2: auth.argon2_mem_kb: unknown key (did you mean \"argon2_mem_kib\"?)");
}

TEST_F(ConfigFileTest, ErrorUnknownKeyInListener) {
    EXPECT_EQ(error_of("[[listeners]]\nmode = \"mx\"\naddress = \"127.0.0.1:25\"\n"
                       "[[listeners]]\nmode = \"mx\"\naddress = \"127.0.0.1:26\"\ntls = true\n"),
              "postern.toml:7: listeners[1].tls: unknown key; expected one of: mode address");
}

TEST_F(ConfigFileTest, ErrorHostnameWrongType) {
    EXPECT_EQ(error_of("hostname = 42\n"), "postern.toml:1: hostname: expected a string, got 42");
}

TEST_F(ConfigFileTest, ErrorHostnameMalformed) {
    EXPECT_EQ(error_of("hostname = \"mail example\"\n"),
              "postern.toml:1: hostname: expected a host name such as \"mail.example.org\", got \"mail example\"");
}

TEST_F(ConfigFileTest, ErrorDataDirEmpty) {
    EXPECT_EQ(error_of("data_dir = \"\"\n"), "postern.toml:1: data_dir: must not be empty");
}

TEST_F(ConfigFileTest, ErrorLocalDomainsNotArray) {
    EXPECT_EQ(error_of("local_domains = \"example.org\"\n"),
              "postern.toml:1: local_domains: expected an array of domain names, got \"example.org\"");
}

TEST_F(ConfigFileTest, ErrorLocalDomainsItem) {
    EXPECT_EQ(error_of("local_domains = [\n  \"example.org\",\n  5,\n]\n"),
              "postern.toml:3: local_domains[1]: expected a string, got 5");
    EXPECT_EQ(error_of("local_domains = [\"-bad.org\"]\n"),
              "postern.toml:1: local_domains[0]: expected a host name such as \"mail.example.org\", got \"-bad.org\"");
}

TEST_F(ConfigFileTest, ErrorPostmaster) {
    EXPECT_EQ(error_of("postmaster = \"\"\n"),
              "postern.toml:1: postmaster: expected a user name such as \"postmaster\", got \"\"");
}

TEST_F(ConfigFileTest, ErrorIoThreads) {
    EXPECT_EQ(error_of("io_threads = -1\n"), "postern.toml:1: io_threads: must be between 0 and 1024, got -1");
    EXPECT_EQ(error_of("io_threads = \"4\"\n"), "postern.toml:1: io_threads: expected an integer, got \"4\"");
}

TEST_F(ConfigFileTest, ErrorNoListeners) {
    EXPECT_EQ(error_of("listeners = []\n"), "postern.toml:1: listeners: at least one listener is required");
}

TEST_F(ConfigFileTest, ErrorListenersAsTable) {
    EXPECT_EQ(error_of("[listeners]\nmode = \"mx\"\n"),
              "postern.toml:1: listeners: expected [[listeners]] tables, got a table");
}

TEST_F(ConfigFileTest, ErrorListenerMode) {
    EXPECT_EQ(error_of("[[listeners]]\nmode = \"smtp\"\naddress = \"127.0.0.1:25\"\n"),
              "postern.toml:2: listeners[0].mode: expected \"mx\", \"submission\" or \"submissions\", got \"smtp\"");
}

TEST_F(ConfigFileTest, ErrorListenerAddress) {
    EXPECT_EQ(error_of("[[listeners]]\nmode = \"mx\"\naddress = \"localhost:25\"\n"),
              "postern.toml:3: listeners[0].address: expected an IP address and port such as \"127.0.0.1:2525\", "
              "\"[::1]:2525\" or \"0.0.0.0:25\", got \"localhost:25\"");
}

TEST_F(ConfigFileTest, ErrorListenerMissingKeys) {
    EXPECT_EQ(error_of("hostname = \"a.example\"\n[[listeners]]\nmode = \"mx\"\n"),
              "postern.toml:2: listeners[0].address: missing; expected such as \"127.0.0.1:2525\"");
    EXPECT_EQ(error_of("[[listeners]]\naddress = \"127.0.0.1:25\"\n"),
              "postern.toml:1: listeners[0].mode: missing; expected \"mx\", \"submission\" or \"submissions\"");
}

TEST_F(ConfigFileTest, ErrorListenerTwice) {
    EXPECT_EQ(error_of("[[listeners]]\nmode = \"mx\"\naddress = \"127.0.0.1:25\"\n"
                       "[[listeners]]\nmode = \"submission\"\naddress = \"127.0.0.1:25\"\n"),
              "postern.toml:4: listeners[1].address: 127.0.0.1:25 is listed twice");
}

TEST_F(ConfigFileTest, ErrorMaxRecipients) {
    EXPECT_EQ(error_of("[limits]\nmax_recipients = 0\n"),
              "postern.toml:2: limits.max_recipients: must be between 1 and 4294967295, got 0");
}

TEST_F(ConfigFileTest, ErrorMaxMessageSize) {
    EXPECT_EQ(error_of("[limits]\nmax_message_size = 100\n"),
              "postern.toml:2: limits.max_message_size: must be at least 1024 octets, got 100");
    EXPECT_EQ(error_of("[limits]\nmax_message_size = \"25 MB\"\n"),
              "postern.toml:2: limits.max_message_size: expected a size in octets such as 26214400 or \"25M\", got "
              "\"25 MB\"");
    EXPECT_EQ(error_of("[limits]\nmax_message_size = -5\n"),
              "postern.toml:2: limits.max_message_size: expected a size in octets such as 26214400 or \"25M\", got -5");
    EXPECT_EQ(error_of("[limits]\nmax_message_size = 1.5\n"),
              "postern.toml:2: limits.max_message_size: expected a size in octets such as 26214400 or \"25M\", got "
              "the number 1.500000");
}

TEST_F(ConfigFileTest, ErrorArgon2Cost) {
    EXPECT_EQ(error_of("[auth]\nargon2_ops = 0\n"), "postern.toml:2: auth.argon2_ops: must be between 1 and 64, got 0");
    EXPECT_EQ(error_of("[auth]\nargon2_mem_kib = 4\n"),
              "postern.toml:2: auth.argon2_mem_kib: must be between 8 and 4194304, got 4");
}

TEST_F(ConfigFileTest, ScramIterations) {
    EXPECT_EQ(embedded_default().auth.scram_iterations, 4096u);
    EXPECT_EQ(load("[auth]\nargon2_ops = 1\n").auth.scram_iterations, 4096u);
    EXPECT_EQ(load("[auth]\nscram_iterations = 4096\n").auth.scram_iterations, 4096u);
    EXPECT_EQ(load("[auth]\nscram_iterations = 10000000\n").auth.scram_iterations, 10000000u);
}

TEST_F(ConfigFileTest, ErrorScramIterations) {
    EXPECT_EQ(error_of("[auth]\nscram_iterations = 4095\n"),
              "postern.toml:2: auth.scram_iterations: must be between 4096 and 10000000, got 4095");
    EXPECT_EQ(error_of("[auth]\nscram_iterations = 10000001\n"),
              "postern.toml:2: auth.scram_iterations: must be between 4096 and 10000000, got 10000001");
    EXPECT_EQ(error_of("[auth]\nscram_iterations = \"4096\"\n"),
              "postern.toml:2: auth.scram_iterations: expected an integer, got \"4096\"");
    EXPECT_EQ(error_of("[auth]\nscram_iteration = 4096\n"),
              "postern.toml:2: auth.scram_iteration: unknown key (did you mean \"scram_iterations\"?)");
}

TEST_F(ConfigFileTest, ErrorFailureDelay) {
    EXPECT_EQ(error_of("[auth]\nfailure_delay = 1\n"),
              "postern.toml:2: auth.failure_delay: expected a duration such as \"1s\" or \"0s\", got 1");
    EXPECT_EQ(error_of("[auth]\nfailure_delay = \"2m\"\n"),
              "postern.toml:2: auth.failure_delay: must be at most 1m, got \"2m\"");
}

TEST_F(ConfigFileTest, ErrorTlsFileMissing) {
    EXPECT_EQ(error_of("[tls]\ncert = \"/nonexistent/cert.pem\"\n"),
              "postern.toml:2: tls.cert: no such file: /nonexistent/cert.pem");
}

TEST_F(ConfigFileTest, ErrorTlsNeedsBoth) {
    std::ofstream(dir_ / "cert.pem") << "x";
    EXPECT_EQ(error_of("\n[tls]\ncert = \"cert.pem\"\n"),
              "postern.toml:2: tls.key: missing; give both tls.cert and tls.key, or neither for a self-signed "
              "certificate");
}

TEST_F(ConfigFileTest, ErrorTableExpected) {
    EXPECT_EQ(error_of("limits = 5\n"), "postern.toml:1: limits: expected a table, got 5");
    EXPECT_EQ(error_of("[[auth]]\nargon2_ops = 1\n"), "postern.toml:1: auth: expected a table, got an array");
}

TEST_F(ConfigFileTest, ErrorSyntax) {
    std::string message = error_of("hostname = \"a.example\"\n\nio_threads = \n");
    EXPECT_EQ(message.rfind("postern.toml:3: syntax error: ", 0), 0u) << message;
}

TEST_F(ConfigFileTest, ErrorDuplicateKeyIsSyntax) {
    std::string message = error_of("hostname = \"a.example\"\nhostname = \"b.example\"\n");
    EXPECT_EQ(message.rfind("postern.toml:2: syntax error: ", 0), 0u) << message;
}

TEST_F(ConfigFileTest, ErrorMissingFileNamesIt) {
    try {
        load_file(dir_ / "nope.toml");
        FAIL() << "no error";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()), (dir_ / "nope.toml").string() +
                                             ": cannot read the config file: No such file or directory");
    }
}
