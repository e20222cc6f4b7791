// Command lines: verb recognition, the argument, the FROM:/TO: prefixes, and ESMTP parameter parsing.
#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "smtp/command.hpp"

using namespace postern::smtp;

TEST(SmtpCommand, EveryVerbInAnyCase) {
    const std::pair<std::string_view, Verb> verbs[] = {
        {"HELO", Verb::helo}, {"EHLO", Verb::ehlo}, {"MAIL", Verb::mail}, {"RCPT", Verb::rcpt},
        {"DATA", Verb::data}, {"BDAT", Verb::bdat}, {"RSET", Verb::rset}, {"NOOP", Verb::noop},
        {"VRFY", Verb::vrfy}, {"EXPN", Verb::expn}, {"HELP", Verb::help}, {"QUIT", Verb::quit},
        {"AUTH", Verb::auth}, {"STARTTLS", Verb::starttls},
    };
    for (const auto& [name, verb] : verbs) {
        std::string upper(name), lower, mixed;
        for (size_t i = 0; i < upper.size(); ++i) {
            char l = static_cast<char>(upper[i] - 'A' + 'a');
            lower.push_back(l);
            mixed.push_back(i % 2 ? l : upper[i]);
        }
        for (const auto& spelling : {upper, lower, mixed}) {
            SCOPED_TRACE(spelling);
            EXPECT_EQ(parse_command(spelling).verb, verb);
            EXPECT_EQ(parse_command(spelling + " x").verb, verb);
        }
    }
}

TEST(SmtpCommand, UnknownVerbs) {
    for (std::string_view line : {"", " ", "FROB", "MAILX", "MAI", "MAIL:", "MAILFROM:<a@b>", " MAIL FROM:<a@b>",
                                  "NOOP\tx", "QUIT\r", "STARTTLSX", "H\xc3\x89LO x"}) {
        EXPECT_EQ(parse_command(line).verb, Verb::unknown) << line;
    }
}

TEST(SmtpCommand, ArgumentFollowsTheSingleSpace) {
    auto c = parse_command("EHLO client.example");
    EXPECT_EQ(c.verb, Verb::ehlo);
    EXPECT_EQ(c.arg, "client.example");
    EXPECT_FALSE(c.missing_prefix);

    EXPECT_EQ(parse_command("NOOP").arg, "");
    EXPECT_EQ(parse_command("NOOP ").arg, "");
    EXPECT_EQ(parse_command("VRFY  alice").arg, " alice");  // only the first space is the separator
    EXPECT_EQ(parse_command("VRFY alice ").arg, "alice ");
    EXPECT_EQ(parse_command("BDAT 100 LAST").arg, "100 LAST");
    EXPECT_EQ(parse_command("FROB a b").arg, "a b");
    EXPECT_EQ(parse_command("FROB a b").verb, Verb::unknown);
}

TEST(SmtpCommand, VerbsWithoutPrefixNeverReportMissingPrefix) {
    for (std::string_view line : {"DATA", "RSET", "EHLO", "HELO x", "BDAT 1", "VRFY", "QUIT"})
        EXPECT_FALSE(parse_command(line).missing_prefix) << line;
}

TEST(SmtpCommand, MailFrom) {
    auto c = parse_command("MAIL FROM:<a@b.example> SIZE=10");
    EXPECT_EQ(c.verb, Verb::mail);
    EXPECT_EQ(c.arg, "<a@b.example> SIZE=10");
    EXPECT_FALSE(c.missing_prefix);

    EXPECT_EQ(parse_command("mail from:<a@b.example>").arg, "<a@b.example>");
    EXPECT_EQ(parse_command("Mail From:<>").arg, "<>");
    // Spaces after the colon are common in the wild and skipped.
    EXPECT_EQ(parse_command("MAIL FROM: <a@b.example>").arg, "<a@b.example>");
    EXPECT_EQ(parse_command("MAIL FROM:    <a@b.example> BODY=8BITMIME").arg, "<a@b.example> BODY=8BITMIME");
    EXPECT_EQ(parse_command("MAIL FROM:").arg, "");
    EXPECT_FALSE(parse_command("MAIL FROM:").missing_prefix);
}

TEST(SmtpCommand, MailWithoutFromPrefix) {
    for (std::string_view line : {"MAIL", "MAIL ", "MAIL <a@b.example>", "MAIL FROM<a@b.example>",
                                  "MAIL FROM <a@b.example>", "MAIL  FROM:<a@b.example>", "MAIL TO:<a@b.example>",
                                  "MAIL FRO:<a@b.example>"}) {
        auto c = parse_command(line);
        EXPECT_EQ(c.verb, Verb::mail) << line;
        EXPECT_TRUE(c.missing_prefix) << line;
    }
}

TEST(SmtpCommand, RcptTo) {
    auto c = parse_command("RCPT TO:<alice@test.example>");
    EXPECT_EQ(c.verb, Verb::rcpt);
    EXPECT_EQ(c.arg, "<alice@test.example>");
    EXPECT_FALSE(c.missing_prefix);
    EXPECT_EQ(parse_command("rcpt to: <postmaster>").arg, "<postmaster>");
    EXPECT_EQ(parse_command("RCPT TO:<a@b> NOTIFY=NEVER").arg, "<a@b> NOTIFY=NEVER");
    for (std::string_view line : {"RCPT", "RCPT <a@b>", "RCPT FROM:<a@b>", "RCPT TO <a@b>", "RCPT  TO:<a@b>", "RCPT T:"})
        EXPECT_TRUE(parse_command(line).missing_prefix) << line;
}

