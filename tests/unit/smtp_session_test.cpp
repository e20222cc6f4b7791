// The session state machine, byte for byte: greeting, EHLO/HELO, every error reply, DATA and BDAT, pipelining,
// effects (recipient lookup, message store), limits, and closing.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "smtp/session.hpp"
#include "smtp_session_driver.hpp"

using namespace postern::smtp;
using postern::smtp::test::SessionDriver;

namespace {

SessionSettings test_settings() {
    SessionSettings s;
    s.hostname = "mx.test.example";
    s.local_domains = {"test.example", "other.example"};
    s.max_message_size = 10240;
    s.max_recipients = 3;
    s.max_command_line = 2048;
    return s;
}

// The replies, spelled out (not rendered from the registry, so a registry change shows up here).
const std::string kGreeting = "220 mx.test.example ESMTP Postern\r\n";
const std::string kEhlo =
    "250-mx.test.example greets client.example\r\n"
    "250-PIPELINING\r\n"
    "250-SIZE 10240\r\n"
    "250-8BITMIME\r\n"
    "250-SMTPUTF8\r\n"
    "250-ENHANCEDSTATUSCODES\r\n"
    "250 CHUNKING\r\n";
const std::string kHelo = "250 mx.test.example\r\n";
const std::string kOk = "250 2.0.0 Ok\r\n";
const std::string kSenderOk = "250 2.1.0 Sender ok\r\n";
const std::string kRcptOk = "250 2.1.5 Recipient ok\r\n";
const std::string k354 = "354 Send the message; end it with <CR><LF>.<CR><LF>\r\n";
const std::string kQuit = "221 2.0.0 mx.test.example closing connection\r\n";
const std::string kHelp = "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT; see RFC 5321\r\n";
const std::string kVrfy = "252 2.5.0 Users are not verified here; send the message and delivery will be attempted\r\n";
const std::string kUnknownCommand = "500 5.5.1 Command not recognized\r\n";
const std::string kLineTooLong = "500 5.5.2 Line too long\r\n";
const std::string kSyntax = "501 5.5.4 Syntax error in parameters or arguments\r\n";
const std::string kEhloNeedsDomain = "501 5.5.4 EHLO requires a domain name or address literal\r\n";
const std::string kHeloNeedsDomain = "501 5.5.4 HELO requires a domain name or address literal\r\n";
const std::string kBadSender = "501 5.1.7 Bad sender address syntax\r\n";
const std::string kBadRecipient = "501 5.1.3 Bad recipient address syntax\r\n";
const std::string kNotImplemented = "502 5.5.1 Command not implemented\r\n";
const std::string kNeedHelo = "503 5.5.1 Send EHLO or HELO first\r\n";
const std::string kNeedMailRcpt = "503 5.5.1 Need MAIL before RCPT\r\n";
const std::string kNeedMailData = "503 5.5.1 Need MAIL before DATA\r\n";
const std::string kNeedMailBdat = "503 5.5.1 Need MAIL before BDAT\r\n";
const std::string kNeedRcptData = "503 5.5.1 Need RCPT before DATA\r\n";
const std::string kNeedRcptBdat = "503 5.5.1 Need RCPT before BDAT\r\n";
const std::string kNestedMail = "503 5.5.1 Sender already given; send RSET to start over\r\n";
const std::string kMixed = "503 5.5.1 DATA and BDAT cannot be mixed in one message\r\n";
const std::string kNoValidRecipients = "554 5.5.1 No valid recipients\r\n";
const std::string kUnknownUser = "550 5.1.1 No such user here\r\n";
const std::string kUtf8NeedsSmtputf8 = "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter on MAIL\r\n";
const std::string kTooManyRecipients = "452 4.5.3 Too many recipients\r\n";
const std::string kTooBig = "552 5.3.4 Message size exceeds the limit of 10240 octets\r\n";
const std::string kBareLineEnding = "554 5.6.0 Message refused: bare CR or LF found; every line must end with CRLF\r\n";
const std::string kTextLineTooLong =
    "554 5.6.0 Message refused: a line is longer than 1000 octets (RFC 5321 4.5.3.1.6)\r\n";
const std::string kLocalError =
    "451 4.3.0 Local error in processing; the message was not accepted, try again later\r\n";
const std::string kLookupFailed = "451 4.3.0 Recipient cannot be verified now; try again later\r\n";

std::string relay_denied(std::string_view domain) {
    return "554 5.7.1 Relay access denied: " + std::string(domain) + " is not a local domain\r\n";
}
std::string unknown_parameter(std::string_view keyword) {
    return "555 5.5.4 Parameter " + std::string(keyword) + " not recognized\r\n";
}
std::string bad_value(std::string_view keyword) {
    return "501 5.5.4 Bad value for parameter " + std::string(keyword) + "\r\n";
}
std::string queued(std::string_view id) { return "250 2.0.0 Ok: queued as " + std::string(id) + "\r\n"; }
std::string chunk_ok(uint64_t n) { return "250 2.0.0 " + std::to_string(n) + " octets received\r\n"; }

class SmtpSession : public ::testing::Test {
protected:
    SmtpSession() : d(test_settings()) {}

    void SetUp() override { ASSERT_EQ(d.start(), kGreeting); }

    std::string send(std::string_view bytes) { return d.send(bytes); }

    void ehlo() { ASSERT_EQ(send("EHLO client.example\r\n"), kEhlo); }
    // EHLO, MAIL from a remote sender, RCPT to alice.
    void open_transaction(std::string_view mail_params = "") {
        ehlo();
        ASSERT_EQ(send("MAIL FROM:<sender@remote.example>" + std::string(mail_params.empty() ? "" : " ") +
                       std::string(mail_params) + "\r\n"),
                  kSenderOk);
        ASSERT_EQ(send("RCPT TO:<alice@test.example>\r\n"), kRcptOk);
    }

    SessionDriver d;
};

std::string line_of(size_t n, char c = 'x') { return std::string(n, c); }

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Greeting, EHLO, HELO

TEST_F(SmtpSession, GreetingThenWaitsForInput) {
    EXPECT_EQ(d.run(), "");
    EXPECT_EQ(d.last_action, Action::need_input);
    EXPECT_FALSE(d.session().has_output());
}

TEST_F(SmtpSession, EhloKeywordListIsExact) {
    EXPECT_EQ(send("EHLO client.example\r\n"), kEhlo);
    EXPECT_EQ(d.session().facts().helo, "client.example");
    EXPECT_TRUE(d.session().facts().esmtp);
}

TEST_F(SmtpSession, SizeKeywordShowsTheConfiguredLimit) {
    auto s = test_settings();
    s.max_message_size = 35882577;
    SessionDriver other(s);
    other.start();
    auto out = other.send("EHLO c\r\n");
    EXPECT_NE(out.find("\r\n250-SIZE 35882577\r\n"), std::string::npos) << out;
}

TEST_F(SmtpSession, EhloVerbIsCaseInsensitiveAndTrailingSpacesAreIgnored) {
    EXPECT_EQ(send("ehlo client.example\r\n"), kEhlo);
    EXPECT_EQ(send("EhLo client.example   \r\n"), kEhlo);
    EXPECT_EQ(d.session().facts().helo, "client.example");
}

TEST_F(SmtpSession, EhloWithAddressLiteral) {
    auto out = send("EHLO [192.0.2.1]\r\n");
    EXPECT_EQ(out.substr(0, out.find("\r\n") + 2), "250-mx.test.example greets [192.0.2.1]\r\n");
    EXPECT_EQ(d.session().facts().helo, "[192.0.2.1]");
}

TEST_F(SmtpSession, Helo) {
    EXPECT_EQ(send("HELO client.example\r\n"), kHelo);
    EXPECT_EQ(d.session().facts().helo, "client.example");
    EXPECT_FALSE(d.session().facts().esmtp);
    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kSenderOk);
}

TEST_F(SmtpSession, EhloAndHeloNeedAnArgument) {
    EXPECT_EQ(send("EHLO\r\n"), kEhloNeedsDomain);
    EXPECT_EQ(send("EHLO \r\n"), kEhloNeedsDomain);
    EXPECT_EQ(send("EHLO    \r\n"), kEhloNeedsDomain);
    EXPECT_EQ(send("EHLO two words\r\n"), kEhloNeedsDomain);
    EXPECT_EQ(send("HELO\r\n"), kHeloNeedsDomain);
    EXPECT_EQ(send("helo\r\n"), kHeloNeedsDomain);
    EXPECT_EQ(send("HELO a\tb\r\n"), kHeloNeedsDomain);
    // Still no greeting exchanged.
    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kNeedHelo);
    EXPECT_EQ(d.session().errors(), 8u);
}

TEST_F(SmtpSession, SecondEhloResetsTheTransaction) {
    open_transaction();
    EXPECT_TRUE(d.session().in_transaction());
    EXPECT_EQ(send("EHLO again.example\r\n"),
              "250-mx.test.example greets again.example\r\n"
              "250-PIPELINING\r\n250-SIZE 10240\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n"
              "250 CHUNKING\r\n");
    EXPECT_FALSE(d.session().in_transaction());
    EXPECT_EQ(d.session().facts().helo, "again.example");
    EXPECT_EQ(send("DATA\r\n"), kNeedMailData);
    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kSenderOk);
}

