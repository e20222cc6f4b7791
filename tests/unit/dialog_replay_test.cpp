// Replays every tests/dialogs/*.dialog transcript against the pure SMTP core, in process (format and environment:
// tests/dialogs/README.md). The same transcripts run against the live binary in tests/integration/test_dialogs.py.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "smtp/session.hpp"
#include "smtp_session_driver.hpp"

using namespace postern::smtp;
using postern::smtp::test::SessionDriver;
namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------------------------------------------
// The transcript format

struct Step {
    enum class Kind { client, server, close } kind;
    std::string text;  // client: the bytes to send; server: the expected prefix of the reply's first line
    int lineno = 0;
};

struct Dialog {
    std::vector<Step> steps;
    std::string error;  // a malformed transcript
};

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// `\r` CR, `\n` LF, `\t` TAB, `\\` backslash, `\s` space, `\0` NUL, `\xHH` any octet; everything else is literal.
std::string unescape(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\' || i + 1 == s.size()) {
            out.push_back(s[i]);
            continue;
        }
        char e = s[i + 1];
        switch (e) {
        case 'r': out.push_back('\r'); ++i; break;
        case 'n': out.push_back('\n'); ++i; break;
        case 't': out.push_back('\t'); ++i; break;
        case 's': out.push_back(' '); ++i; break;
        case '0': out.push_back('\0'); ++i; break;
        case '\\': out.push_back('\\'); ++i; break;
        case 'x':
            if (i + 3 < s.size() && hex_value(s[i + 2]) >= 0 && hex_value(s[i + 3]) >= 0) {
                out.push_back(static_cast<char>(hex_value(s[i + 2]) * 16 + hex_value(s[i + 3])));
                i += 3;
            } else {
                out.push_back('\\');
            }
            break;
        default: out.push_back('\\'); break;  // literal backslash; the next character is copied on its own
        }
    }
    return out;
}

Dialog parse_dialog(std::string_view text) {
    Dialog d;
    int lineno = 0;
    size_t pos = 0;
    while (pos <= text.size()) {
        auto nl = text.find('\n', pos);
        auto line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
        ++lineno;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty() || line.front() == '#') continue;
        if (line.starts_with("c:")) {
            auto rest = line.substr(2);
            if (rest.starts_with(" ")) rest.remove_prefix(1);
            d.steps.push_back({Step::Kind::client, unescape(rest), lineno});
        } else if (line.starts_with("s:")) {
            auto rest = line.substr(2);
            if (rest.starts_with(" ")) rest.remove_prefix(1);
            d.steps.push_back({Step::Kind::server, std::string(rest), lineno});
        } else if (line == "close") {
            d.steps.push_back({Step::Kind::close, {}, lineno});
        } else {
            d.error = "line " + std::to_string(lineno) + ": not a step: " + std::string(line.substr(0, 60));
            return d;
        }
    }
    return d;
}

// ---------------------------------------------------------------------------------------------------------------
// The environment of tests/dialogs/README.md: listener mode mx.

SessionSettings dialog_settings() {
    SessionSettings s;
    s.hostname = "mx.test.example";
    s.local_domains = {"test.example", "other.example"};
    s.max_message_size = 10240;
    s.max_recipients = 3;
    s.max_errors = 20;  // the live server's default error budget ([limits] max_errors)
    // mx: STARTTLS offered (the live server has a certificate), AUTH only after TLS, no AUTH required for MAIL.
    s.tls_available = true;
    s.implicit_tls = false;
    s.auth_enabled = true;
    s.auth_requires_tls = true;
    s.require_auth = false;
    s.auth_mechanisms = {"PLAIN", "LOGIN"};
    return s;
}