// ---------------------------------------------------------------------------------------------------------------
// parse_params (RFC 5321 Mail-parameters / Rcpt-parameters, RFC 6531 UTF-8 values)

namespace {

std::vector<EsmtpParam> params_of(std::string_view text) {
    auto p = parse_params(text);
    EXPECT_TRUE(p.has_value()) << "'" << text << "'";
    return p.value_or(std::vector<EsmtpParam>{});
}

}  // namespace

TEST(SmtpParams, EmptyAndBlank) {
    EXPECT_TRUE(params_of("").empty());
    EXPECT_TRUE(params_of(" ").empty());
    EXPECT_TRUE(params_of("    ").empty());
}

TEST(SmtpParams, KeywordsWithAndWithoutValues) {
    auto p = params_of("SIZE=1000 BODY=8BITMIME SMTPUTF8");
    ASSERT_EQ(p.size(), 3u);
    EXPECT_EQ(p[0].keyword, "SIZE");
    EXPECT_EQ(p[0].value, "1000");
    EXPECT_TRUE(p[0].has_value);
    EXPECT_EQ(p[1].keyword, "BODY");
    EXPECT_EQ(p[1].value, "8BITMIME");
    EXPECT_TRUE(p[1].has_value);
    EXPECT_EQ(p[2].keyword, "SMTPUTF8");
    EXPECT_EQ(p[2].value, "");
    EXPECT_FALSE(p[2].has_value);
}

TEST(SmtpParams, KeywordCaseIsKeptAsSent) {
    auto p = params_of("size=5 Body=7bit");
    ASSERT_EQ(p.size(), 2u);
    EXPECT_EQ(p[0].keyword, "size");
    EXPECT_EQ(p[1].keyword, "Body");
    EXPECT_EQ(p[1].value, "7bit");
}

TEST(SmtpParams, SeveralSpacesAndTrailingSpaces) {
    auto p = params_of("A=1   B  C=3   ");
    ASSERT_EQ(p.size(), 3u);
    EXPECT_EQ(p[0].keyword, "A");
    EXPECT_EQ(p[0].value, "1");
    EXPECT_EQ(p[1].keyword, "B");
    EXPECT_FALSE(p[1].has_value);
    EXPECT_EQ(p[2].keyword, "C");
    EXPECT_EQ(p[2].value, "3");
}

TEST(SmtpParams, KeywordSyntax) {
    // esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
    auto p = params_of("X-FOO=1 8BIT a-b-c- 9");
    ASSERT_EQ(p.size(), 4u);
    EXPECT_EQ(p[0].keyword, "X-FOO");
    EXPECT_EQ(p[2].keyword, "a-b-c-");
    EXPECT_EQ(p[3].keyword, "9");
    for (std::string_view bad : {"=1", "-X=1", "X_Y=1", "X.Y", "X:Y", "\xc3\xa9=1", "A=1 =2", "A B_", "X\t=1",
                                 "X\x7f", " SIZE=1"})
        EXPECT_FALSE(parse_params(bad).has_value()) << bad;
}

TEST(SmtpParams, ValueSyntax) {
    // esmtp-value = 1*(%d33-60 / %d62-126), plus UTF-8 in RFC 6531.
    auto p = params_of("AUTH=<> ENVID=!\"#$%&'()*+,-./:;<>?@[\\]^_`{|}~ RET=HDRS");
    ASSERT_EQ(p.size(), 3u);
    EXPECT_EQ(p[0].value, "<>");
    EXPECT_EQ(p[1].value, "!\"#$%&'()*+,-./:;<>?@[\\]^_`{|}~");
    EXPECT_EQ(p[2].value, "HDRS");

    auto u = params_of("ORCPT=utf-8;j\xc3\xb6ran@example.com");
    ASSERT_EQ(u.size(), 1u);
    EXPECT_EQ(u[0].value, "utf-8;j\xc3\xb6ran@example.com");

    for (std::string_view bad : {"SIZE=", "SIZE==1", "SIZE=1=2", "A=b\tc", "A=b\x7f", "A=\x01", "A= B=1"})
        EXPECT_FALSE(parse_params(bad).has_value()) << bad;
    EXPECT_FALSE(parse_params(std::string_view("A=b\0c", 5)).has_value());
}

TEST(SmtpParams, DuplicatesAreReportedNotMerged) {
    auto p = params_of("SIZE=1 SIZE=2");
    ASSERT_EQ(p.size(), 2u);
    EXPECT_EQ(p[0].value, "1");
    EXPECT_EQ(p[1].value, "2");
}

TEST(SmtpParams, ViewsPointIntoTheInput) {
    std::string text = "SIZE=42";
    auto p = params_of(text);
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p[0].keyword.data(), text.data());
    EXPECT_EQ(p[0].value.data(), text.data() + 5);
}