TEST_F(SmtpSession, HeloAfterEhloSwitchesToPlainSmtp) {
    ehlo();
    EXPECT_EQ(send("HELO client.example\r\n"), kHelo);
    EXPECT_FALSE(d.session().facts().esmtp);
}

// ---------------------------------------------------------------------------------------------------------------
// Simple commands

TEST_F(SmtpSession, NoopHelpVrfyExpnUnknown) {
    EXPECT_EQ(send("NOOP\r\n"), kOk);
    EXPECT_EQ(send("noop with an argument\r\n"), kOk);
    EXPECT_EQ(send("HELP\r\n"), kHelp);
    EXPECT_EQ(send("HELP MAIL\r\n"), kHelp);
    EXPECT_EQ(send("VRFY alice\r\n"), kVrfy);
    EXPECT_EQ(send("VRFY\r\n"), kSyntax);
    EXPECT_EQ(send("EXPN staff\r\n"), kNotImplemented);
    EXPECT_EQ(send("FROBNICATE\r\n"), kUnknownCommand);
    EXPECT_EQ(send("\r\n"), kUnknownCommand);
    EXPECT_EQ(send("MAILFROM:<a@b>\r\n"), kUnknownCommand);
    EXPECT_EQ(d.session().errors(), 5u);
    EXPECT_FALSE(d.closed());
}

TEST_F(SmtpSession, CommandWithBareLfEnding) {
    // Command lines may end with a bare LF (only message content is strict about line ends).
    EXPECT_EQ(send("NOOP\n"), kOk);
    EXPECT_EQ(send("EHLO client.example\nNOOP\r\n"), kEhlo + kOk);
}

TEST_F(SmtpSession, CommandArrivingInPieces) {
    EXPECT_EQ(send("NO"), "");
    EXPECT_EQ(d.last_action, Action::need_input);
    EXPECT_EQ(send("OP\r"), "");
    EXPECT_EQ(send("\nQU"), kOk);
    EXPECT_EQ(send("IT\r\n"), kQuit);
    EXPECT_TRUE(d.closed());
}

// ---------------------------------------------------------------------------------------------------------------
// QUIT and closing

TEST_F(SmtpSession, QuitCloses) {
    EXPECT_EQ(send("QUIT\r\n"), kQuit);
    EXPECT_EQ(d.last_action, Action::close);
    // Whatever comes later is ignored.
    EXPECT_EQ(send("NOOP\r\n"), "");
    EXPECT_EQ(d.last_action, Action::close);
}

TEST_F(SmtpSession, PipelinedCommandsAfterQuitAreNotExecuted) {
    EXPECT_EQ(send("NOOP\r\nQUIT\r\nNOOP\r\nHELP\r\n"), kOk + kQuit);
    EXPECT_TRUE(d.closed());
}

TEST_F(SmtpSession, QuitWithAnArgumentIsASyntaxError) {
    EXPECT_EQ(send("QUIT now\r\n"), kSyntax);
    EXPECT_FALSE(d.closed());
    EXPECT_EQ(send("quit\r\n"), kQuit);
    EXPECT_TRUE(d.closed());
}

TEST_F(SmtpSession, QuitInTheMiddleOfATransaction) {
    open_transaction();
    EXPECT_EQ(send("QUIT\r\n"), kQuit);
    EXPECT_TRUE(d.closed());
    EXPECT_TRUE(d.stored.empty());
}

TEST_F(SmtpSession, CloseWithTimeoutAndShutdown) {
    d.session().close_with(ReplyId::timeout);
    EXPECT_EQ(d.run(), "421 4.4.2 mx.test.example Timeout exceeded, closing connection\r\n");
    EXPECT_TRUE(d.closed());
    d.session().close_with(ReplyId::shutting_down);  // already closed: nothing more
    EXPECT_EQ(d.run(), "");

    SessionDriver other(test_settings());
    other.start();
    EXPECT_EQ(other.send("EHLO client.example\r\nMAIL FROM:<a@remote.example>\r\n"), kEhlo + kSenderOk);
    other.session().close_with(ReplyId::shutting_down);
    EXPECT_EQ(other.run(), "421 4.3.2 mx.test.example Service shutting down, closing connection\r\n");
    EXPECT_EQ(other.last_action, Action::close);
}

TEST_F(SmtpSession, TimeoutDuringData) {
    open_transaction();
    EXPECT_EQ(send("DATA\r\nSubject: half\r\n"), k354);
    EXPECT_TRUE(d.session().in_message_content());
    d.session().close_with(ReplyId::timeout);
    EXPECT_EQ(d.run(), "421 4.4.2 mx.test.example Timeout exceeded, closing connection\r\n");
    EXPECT_TRUE(d.closed());
    EXPECT_TRUE(d.stored.empty());
}

// ---------------------------------------------------------------------------------------------------------------
// Sequence errors (503)

TEST_F(SmtpSession, MailBeforeEhlo) {
    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kNeedHelo);
    EXPECT_FALSE(d.session().in_transaction());
}

TEST_F(SmtpSession, RcptDataBdatBeforeMail) {
    EXPECT_EQ(send("RCPT TO:<alice@test.example>\r\n"), kNeedMailRcpt);
    ehlo();
    EXPECT_EQ(send("RCPT TO:<alice@test.example>\r\n"), kNeedMailRcpt);
    EXPECT_EQ(send("DATA\r\n"), kNeedMailData);
    EXPECT_TRUE(d.lookups.empty());
}

TEST_F(SmtpSession, NestedMail) {
    ehlo();
    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kSenderOk);
    EXPECT_EQ(send("MAIL FROM:<b@remote.example>\r\n"), kNestedMail);
    EXPECT_EQ(send("MAIL FROM:<>\r\n"), kNestedMail);
}

TEST_F(SmtpSession, DataWithoutRcpt) {
    ehlo();
    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kSenderOk);
    EXPECT_EQ(send("DATA\r\n"), kNeedRcptData);
    EXPECT_FALSE(d.session().in_message_content());
}

TEST_F(SmtpSession, DataAfterOnlyRefusedRecipients) {
    ehlo();
    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kSenderOk);
    EXPECT_EQ(send("RCPT TO:<nobody@test.example>\r\n"), kUnknownUser);
    EXPECT_EQ(send("RCPT TO:<x@remote.example>\r\n"), relay_denied("remote.example"));
    EXPECT_EQ(send("DATA\r\n"), kNoValidRecipients);
    EXPECT_FALSE(d.session().in_message_content());
    // The transaction is still open: a good recipient now makes DATA work.
    EXPECT_EQ(send("RCPT TO:<bob@test.example>\r\n"), kRcptOk);
    EXPECT_EQ(send("DATA\r\n"), k354);
}

TEST_F(SmtpSession, DataAfterOnlyASyntaxErrorRecipient) {
    ehlo();
    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kSenderOk);
    EXPECT_EQ(send("RCPT TO:<bad\r\n"), kBadRecipient);
    // A recipient with bad syntax was never considered, so this is still "need RCPT".
    EXPECT_EQ(send("DATA\r\n"), kNeedRcptData);
}

// The reply to DATA (or BDAT) without MAIL should not tell the client it needs MAIL "before RCPT".
TEST_F(SmtpSession, NeedMailReplyNamesTheCommandThatWasSent) {
    ehlo();
    auto data = send("DATA\r\n");
    EXPECT_EQ(data.substr(0, 10), "503 5.5.1 ");
    EXPECT_EQ(data.find("RCPT"), std::string::npos) << data;
    auto bdat = send("BDAT 1 LAST\r\nx");
    EXPECT_EQ(bdat.substr(0, 10), "503 5.5.1 ");
    EXPECT_EQ(bdat.find("RCPT"), std::string::npos) << bdat;
}

// ---------------------------------------------------------------------------------------------------------------
// MAIL FROM: syntax and parameters

TEST_F(SmtpSession, MailSyntaxErrors) {
    ehlo();
    struct Case {
        std::string_view line;
        const std::string& reply;
    };
    const Case cases[] = {
        {"MAIL <a@remote.example>\r\n", kSyntax},
        {"MAIL\r\n", kSyntax},
        {"MAIL TO:<a@remote.example>\r\n", kSyntax},
        {"MAIL FROM:\r\n", kBadSender},
        {"MAIL FROM:a@remote.example\r\n", kBadSender},
        {"MAIL FROM:<a@remote.example\r\n", kBadSender},
        {"MAIL FROM:<a@remote.example>SIZE=1\r\n", kBadSender},
        {"MAIL FROM:<a..b@remote.example>\r\n", kBadSender},
        {"MAIL FROM:<a@remote..example>\r\n", kBadSender},
        {"MAIL FROM:<postmaster>\r\n", kBadSender},
        {"MAIL FROM:<a\xc3@remote.example>\r\n", kBadSender},
        {"MAIL FROM:<a@remote.example> =1\r\n", kSyntax},
        {"MAIL FROM:<a@remote.example> SIZE=\r\n", kSyntax},
        {"MAIL FROM:<a@remote.example> X_Y=1\r\n", kSyntax},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(send(c.line), c.reply) << c.line;
        EXPECT_FALSE(d.session().in_transaction()) << c.line;
    }
}

