// Pieces of the outbound client that need no network: enhanced codes, dot-stuffing, MX rdata, address literals.
#include <gtest/gtest.h>

#include "delivery/lmtp.hpp"
#include "delivery/smtp_client.hpp"
#include "delivery/smtp_relay.hpp"
#include "dns/resolver.hpp"

using namespace postern;

TEST(DeliveryClient, EnhancedCode) {
    EXPECT_EQ(delivery::enhanced_code_of("5.1.1 <x>: no such user", 550), "5.1.1");
    EXPECT_EQ(delivery::enhanced_code_of("4.7.1", 451), "4.7.1");
    EXPECT_EQ(delivery::enhanced_code_of("2.0.0 Ok: queued", 250), "2.0.0");
    EXPECT_EQ(delivery::enhanced_code_of("4.7.1 wrong class", 550), "");
    EXPECT_EQ(delivery::enhanced_code_of("no code here", 550), "");
    EXPECT_EQ(delivery::enhanced_code_of("5.1234.1 x", 550), "");
}

TEST(DeliveryClient, DotStuffing) {
    EXPECT_EQ(delivery::dot_stuff("a\r\n.b\r\n..c\r\n"), "a\r\n..b\r\n...c\r\n.\r\n");
    EXPECT_EQ(delivery::dot_stuff(".x\r\n"), "..x\r\n.\r\n");
    EXPECT_EQ(delivery::dot_stuff("no end"), "no end\r\n.\r\n");
    EXPECT_EQ(delivery::dot_stuff(""), ".\r\n");
}

TEST(DeliveryClient, ResultOfReply) {
    delivery::Reply r;
    r.code = 451;
    r.lines = {"4.7.1 greylisted", "come back later"};
    r.enhanced = "4.7.1";
    auto res = delivery::result_of(r, "mx.example");
    EXPECT_EQ(res.status, queue::DeliveryResult::Status::temporary);
    EXPECT_EQ(res.detail, "451 4.7.1 greylisted come back later");
    EXPECT_EQ(res.enhanced, "4.7.1");
    r.code = 550;
    r.enhanced.clear();
    EXPECT_EQ(delivery::result_of(r, "mx").status, queue::DeliveryResult::Status::permanent);
    EXPECT_EQ(delivery::result_of(r, "mx").enhanced, "5.0.0");
}

TEST(DeliveryDns, MxRdata) {
    const unsigned char rd[] = {0, 10, 4, 'M', 'a', 'i', 'l', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
    dns::MxHost h;
    ASSERT_TRUE(dns::parse_mx_rdata(rd, sizeof rd, h));
    EXPECT_EQ(h.preference, 10);
    EXPECT_EQ(h.name, "mail.example");
    const unsigned char null_mx[] = {0, 0, 0};
    ASSERT_TRUE(dns::parse_mx_rdata(null_mx, sizeof null_mx, h));
    EXPECT_EQ(h.name, "");
    const unsigned char bad[] = {0, 1, 9, 'x'};
    EXPECT_FALSE(dns::parse_mx_rdata(bad, sizeof bad, h));
}

TEST(DeliveryDns, NullMxAndOrder) {
    EXPECT_EQ(dns::finish_mx({{0, ""}}).outcome, dns::Outcome::null_mx);
    auto a = dns::finish_mx({{20, "b.example"}, {10, "a.example"}, {30, "c.example"}, {0, ""}});
    ASSERT_EQ(a.outcome, dns::Outcome::ok);
    ASSERT_EQ(a.hosts.size(), 3u);
    EXPECT_EQ(a.hosts[0].name, "a.example");
    EXPECT_EQ(a.hosts[1].name, "b.example");
    EXPECT_EQ(a.hosts[2].name, "c.example");
}

TEST(DeliveryRelay, AddressLiterals) {
    EXPECT_EQ(delivery::address_literal_ip("[127.0.0.1]"), "127.0.0.1");
    EXPECT_EQ(delivery::address_literal_ip("[IPv6:::1]"), "::1");
    EXPECT_EQ(delivery::address_literal_ip("example.org"), "");
    EXPECT_EQ(delivery::address_literal_ip("[nonsense]"), "");
}

TEST(DeliveryLmtp, RecipientAddress) {
    using delivery::LmtpDelivery;
    EXPECT_EQ(LmtpDelivery::lmtp_recipient({"alice@test.example", "alice"}, "mx"), "alice@test.example");
    EXPECT_EQ(LmtpDelivery::lmtp_recipient({"Alice+tag@test.example", "alice"}, "mx"), "Alice+tag@test.example");
    EXPECT_EQ(LmtpDelivery::lmtp_recipient({"sales@test.example", "alice"}, "mx"), "alice@test.example");
    EXPECT_EQ(LmtpDelivery::lmtp_recipient({"postmaster", "pm"}, "mx.test.example"), "pm@mx.test.example");
}