// Splits complete replies off the front of `pending` (a reply ends with a line "NNN text" rather than "NNN-text").
void take_replies(std::string& pending, std::deque<std::string>& replies) {
    size_t start = 0, pos = 0;
    while (true) {
        auto crlf = pending.find("\r\n", pos);
        if (crlf == std::string::npos) break;
        std::string_view line(pending.data() + pos, crlf - pos);
        pos = crlf + 2;
        if (line.size() >= 4 && line[3] == '-') continue;
        replies.push_back(pending.substr(start, pos - start));
        start = pos;
    }
    pending.erase(0, start);
}

std::string first_line(const std::string& reply) {
    std::string line = reply.substr(0, reply.find("\r\n"));
    if (line.size() >= 4 && line[3] == '-') line[3] = ' ';
    return line;
}

std::string printable(std::string_view s, size_t max = 120) {
    std::string out;
    for (size_t i = 0; i < s.size() && i < max; ++i) {
        unsigned char c = s[i];
        if (c == '\r') out += "\\r";
        else if (c == '\n') out += "\\n";
        else if (c == '\\') out += "\\\\";
        else if (c < 32 || c == 127) out += "\\x" + std::string(1, "0123456789abcdef"[c >> 4]) + "0123456789abcdef"[c & 15];
        else out.push_back(static_cast<char>(c));
    }
    if (s.size() > max) out += "...";
    return out;
}

std::vector<std::string> dialog_files() {
    std::vector<std::string> files;
    fs::path dir = fs::path(POSTERN_SOURCE_DIR) / "tests" / "dialogs";
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec))
        if (entry.is_regular_file() && entry.path().extension() == ".dialog") files.push_back(entry.path().string());
    std::sort(files.begin(), files.end());
    return files;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Replays one transcript; failures are reported with the file name, line and the exchange so far.
void replay(const std::string& name, const std::string& text) {
    auto dialog = parse_dialog(text);
    ASSERT_EQ(dialog.error, "") << name;
    ASSERT_FALSE(dialog.steps.empty()) << name;
    ASSERT_EQ(dialog.steps.front().kind, Step::Kind::server) << name << ": must start with the greeting (s: 220)";

    SessionDriver d(dialog_settings());
    std::string pending = d.start();
    std::deque<std::string> replies;
    take_replies(pending, replies);
    std::string transcript;

    for (const auto& step : dialog.steps) {
        const std::string where = name + ":" + std::to_string(step.lineno);
        switch (step.kind) {
        case Step::Kind::client:
            transcript += "c: " + printable(step.text) + "\n";
            pending += d.send(step.text);
            take_replies(pending, replies);
            break;
        case Step::Kind::server: {
            ASSERT_FALSE(replies.empty()) << where << ": expected a reply starting '" << step.text
                                          << "', the core sent none\n"
                                          << transcript;
            std::string reply = replies.front();
            replies.pop_front();
            transcript += "s: " + printable(reply) + "\n";
            ASSERT_TRUE(first_line(reply).starts_with(step.text))
                << where << ": expected a reply starting '" << step.text << "', got '" << first_line(reply) << "'\n"
                << transcript;
            break;
        }
        case Step::Kind::close:
            ASSERT_TRUE(d.closed()) << where << ": expected the core to close the connection\n" << transcript;
            ASSERT_TRUE(replies.empty() && pending.empty())
                << where << ": expected the connection to close, got '"
                << printable(replies.empty() ? pending : replies.front()) << "'\n"
                << transcript;
            transcript += "(closed)\n";
            break;
        }
    }
    ASSERT_TRUE(replies.empty()) << name << ": unexpected reply at the end: '"
                                 << (replies.empty() ? "" : printable(replies.front())) << "'\n"
                                 << transcript;
    ASSERT_EQ(printable(pending), "") << name << ": unexpected bytes at the end\n" << transcript;
}