TEST_F(SmtpSession, MailLocalPartOver64IsBadSenderSyntax) {
    ehlo();
    EXPECT_EQ(send("MAIL FROM:<" + line_of(65, 'l') + "@remote.example>\r\n"), kBadSender);
    EXPECT_EQ(send("MAIL FROM:<" + line_of(64, 'l') + "@remote.example>\r\n"), kSenderOk);
}

TEST_F(SmtpSession, MailParameterValues) {
    ehlo();
    struct Case {
        std::string_view params;
        std::string reply;
    };
    const Case cases[] = {
        {"SIZE=abc", bad_value("SIZE")},
        {"SIZE", bad_value("SIZE")},
        {"SIZE=-1", bad_value("SIZE")},
        {"SIZE=+1", bad_value("SIZE")},
        {"SIZE=1 SIZE=1", bad_value("SIZE")},
        {"SIZE=123456789012345678901", bad_value("SIZE")},  // 21 digits: over RFC 1870's 20
        {"BODY=BINARYMIME", bad_value("BODY")},
        {"BODY", bad_value("BODY")},
        {"BODY=7BIT BODY=7BIT", bad_value("BODY")},
        {"SMTPUTF8=yes", bad_value("SMTPUTF8")},
        {"SMTPUTF8 SMTPUTF8", bad_value("SMTPUTF8")},
        {"AUTH", bad_value("AUTH")},
        {"AUTH=<> AUTH=<>", bad_value("AUTH")},
        {"FROB=1", unknown_parameter("FROB")},
        {"frob", unknown_parameter("frob")},
        {"SIZE=5 RET=HDRS", unknown_parameter("RET")},
        {"SIZE=10241", kTooBig},
        {"SIZE=99999999999", kTooBig},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(send("MAIL FROM:<a@remote.example> " + std::string(c.params) + "\r\n"), c.reply) << c.params;
        EXPECT_FALSE(d.session().in_transaction()) << c.params;
    }
}

TEST_F(SmtpSession, MailParametersAccepted) {
    ehlo();
    for (std::string_view params : {"SIZE=10240", "SIZE=0", "size=007", "BODY=8BITMIME", "body=7bit", "SMTPUTF8",
                                    "AUTH=<>", "AUTH=someone@example.com", "SIZE=1 BODY=8BITMIME SMTPUTF8 AUTH=<>",
                                    "SIZE=1  "}) {
        EXPECT_EQ(send("MAIL FROM:<a@remote.example> " + std::string(params) + "\r\n"), kSenderOk) << params;
        EXPECT_EQ(send("RSET\r\n"), kOk);
    }
    EXPECT_EQ(send("MAIL FROM: <a@remote.example>\r\n"), kSenderOk);
}

// RFC 1870: size-value = 1*20DIGIT; a value larger than the server's limit is answered 552, however large.
TEST_F(SmtpSession, TwentyDigitSizeOverTheLimitIs552) {
    ehlo();
    EXPECT_EQ(send("MAIL FROM:<a@remote.example> SIZE=99999999999999999999\r\n"), kTooBig);
}

TEST_F(SmtpSession, EnvelopeRecordsTheMailParameters) {
    ehlo();
    EXPECT_EQ(send("MAIL FROM:<Sender@Remote.Example> SIZE=77 BODY=8BITMIME SMTPUTF8\r\n"), kSenderOk);
    EXPECT_EQ(send("RCPT TO:<alice@test.example>\r\nDATA\r\nhi\r\n.\r\n"), kRcptOk + k354 + queued("Q1"));
    ASSERT_EQ(d.stored.size(), 1u);
    const auto& env = d.stored[0].envelope;
    EXPECT_EQ(env.sender.local, "Sender");
    EXPECT_EQ(env.sender.domain, "remote.example");
    EXPECT_EQ(env.body, BodyType::eight_bit_mime);
    EXPECT_TRUE(env.smtputf8);
    ASSERT_TRUE(env.declared_size.has_value());
    EXPECT_EQ(*env.declared_size, 77u);

    EXPECT_EQ(send("MAIL FROM:<>\r\nRCPT TO:<alice@test.example>\r\nDATA\r\nhi\r\n.\r\n"),
              kSenderOk + kRcptOk + k354 + queued("Q2"));
    ASSERT_EQ(d.stored.size(), 2u);
    const auto& env2 = d.stored[1].envelope;
    EXPECT_TRUE(env2.sender.is_null());
    EXPECT_EQ(env2.body, BodyType::seven_bit);
    EXPECT_FALSE(env2.smtputf8);
    EXPECT_FALSE(env2.declared_size.has_value());
}

// ---------------------------------------------------------------------------------------------------------------
// RCPT TO:

TEST_F(SmtpSession, RcptSyntaxErrors) {
    ehlo();
    ASSERT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kSenderOk);
    struct Case {
        std::string line;
        std::string reply;
    };
    const Case cases[] = {
        {"RCPT <alice@test.example>\r\n", kSyntax},
        {"RCPT\r\n", kSyntax},
        {"RCPT FROM:<alice@test.example>\r\n", kSyntax},
        {"RCPT TO:alice@test.example\r\n", kBadRecipient},
        {"RCPT TO:<>\r\n", kBadRecipient},
        {"RCPT TO:<alice@test.example\r\n", kBadRecipient},
        {"RCPT TO:<bob@@test.example>\r\n", kBadRecipient},
        {"RCPT TO:<alice@test.example>X\r\n", kBadRecipient},
        {"RCPT TO:<" + line_of(65, 'l') + "@test.example>\r\n", kBadRecipient},
        {"RCPT TO:<alice@test.example> =1\r\n", kSyntax},
        {"RCPT TO:<alice@test.example> NOTIFY=NEVER\r\n", unknown_parameter("NOTIFY")},
        {"RCPT TO:<alice@test.example> FROB\r\n", unknown_parameter("FROB")},
        {"RCPT TO:<postmaster> ORCPT=rfc822;x@y\r\n", unknown_parameter("ORCPT")},
    };
    for (const auto& c : cases) EXPECT_EQ(send(c.line), c.reply) << c.line;
    EXPECT_TRUE(d.lookups.empty());
    EXPECT_EQ(send("DATA\r\n"), kNeedRcptData);
}

TEST_F(SmtpSession, RcptLookupFoundNotFound) {
    ehlo();
    ASSERT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kSenderOk);
    EXPECT_EQ(send("RCPT TO:<nobody@test.example>\r\n"), kUnknownUser);
    EXPECT_EQ(send("RCPT TO:<alice@test.example>\r\n"), kRcptOk);
    EXPECT_EQ(send("RCPT TO: <Bob@OTHER.example>\r\n"), kRcptOk);
    ASSERT_EQ(d.lookups.size(), 3u);
    EXPECT_EQ(d.lookups[0].local, "nobody");
    EXPECT_EQ(d.lookups[0].domain, "test.example");
    EXPECT_EQ(d.lookups[2].local, "Bob");
    EXPECT_EQ(d.lookups[2].domain, "other.example");
}

TEST_F(SmtpSession, LookupEffectCarriesTheRecipient) {
    ehlo();
    ASSERT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kSenderOk);
    d.session().feed("RCPT TO:<\"x y\"@Test.Example>\r\n");
    ASSERT_EQ(d.session().advance(), Action::effect);
    const auto& e = d.session().pending_effect();
    EXPECT_EQ(e.kind, EffectKind::lookup_recipient);
    ASSERT_NE(e.recipient, nullptr);
    EXPECT_EQ(e.recipient->local, "x y");
    EXPECT_EQ(e.recipient->domain, "test.example");
    EXPECT_EQ(e.envelope, nullptr);
    EXPECT_EQ(e.message, nullptr);
    // Until answered, the session stays at the effect and writes nothing for it.
    EXPECT_EQ(d.session().advance(), Action::effect);
    EXPECT_FALSE(d.session().has_output());
    d.session().recipient_result({LookupVerdict::found, "xy"});
    EXPECT_EQ(d.session().advance(), Action::need_input);
    EXPECT_EQ(d.session().take_output(), kRcptOk);
}

TEST_F(SmtpSession, RcptTempFailIs451) {
    ehlo();
    ASSERT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kSenderOk);
    d.forced_verdict = LookupVerdict::temp_fail;
    EXPECT_EQ(send("RCPT TO:<alice@test.example>\r\n"), kLookupFailed);
    d.forced_verdict.reset();
    EXPECT_EQ(send("RCPT TO:<bob@test.example>\r\n"), kRcptOk);
    EXPECT_EQ(send("DATA\r\nx\r\n.\r\n"), k354 + queued("Q1"));
    ASSERT_EQ(d.stored.size(), 1u);
    ASSERT_EQ(d.stored[0].envelope.recipients.size(), 1u);
    EXPECT_EQ(d.stored[0].envelope.recipients[0].user, "bob");
}

