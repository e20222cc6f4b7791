// The session's STARTTLS (RFC 3207) and AUTH (RFC 4954) framing, submission policy and sender ownership,
// byte for byte. The SASL mechanisms themselves are tested in sasl_test.cpp; here a test handler plays them.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "smtp/session.hpp"
#include "smtp_session_driver.hpp"

using namespace postern::smtp;
using postern::smtp::test::AuthStep;
using postern::smtp::test::SessionDriver;
using Kind = AuthStepResult::Kind;

namespace {

// Port 25 role: STARTTLS offered, AUTH only after TLS, MAIL without AUTH.
SessionSettings mx_settings() {
    SessionSettings s;
    s.hostname = "mx.test.example";
    s.local_domains = {"test.example", "other.example"};
    s.max_message_size = 10240;
    s.max_recipients = 3;
    s.tls_available = true;
    s.auth_enabled = true;
    s.auth_requires_tls = true;
    s.require_auth = false;
    s.auth_mechanisms = {"PLAIN", "LOGIN"};
    return s;
}

// Port 465 role: TLS from the first byte, AUTH required before MAIL.
SessionSettings submissions_settings() {
    auto s = mx_settings();
    s.implicit_tls = true;
    s.require_auth = true;
    return s;
}

const std::string kGreeting = "220 mx.test.example ESMTP Postern\r\n";
const std::string kEhloHead =
    "250-mx.test.example greets client.example\r\n"
    "250-PIPELINING\r\n"
    "250-SIZE 10240\r\n"
    "250-8BITMIME\r\n"
    "250-SMTPUTF8\r\n"
    "250-ENHANCEDSTATUSCODES\r\n";
const std::string kEhloPlain = kEhloHead + "250 CHUNKING\r\n";
const std::string kEhloStarttls = kEhloHead + "250-CHUNKING\r\n250 STARTTLS\r\n";
const std::string kEhloAuth = kEhloHead + "250-CHUNKING\r\n250 AUTH PLAIN LOGIN\r\n";

const std::string kOk = "250 2.0.0 Ok\r\n";
const std::string kSenderOk = "250 2.1.0 Sender ok\r\n";
const std::string kRcptOk = "250 2.1.5 Recipient ok\r\n";
const std::string k354 = "354 Send the message; end it with <CR><LF>.<CR><LF>\r\n";
const std::string kSyntax = "501 5.5.4 Syntax error in parameters or arguments\r\n";
const std::string kNeedHelo = "503 5.5.1 Send EHLO or HELO first\r\n";
const std::string kNeedMailRcpt = "503 5.5.1 Need MAIL before RCPT\r\n";
const std::string kNeedMailData = "503 5.5.1 Need MAIL before DATA\r\n";
const std::string kNeedMailBdat = "503 5.5.1 Need MAIL before BDAT\r\n";
const std::string kStarttlsReady = "220 2.0.0 Ready to start TLS\r\n";
const std::string kTlsNotAvailable = "454 4.7.0 TLS not available due to temporary reason\r\n";
const std::string kTlsAlreadyActive = "503 5.5.1 TLS already active\r\n";
const std::string kAuthOk = "235 2.7.0 Authentication successful\r\n";
const std::string kAuthFailed = "535 5.7.8 Authentication credentials invalid\r\n";
const std::string kAuthNeedsTls = "538 5.7.11 Encryption required for requested authentication mechanism\r\n";
const std::string kAuthRequired = "530 5.7.0 Authentication required\r\n";
const std::string kAuthUnavailable = "454 4.7.0 Temporary authentication failure; try again later\r\n";
const std::string kAuthUnknownMechanism = "504 5.5.4 Unrecognized authentication type\r\n";
const std::string kAuthBadBase64 = "501 5.5.2 Cannot decode response: invalid base64\r\n";
const std::string kAuthCancelled = "501 5.0.0 Authentication cancelled\r\n";
const std::string kAuthLineTooLong = "500 5.5.6 Authentication exchange line is too long\r\n";
const std::string kAlreadyAuthenticated = "503 5.5.1 Already authenticated\r\n";
const std::string kAuthInTransaction = "503 5.5.1 AUTH not permitted during a mail transaction\r\n";
const std::string kAuthNotOffered = "503 5.5.1 AUTH is not offered on this port\r\n";

std::string not_owned(std::string_view address, std::string_view user) {
    return "553 5.7.1 Sender address <" + std::string(address) + "> not owned by user " + std::string(user) + "\r\n";
}

const std::string kPlainAlice = "AGFsaWNlAHNlY3JldA==";  // base64("\0alice\0secret")

// A PLAIN-like mechanism: "\0alice\0secret" succeeds as alice owning alice@test.example.
AuthStepResult plain(const AuthStep& step) {
    AuthStepResult r;
    if (step.data && *step.data == std::string("\0alice\0secret", 13)) {
        r.kind = Kind::success;
        r.user = "alice";
        r.addresses = {"alice@test.example"};
    } else {
        r.kind = Kind::failure;
    }
    return r;
}

// A LOGIN-like mechanism: Username:, Password:, then success for alice/secret.
AuthStepResult login(const AuthStep& step, std::vector<std::string>& seen) {
    AuthStepResult r;
    if (step.first) {
        r.kind = Kind::challenge;
        r.data = "Username:";
        return r;
    }
    seen.push_back(step.data.value_or("<none>"));
    if (seen.size() == 1) {
        r.kind = Kind::challenge;
        r.data = "Password:";
        return r;
    }
    r.kind = seen[0] == "alice" && seen[1] == "secret" ? Kind::success : Kind::failure;
    r.user = "alice";
    r.addresses = {"alice@test.example"};
    return r;
}

class SmtpSessionTlsAuth : public ::testing::Test {
protected:
    void start(SessionSettings settings) {
        d = std::make_unique<SessionDriver>(std::move(settings));
        ASSERT_EQ(d->start(), kGreeting);
    }
    std::string send(std::string_view bytes) { return d->send(bytes); }
    Session& session() { return d->session(); }