class DialogReplay : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST(DialogReplayFormat, Escapes) {
    EXPECT_EQ(unescape("EHLO x\\r\\n"), "EHLO x\r\n");
    EXPECT_EQ(unescape("a\\tb\\sc\\\\d"), "a\tb c\\d");
    EXPECT_EQ(unescape("\\0"), std::string(1, '\0'));
    EXPECT_EQ(unescape("\\x41\\xc3\\xA9\\x0d\\x0A"), "A\xc3\xa9\r\n");
    EXPECT_EQ(unescape("\\q\\x4"), "\\q\\x4");
    EXPECT_EQ(unescape("tail\\"), "tail\\");
    EXPECT_EQ(unescape("j\xc3\xb6ran"), "j\xc3\xb6ran");
}

TEST(DialogReplayFormat, Steps) {
    auto d = parse_dialog("# comment\n\ns: 220 mx\nc: EHLO a\\r\\n\ns: 250\nclose\n");
    ASSERT_EQ(d.error, "");
    ASSERT_EQ(d.steps.size(), 4u);
    EXPECT_EQ(d.steps[0].kind, Step::Kind::server);
    EXPECT_EQ(d.steps[0].text, "220 mx");
    EXPECT_EQ(d.steps[0].lineno, 3);
    EXPECT_EQ(d.steps[1].kind, Step::Kind::client);
    EXPECT_EQ(d.steps[1].text, "EHLO a\r\n");
    EXPECT_EQ(d.steps[3].kind, Step::Kind::close);
    EXPECT_NE(parse_dialog("s: 220\nbogus\n").error, "");
}

TEST(DialogReplayFormat, RepliesAreSplitAtTheirLastLine) {
    std::string pending = "250-a\r\n250-b\r\n250 c\r\n221 bye\r\n354 go";
    std::deque<std::string> replies;
    take_replies(pending, replies);
    ASSERT_EQ(replies.size(), 2u);
    EXPECT_EQ(replies[0], "250-a\r\n250-b\r\n250 c\r\n");
    EXPECT_EQ(first_line(replies[0]), "250 a");
    EXPECT_EQ(replies[1], "221 bye\r\n");
    EXPECT_EQ(pending, "354 go");
}

// The runner itself: it passes a right transcript and fails each kind of wrong one.
TEST(DialogReplayFormat, RunnerAcceptsAndRejects) {
    replay("ok", "s: 220 mx.test.example ESMTP\nc: EHLO a\\r\\nNOOP\\r\\n\ns: 250 mx.test.example\ns: 250 2.0.0\n"
                 "c: QUIT\\r\\n\ns: 221\nclose\n");
    EXPECT_FATAL_FAILURE(replay("wrong", "s: 220\nc: NOOP\\r\\n\ns: 500\n"), "expected a reply starting '500'");
    EXPECT_FATAL_FAILURE(replay("missing", "s: 220\nc: NOOP\\r\\n\ns: 250\ns: 250\n"), "the core sent none");
    EXPECT_FATAL_FAILURE(replay("extra", "s: 220\nc: NOOP\\r\\nNOOP\\r\\n\ns: 250\n"), "unexpected reply at the end");
    EXPECT_FATAL_FAILURE(replay("open", "s: 220\nc: NOOP\\r\\n\ns: 250\nclose\n"), "expected the core to close");
    EXPECT_FATAL_FAILURE(replay("greeting", "c: NOOP\\r\\n\ns: 250\n"), "must start with the greeting");
    EXPECT_FATAL_FAILURE(replay("bad", "s: 220\nfoo\n"), "not a step");
}

TEST(DialogReplayFormat, ThereAreDialogs) {
    EXPECT_FALSE(dialog_files().empty()) << "no *.dialog files in " << POSTERN_SOURCE_DIR << "/tests/dialogs";
}

TEST_P(DialogReplay, Transcript) {
    const std::string path = GetParam();
    replay(fs::path(path).filename().string(), read_file(path));
}

INSTANTIATE_TEST_SUITE_P(Dialogs, DialogReplay, ::testing::ValuesIn(dialog_files()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                             std::string id = fs::path(info.param).stem().string();
                             for (auto& c : id)
                                 if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                             return id;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(DialogReplay);