TEST_F(SmtpSession, RelayDenied) {
    ehlo();
    ASSERT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kSenderOk);
    EXPECT_EQ(send("RCPT TO:<alice@remote.example>\r\n"), relay_denied("remote.example"));
    EXPECT_EQ(send("RCPT TO:<alice@Sub.Test.Example>\r\n"), relay_denied("sub.test.example"));
    EXPECT_EQ(send("RCPT TO:<alice@test.example.evil>\r\n"), relay_denied("test.example.evil"));
    EXPECT_EQ(send("RCPT TO:<alice@[192.0.2.1]>\r\n"), relay_denied("[192.0.2.1]"));
    EXPECT_EQ(send("RCPT TO:<@test.example:alice@remote.example>\r\n"), relay_denied("remote.example"));
    EXPECT_TRUE(d.lookups.empty());
    // A local domain in any case is local; a source route through a remote host is ignored.
    EXPECT_EQ(send("RCPT TO:<alice@TEST.EXAMPLE>\r\n"), kRcptOk);
    EXPECT_EQ(send("RCPT TO:<@relay.remote.example:bob@other.example>\r\n"), kRcptOk);
}

TEST_F(SmtpSession, PostmasterWithoutDomain) {
    ehlo();
    ASSERT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kSenderOk);
    EXPECT_EQ(send("RCPT TO:<PostMaster>\r\n"), kRcptOk);
    ASSERT_EQ(d.lookups.size(), 1u);
    EXPECT_EQ(d.lookups[0].local, "postmaster");
    EXPECT_EQ(d.lookups[0].domain, "");
    EXPECT_EQ(send("DATA\r\nx\r\n.\r\n"), k354 + queued("Q1"));
    ASSERT_EQ(d.stored.size(), 1u);
    ASSERT_EQ(d.stored[0].envelope.recipients.size(), 1u);
    EXPECT_EQ(d.stored[0].envelope.recipients[0].address.local, "postmaster");
    EXPECT_EQ(d.stored[0].envelope.recipients[0].address.domain, "");
    EXPECT_EQ(d.stored[0].envelope.recipients[0].user, "postmaster");
}

TEST_F(SmtpSession, TooManyRecipients) {
    ehlo();
    ASSERT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kSenderOk);
    EXPECT_EQ(send("RCPT TO:<alice@test.example>\r\n"), kRcptOk);
    EXPECT_EQ(send("RCPT TO:<nobody@test.example>\r\n"), kUnknownUser);  // refused ones do not count
    EXPECT_EQ(send("RCPT TO:<bob@test.example>\r\n"), kRcptOk);
    EXPECT_EQ(send("RCPT TO:<postmaster>\r\n"), kRcptOk);
    EXPECT_EQ(send("RCPT TO:<alice@other.example>\r\n"), kTooManyRecipients);
    EXPECT_EQ(send("RCPT TO:<x@remote.example>\r\n"), kTooManyRecipients);  // the limit comes before relay
    EXPECT_EQ(d.lookups.size(), 4u);  // no lookup past the limit
    EXPECT_EQ(send("DATA\r\nx\r\n.\r\n"), k354 + queued("Q1"));
    ASSERT_EQ(d.stored.size(), 1u);
    EXPECT_EQ(d.stored[0].envelope.recipients.size(), 3u);
}

TEST_F(SmtpSession, DuplicateRecipientIsAcceptedOnce) {
    ehlo();
    ASSERT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kSenderOk);
    EXPECT_EQ(send("RCPT TO:<alice@test.example>\r\nRCPT TO:<alice@test.example>\r\nRCPT TO:<alice@TEST.example>\r\n"),
              kRcptOk + kRcptOk + kRcptOk);
    EXPECT_EQ(send("RCPT TO:<bob@test.example>\r\nRCPT TO:<bob@other.example>\r\n"), kRcptOk + kRcptOk);
    EXPECT_EQ(send("DATA\r\nx\r\n.\r\n"), k354 + queued("Q1"));
    ASSERT_EQ(d.stored.size(), 1u);
    const auto& r = d.stored[0].envelope.recipients;
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[0].address.str(), "alice@test.example");
    EXPECT_EQ(r[1].address.str(), "bob@test.example");
    EXPECT_EQ(r[2].address.str(), "bob@other.example");
}

TEST_F(SmtpSession, Utf8AddressesNeedSmtputf8) {
    ehlo();
    EXPECT_EQ(send("MAIL FROM:<j\xc3\xb6ran@remote.example>\r\n"), kUtf8NeedsSmtputf8);
    EXPECT_EQ(send("MAIL FROM:<joran@b\xc3\xbc" "cher.example>\r\n"), kUtf8NeedsSmtputf8);
    EXPECT_EQ(send("MAIL FROM:<\"j\xc3\xb6 ran\"@remote.example> BODY=8BITMIME\r\n"), kUtf8NeedsSmtputf8);
    EXPECT_FALSE(d.session().in_transaction());
    ASSERT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kSenderOk);
    EXPECT_EQ(send("RCPT TO:<\xc3\xa5lice@test.example>\r\n"), kUtf8NeedsSmtputf8);
    EXPECT_TRUE(d.lookups.empty());
    EXPECT_EQ(send("RSET\r\n"), kOk);

    ASSERT_EQ(send("MAIL FROM:<j\xc3\xb6ran@remote.example> SMTPUTF8\r\n"), kSenderOk);
    EXPECT_EQ(send("RCPT TO:<\xc3\xa5lice@test.example>\r\n"), kUnknownUser);
    EXPECT_EQ(send("RCPT TO:<alice@b\xc3\xbc" "cher.example>\r\n"), relay_denied("b\xc3\xbc" "cher.example"));
    EXPECT_EQ(send("RCPT TO:<alice@test.example>\r\nDATA\r\nx\r\n.\r\n"), kRcptOk + k354 + queued("Q1"));
    ASSERT_EQ(d.stored.size(), 1u);
    EXPECT_EQ(d.stored[0].envelope.sender.local, "j\xc3\xb6ran");
    EXPECT_TRUE(d.stored[0].envelope.smtputf8);
}

TEST_F(SmtpSession, MalformedUtf8IsASyntaxErrorEvenWithSmtputf8) {
    ehlo();
    EXPECT_EQ(send("MAIL FROM:<j\xc3(ran@remote.example> SMTPUTF8\r\n"), kBadSender);
    ASSERT_EQ(send("MAIL FROM:<a@remote.example> SMTPUTF8\r\n"), kSenderOk);
    EXPECT_EQ(send("RCPT TO:<\xed\xa0\x80@test.example>\r\n"), kBadRecipient);
}

// ---------------------------------------------------------------------------------------------------------------
// DATA

TEST_F(SmtpSession, DataStoresTheUnstuffedMessage) {
    open_transaction("SIZE=100");
    EXPECT_EQ(send("DATA\r\n"), k354);
    EXPECT_TRUE(d.session().in_message_content());
    EXPECT_EQ(send("Subject: hi\r\n\r\n..leading dot\r\n...\r\nend\r\n.\r\n"), queued("Q1"));
    EXPECT_FALSE(d.session().in_message_content());
    EXPECT_FALSE(d.session().in_transaction());
    ASSERT_EQ(d.stored.size(), 1u);
    EXPECT_EQ(d.stored[0].message, "Subject: hi\r\n\r\n.leading dot\r\n..\r\nend\r\n");
    const auto& env = d.stored[0].envelope;
    EXPECT_EQ(env.sender.str(), "sender@remote.example");
    ASSERT_EQ(env.recipients.size(), 1u);
    EXPECT_EQ(env.recipients[0].address.str(), "alice@test.example");
    EXPECT_EQ(env.recipients[0].user, "alice");
}

TEST_F(SmtpSession, DataWithAnArgumentIsASyntaxError) {
    open_transaction();
    EXPECT_EQ(send("DATA now\r\n"), kSyntax);
    EXPECT_FALSE(d.session().in_message_content());
    EXPECT_EQ(send("DATA\r\n"), k354);
}

TEST_F(SmtpSession, StoreEffectCarriesEnvelopeAndMessage) {
    open_transaction();
    d.session().feed("DATA\r\nhello\r\n.\r\n");
    ASSERT_EQ(d.session().advance(), Action::effect);
    const auto& e = d.session().pending_effect();
    ASSERT_EQ(e.kind, EffectKind::store_message);
    ASSERT_NE(e.envelope, nullptr);
    ASSERT_NE(e.message, nullptr);
    EXPECT_EQ(*e.message, "hello\r\n");
    EXPECT_EQ(e.envelope->recipients.size(), 1u);
    // The 354 is out before the store, so the server can write it while storing.
    EXPECT_EQ(d.session().take_output(), k354);
    // The store may take the message away.
    std::string taken = std::move(*e.message);
    EXPECT_EQ(taken, "hello\r\n");
    d.session().store_result({true, "ABC123"});
    EXPECT_EQ(d.session().advance(), Action::need_input);
    EXPECT_EQ(d.session().take_output(), queued("ABC123"));
}

