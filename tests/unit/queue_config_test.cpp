// The [queue], [delivery], [lmtp], [relay], [dns] and [dkim] tables: values, defaults and errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "config/config.hpp"

using namespace postern::config;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

class QueueConfigTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "postern-qconfig-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { fs::remove_all(dir_); }
    Config load(const std::string& text) {
        std::ofstream(dir_ / "p.toml") << text;
        return load_file(dir_ / "p.toml");
    }
    std::string error_of(const std::string& text) {
        try {
            load(text);
        } catch (const ConfigError& e) {
            std::string m = e.what();
            return m.substr(m.find("p.toml"));
        }
        return "no error";
    }
    fs::path dir_;
};

}  // namespace

TEST_F(QueueConfigTest, Defaults) {
    auto cfg = embedded_default();
    EXPECT_EQ(cfg.queue.retry_schedule, (std::vector<std::chrono::milliseconds>{1min, 5min, 15min, 30min, 1h}));
    EXPECT_EQ(cfg.queue.max_queue_lifetime, std::chrono::hours(120));
    EXPECT_EQ(cfg.queue.delay_warning_time, 0ms);
    EXPECT_EQ(cfg.delivery.local, Delivery::Local::maildir);
    EXPECT_EQ(cfg.delivery.smtp_port, 25);
    EXPECT_TRUE(cfg.relay.host.empty());
    EXPECT_EQ(cfg.relay.starttls, Relay::StartTls::required);
    EXPECT_TRUE(cfg.dns.resolver.empty());
    EXPECT_TRUE(cfg.dkim.sign);
}

TEST_F(QueueConfigTest, AllTables) {
    auto cfg = load(R"(
[queue]
retry_schedule = ["1s", "2m"]
max_queue_lifetime = "1d"
delay_warning_time = "4h"
delivery_threads = 3
[delivery]
local = "lmtp"
smtp_port = 2525
destination_concurrency = 2
connection_cache_time = "0s"
helo_name = "out.example.org"
[lmtp]
address = "unix:/run/dovecot/lmtp"
[relay]
host = "smtp.example.net"
port = 465
starttls = "opportunistic"
tls_verify = false
username = "u"
password = "p"
[dns]
resolver = "[::1]:5353"
timeout = "3s"
[dkim]
sign = false
key_dir = "keys"
)");
    EXPECT_EQ(cfg.queue.retry_schedule, (std::vector<std::chrono::milliseconds>{1s, 2min}));
    EXPECT_EQ(cfg.queue.max_queue_lifetime, 24h);
    EXPECT_EQ(cfg.queue.delay_warning_time, 4h);
    EXPECT_EQ(cfg.queue.delivery_threads, 3u);
    EXPECT_EQ(cfg.delivery.local, Delivery::Local::lmtp);
    EXPECT_EQ(cfg.delivery.smtp_port, 2525);
    EXPECT_EQ(cfg.delivery.connection_cache_time, 0ms);
    EXPECT_EQ(cfg.delivery.helo_name, "out.example.org");
    EXPECT_EQ(cfg.lmtp.socket, "/run/dovecot/lmtp");
    EXPECT_TRUE(cfg.lmtp.host.empty());
    EXPECT_EQ(cfg.relay.host, "smtp.example.net");
    EXPECT_EQ(cfg.relay.port, 465);
    EXPECT_EQ(cfg.relay.starttls, Relay::StartTls::opportunistic);
    EXPECT_FALSE(cfg.relay.tls_verify);
    EXPECT_EQ(cfg.dns.resolver, "[::1]:5353");
    EXPECT_EQ(cfg.dns.timeout, 3s);
    EXPECT_FALSE(cfg.dkim.sign);
    EXPECT_EQ(cfg.dkim.key_dir, dir_ / "keys");
}

TEST_F(QueueConfigTest, LmtpTcpAddress) {
    auto cfg = load("[delivery]\nlocal = \"lmtp\"\n[lmtp]\naddress = \"127.0.0.1:24\"\n");
    EXPECT_EQ(cfg.lmtp.host, "127.0.0.1");
    EXPECT_EQ(cfg.lmtp.port, 24);
}

TEST_F(QueueConfigTest, Errors) {
    EXPECT_EQ(error_of("[delivery]\nlocal = \"lmtp\"\n"),
              "p.toml:2: delivery.local: \"lmtp\" needs [lmtp] address, such as \"unix:/run/dovecot/lmtp\"");
    EXPECT_EQ(error_of("[relay]\nhost = \"a.example\"\nusername = \"u\"\n"),
              "p.toml:1: relay.password: missing; give both relay.username and relay.password, or neither");
    EXPECT_EQ(error_of("[relay]\nstarttls = \"yes\"\n"),
              "p.toml:2: relay.starttls: expected \"required\" or \"opportunistic\", got \"yes\"");
    EXPECT_EQ(error_of("[queue]\nretry_schedule = []\n"),
              "p.toml:2: queue.retry_schedule: must list at least one duration");
    EXPECT_EQ(error_of("[dns]\nresolver = \"localhost\"\n"),
              "p.toml:2: dns.resolver: expected an IP address and port such as \"127.0.0.1:53\" or \"[::1]:53\", got "
              "\"localhost\"");
    EXPECT_EQ(error_of("[lmtp]\naddress = \"nowhere\"\n"),
              "p.toml:2: lmtp.address: expected \"unix:/path/to/socket\", \"/path\" or \"host:port\", got \"nowhere\"");
    EXPECT_EQ(error_of("[delivery]\nsmtp_prot = 25\n"),
              "p.toml:2: delivery.smtp_prot: unknown key (did you mean \"smtp_port\"?)");
}
