// The abuse-protection decisions, with time passed in: caps, rates, lockouts, greylisting, allow-lists.
#include <gtest/gtest.h>

#include "policy/ip.hpp"
#include "policy/policy.hpp"

namespace postern::policy {
namespace {

using namespace std::chrono_literals;

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

TimePoint at(std::chrono::seconds s) { return TimePoint{} + std::chrono::hours(24 * 365 * 50) + s; }

Policy make(Settings s) { return Policy(std::move(s), std::make_unique<MemoryPolicyState>()); }

TEST(PolicyIp, ParsesAndPrintsV4AndV6) {
    EXPECT_EQ(ip("192.0.2.7").str(), "192.0.2.7");
    EXPECT_TRUE(ip("192.0.2.7").v4);
    EXPECT_EQ(ip("2001:db8::1").str(), "2001:db8::1");
    EXPECT_TRUE(ip("::ffff:192.0.2.7").v4);
    EXPECT_EQ(ip("::ffff:192.0.2.7"), ip("192.0.2.7"));
    EXPECT_FALSE(IpAddress::parse("example.org"));
    EXPECT_FALSE(IpAddress::parse("192.0.2.300"));
}

TEST(PolicyIp, NetworksContainTheirAddressesOnly) {
    auto net = *Network::parse("192.0.2.0/24");
    EXPECT_TRUE(net.contains(ip("192.0.2.200")));
    EXPECT_FALSE(net.contains(ip("192.0.3.1")));
    auto v6 = *Network::parse("2001:db8::/32");
    EXPECT_TRUE(v6.contains(ip("2001:db8:ffff::1")));
    EXPECT_FALSE(v6.contains(ip("2001:db9::1")));
    EXPECT_FALSE(v6.contains(ip("192.0.2.1")));
    auto single = *Network::parse("127.0.0.1");
    EXPECT_TRUE(single.contains(ip("127.0.0.1")));
    EXPECT_FALSE(single.contains(ip("127.0.0.2")));
    auto odd = *Network::parse("10.0.0.0/9");
    EXPECT_TRUE(odd.contains(ip("10.127.255.255")));
    EXPECT_FALSE(odd.contains(ip("10.128.0.0")));
    EXPECT_FALSE(Network::parse("192.0.2.0/33"));
    EXPECT_FALSE(Network::parse("192.0.2.0/"));
}

TEST(PolicyIp, ClientNetworkIsSlash24OrSlash64) {
    EXPECT_EQ(client_network(ip("192.0.2.77")), "192.0.2.0/24");
    EXPECT_EQ(client_network(ip("2001:db8:1:2:3:4:5:6")), "2001:db8:1:2::/64");
}

TEST(Policy, PerIpCapCountsLiveConnectionsAndReleases) {
    Settings s;
    s.max_connections_per_ip = 2;
    s.connections_per_minute_per_ip = 0;
    auto p = make(s);
    auto a = ip("192.0.2.1");
    EXPECT_EQ(p.admit(a, at(0s)), ConnectVerdict::ok);
    EXPECT_EQ(p.admit(a, at(0s)), ConnectVerdict::ok);
    EXPECT_EQ(p.admit(a, at(0s)), ConnectVerdict::too_many_from_ip);
    EXPECT_EQ(p.admit(ip("192.0.2.2"), at(0s)), ConnectVerdict::ok);  // another address is not affected
    p.release(a);
    EXPECT_EQ(p.admit(a, at(0s)), ConnectVerdict::ok);
    EXPECT_EQ(p.live_connections(), 3u);
}

TEST(Policy, ServerWideCap) {
    Settings s;
    s.max_connections = 2;
    s.connections_per_minute_per_ip = 0;
    auto p = make(s);
    EXPECT_EQ(p.admit(ip("192.0.2.1"), at(0s)), ConnectVerdict::ok);
    EXPECT_EQ(p.admit(ip("192.0.2.2"), at(0s)), ConnectVerdict::ok);
    EXPECT_EQ(p.admit(ip("192.0.2.3"), at(0s)), ConnectVerdict::too_many_connections);
}

TEST(Policy, ConnectionRatePerMinuteSlides) {
    Settings s;
    s.connections_per_minute_per_ip = 3;
    auto p = make(s);
    auto a = ip("192.0.2.1");
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(p.admit(a, at(0s)), ConnectVerdict::ok);
        p.release(a);
    }
    EXPECT_EQ(p.admit(a, at(1s)), ConnectVerdict::connection_rate);
    EXPECT_EQ(p.admit(a, at(200s)), ConnectVerdict::ok);  // the window has passed
}

TEST(Policy, AuthFailuresBanTheAddressForTheBanTime) {
    Settings s;
    s.auth_failures_per_ip = 3;
    s.auth_ban_time = 600s;
    auto p = make(s);
    auto a = ip("198.51.100.9");
    EXPECT_FALSE(p.auth_failed(a, "alice", at(0s)));
    EXPECT_FALSE(p.auth_failed(a, "bob", at(1s)));
    EXPECT_TRUE(p.auth_failed(a, "carol", at(2s)));  // the third: banned now
    EXPECT_TRUE(p.ip_banned(a, at(3s)));
    EXPECT_EQ(p.admit(a, at(3s)), ConnectVerdict::banned);
    EXPECT_FALSE(p.ip_banned(ip("198.51.100.10"), at(3s)));
    ASSERT_EQ(p.bans(at(3s)).size(), 1u);
    EXPECT_EQ(p.bans(at(3s))[0].subject, "ip:198.51.100.9");
    EXPECT_FALSE(p.ip_banned(a, at(700s)));  // expired
}

TEST(Policy, BansCanBeLiftedByAddress) {
    Settings s;
    s.auth_failures_per_ip = 1;
    auto p = make(s);
    auto a = ip("198.51.100.9");
    EXPECT_TRUE(p.auth_failed(a, "alice", at(0s)));
    EXPECT_TRUE(p.unban("198.51.100.9"));
    EXPECT_FALSE(p.ip_banned(a, at(1s)));
    EXPECT_FALSE(p.unban("198.51.100.9"));
}

TEST(Policy, AllowListedAddressesAreNeverBannedOrCapped) {
    Settings s;
    s.auth_failures_per_ip = 1;
    s.max_connections_per_ip = 1;
    s.allow.push_back(*Network::parse("127.0.0.0/8"));
    auto p = make(s);
    auto a = ip("127.0.0.1");
    EXPECT_FALSE(p.auth_failed(a, "alice", at(0s)));
    EXPECT_FALSE(p.ip_banned(a, at(0s)));
    EXPECT_EQ(p.admit(a, at(0s)), ConnectVerdict::ok);
    EXPECT_EQ(p.admit(a, at(0s)), ConnectVerdict::ok);
}

TEST(Policy, AccountLockCountsFailuresFromManyAddresses) {
    Settings s;
    s.auth_failures_per_ip = 0;
    s.auth_failures_per_account = 3;
    s.account_lockout_time = 900s;
    auto p = make(s);
    p.auth_failed(ip("203.0.113.1"), "alice", at(0s));
    p.auth_failed(ip("203.0.113.2"), "Alice", at(1s));
    EXPECT_FALSE(p.account_locked(ip("203.0.113.9"), "alice", at(2s)));
    p.auth_failed(ip("203.0.113.3"), "alice", at(2s));
    EXPECT_TRUE(p.account_locked(ip("203.0.113.9"), "alice", at(3s)));
    EXPECT_TRUE(p.account_locked(ip("203.0.113.9"), "ALICE", at(3s)));
    EXPECT_FALSE(p.account_locked(ip("203.0.113.9"), "bob", at(3s)));
    EXPECT_FALSE(p.account_locked(ip("203.0.113.9"), "alice", at(1000s)));
}

TEST(Policy, MessageAndRecipientRatesPerIpAndUser) {
    Settings s;
    s.messages_per_hour_per_ip = 2;
    s.recipients_per_hour_per_ip = 0;
    s.messages_per_hour_per_user = 1;
    s.recipients_per_hour_per_user = 3;
    auto p = make(s);
    auto a = ip("192.0.2.1");
    EXPECT_TRUE(p.allow_message(a, "", at(0s)));
    p.message_accepted(a, "", 1, at(0s));
    EXPECT_TRUE(p.allow_message(a, "", at(1s)));
    p.message_accepted(a, "", 1, at(1s));
    EXPECT_FALSE(p.allow_message(a, "", at(2s)));
    // A user has its own budget, on another address.
    auto b = ip("192.0.2.2");
    EXPECT_TRUE(p.allow_message(b, "alice", at(2s)));
    p.message_accepted(b, "alice", 2, at(2s));
    EXPECT_FALSE(p.allow_message(b, "alice", at(3s)));
    EXPECT_TRUE(p.allow_recipient(b, "alice", 0, at(3s)));
    EXPECT_FALSE(p.allow_recipient(b, "alice", 1, at(3s)));  // 2 sent + 1 pending = the limit
    EXPECT_TRUE(p.allow_message(a, "", at(2h)));             // an hour later
}

TEST(Policy, GreylistDefersThenAcceptsAndRemembers) {
    Settings s;
    s.greylist = true;
    s.greylist_delay = 300s;
    s.greylist_ttl = 3600s;
    auto p = make(s);
    auto a = ip("192.0.2.10");
    auto v = p.greylist(a, "bob@example.org", "alice@example.net", at(0s));
    EXPECT_FALSE(v.pass);
    EXPECT_EQ(v.wait, 300s);
    v = p.greylist(ip("192.0.2.99"), "bob@example.org", "alice@example.net", at(100s));  // same /24
    EXPECT_FALSE(v.pass);
    EXPECT_EQ(v.wait, 200s);
    EXPECT_TRUE(p.greylist(a, "bob@example.org", "alice@example.net", at(300s)).pass);
    EXPECT_TRUE(p.greylist(a, "BOB@example.org", "alice@example.net", at(301s)).pass);  // case does not matter
    EXPECT_FALSE(p.greylist(a, "carol@example.org", "alice@example.net", at(301s)).pass);
    EXPECT_FALSE(p.greylist(ip("198.51.100.1"), "bob@example.org", "alice@example.net", at(301s)).pass);
    // Remembered for the ttl after the last pass, then forgotten.
    EXPECT_TRUE(p.greylist(a, "bob@example.org", "alice@example.net", at(3000s)).pass);
    EXPECT_FALSE(p.greylist(a, "bob@example.org", "alice@example.net", at(3000s + 3601s)).pass);
}

TEST(Policy, AllowListWinsOverTheAccountLock) {
    Settings s;
    s.auth_failures_per_ip = 0;
    s.auth_failures_per_account = 2;
    s.allow.push_back(*Network::parse("192.0.2.0/24"));
    auto p = make(s);
    p.auth_failed(ip("192.0.2.5"), "alice", at(0s));  // from the allow-list: not counted
    p.auth_failed(ip("192.0.2.5"), "alice", at(1s));
    EXPECT_FALSE(p.account_locked(ip("203.0.113.1"), "alice", at(2s)));
    p.auth_failed(ip("203.0.113.1"), "alice", at(2s));
    p.auth_failed(ip("203.0.113.2"), "alice", at(3s));
    EXPECT_TRUE(p.account_locked(ip("203.0.113.1"), "alice", at(4s)));
    EXPECT_FALSE(p.account_locked(ip("192.0.2.5"), "alice", at(4s)));  // the owner still gets in
}

TEST(Policy, AuthFailuresAcrossAWindowBoundaryStillBan) {
    Settings s;
    s.auth_failures_per_ip = 5;
    s.auth_failure_window = 600s;
    auto p = make(s);
    auto a = ip("198.51.100.1");
    // Two just before a 600 s boundary, three just after: five within the window, so the fifth bans.
    for (auto t : {598s, 599s, 601s, 602s}) EXPECT_FALSE(p.auth_failed(a, "x", at(t)));
    EXPECT_TRUE(p.auth_failed(a, "x", at(603s)));
    // Failures further apart than the window never add up.
    auto b = ip("198.51.100.2");
    for (int i = 0; i < 6; ++i) EXPECT_FALSE(p.auth_failed(b, "x", at(std::chrono::seconds(1000 + 601 * i))));
}

TEST(Policy, GreylistOffPassesEverything) {
    auto p = make(Settings{});
    EXPECT_TRUE(p.greylist(ip("192.0.2.10"), "a@b", "c@d", at(0s)).pass);
}

TEST(Policy, UpdateKeepsCountersAndBans) {
    Settings s;
    s.auth_failures_per_ip = 1;
    auto p = make(s);
    auto a = ip("192.0.2.1");
    EXPECT_TRUE(p.auth_failed(a, "x", at(0s)));
    s.max_connections = 5;
    p.update(s);
    EXPECT_TRUE(p.ip_banned(a, at(1s)));
}

}  // namespace
}  // namespace postern::policy