TEST_F(SmtpSession, DataArrivingByteByByte) {
    open_transaction();
    std::string all = "DATA\r\nSubject: x\r\n\r\n..a\r\nb\r\n.\r\nNOOP\r\n";
    std::string out;
    for (char c : all) out += send(std::string_view(&c, 1));
    EXPECT_EQ(out, k354 + queued("Q1") + kOk);
    ASSERT_EQ(d.stored.size(), 1u);
    EXPECT_EQ(d.stored[0].message, "Subject: x\r\n\r\n.a\r\nb\r\n");
}

TEST_F(SmtpSession, StoreFailureIs451AndEndsTheTransaction) {
    open_transaction();
    d.store_ok = false;
    EXPECT_EQ(send("DATA\r\nx\r\n.\r\n"), k354 + kLocalError);
    EXPECT_EQ(d.store_attempts, 1);
    EXPECT_FALSE(d.session().in_transaction());
    EXPECT_EQ(send("DATA\r\n"), kNeedMailData);
    EXPECT_FALSE(d.closed());
}

TEST_F(SmtpSession, MessageOverTheSizeLimitIs552AfterTheData) {
    open_transaction();
    // 10240 octets of content is the limit: 10 lines of 998 + CRLF, and one of 238 + CRLF.
    std::string exact;
    for (int i = 0; i < 10; ++i) exact += line_of(998) + "\r\n";
    exact += line_of(238, 'y') + "\r\n";
    ASSERT_EQ(exact.size(), 10240u);
    EXPECT_EQ(send("DATA\r\n" + exact + ".\r\n"), k354 + queued("Q1"));
    ASSERT_EQ(d.stored.size(), 1u);
    EXPECT_EQ(d.stored[0].message, exact);

    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@test.example>\r\n"), kSenderOk + kRcptOk);
    EXPECT_EQ(send("DATA\r\n" + exact + "x\r\n.\r\n"), k354 + kTooBig);
    EXPECT_EQ(d.stored.size(), 1u);
    EXPECT_EQ(d.store_attempts, 1);
    EXPECT_FALSE(d.session().in_transaction());
    EXPECT_EQ(send("RCPT TO:<alice@test.example>\r\n"), kNeedMailRcpt);
}

TEST_F(SmtpSession, HugeMessageIsRefusedAtItsEnd) {
    open_transaction();
    EXPECT_EQ(send("DATA\r\n"), k354);
    std::string chunk;
    for (int i = 0; i < 100; ++i) chunk += line_of(500) + "\r\n";
    for (int i = 0; i < 10; ++i) EXPECT_EQ(send(chunk), "");  // ~500 KB, no reply until the end
    EXPECT_EQ(send(".\r\nNOOP\r\n"), kTooBig + kOk);
}

TEST_F(SmtpSession, TextLineLengthInData) {
    open_transaction();
    EXPECT_EQ(send("DATA\r\n" + line_of(998) + "\r\n.\r\n"), k354 + queued("Q1"));
    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@test.example>\r\n"), kSenderOk + kRcptOk);
    EXPECT_EQ(send("DATA\r\n" + line_of(999) + "\r\n.\r\n"), k354 + kTextLineTooLong);
    // The stuffing dot does not count (RFC 5321 §4.5.3.1.6): 999 octets as sent, a text line of 998.
    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@test.example>\r\n"), kSenderOk + kRcptOk);
    EXPECT_EQ(send("DATA\r\n." + line_of(998) + "\r\n.\r\n"), k354 + queued("Q2"));
    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@test.example>\r\n"), kSenderOk + kRcptOk);
    EXPECT_EQ(send("DATA\r\n." + line_of(999) + "\r\n.\r\n"), k354 + kTextLineTooLong);
    ASSERT_EQ(d.stored.size(), 2u);
    EXPECT_EQ(d.stored[1].message, line_of(998) + "\r\n");
}

TEST_F(SmtpSession, SmugglingLfDotLfIsNotTheEndOfData) {
    open_transaction();
    EXPECT_EQ(send("DATA\r\n"), k354);
    // Everything after "\n.\n" is message text, not commands.
    EXPECT_EQ(send("Subject: innocent\r\n\r\nhello\n.\nMAIL FROM:<ceo@test.example>\r\nRCPT TO:<bob@test.example>\r\n"
                   "DATA\r\nSubject: smuggled\r\n\r\nevil\r\n"),
              "");
    EXPECT_TRUE(d.session().in_message_content());
    EXPECT_EQ(send("\r\n.\r\n"), kBareLineEnding);
    EXPECT_EQ(d.lookups.size(), 1u);
    EXPECT_TRUE(d.stored.empty());
    EXPECT_EQ(d.store_attempts, 0);
    EXPECT_FALSE(d.session().in_transaction());
    EXPECT_EQ(send("NOOP\r\n"), kOk);
}

TEST_F(SmtpSession, SmugglingVariantsGetExactlyOneRefusal) {
    for (std::string_view fake : {"\n.\n", "\r.\r", "\n.\r\n", "\r.\r\n", "\r\n.\n", "\r\n.\r", "\n.\r"}) {
        SCOPED_TRACE(::testing::PrintToString(std::string(fake)));
        SessionDriver s(test_settings());
        s.start();
        std::string in = "EHLO client.example\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@test.example>\r\n"
                         "DATA\r\nhello" +
                         std::string(fake) +
                         "MAIL FROM:<ceo@test.example>\r\nRCPT TO:<bob@test.example>\r\nDATA\r\nevil\r\n.\r\nNOOP\r\n";
        EXPECT_EQ(s.send(in), kEhlo + kSenderOk + kRcptOk + k354 + kBareLineEnding + kOk);
        EXPECT_EQ(s.lookups.size(), 1u);
        EXPECT_TRUE(s.stored.empty());
    }
}

TEST_F(SmtpSession, BareCrOrLfInDataIsRefused) {
    open_transaction();
    EXPECT_EQ(send("DATA\r\nline one\nline two\r\n.\r\n"), k354 + kBareLineEnding);
    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@test.example>\r\n"), kSenderOk + kRcptOk);
    EXPECT_EQ(send("DATA\r\nline one\rline two\r\n.\r\n"), k354 + kBareLineEnding);
    EXPECT_TRUE(d.stored.empty());
}

TEST_F(SmtpSession, CommandsInsideDataAreText) {
    open_transaction();
    EXPECT_EQ(send("DATA\r\nQUIT\r\nRSET\r\nBDAT 5 LAST\r\n.\r\n"), k354 + queued("Q1"));
    ASSERT_EQ(d.stored.size(), 1u);
    EXPECT_EQ(d.stored[0].message, "QUIT\r\nRSET\r\nBDAT 5 LAST\r\n");
    EXPECT_FALSE(d.closed());
}

TEST_F(SmtpSession, SecondTransactionStartsClean) {
    open_transaction();
    EXPECT_EQ(send("RCPT TO:<bob@test.example>\r\nDATA\r\nfirst\r\n.\r\n"), kRcptOk + k354 + queued("Q1"));
    EXPECT_EQ(send("MAIL FROM:<other@remote.example>\r\nRCPT TO:<postmaster>\r\nDATA\r\nsecond\r\n.\r\n"),
              kSenderOk + kRcptOk + k354 + queued("Q2"));
    ASSERT_EQ(d.stored.size(), 2u);
    EXPECT_EQ(d.stored[0].envelope.recipients.size(), 2u);
    ASSERT_EQ(d.stored[1].envelope.recipients.size(), 1u);
    EXPECT_EQ(d.stored[1].envelope.recipients[0].user, "postmaster");
    EXPECT_EQ(d.stored[1].envelope.sender.str(), "other@remote.example");
    EXPECT_EQ(d.stored[1].message, "second\r\n");
}

// ---------------------------------------------------------------------------------------------------------------
// RSET

TEST_F(SmtpSession, RsetClearsTheTransaction) {
    open_transaction();
    EXPECT_EQ(send("RSET\r\n"), kOk);
    EXPECT_FALSE(d.session().in_transaction());
    EXPECT_EQ(send("DATA\r\n"), kNeedMailData);
    EXPECT_EQ(send("RCPT TO:<alice@test.example>\r\n"), kNeedMailRcpt);
    EXPECT_EQ(send("MAIL FROM:<b@remote.example>\r\n"), kSenderOk);  // not nested
    EXPECT_EQ(send("DATA\r\n"), kNeedRcptData);                     // the old recipient is gone
    EXPECT_EQ(send("RCPT TO:<bob@test.example>\r\nDATA\r\nx\r\n.\r\n"), kRcptOk + k354 + queued("Q1"));
    ASSERT_EQ(d.stored.size(), 1u);
    ASSERT_EQ(d.stored[0].envelope.recipients.size(), 1u);
    EXPECT_EQ(d.stored[0].envelope.recipients[0].user, "bob");
    EXPECT_EQ(d.stored[0].envelope.sender.str(), "b@remote.example");
}