    std::unique_ptr<SessionDriver> d;
};

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// STARTTLS

TEST_F(SmtpSessionTlsAuth, EhloOffersStarttlsButNotAuthBeforeTls) {
    start(mx_settings());
    EXPECT_EQ(send("EHLO client.example\r\n"), kEhloStarttls);
    EXPECT_FALSE(session().facts().tls);
}

TEST_F(SmtpSessionTlsAuth, StarttlsStartsTheSessionOver) {
    start(mx_settings());
    ASSERT_EQ(send("EHLO client.example\r\n"), kEhloStarttls);
    ASSERT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kSenderOk);
    EXPECT_EQ(send("STARTTLS\r\n"), kStarttlsReady);
    EXPECT_EQ(d->tls_handshakes, 1);
    // RFC 3207 §4.2: all knowledge from before TLS is discarded, the client must EHLO again.
    EXPECT_TRUE(session().facts().tls);
    EXPECT_EQ(session().facts().helo, "");
    EXPECT_FALSE(session().in_transaction());
    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kNeedHelo);
    // After TLS: AUTH offered, STARTTLS no more.
    EXPECT_EQ(send("EHLO client.example\r\n"), kEhloAuth);
    EXPECT_EQ(send("STARTTLS\r\n"), kTlsAlreadyActive);
    EXPECT_EQ(d->tls_handshakes, 1);
}

TEST_F(SmtpSessionTlsAuth, CommandsPipelinedAfterStarttlsAreDropped) {
    start(mx_settings());
    // The CVE-2011-0411 class: cleartext commands sent with STARTTLS must never run after the upgrade.
    EXPECT_EQ(send("EHLO client.example\r\nSTARTTLS\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@test.example>\r\n"),
              kEhloStarttls + kStarttlsReady);
    EXPECT_TRUE(d->lookups.empty());
    EXPECT_FALSE(session().in_transaction());
    EXPECT_EQ(send("NOOP\r\n"), kOk);
    EXPECT_EQ(send("RCPT TO:<alice@test.example>\r\n"), kNeedMailRcpt);
}

