// DSNs (RFC 3464 in RFC 6522 multipart/report): structure, per-recipient fields, the remote reply, 7-bit.
#include <gtest/gtest.h>

#include "queue/bounce.hpp"

using namespace postern::queue;

namespace {

DsnInput sample(DsnKind kind) {
    DsnInput in;
    in.kind = kind;
    in.hostname = "mx.test.example";
    in.queue_id = "Q1";
    in.dsn_id = "D1";
    in.sender = "alice@test.example";
    in.arrived = 1700000000;
    in.now = 1700000600;
    in.retry_until = 1700432000;
    QueuedRecipient r{"bob@remote.example", ""};
    r.status = "5.1.1";
    r.diagnostic = "550 5.1.1 <bob@remote.example>: no such user";
    r.remote_mta = "mx.remote.example";
    r.last_attempt = 1700000500;
    in.recipients = {r};
    in.message = "Subject: hello \xc3\xa9\r\nFrom: alice@test.example\r\n\r\nsecret body\r\n";
    return in;
}

}  // namespace

TEST(QueueBounce, FailedDsnHasTheThreeParts) {
    auto dsn = make_dsn(sample(DsnKind::failed));
    EXPECT_NE(dsn.find("From: Mail Delivery System <MAILER-DAEMON@mx.test.example>\r\n"), std::string::npos);
    EXPECT_NE(dsn.find("To: <alice@test.example>\r\n"), std::string::npos);
    EXPECT_NE(dsn.find("Auto-Submitted: auto-replied\r\n"), std::string::npos);
    EXPECT_NE(dsn.find("Content-Type: multipart/report; report-type=delivery-status;"), std::string::npos);
    EXPECT_NE(dsn.find("Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.test.example\r\n"),
              std::string::npos);
    EXPECT_NE(dsn.find("Final-Recipient: rfc822; bob@remote.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
                       "Remote-MTA: dns; mx.remote.example\r\n"
                       "Diagnostic-Code: smtp; 550 5.1.1 <bob@remote.example>: no such user\r\n"),
              std::string::npos);
    EXPECT_NE(dsn.find("Content-Type: text/rfc822-headers"), std::string::npos);
    EXPECT_NE(dsn.find("From: alice@test.example\r\n"), std::string::npos);
    EXPECT_EQ(dsn.find("secret body"), std::string::npos) << "only the header section goes back";
    EXPECT_NE(dsn.find("host mx.remote.example said: 550 5.1.1"), std::string::npos);
    for (unsigned char c : dsn) EXPECT_LT(c, 0x80);
    EXPECT_TRUE(dsn.ends_with("--D1/mx.test.example--\r\n"));
}

TEST(QueueBounce, DelayedDsn) {
    auto in = sample(DsnKind::delayed);
    in.recipients[0].status = "4.7.1";
    in.recipients[0].diagnostic = "451 4.7.1 greylisted";
    auto dsn = make_dsn(in);
    EXPECT_NE(dsn.find("Subject: Delayed Mail (still being retried)\r\n"), std::string::npos);
    EXPECT_NE(dsn.find("Action: delayed\r\nStatus: 4.7.1\r\n"), std::string::npos);
    EXPECT_NE(dsn.find("Will-Retry-Until: "), std::string::npos);
}

TEST(QueueBounce, NonSmtpDiagnostic) {
    auto in = sample(DsnKind::failed);
    in.recipients[0].remote_mta.clear();
    in.recipients[0].diagnostic = "domain nowhere.example not found (NXDOMAIN)";
    in.recipients[0].status = "5.1.2";
    auto dsn = make_dsn(in);
    EXPECT_NE(dsn.find("Diagnostic-Code: X-Postern; domain nowhere.example not found (NXDOMAIN)\r\n"), std::string::npos);
    EXPECT_EQ(dsn.find("Remote-MTA"), std::string::npos);
}

TEST(QueueBounce, HeaderSection) {
    EXPECT_EQ(header_section("A: 1\r\nB: 2\r\n\r\nbody"), "A: 1\r\nB: 2\r\n");
    EXPECT_EQ(header_section("\r\nbody"), "");
    EXPECT_EQ(header_section("A: 1\r\n"), "A: 1\r\n");
}