TEST_F(SmtpSession, RsetKeepsTheGreeting) {
    ehlo();
    EXPECT_EQ(send("RSET\r\n"), kOk);
    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kSenderOk);
    EXPECT_TRUE(d.session().facts().esmtp);
}

TEST_F(SmtpSession, RsetBeforeEhloAndWithArgument) {
    EXPECT_EQ(send("RSET\r\n"), kOk);
    EXPECT_EQ(send("RSET all\r\n"), kSyntax);
}

TEST_F(SmtpSession, RsetAfterFailedRecipientsForgetsThem) {
    ehlo();
    ASSERT_EQ(send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<nobody@test.example>\r\n"), kSenderOk + kUnknownUser);
    EXPECT_EQ(send("RSET\r\nMAIL FROM:<a@remote.example>\r\nDATA\r\n"), kOk + kSenderOk + kNeedRcptData);
}

// ---------------------------------------------------------------------------------------------------------------
// Command line length

TEST_F(SmtpSession, CommandLineOver2048OctetsIs500AndTheSessionContinues) {
    // "NOOP " + 2041 = 2046 octets + CRLF = 2048: fine. One more octet: too long.
    EXPECT_EQ(send("NOOP " + line_of(2041) + "\r\n"), kOk);
    EXPECT_EQ(send("NOOP " + line_of(2042) + "\r\n"), kLineTooLong);
    EXPECT_EQ(send("NOOP\r\n"), kOk);
    EXPECT_EQ(send("NOOP " + line_of(10000) + "\r\nNOOP\r\n"), kLineTooLong + kOk);
    EXPECT_EQ(d.session().errors(), 2u);
    EXPECT_FALSE(d.closed());
}

TEST_F(SmtpSession, LongLineInsideATransactionKeepsTheTransaction) {
    open_transaction();
    EXPECT_EQ(send("RCPT TO:<" + line_of(3000) + "@test.example>\r\n"), kLineTooLong);
    EXPECT_TRUE(d.session().in_transaction());
    EXPECT_EQ(send("DATA\r\nx\r\n.\r\n"), k354 + queued("Q1"));
}

TEST_F(SmtpSession, LongLineArrivingOneByteAtATime) {
    std::string line = "NOOP " + line_of(3000) + "\r\n";
    std::string out;
    for (char c : line) out += send(std::string_view(&c, 1));
    EXPECT_EQ(out, kLineTooLong);
    EXPECT_EQ(send("NOOP\r\n"), kOk);
    EXPECT_EQ(d.session().errors(), 1u);
}

TEST_F(SmtpSession, LongLineArrivingInPiecesEndingWithTheTerminator) {
    // Pieces of 100 octets, the last one being exactly the line's CRLF.
    std::string out;
    std::string body = "NOOP " + line_of(2995);
    for (size_t i = 0; i < body.size(); i += 100) out += send(std::string_view(body).substr(i, 100));
    EXPECT_EQ(out, "");
    EXPECT_EQ(send("\r\n"), kLineTooLong);
    EXPECT_EQ(send("NOOP\r\n"), kOk);
}

TEST_F(SmtpSession, LineOfExactlyTheLimitInPieces) {
    // 2046 octets + CRLF = 2048, arriving as 2047 octets and then the LF: still fine.
    std::string line = "NOOP " + line_of(2041) + "\r";
    EXPECT_EQ(send(line), "");
    EXPECT_EQ(send("\n"), kOk);
    // 2047 + CRLF: the 2048 octets without LF already make it too long.
    EXPECT_EQ(send("NOOP " + line_of(2042) + "\r"), "");
    EXPECT_EQ(send("\n"), kLineTooLong);
    EXPECT_EQ(send("NOOP\r\n"), kOk);
}

// When the end of an over-long line arrives together with the next command, that command must be answered at once:
// the server only feeds more bytes when the client sends them, and the client is waiting for the reply.
TEST_F(SmtpSession, CommandAfterADiscardedLongLineInTheSameInputIsAnswered) {
    EXPECT_EQ(send("NOOP " + line_of(3000)), "");
    EXPECT_EQ(send("\r\nNOOP\r\n"), kLineTooLong + kOk);
    EXPECT_EQ(d.last_action, Action::need_input);
}

TEST_F(SmtpSession, PipelinedCommandsAfterALongLineInPiecesAreAnswered) {
    std::string all = "NOOP " + line_of(3000) + "\r\nEHLO client.example\r\nQUIT\r\n";
    std::string out;
    for (size_t i = 0; i < all.size(); i += 100) out += send(std::string_view(all).substr(i, 100));
    EXPECT_EQ(out, kLineTooLong + kEhlo + kQuit);
    EXPECT_TRUE(d.closed());
}

// ---------------------------------------------------------------------------------------------------------------
// BDAT (RFC 3030)

TEST_F(SmtpSession, BdatChunksAreRawContent) {
    open_transaction();
    EXPECT_EQ(send("BDAT 22\r\nSubject: c\r\n\r\n..x\r\n.\r\n"), chunk_ok(22));
    EXPECT_TRUE(d.session().in_transaction());
    EXPECT_EQ(send("BDAT 6 LAST\r\nQUIT\r\n"), queued("Q1"));
    EXPECT_FALSE(d.closed());
    ASSERT_EQ(d.stored.size(), 1u);
    EXPECT_EQ(d.stored[0].message, "Subject: c\r\n\r\n..x\r\n.\r\nQUIT\r\n");
    EXPECT_EQ(send("DATA\r\n"), kNeedMailData);
}

TEST_F(SmtpSession, BdatChunkOkCountsAllOctetsSoFar) {
    open_transaction();
    EXPECT_EQ(send("BDAT 3\r\nabc"), chunk_ok(3));
    EXPECT_EQ(send("BDAT 4\r\n\r\nde"), chunk_ok(7));
    EXPECT_EQ(send("BDAT 0\r\n"), chunk_ok(7));
    EXPECT_EQ(send("bdat 3 last\r\nf\r\n"), queued("Q1"));
    ASSERT_EQ(d.stored.size(), 1u);
    EXPECT_EQ(d.stored[0].message, "abc\r\ndef\r\n");
}

TEST_F(SmtpSession, BdatLastClosesAnUnterminatedLine) {
    open_transaction();
    EXPECT_EQ(send("BDAT 9 LAST\r\nSubject:x"), queued("Q1"));
    ASSERT_EQ(d.stored.size(), 1u);
    EXPECT_EQ(d.stored[0].message, "Subject:x\r\n");
}

TEST_F(SmtpSession, BdatZeroLastEndsTheMessage) {
    open_transaction();
    EXPECT_EQ(send("BDAT 5\r\nabc\r\nBDAT 0 LAST\r\n"), chunk_ok(5) + queued("Q1"));
    ASSERT_EQ(d.stored.size(), 1u);
    EXPECT_EQ(d.stored[0].message, "abc\r\n");
}

TEST_F(SmtpSession, BdatChunkArrivingInPieces) {
    open_transaction();
    EXPECT_EQ(send("BDAT 11 LAST\r\nabc"), "");
    EXPECT_TRUE(d.session().in_message_content());
    EXPECT_EQ(send("de\r"), "");
    EXPECT_EQ(send("\nfg\r\nNOOP\r\n"), queued("Q1") + kOk);
    ASSERT_EQ(d.stored.size(), 1u);
    EXPECT_EQ(d.stored[0].message, "abcde\r\nfg\r\n");
}

TEST_F(SmtpSession, BdatCrlfSplitAcrossChunks) {
    open_transaction();
    EXPECT_EQ(send("BDAT 2\r\na\r").substr(0, 10), "250 2.0.0 ");
    EXPECT_EQ(send("BDAT 4 LAST\r\n\nb\r"), "");  // the chunk is not complete yet
    EXPECT_EQ(send("\n"), queued("Q1"));
    ASSERT_EQ(d.stored.size(), 1u);
    EXPECT_EQ(d.stored[0].message, "a\r\nb\r\n");
}

// The reply to a chunk says how many octets were received; a CR at the end of the chunk was received too.
TEST_F(SmtpSession, ChunkReplyCountsEveryOctetOfTheChunk) {
    open_transaction();
    EXPECT_EQ(send("BDAT 2\r\na\r"), chunk_ok(2));
}

TEST_F(SmtpSession, BdatWithoutMailConsumesTheChunk) {
    ehlo();
    // The chunk holds command-looking bytes: they are content to skip, never commands.
    EXPECT_EQ(send("BDAT 12\r\nQUIT\r\nRSET\r\nNOOP\r\n"), kNeedMailBdat + kOk);
    EXPECT_FALSE(d.closed());
    EXPECT_EQ(send("BDAT 6 LAST\r\nQUIT\r\n"), kNeedMailBdat);
    EXPECT_FALSE(d.closed());
    EXPECT_TRUE(d.stored.empty());
    EXPECT_EQ(d.store_attempts, 0);
}

TEST_F(SmtpSession, BdatWithoutMailConsumesAChunkArrivingInPieces) {
    ehlo();
    EXPECT_EQ(send("BDAT 12\r\nQUIT\r\n"), kNeedMailBdat);
    EXPECT_TRUE(d.session().in_message_content());
    EXPECT_EQ(send("QUIT\r"), "");
    EXPECT_EQ(send("\nQUIT\r\n"), kQuit);
    EXPECT_TRUE(d.closed());
}

TEST_F(SmtpSession, BdatBeforeEhloConsumesTheChunk) {
    EXPECT_EQ(send("BDAT 6\r\nQUIT\r\nNOOP\r\n"), kNeedMailBdat + kOk);
    EXPECT_FALSE(d.closed());
}

TEST_F(SmtpSession, BdatWithoutRcptConsumesTheChunk) {
    ehlo();
    ASSERT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kSenderOk);
    EXPECT_EQ(send("BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n"), kNeedRcptBdat + kOk);
    EXPECT_FALSE(d.closed());
    ASSERT_EQ(send("RCPT TO:<nobody@test.example>\r\n"), kUnknownUser);
    EXPECT_EQ(send("BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n"), kNoValidRecipients + kOk);
    EXPECT_FALSE(d.closed());
    EXPECT_TRUE(d.session().in_transaction());
}