TEST_F(SmtpSessionTlsAuth, StarttlsErrors) {
    start(mx_settings());
    ASSERT_EQ(send("EHLO client.example\r\n"), kEhloStarttls);
    EXPECT_EQ(send("STARTTLS now\r\n"), kSyntax);
    EXPECT_EQ(d->tls_handshakes, 0);

    auto no_cert = mx_settings();
    no_cert.tls_available = false;
    start(no_cert);
    EXPECT_EQ(send("EHLO client.example\r\n"), kEhloPlain);
    EXPECT_EQ(send("STARTTLS\r\n"), kTlsNotAvailable);
    EXPECT_EQ(d->tls_handshakes, 0);
    EXPECT_FALSE(d->closed());

    start(submissions_settings());
    EXPECT_EQ(send("EHLO client.example\r\n"), kEhloAuth);  // implicit TLS: no STARTTLS
    EXPECT_EQ(send("STARTTLS\r\n"), kTlsAlreadyActive);
}

// ---------------------------------------------------------------------------------------------------------------
// AUTH framing

TEST_F(SmtpSessionTlsAuth, AuthIsRefusedBeforeTls) {
    start(mx_settings());
    ASSERT_EQ(send("EHLO client.example\r\n"), kEhloStarttls);
    EXPECT_EQ(send("AUTH PLAIN " + kPlainAlice + "\r\n"), kAuthNeedsTls);
    EXPECT_TRUE(d->auth_steps.empty());
}

TEST_F(SmtpSessionTlsAuth, AuthNeedsEhlo) {
    start(submissions_settings());
    EXPECT_EQ(send("AUTH PLAIN " + kPlainAlice + "\r\n"), kNeedHelo);
    ASSERT_EQ(send("HELO client.example\r\n"), "250 mx.test.example\r\n");
    EXPECT_EQ(send("AUTH PLAIN " + kPlainAlice + "\r\n"), kNeedHelo);  // AUTH is an ESMTP extension
    EXPECT_TRUE(d->auth_steps.empty());
}

TEST_F(SmtpSessionTlsAuth, AuthNotEnabledOnThisListener) {
    auto s = mx_settings();
    s.auth_enabled = false;
    start(s);
    ASSERT_EQ(send("EHLO client.example\r\n"), kEhloStarttls);
    EXPECT_EQ(send("AUTH PLAIN " + kPlainAlice + "\r\n"), kAuthNotOffered);
}

TEST_F(SmtpSessionTlsAuth, AuthPlainWithInitialResponse) {
    start(submissions_settings());
    d->auth_handler = plain;
    ASSERT_EQ(send("EHLO client.example\r\n"), kEhloAuth);
    EXPECT_EQ(send("AUTH PLAIN " + kPlainAlice + "\r\n"), kAuthOk);
    ASSERT_EQ(d->auth_steps.size(), 1u);
    EXPECT_EQ(d->auth_steps[0].mechanism, "PLAIN");
    EXPECT_TRUE(d->auth_steps[0].first);
    EXPECT_EQ(d->auth_steps[0].data, std::optional<std::string>(std::string("\0alice\0secret", 13)));
    EXPECT_EQ(session().facts().auth_user, "alice");
    EXPECT_EQ(send("AUTH PLAIN " + kPlainAlice + "\r\n"), kAlreadyAuthenticated);
    // Once authenticated, AUTH is no longer advertised.
    EXPECT_EQ(send("EHLO client.example\r\n"), kEhloPlain);
    EXPECT_EQ(session().facts().auth_user, "alice");
}

TEST_F(SmtpSessionTlsAuth, AuthMechanismIsCaseInsensitiveAndEqualsIsAnEmptyInitialResponse) {
    start(submissions_settings());
    d->auth_handler = plain;
    ASSERT_EQ(send("EHLO client.example\r\n"), kEhloAuth);
    EXPECT_EQ(send("auth plain =\r\n"), kAuthFailed);
    ASSERT_EQ(d->auth_steps.size(), 1u);
    EXPECT_EQ(d->auth_steps[0].mechanism, "PLAIN");
    EXPECT_EQ(d->auth_steps[0].data, std::optional<std::string>(""));
    EXPECT_EQ(session().facts().auth_user, "");
}

