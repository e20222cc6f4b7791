// The reply registry: every entry rendered byte for byte, the shape rules every entry must follow, and
// multi-line replies.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "smtp/reply.hpp"

using namespace postern::smtp;

namespace {

struct Expected {
    std::string_view name;  // the entry's stable name (not its enumerator, so a removed entry is a failure here)
    std::vector<std::string_view> args;
    std::string bytes;
};

// One explicit expectation per registry entry, with example arguments for the placeholders.
const std::vector<Expected>& expectations() {
    static const std::vector<Expected> table{
        {"greeting", {"mx.test.example"}, "220 mx.test.example ESMTP Postern\r\n"},
        {"ehlo",
         {"mx.test.example", "client.example"}, "250 mx.test.example greets client.example\r\n"},
        {"helo", {"mx.test.example"}, "250 mx.test.example\r\n"},
        {"ok", {}, "250 2.0.0 Ok\r\n"},
        {"sender_ok", {}, "250 2.1.0 Sender ok\r\n"},
        {"recipient_ok", {}, "250 2.1.5 Recipient ok\r\n"},
        {"start_data", {}, "354 Send the message; end it with <CR><LF>.<CR><LF>\r\n"},
        {"queued", {"Q1A2B3"}, "250 2.0.0 Ok: queued as Q1A2B3\r\n"},
        {"chunk_ok", {"42"}, "250 2.0.0 42 octets received\r\n"},
        {"vrfy_no_disclosure",
         {}, "252 2.5.0 Users are not verified here; send the message and delivery will be attempted\r\n"},
        {"help",
         {}, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT; see RFC 5321\r\n"},
        {"quit", {"mx.test.example"}, "221 2.0.0 mx.test.example closing connection\r\n"},
        {"unknown_command", {}, "500 5.5.1 Command not recognized\r\n"},
        {"line_too_long", {}, "500 5.5.2 Line too long\r\n"},
        {"syntax_error", {}, "501 5.5.4 Syntax error in parameters or arguments\r\n"},
        {"helo_needs_domain", {"EHLO"}, "501 5.5.4 EHLO requires a domain name or address literal\r\n"},
        {"bad_sender_syntax", {}, "501 5.1.7 Bad sender address syntax\r\n"},
        {"bad_recipient_syntax", {}, "501 5.1.3 Bad recipient address syntax\r\n"},
        {"not_implemented", {}, "502 5.5.1 Command not implemented\r\n"},
        {"need_helo", {}, "503 5.5.1 Send EHLO or HELO first\r\n"},
        {"need_mail", {"RCPT"}, "503 5.5.1 Need MAIL before RCPT\r\n"},
        {"need_rcpt", {"DATA"}, "503 5.5.1 Need RCPT before DATA\r\n"},
        {"nested_mail", {}, "503 5.5.1 Sender already given; send RSET to start over\r\n"},
        {"bdat_mixed_with_data", {}, "503 5.5.1 DATA and BDAT cannot be mixed in one message\r\n"},
        {"no_valid_recipients", {}, "554 5.5.1 No valid recipients\r\n"},
        {"unknown_parameter", {"FROB"}, "555 5.5.4 Parameter FROB not recognized\r\n"},
        {"bad_parameter_value", {"SIZE"}, "501 5.5.4 Bad value for parameter SIZE\r\n"},
        {"unknown_user", {}, "550 5.1.1 No such user here\r\n"},
        {"relay_denied",
         {"remote.example"}, "554 5.7.1 Relay access denied: remote.example is not a local domain\r\n"},
        {"utf8_needs_smtputf8",
         {}, "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter on MAIL\r\n"},
        {"too_many_recipients", {}, "452 4.5.3 Too many recipients\r\n"},
        {"message_too_big", {"10240"}, "552 5.3.4 Message size exceeds the limit of 10240 octets\r\n"},
        {"bare_line_ending",
         {}, "554 5.6.0 Message refused: bare CR or LF found; every line must end with CRLF\r\n"},
        {"text_line_too_long",
         {}, "554 5.6.0 Message refused: a line is longer than 1000 octets (RFC 5321 4.5.3.1.6)\r\n"},
        // STARTTLS (RFC 3207) and AUTH (RFC 4954)
        {"starttls_ready", {}, "220 2.0.0 Ready to start TLS\r\n"},
        {"tls_not_available", {}, "454 4.7.0 TLS not available due to temporary reason\r\n"},
        {"tls_already_active", {}, "503 5.5.1 TLS already active\r\n"},
        {"auth_challenge", {"dXNlcm5hbWU6"}, "334 dXNlcm5hbWU6\r\n"},
        {"auth_ok", {}, "235 2.7.0 Authentication successful\r\n"},
        {"auth_failed", {}, "535 5.7.8 Authentication credentials invalid\r\n"},
        {"auth_needs_tls", {}, "538 5.7.11 Encryption required for requested authentication mechanism\r\n"},
        {"auth_required", {}, "530 5.7.0 Authentication required\r\n"},
        {"auth_unavailable", {}, "454 4.7.0 Temporary authentication failure; try again later\r\n"},
        {"auth_unknown_mechanism", {}, "504 5.5.4 Unrecognized authentication type\r\n"},
        {"auth_bad_base64", {}, "501 5.5.2 Cannot decode response: invalid base64\r\n"},
        {"auth_cancelled", {}, "501 5.0.0 Authentication cancelled\r\n"},
        {"auth_line_too_long", {}, "500 5.5.6 Authentication exchange line is too long\r\n"},
        {"already_authenticated", {}, "503 5.5.1 Already authenticated\r\n"},
        {"auth_in_transaction", {}, "503 5.5.1 AUTH not permitted during a mail transaction\r\n"},
        {"auth_not_offered", {}, "503 5.5.1 AUTH is not offered on this port\r\n"},
        {"sender_not_owned",
         {"bob@example.org", "alice"}, "553 5.7.1 Sender address <bob@example.org> not owned by user alice\r\n"},
        // Abuse protection
        {"too_many_connections", {"mx.test.example"}, "421 4.7.0 mx.test.example Too many connections; try again later\r\n"},
        {"too_many_connections_from_ip",
         {"mx.test.example"},
         "421 4.7.0 mx.test.example Too many connections from your address; try again later\r\n"},
        {"connection_rate_exceeded",
         {"mx.test.example"},
         "421 4.7.0 mx.test.example Too many connections per minute from your address; try again later\r\n"},
        {"ip_banned",
         {"mx.test.example"},
         "421 4.7.0 mx.test.example Too many failed logins from your address; try again later\r\n"},
        {"auth_too_many_failures",
         {"mx.test.example"},
         "421 4.7.0 mx.test.example Too many authentication failures; closing connection\r\n"},
        {"too_many_errors", {"mx.test.example"}, "421 4.7.0 mx.test.example Too many errors; closing connection\r\n"},
        {"http_request",
         {"mx.test.example"},
         "421 4.7.0 mx.test.example This is an SMTP server, not a web server; closing connection\r\n"},
        {"maintenance", {"mx.test.example", "Down for maintenance"}, "421 4.3.2 mx.test.example Down for maintenance\r\n"},
        {"session_timeout",
         {"mx.test.example"},
         "421 4.4.2 mx.test.example Session time limit exceeded, closing connection\r\n"},
        {"data_too_slow", {"mx.test.example"}, "421 4.4.2 mx.test.example Data transfer too slow, closing connection\r\n"},
        {"message_rate_limited", {}, "451 4.7.1 Too many messages; try again later\r\n"},
        {"recipient_rate_limited", {}, "451 4.7.1 Too many recipients this hour; try again later\r\n"},
        {"greylisted", {"300"}, "451 4.7.1 Greylisted: please try again in 300 seconds\r\n"},
        {"local_error",
         {}, "451 4.3.0 Local error in processing; the message was not accepted, try again later\r\n"},
        {"recipient_lookup_failed", {}, "451 4.3.0 Recipient cannot be verified now; try again later\r\n"},
        {"timeout", {"mx.test.example"}, "421 4.4.2 mx.test.example Timeout exceeded, closing connection\r\n"},
        {"shutting_down",
         {"mx.test.example"}, "421 4.3.2 mx.test.example Service shutting down, closing connection\r\n"},
    };
    return table;
}

// render() takes an initializer_list; the placeholders are at most two in the registry.
std::string render_with(ReplyId id, const std::vector<std::string_view>& args) {
    switch (args.size()) {
    case 0: return render(id);
    case 1: return render(id, {args[0]});
    case 2: return render(id, {args[0], args[1]});
    case 3: return render(id, {args[0], args[1], args[2]});
    default: ADD_FAILURE() << "too many args"; return {};
    }
}

size_t placeholders(std::string_view text) {
    size_t n = 0;
    for (size_t pos = text.find("{}"); pos != std::string_view::npos; pos = text.find("{}", pos + 2)) ++n;
    return n;
}

std::string code_text(uint16_t code) { return std::to_string(code); }

const ReplyEntry* by_name(std::string_view name) {
    for (const auto& e : registry())
        if (e.name == name) return &e;
    return nullptr;
}

const Expected* expectation_for(std::string_view name) {
    for (const auto& x : expectations())
        if (x.name == name) return &x;
    return nullptr;
}

}  // namespace

TEST(SmtpReply, EveryEntryRendersExactly) {
    for (const auto& exp : expectations()) {
        SCOPED_TRACE(std::string(exp.name));
        const ReplyEntry* e = by_name(exp.name);
        ASSERT_NE(e, nullptr) << "the registry has no entry named " << exp.name;
        const ReplyId id = e->id;
        EXPECT_EQ(render_with(id, exp.args), exp.bytes);
        std::string appended = "prefix";
        // render_to appends; it does not replace.
        switch (exp.args.size()) {
        case 0: render_to(appended, id); break;
        case 1: render_to(appended, id, {exp.args[0]}); break;
        default: render_to(appended, id, {exp.args[0], exp.args[1]}); break;
        }
        EXPECT_EQ(appended, "prefix" + exp.bytes);
    }
}

// When a new entry is added to the registry, its bytes must be written down in expectations() above.
TEST(SmtpReply, EveryRegistryEntryHasAnExplicitExpectation) {
    for (const auto& e : registry()) {
        EXPECT_NE(expectation_for(e.name), nullptr) << "no expected bytes for registry entry " << e.name;
    }
    EXPECT_EQ(registry().size(), static_cast<size_t>(ReplyId::count_));
}

TEST(SmtpReply, RegistryIsInEnumOrderAndEntryFindsItself) {
    auto reg = registry();
    ASSERT_EQ(reg.size(), static_cast<size_t>(ReplyId::count_));
    for (size_t i = 0; i < reg.size(); ++i) {
        EXPECT_EQ(static_cast<size_t>(reg[i].id), i);
        const auto& e = entry(static_cast<ReplyId>(i));
        EXPECT_EQ(&e, &reg[i]);
    }
}

TEST(SmtpReply, NamesAreUniqueStableIdentifiers) {
    std::set<std::string_view> names;
    for (const auto& e : registry()) {
        EXPECT_FALSE(e.name.empty());
        EXPECT_TRUE(names.insert(e.name).second) << "duplicate name " << e.name;
        for (char c : e.name) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') << e.name;
    }
}

// Generic shape of every entry: "<code> <enhanced> <text>\r\n", enhanced code matching the reply class.
TEST(SmtpReply, EveryEntryHasTheRfc2034Shape) {
    for (const auto& e : registry()) {
        SCOPED_TRACE(std::string(e.name));
        EXPECT_GE(e.code, 200);
        EXPECT_LE(e.code, 599);
        EXPECT_FALSE(e.text.empty());
        EXPECT_EQ(e.text.find_first_of("\r\n"), std::string_view::npos);
        for (char c : e.text) EXPECT_TRUE(static_cast<unsigned char>(c) >= 32 && c != 127);
        if (!e.enhanced.empty()) {
            // class "." subject "." detail, class matching the first digit of the basic code (RFC 3463).
            auto first = e.enhanced.find('.');
            auto second = e.enhanced.find('.', first + 1);
            ASSERT_NE(first, std::string_view::npos);
            ASSERT_NE(second, std::string_view::npos);
            EXPECT_EQ(e.enhanced.substr(0, first), std::string(1, static_cast<char>('0' + e.code / 100)));
            for (size_t i = 0; i < e.enhanced.size(); ++i)
                if (i != first && i != second) {
                    EXPECT_TRUE(e.enhanced[i] >= '0' && e.enhanced[i] <= '9');
                }
            EXPECT_GT(second, first + 1);
            EXPECT_LT(second + 1, e.enhanced.size());
        }

        // Fill every placeholder with a marker and rebuild the expected bytes by hand.
        std::vector<std::string> markers;
        for (size_t i = 0; i < placeholders(e.text); ++i) markers.push_back("ARG" + std::to_string(i));
        std::vector<std::string_view> args(markers.begin(), markers.end());
        std::string text(e.text);
        for (const auto& m : markers) text.replace(text.find("{}"), 2, m);
        std::string expected = code_text(e.code) + " ";
        if (!e.enhanced.empty()) expected += std::string(e.enhanced) + " ";
        expected += text + "\r\n";
        EXPECT_EQ(render_with(e.id, args), expected);
    }
}

// RFC 2034: no enhanced status code on the greeting, the EHLO/HELO replies, 354, and (RFC 4954) the 334 challenge.
TEST(SmtpReply, OnlyGreetingHeloEhlo354And334LackAnEnhancedCode) {
    std::set<ReplyId> without;
    for (const auto& e : registry())
        if (e.enhanced.empty()) without.insert(e.id);
    EXPECT_EQ(without, (std::set<ReplyId>{ReplyId::greeting, ReplyId::ehlo_first_line, ReplyId::helo_ok,
                                          ReplyId::start_data, ReplyId::auth_challenge}));
    EXPECT_EQ(entry(ReplyId::start_data).code, 354);
    EXPECT_EQ(entry(ReplyId::greeting).code, 220);
}

TEST(SmtpReply, CodesOfTheNamedReplies) {
    struct Row {
        ReplyId id;
        uint16_t code;
        std::string_view enhanced;
    };
    const Row rows[] = {
        {ReplyId::too_many_recipients, 452, "4.5.3"}, {ReplyId::message_too_big, 552, "5.3.4"},
        {ReplyId::unknown_user, 550, "5.1.1"},        {ReplyId::relay_denied, 554, "5.7.1"},
        {ReplyId::utf8_needs_smtputf8, 553, "5.6.7"}, {ReplyId::unknown_parameter, 555, "5.5.4"},
        {ReplyId::line_too_long, 500, "5.5.2"},       {ReplyId::bare_line_ending, 554, "5.6.0"},
        {ReplyId::local_error, 451, "4.3.0"},         {ReplyId::recipient_lookup_failed, 451, "4.3.0"},
        {ReplyId::timeout, 421, "4.4.2"},             {ReplyId::shutting_down, 421, "4.3.2"},
    };
    for (const auto& r : rows) {
        EXPECT_EQ(entry(r.id).code, r.code) << entry(r.id).name;
        EXPECT_EQ(entry(r.id).enhanced, r.enhanced) << entry(r.id).name;
    }
}

TEST(SmtpReply, MissingArgumentsLeaveThePlaceholderEmptyAndExtraOnesAreIgnored) {
    EXPECT_EQ(render(ReplyId::queued), "250 2.0.0 Ok: queued as \r\n");
    EXPECT_EQ(render(ReplyId::ehlo_first_line, {"mx"}), "250 mx greets \r\n");
    EXPECT_EQ(render(ReplyId::ok, {"ignored"}), "250 2.0.0 Ok\r\n");
    EXPECT_EQ(render(ReplyId::helo_ok, {"a", "b"}), "250 a\r\n");
}

TEST(SmtpReply, ArgumentsAreCopiedVerbatim) {
    // Placeholder-looking text inside an argument is not expanded again.
    EXPECT_EQ(render(ReplyId::ehlo_first_line, {"{}", "x"}), "250 {} greets x\r\n");
    EXPECT_EQ(render(ReplyId::queued, {""}), "250 2.0.0 Ok: queued as \r\n");
}

TEST(SmtpReply, MultilineWithoutExtraLinesIsOneLine) {
    std::string out;
    render_multiline(out, ReplyId::ehlo_first_line, {"mx.test.example", "c.example"}, {});
    EXPECT_EQ(out, "250 mx.test.example greets c.example\r\n");
}

TEST(SmtpReply, MultilineUsesDashUntilTheLastLine) {
    std::string out = "X";
    std::vector<std::string> extra{"PIPELINING", "SIZE 10240", "CHUNKING"};
    render_multiline(out, ReplyId::ehlo_first_line, {"mx.test.example", "c.example"}, extra);
    EXPECT_EQ(out,
              "X"
              "250-mx.test.example greets c.example\r\n"
              "250-PIPELINING\r\n"
              "250-SIZE 10240\r\n"
              "250 CHUNKING\r\n");
}

TEST(SmtpReply, MultilineWithOneExtraLine) {
    std::string out;
    std::vector<std::string> extra{"last"};
    render_multiline(out, ReplyId::helo_ok, {"first"}, extra);
    EXPECT_EQ(out, "250-first\r\n250 last\r\n");
}

// RFC 2034 §4: every line of a multi-line reply carries the enhanced code.
TEST(SmtpReply, MultilineRepeatsTheEnhancedCodeOnEveryLine) {
    std::string out;
    std::vector<std::string> extra{"second", "third"};
    render_multiline(out, ReplyId::help, {}, extra);
    EXPECT_EQ(out,
              "214-2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT; see RFC 5321\r\n"
              "214-2.0.0 second\r\n"
              "214 2.0.0 third\r\n");
}