TEST_F(SmtpSession, BdatSyntaxErrors) {
    open_transaction();
    for (std::string_view line : {"BDAT\r\n", "BDAT \r\n", "BDAT x\r\n", "BDAT -1\r\n", "BDAT 1x\r\n", "BDAT 0x10\r\n",
                                  "BDAT 10 MORE\r\n", "BDAT 10 LAST LAST\r\n", "BDAT 10  LAST\r\n",
                                  "BDAT 1234567890123456789\r\n"}) {
        EXPECT_EQ(send(line), kSyntax) << line;
        EXPECT_FALSE(d.session().in_message_content()) << line;
    }
    EXPECT_TRUE(d.session().in_transaction());
    EXPECT_EQ(send("BDAT 2 LAST\r\nok"), queued("Q1"));
}

TEST_F(SmtpSession, DataAfterBdatInOneTransactionIs503) {
    open_transaction();
    EXPECT_EQ(send("BDAT 5\r\nabc\r\n"), chunk_ok(5));
    EXPECT_EQ(send("DATA\r\n"), kMixed);
    EXPECT_FALSE(d.session().in_message_content());
    EXPECT_TRUE(d.session().in_transaction());
    EXPECT_EQ(send("BDAT 5 LAST\r\ndef\r\n"), queued("Q1"));
    ASSERT_EQ(d.stored.size(), 1u);
    EXPECT_EQ(d.stored[0].message, "abc\r\ndef\r\n");
}

TEST_F(SmtpSession, DataThenBdatInTheNextTransaction) {
    open_transaction();
    EXPECT_EQ(send("DATA\r\nfirst\r\n.\r\n"), k354 + queued("Q1"));
    // A BDAT right after a finished DATA transaction has no MAIL: refused, and its chunk skipped.
    EXPECT_EQ(send("BDAT 8 LAST\r\nRSET\r\n\r\n"), kNeedMailBdat);
    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<bob@test.example>\r\nBDAT 8 LAST\r\nsecond\r\n"),
              kSenderOk + kRcptOk + queued("Q2"));
    // And DATA again after a finished BDAT transaction.
    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<bob@test.example>\r\nDATA\r\nthird\r\n.\r\n"),
              kSenderOk + kRcptOk + k354 + queued("Q3"));
    ASSERT_EQ(d.stored.size(), 3u);
    EXPECT_EQ(d.stored[0].message, "first\r\n");
    EXPECT_EQ(d.stored[1].message, "second\r\n");
    EXPECT_EQ(d.stored[2].message, "third\r\n");
}

TEST_F(SmtpSession, BdatFaultEndsTheTransaction) {
    open_transaction();
    EXPECT_EQ(send("BDAT 5\r\na\nb\r\n"), kBareLineEnding);
    EXPECT_FALSE(d.session().in_transaction());
    EXPECT_EQ(send("BDAT 3 LAST\r\nabc"), kNeedMailBdat);
    EXPECT_TRUE(d.stored.empty());
    EXPECT_EQ(send("NOOP\r\n"), kOk);
}

TEST_F(SmtpSession, BdatFaultsInTheLastChunk) {
    open_transaction();
    EXPECT_EQ(send("BDAT 4 LAST\r\nab\r\r"), kBareLineEnding);  // a pending CR at the end is bare
    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@test.example>\r\n"), kSenderOk + kRcptOk);
    EXPECT_EQ(send("BDAT 3 LAST\r\nab\r"), kBareLineEnding);
    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@test.example>\r\n"), kSenderOk + kRcptOk);
    EXPECT_EQ(send("BDAT 1001 LAST\r\n" + line_of(999) + "\r\n"), kTextLineTooLong);
    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@test.example>\r\n"), kSenderOk + kRcptOk);
    EXPECT_EQ(send("BDAT 1000 LAST\r\n" + line_of(998) + "\r\n"), queued("Q1"));
    EXPECT_EQ(d.stored.size(), 1u);
}

TEST_F(SmtpSession, BdatOverTheSizeLimitIs552) {
    open_transaction();
    std::string lines;
    for (int i = 0; i < 11; ++i) lines += line_of(998) + "\r\n";  // 11000 octets of good lines
    EXPECT_EQ(send("BDAT " + std::to_string(lines.size()) + "\r\n" + lines), kTooBig);
    EXPECT_FALSE(d.session().in_transaction());
    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@test.example>\r\n"), kSenderOk + kRcptOk);
    std::string half = lines.substr(0, 6000);
    EXPECT_EQ(send("BDAT 6000\r\n" + half), chunk_ok(6000));
    EXPECT_EQ(send("BDAT 5000 LAST\r\n" + lines.substr(6000)), kTooBig);
    EXPECT_TRUE(d.stored.empty());
}

TEST_F(SmtpSession, RsetDuringBdatTransaction) {
    open_transaction();
    EXPECT_EQ(send("BDAT 3\r\nabc"), chunk_ok(3));
    EXPECT_EQ(send("RSET\r\n"), kOk);
    EXPECT_EQ(send("BDAT 3 LAST\r\nabc"), kNeedMailBdat);
    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@test.example>\r\nDATA\r\nx\r\n.\r\n"),
              kSenderOk + kRcptOk + k354 + queued("Q1"));
    ASSERT_EQ(d.stored.size(), 1u);
    EXPECT_EQ(d.stored[0].message, "x\r\n");
}

TEST_F(SmtpSession, BdatStoreFailure) {
    open_transaction();
    d.store_ok = false;
    EXPECT_EQ(send("BDAT 3 LAST\r\nabc"), kLocalError);
    EXPECT_FALSE(d.session().in_transaction());
}

// ---------------------------------------------------------------------------------------------------------------
// Policy hooks: the server's word on MAIL and RCPT, the error budget, closing from outside

TEST_F(SmtpSession, SenderRefusedByPolicy) {
    ehlo();
    SenderResult refuse;
    refuse.ok = false;
    refuse.refusal = ReplyId::message_rate_limited;
    d.sender_verdict = refuse;
    EXPECT_EQ(send("MAIL FROM:<a@remote.example> SIZE=10\r\n"), "451 4.7.1 Too many messages; try again later\r\n");
    EXPECT_FALSE(d.session().in_transaction());
    ASSERT_EQ(d.senders.size(), 1u);
    EXPECT_EQ(d.senders[0].str(), "a@remote.example");
    EXPECT_EQ(send("RCPT TO:<alice@test.example>\r\n"), kNeedMailRcpt);
    d.sender_verdict.reset();
    EXPECT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kSenderOk);
    EXPECT_TRUE(d.session().in_transaction());
}

TEST_F(SmtpSession, SenderCheckSeesTheParsedSender) {
    ehlo();
    d.session().feed("MAIL FROM:<Sender@Remote.EXAMPLE> BODY=8BITMIME\r\n");
    ASSERT_EQ(d.session().advance(), Action::effect);
    const auto& e = d.session().pending_effect();
    ASSERT_EQ(e.kind, EffectKind::check_sender);
    ASSERT_NE(e.sender, nullptr);
    EXPECT_EQ(e.sender->local, "Sender");
    EXPECT_EQ(e.sender->domain, "remote.example");
    EXPECT_FALSE(d.session().in_transaction());  // not before the verdict
    d.session().sender_result(SenderResult{});
    EXPECT_EQ(d.session().advance(), Action::need_input);
    EXPECT_EQ(d.session().take_output(), kSenderOk);
    EXPECT_TRUE(d.session().in_transaction());
}