TEST_F(SmtpSessionTlsAuth, AuthLoginChallengeExchange) {
    start(submissions_settings());
    std::vector<std::string> seen;
    d->auth_handler = [&](const AuthStep& s) { return login(s, seen); };
    ASSERT_EQ(send("EHLO client.example\r\n"), kEhloAuth);
    EXPECT_EQ(send("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
    ASSERT_EQ(d->auth_steps.size(), 1u);
    EXPECT_TRUE(d->auth_steps[0].first);
    EXPECT_EQ(d->auth_steps[0].data, std::nullopt);  // no initial response
    EXPECT_EQ(send("YWxpY2U=\r\n"), "334 UGFzc3dvcmQ6\r\n");
    EXPECT_FALSE(d->auth_steps[1].first);
    EXPECT_EQ(send("c2VjcmV0\r\n"), kAuthOk);
    EXPECT_EQ(seen, (std::vector<std::string>{"alice", "secret"}));
    EXPECT_EQ(session().facts().auth_user, "alice");
    EXPECT_EQ(send("NOOP\r\n"), kOk);
}

TEST_F(SmtpSessionTlsAuth, AuthExchangeLinesAreNotCommands) {
    start(submissions_settings());
    std::vector<std::string> seen;
    d->auth_handler = [&](const AuthStep& s) { return login(s, seen); };
    ASSERT_EQ(send("EHLO client.example\r\n"), kEhloAuth);
    ASSERT_EQ(send("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
    // During the exchange every line is a SASL response: "QUIT" is four base64 characters, not a command.
    EXPECT_EQ(send("QUIT\r\n"), "334 UGFzc3dvcmQ6\r\n");
    EXPECT_FALSE(d->closed());
    EXPECT_EQ(send("c2VjcmV0\r\n"), kAuthFailed);
    EXPECT_EQ(seen.size(), 2u);
}

TEST_F(SmtpSessionTlsAuth, AuthCancel) {
    start(submissions_settings());
    std::vector<std::string> seen;
    d->auth_handler = [&](const AuthStep& s) { return login(s, seen); };
    ASSERT_EQ(send("EHLO client.example\r\n"), kEhloAuth);
    ASSERT_EQ(send("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
    EXPECT_EQ(send("*\r\n"), kAuthCancelled);
    EXPECT_EQ(send("NOOP\r\n"), kOk);  // back to commands
    EXPECT_EQ(session().facts().auth_user, "");
    EXPECT_EQ(d->auth_steps.size(), 1u);
}

TEST_F(SmtpSessionTlsAuth, AuthBadBase64) {
    start(submissions_settings());
    std::vector<std::string> seen;
    d->auth_handler = [&](const AuthStep& s) { return login(s, seen); };
    ASSERT_EQ(send("EHLO client.example\r\n"), kEhloAuth);
    EXPECT_EQ(send("AUTH PLAIN !!!!\r\n"), kAuthBadBase64);
    EXPECT_EQ(send("AUTH PLAIN AGFsaWNl\x01\r\n"), kAuthBadBase64);
    EXPECT_TRUE(d->auth_steps.empty());
    ASSERT_EQ(send("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
    EXPECT_EQ(send("YWxpY2U\r\n"), kAuthBadBase64);  // unpadded
    EXPECT_EQ(send("NOOP\r\n"), kOk);
    EXPECT_EQ(d->auth_steps.size(), 1u);
}

TEST_F(SmtpSessionTlsAuth, AuthUnknownMechanismAndMissingMechanism) {
    start(submissions_settings());
    ASSERT_EQ(send("EHLO client.example\r\n"), kEhloAuth);
    EXPECT_EQ(send("AUTH CRAM-MD5\r\n"), kAuthUnknownMechanism);
    EXPECT_EQ(send("AUTH\r\n"), kSyntax);
    EXPECT_TRUE(d->auth_steps.empty());
}

TEST_F(SmtpSessionTlsAuth, AuthTemporaryFailureAndMalformedResponse) {
    start(submissions_settings());
    ASSERT_EQ(send("EHLO client.example\r\n"), kEhloAuth);
    d->auth_handler = [](const AuthStep&) {
        AuthStepResult r;
        r.kind = Kind::temporary_failure;
        return r;
    };
    EXPECT_EQ(send("AUTH PLAIN " + kPlainAlice + "\r\n"), kAuthUnavailable);
    d->auth_handler = [](const AuthStep&) {
        AuthStepResult r;
        r.kind = Kind::malformed;
        return r;
    };
    // Well-formed base64 that the mechanism cannot use is bad credentials, like any other failure.
    EXPECT_EQ(send("AUTH PLAIN " + kPlainAlice + "\r\n"), kAuthFailed);
    EXPECT_EQ(session().facts().auth_user, "");
}

TEST_F(SmtpSessionTlsAuth, AuthSuccessWithFinalServerData) {
    // SCRAM: the server's final message goes in a 334; the client answers with an empty line; then 235.
    start(submissions_settings());
    d->auth_handler = [](const AuthStep&) {
        AuthStepResult r;
        r.kind = Kind::success;
        r.data = "v=xyz";
        r.user = "alice";
        r.addresses = {"alice@test.example"};
        return r;
    };
    ASSERT_EQ(send("EHLO client.example\r\n"), kEhloAuth);
    EXPECT_EQ(send("AUTH PLAIN " + kPlainAlice + "\r\n"), "334 dj14eXo=\r\n");
    EXPECT_EQ(session().facts().auth_user, "");  // not before the client's acknowledgement
    EXPECT_EQ(send("\r\n"), kAuthOk);
    EXPECT_EQ(session().facts().auth_user, "alice");

    start(submissions_settings());
    d->auth_handler = [](const AuthStep&) {
        AuthStepResult r;
        r.kind = Kind::success;
        r.data = "v=xyz";
        r.user = "alice";
        return r;
    };
    ASSERT_EQ(send("EHLO client.example\r\n"), kEhloAuth);
    ASSERT_EQ(send("AUTH PLAIN " + kPlainAlice + "\r\n"), "334 dj14eXo=\r\n");
    EXPECT_EQ(send("YWJj\r\n"), kAuthFailed);
    EXPECT_EQ(session().facts().auth_user, "");
}

TEST_F(SmtpSessionTlsAuth, AuthNotPermittedDuringATransaction) {
    auto s = mx_settings();
    s.auth_requires_tls = false;
    s.tls_available = false;
    start(s);
    d->auth_handler = plain;
    ASSERT_EQ(send("EHLO client.example\r\n"), kEhloAuth);  // offered without TLS when so configured
    ASSERT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kSenderOk);
    EXPECT_EQ(send("AUTH PLAIN " + kPlainAlice + "\r\n"), kAuthInTransaction);
    EXPECT_EQ(send("RSET\r\nAUTH PLAIN " + kPlainAlice + "\r\n"), kOk + kAuthOk);
}

TEST_F(SmtpSessionTlsAuth, AuthResponseLineTooLong) {
    start(submissions_settings());
    std::vector<std::string> seen;
    d->auth_handler = [&](const AuthStep& s) { return login(s, seen); };
    ASSERT_EQ(send("EHLO client.example\r\n"), kEhloAuth);
    ASSERT_EQ(send("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
    // 12288 octets including CRLF is the limit (RFC 4954 §4).
    EXPECT_EQ(send(std::string(12288, 'A') + "\r\n"), kAuthLineTooLong);
    EXPECT_EQ(send("NOOP\r\n"), kOk);  // the exchange is over
    // A long response inside the limit is a response (12284 base64 octets + CRLF).
    ASSERT_EQ(send("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
    EXPECT_EQ(send(std::string(12284, 'A') + "\r\n"), "334 UGFzc3dvcmQ6\r\n");
}

// ---------------------------------------------------------------------------------------------------------------
// Submission policy and sender ownership

TEST_F(SmtpSessionTlsAuth, SubmissionRequiresAuthBeforeMail) {
    start(submissions_settings());
    d->auth_handler = plain;
    ASSERT_EQ(send("EHLO client.example\r\n"), kEhloAuth);
    EXPECT_EQ(send("MAIL FROM:<alice@test.example>\r\n"), kAuthRequired);
    EXPECT_EQ(send("RCPT TO:<bob@test.example>\r\n"), kNeedMailRcpt);
    EXPECT_EQ(send("AUTH PLAIN " + kPlainAlice + "\r\n"), kAuthOk);
    EXPECT_EQ(send("MAIL FROM:<alice@test.example>\r\n"), kSenderOk);
}

TEST_F(SmtpSessionTlsAuth, AuthenticatedUserSendsOnlyAsOwnedAddresses) {
    start(submissions_settings());
    d->auth_handler = plain;
    ASSERT_EQ(send("EHLO client.example\r\nAUTH PLAIN " + kPlainAlice + "\r\n"), kEhloAuth + kAuthOk);
    EXPECT_EQ(send("MAIL FROM:<alice@test.example>\r\nRSET\r\n"), kSenderOk + kOk);
    EXPECT_EQ(send("MAIL FROM:<Alice@TEST.example>\r\nRSET\r\n"), kSenderOk + kOk);
    EXPECT_EQ(send("MAIL FROM:<alice+lists@test.example>\r\nRSET\r\n"), kSenderOk + kOk);
    EXPECT_EQ(send("MAIL FROM:<bob@test.example>\r\n"), not_owned("bob@test.example", "alice"));
    EXPECT_EQ(send("MAIL FROM:<alice@other.example>\r\n"), not_owned("alice@other.example", "alice"));
    EXPECT_EQ(send("MAIL FROM:<+alice@test.example>\r\n"), not_owned("+alice@test.example", "alice"));
    EXPECT_EQ(send("MAIL FROM:<>\r\n"), not_owned("", "alice"));
    EXPECT_FALSE(session().in_transaction());
}

TEST_F(SmtpSessionTlsAuth, AuthenticatedUserMayRelay) {
    start(submissions_settings());
    d->auth_handler = plain;
    ASSERT_EQ(send("EHLO client.example\r\nAUTH PLAIN " + kPlainAlice + "\r\n"), kEhloAuth + kAuthOk);
    EXPECT_EQ(send("MAIL FROM:<alice@test.example>\r\n"), kSenderOk);
    EXPECT_EQ(send("RCPT TO:<friend@Remote.Example>\r\n"), kRcptOk);
    EXPECT_EQ(send("RCPT TO:<friend@remote.example>\r\n"), kRcptOk);  // a duplicate, kept once
    EXPECT_EQ(send("RCPT TO:<bob@test.example>\r\n"), kRcptOk);
    EXPECT_EQ(d->lookups.size(), 1u);  // bob at a local domain
    ASSERT_EQ(d->remote_lookups.size(), 2u);
    EXPECT_EQ(d->remote_lookups[0].str(), "friend@remote.example");
    EXPECT_EQ(send("DATA\r\nhi\r\n.\r\n"), k354 + "250 2.0.0 Ok: queued as Q1\r\n");
    ASSERT_EQ(d->stored.size(), 1u);
    const auto& r = d->stored[0].envelope.recipients;
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0].address.str(), "friend@remote.example");
    EXPECT_EQ(r[0].user, "");
    EXPECT_EQ(r[1].address.str(), "bob@test.example");
    EXPECT_EQ(r[1].user, "bob");
}

TEST_F(SmtpSessionTlsAuth, UnauthenticatedMxStillRefusesRelay) {
    start(mx_settings());
    ASSERT_EQ(send("EHLO client.example\r\nMAIL FROM:<a@remote.example>\r\n"), kEhloStarttls + kSenderOk);
    EXPECT_EQ(send("RCPT TO:<x@remote.example>\r\n"),
              "554 5.7.1 Relay access denied: remote.example is not a local domain\r\n");
}