TEST_F(SmtpSession, RecipientRefusedByPolicy) {
    ehlo();
    ASSERT_EQ(send("MAIL FROM:<a@remote.example>\r\n"), kSenderOk);
    RecipientResult grey;
    grey.verdict = LookupVerdict::refused;
    grey.refusal = ReplyId::greylisted;
    grey.refusal_arg = "300";
    d.forced_result = grey;
    EXPECT_EQ(send("RCPT TO:<alice@test.example>\r\n"), "451 4.7.1 Greylisted: please try again in 300 seconds\r\n");
    d.forced_result.reset();
    EXPECT_EQ(send("DATA\r\n"), kNoValidRecipients);
    EXPECT_EQ(send("RCPT TO:<alice@test.example>\r\nDATA\r\nx\r\n.\r\n"), kRcptOk + k354 + queued("Q1"));
}

TEST_F(SmtpSession, LookupEffectCountsTheRecipientsSoFar) {
    ehlo();
    ASSERT_EQ(send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@test.example>\r\n"), kSenderOk + kRcptOk);
    d.session().feed("RCPT TO:<bob@test.example>\r\n");
    ASSERT_EQ(d.session().advance(), Action::effect);
    EXPECT_EQ(d.session().pending_effect().kind, EffectKind::lookup_recipient);
    EXPECT_EQ(d.session().pending_effect().recipients_so_far, 1u);
    EXPECT_FALSE(d.session().pending_effect().recipient_remote);
}

TEST(SmtpSessionErrorBudget, TooManyErrorsCloses) {
    auto s = test_settings();
    s.max_errors = 3;
    SessionDriver d(s);
    d.start();
    EXPECT_EQ(d.send("FROB\r\nNOOP\r\nFROB\r\n"), kUnknownCommand + kOk + kUnknownCommand);
    EXPECT_FALSE(d.closed());
    EXPECT_EQ(d.send("MAIL FROM:<a@remote.example>\r\nNOOP\r\n"),
              kNeedHelo + "421 4.7.0 mx.test.example Too many errors; closing connection\r\n");
    EXPECT_TRUE(d.closed());
}

TEST(SmtpSessionErrorBudget, NoLimitByDefault) {
    SessionDriver d(test_settings());
    d.start();
    std::string in, expected;
    for (int i = 0; i < 200; ++i) {
        in += "FROB\r\n";
        expected += kUnknownCommand;
    }
    EXPECT_EQ(d.send(in), expected);
    EXPECT_FALSE(d.closed());
}

TEST_F(SmtpSession, HttpRequestOnTheSmtpPortCloses) {
    EXPECT_EQ(send("GET / HTTP/1.1\r\nHost: mx.test.example\r\n\r\n"),
              "421 4.7.0 mx.test.example This is an SMTP server, not a web server; closing connection\r\n");
    EXPECT_TRUE(d.closed());
    SessionDriver other(test_settings());
    other.start();
    EXPECT_EQ(other.send("CONNECT mx.test.example:443 HTTP/1.1\r\n"),
              "421 4.7.0 mx.test.example This is an SMTP server, not a web server; closing connection\r\n");
    EXPECT_TRUE(other.closed());
}

TEST(SmtpSessionClose, RefusedBeforeTheGreeting) {
    SessionDriver d(test_settings());
    d.session().close_with(ReplyId::maintenance, "Down for maintenance");
    EXPECT_EQ(d.run(), "421 4.3.2 mx.test.example Down for maintenance\r\n");
    EXPECT_TRUE(d.closed());
    d.session().feed("EHLO client.example\r\n");
    EXPECT_EQ(d.run(), "");
}

// ---------------------------------------------------------------------------------------------------------------
// A whole pipelined session in one input event

namespace {

const std::string kPipelinedInput =
    "EHLO client.example\r\n"
    "MAIL FROM:<sender@remote.example> SIZE=100\r\n"
    "RCPT TO:<alice@test.example>\r\n"
    "RCPT TO:<nobody@test.example>\r\n"
    "RCPT TO:<carol@remote.example>\r\n"
    "RCPT TO:<Bob@Other.Example>\r\n"
    "DATA\r\n"
    "Subject: one\r\n\r\n..dot\r\n.\r\n"
    "MAIL FROM:<> BODY=8BITMIME\r\n"
    "RCPT TO:<postmaster>\r\n"
    "DATA x\r\n"
    "BDAT 4\r\nab\r\n"
    "DATA\r\n"
    "BDAT 3 LAST\r\ncd."
    "VRFY alice\r\n"
    "MAIL FROM:<x@remote.example>\r\n"
    "RSET\r\n"
    "BDAT 6\r\nQUIT\r\n"
    "NOOP\r\n"
    "QUIT\r\n"
    "NOOP\r\n";

const std::string kPipelinedOutput =
    kEhlo +                                                       // EHLO
    kSenderOk +                                                   // MAIL
    kRcptOk +                                                     // RCPT alice
    kUnknownUser +                                                // RCPT nobody
    "554 5.7.1 Relay access denied: remote.example is not a local domain\r\n"  // RCPT carol@remote
    + kRcptOk +                                                   // RCPT Bob@Other
    k354 +                                                        // DATA
    queued("Q1") +                                                // end of data
    kSenderOk +                                                   // MAIL FROM:<>
    kRcptOk +                                                     // RCPT postmaster
    kSyntax +                                                     // DATA x
    chunk_ok(4) +                                                 // BDAT 4
    kMixed +                                                      // DATA after BDAT
    queued("Q2") +                                                // BDAT 3 LAST
    kVrfy +                                                       // VRFY
    kSenderOk +                                                   // MAIL
    kOk +                                                         // RSET
    kNeedMailBdat +                                                   // BDAT 6 without MAIL, chunk skipped
    kOk +                                                         // NOOP
    kQuit;                                                        // QUIT; the NOOP after it is never read

void check_pipelined_effects(const SessionDriver& d) {
    ASSERT_EQ(d.stored.size(), 2u);
    const auto& one = d.stored[0];
    EXPECT_EQ(one.message, "Subject: one\r\n\r\n.dot\r\n");
    EXPECT_EQ(one.envelope.sender.str(), "sender@remote.example");
    EXPECT_EQ(one.envelope.declared_size, std::optional<uint64_t>(100));
    EXPECT_EQ(one.envelope.body, BodyType::seven_bit);
    ASSERT_EQ(one.envelope.recipients.size(), 2u);
    EXPECT_EQ(one.envelope.recipients[0].address.str(), "alice@test.example");
    EXPECT_EQ(one.envelope.recipients[0].user, "alice");
    EXPECT_EQ(one.envelope.recipients[1].address.str(), "Bob@other.example");
    EXPECT_EQ(one.envelope.recipients[1].user, "bob");

    const auto& two = d.stored[1];
    EXPECT_EQ(two.message, "ab\r\ncd.\r\n");
    EXPECT_TRUE(two.envelope.sender.is_null());
    EXPECT_EQ(two.envelope.body, BodyType::eight_bit_mime);
    ASSERT_EQ(two.envelope.recipients.size(), 1u);
    EXPECT_EQ(two.envelope.recipients[0].address.str(), "postmaster");
    EXPECT_EQ(two.envelope.recipients[0].user, "postmaster");

    ASSERT_EQ(d.lookups.size(), 4u);  // alice, nobody, Bob, postmaster; never the remote one
}

}  // namespace

TEST_F(SmtpSession, WholePipelinedSessionInOneFeed) {
    EXPECT_EQ(send(kPipelinedInput), kPipelinedOutput);
    EXPECT_TRUE(d.closed());
    check_pipelined_effects(d);
}

TEST(SmtpSessionPipelining, SameRepliesWhereverTheInputIsSplit) {
    const std::string_view in = kPipelinedInput;
    // Byte by byte.
    {
        SessionDriver d(test_settings());
        std::string out = d.start();
        for (size_t i = 0; i < in.size(); ++i) out += d.send(in.substr(i, 1));
        EXPECT_EQ(out, kGreeting + kPipelinedOutput) << "byte by byte";
        check_pipelined_effects(d);
    }
    // Split at every point.
    for (size_t k = 0; k <= in.size(); ++k) {
        SessionDriver d(test_settings());
        std::string out = d.start();
        out += d.send(in.substr(0, k));
        out += d.send(in.substr(k));
        ASSERT_EQ(out, kGreeting + kPipelinedOutput) << "split at " << k;
        ASSERT_TRUE(d.closed());
        ASSERT_EQ(d.stored.size(), 2u) << k;
    }
}

TEST(SmtpSessionPipelining, RepliesAreHeldUntilTakenAndComeOutInOrder) {
    SessionDriver d(test_settings());
    auto& s = d.session();
    s.start();
    s.feed("NOOP\r\nHELP\r\nFROB\r\n");
    EXPECT_EQ(s.advance(), Action::need_input);
    EXPECT_TRUE(s.has_output());
    EXPECT_EQ(s.take_output(), kGreeting + kOk + kHelp + kUnknownCommand);
    EXPECT_FALSE(s.has_output());
    EXPECT_EQ(s.take_output(), "");
}
