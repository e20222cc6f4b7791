// DATA (dot-unstuffing, end only at <CRLF>.<CRLF>) and BDAT (raw) content: bare CR/LF, the 1000-octet line
// rule, the size limit, and the same result however the input is split.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "smtp/message_reader.hpp"

using namespace postern::smtp;

namespace {

constexpr uint64_t kBig = 1 << 20;

struct Result {
    std::string body;
    MessageFault fault = MessageFault::none;
    bool done = false;
    size_t consumed = 0;
    uint64_t size = 0;

    bool operator==(const Result&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Result& r) {
    os << "{body=";
    for (unsigned char c : r.body) {
        if (c == '\r') os << "\\r";
        else if (c == '\n') os << "\\n";
        else if (c < 32 || c >= 127) os << "\\x" << std::hex << int(c) << std::dec;
        else os << c;
    }
    return os << " fault=" << int(r.fault) << " done=" << r.done << " consumed=" << r.consumed << " size=" << r.size
              << "}";
}

// DATA content fed in the given pieces; feeding stops once the terminator was seen (like the session does).
Result dot_pieces(const std::vector<std::string_view>& pieces, uint64_t max = kBig) {
    Result r;
    MessageReader reader(r.body, max);
    for (auto piece : pieces) {
        if (reader.done()) break;
        size_t n = reader.feed_dot_stuffed(piece);
        EXPECT_LE(n, piece.size());
        if (!reader.done()) {
            EXPECT_EQ(n, piece.size()) << "all input is consumed until the end is found";
        }
        r.consumed += n;
    }
    r.fault = reader.fault();
    r.done = reader.done();
    r.size = reader.size();
    return r;
}

Result dot(std::string_view input, uint64_t max = kBig) { return dot_pieces({input}, max); }

Result raw_pieces(const std::vector<std::string_view>& pieces, bool finish, uint64_t max = kBig) {
    Result r;
    MessageReader reader(r.body, max);
    for (auto piece : pieces) {
        reader.feed_raw(piece);
        r.consumed += piece.size();
    }
    if (finish) reader.finish_raw();
    r.fault = reader.fault();
    r.done = reader.done();
    r.size = reader.size();
    return r;
}

Result raw(std::string_view input, bool finish = true, uint64_t max = kBig) { return raw_pieces({input}, finish, max); }

// A short, readable description of an input for failure messages.
std::string describe(std::string_view input) {
    std::string out = "\"";
    for (size_t i = 0; i < input.size() && i < 60; ++i) {
        unsigned char c = input[i];
        if (c == '\r') out += "\\r";
        else if (c == '\n') out += "\\n";
        else if (c < 32 || c >= 127) out += "\\x" + std::to_string(c);
        else out.push_back(static_cast<char>(c));
    }
    if (input.size() > 60) out += "...";
    return out + "\" (" + std::to_string(input.size()) + " octets)";
}

// The same result for the whole input at once, byte by byte, split at every single point, and (for short
// inputs) split at every pair of points.
void expect_split_invariant(std::string_view input, uint64_t max = kBig) {
    SCOPED_TRACE(describe(input));
    const Result whole = dot(input, max);
    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < input.size(); ++i) bytes.push_back(input.substr(i, 1));
    EXPECT_EQ(dot_pieces(bytes, max), whole) << "byte by byte";
    for (size_t k = 0; k <= input.size(); ++k)
        EXPECT_EQ(dot_pieces({input.substr(0, k), input.substr(k)}, max), whole) << "split at " << k;
    if (input.size() <= 80) {
        for (size_t a = 0; a <= input.size(); ++a)
            for (size_t b = a; b <= input.size(); ++b)
                EXPECT_EQ(dot_pieces({input.substr(0, a), input.substr(a, b - a), input.substr(b)}, max), whole)
                    << "split at " << a << " and " << b;
    }

    for (bool finish : {false, true}) {
        const Result raw_whole = raw(input, finish, max);
        EXPECT_EQ(raw_pieces(bytes, finish, max), raw_whole) << "raw byte by byte";
        for (size_t k = 0; k <= input.size(); ++k)
            EXPECT_EQ(raw_pieces({input.substr(0, k), input.substr(k)}, finish, max), raw_whole) << "raw split " << k;
    }
}

std::string line_of(size_t octets, char c = 'x') { return std::string(octets, c); }

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// DATA: the end of data

TEST(SmtpDotReader, PlainMessage) {
    auto r = dot("Subject: x\r\n\r\nbody\r\n.\r\n");
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.fault, MessageFault::none);
    EXPECT_EQ(r.body, "Subject: x\r\n\r\nbody\r\n");
    EXPECT_EQ(r.consumed, 23u);
    EXPECT_EQ(r.size, 20u);
}

TEST(SmtpDotReader, EmptyMessageRightAfterTheDataCommand) {
    auto r = dot(".\r\n");
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.fault, MessageFault::none);
    EXPECT_EQ(r.body, "");
    EXPECT_EQ(r.consumed, 3u);
    EXPECT_EQ(r.size, 0u);
}

TEST(SmtpDotReader, BlankLinesOnly) {
    auto r = dot("\r\n\r\n.\r\n");
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.body, "\r\n\r\n");
}

TEST(SmtpDotReader, StopsRightAfterTheTerminator) {
    std::string_view in = "a\r\n.\r\nNOOP\r\nQUIT\r\n";
    auto r = dot(in);
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.consumed, 6u);
    EXPECT_EQ(r.body, "a\r\n");
    EXPECT_EQ(in.substr(r.consumed), "NOOP\r\nQUIT\r\n");
}

TEST(SmtpDotReader, NotDoneWithoutTheFullTerminator) {
    for (std::string_view in : {"", "a", "a\r", "a\r\n", "a\r\n.", "a\r\n.\r", ".", ".\r", "\r\n.", "a\r\n..\r\n"}) {
        auto r = dot(in);
        EXPECT_FALSE(r.done) << ::testing::PrintToString(std::string(in));
        EXPECT_EQ(r.consumed, in.size());
        EXPECT_EQ(r.fault, MessageFault::none) << ::testing::PrintToString(std::string(in));
    }
}

TEST(SmtpDotReader, DotUnstuffing) {
    auto r = dot("..a\r\n...\r\n..\r\n.x\r\nb.c\r\n .\r\nd..\r\n.\r\n");
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.fault, MessageFault::none);
    // A leading dot is removed (RFC 5321 §4.5.2) whatever follows it; dots elsewhere are text.
    EXPECT_EQ(r.body, ".a\r\n..\r\n.\r\nx\r\nb.c\r\n .\r\nd..\r\n");
    EXPECT_EQ(r.size, r.body.size());
}

TEST(SmtpDotReader, DoubleDotLineIsNotTheEnd) {
    auto r = dot("a\r\n..\r\nb\r\n");
    EXPECT_FALSE(r.done);
    EXPECT_EQ(r.body, "a\r\n.\r\nb\r\n");
}

TEST(SmtpDotReader, DotAtTheEndOfALineIsText) {
    // The terminator is ".\r\n" at the start of a line; "x.\r\n" is an ordinary line.
    auto r = dot("x.\r\n.\r\n");
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.body, "x.\r\n");
    EXPECT_EQ(r.consumed, 7u);
}

// ---------------------------------------------------------------------------------------------------------------
// SMTP smuggling: only <CRLF>.<CRLF> ends the data; every lookalike is content and makes the message refused.

TEST(SmtpDotReader, LfDotLfIsNotTheEnd) {
    auto r = dot("a\n.\n");
    EXPECT_FALSE(r.done);
    EXPECT_EQ(r.consumed, 4u);
    EXPECT_EQ(r.fault, MessageFault::bare_line_ending);
    EXPECT_EQ(r.body, "");
}

TEST(SmtpDotReader, SmugglingLookalikesNeverEndData) {
    for (std::string_view fake : {"\n.\n", "\r.\r", "\n.\r\n", "\r.\r\n", "\r\n.\n", "\r\n.\r", "\r\n.\rX",
                                  "\n.\r", "\r\n.\r\r\n", "\r\n\n.\r\n", ".\n", "\r\n..\n"}) {
        SCOPED_TRACE(::testing::PrintToString(std::string(fake)));
        std::string in = "hello" + std::string(fake) + "MAIL FROM:<ceo@test.example>\r\nRCPT TO:<bob@test.example>\r\n";
        auto r = dot(in);
        EXPECT_FALSE(r.done);
        EXPECT_EQ(r.consumed, in.size());
        EXPECT_EQ(r.fault, MessageFault::bare_line_ending);
        EXPECT_EQ(r.body, "");

        // The real terminator still ends it, and the message stays refused.
        auto done = dot(in + ".\r\n");
        EXPECT_TRUE(done.done);
        EXPECT_EQ(done.consumed, in.size() + 3);
        EXPECT_EQ(done.fault, MessageFault::bare_line_ending);
        EXPECT_EQ(done.body, "");
    }
}

TEST(SmtpDotReader, DotCrWithoutLfAtTheEndWaits) {
    auto r = dot("a\r\n.\r");
    EXPECT_FALSE(r.done);
    EXPECT_EQ(r.fault, MessageFault::none);
    auto s = dot_pieces({"a\r\n.\r", "\n"});
    EXPECT_TRUE(s.done);
    EXPECT_EQ(s.fault, MessageFault::none);
    EXPECT_EQ(s.body, "a\r\n");
}

TEST(SmtpDotReader, BareCrAndBareLfAreFlagged) {
    for (std::string_view in : {"a\rb\r\n.\r\n", "a\nb\r\n.\r\n", "\n\r\n.\r\n", "\r\r\n.\r\n", "a\r\n\n\r\n.\r\n",
                                "a\r\r\n.\r\n", ".\n\r\n.\r\n", "..\r\r\n.\r\n", "a\n\r\n.\r\n"}) {
        auto r = dot(in);
        SCOPED_TRACE(::testing::PrintToString(std::string(in)));
        EXPECT_TRUE(r.done);
        EXPECT_EQ(r.consumed, in.size());
        EXPECT_EQ(r.fault, MessageFault::bare_line_ending);
        EXPECT_EQ(r.body, "");
    }
}

TEST(SmtpDotReader, TheFullSmugglingPayload) {
    std::string in =
        "Subject: innocent\r\n\r\nhello\n.\nMAIL FROM:<ceo@test.example>\r\nRCPT TO:<bob@test.example>\r\nDATA\r\n"
        "Subject: smuggled\r\n\r\nevil\r\n\r\n.\r\nNOOP\r\n";
    auto r = dot(in);
    EXPECT_TRUE(r.done);
    EXPECT_EQ(in.substr(r.consumed), "NOOP\r\n");
    EXPECT_EQ(r.fault, MessageFault::bare_line_ending);
}

// ---------------------------------------------------------------------------------------------------------------
// Line length: at most 1000 octets including CRLF, as sent (a stuffing dot counts).

TEST(SmtpDotReader, LineOf998OctetsPlusCrlfIsFine) {
    auto r = dot(line_of(998) + "\r\n" + line_of(998, 'y') + "\r\n.\r\n");
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.fault, MessageFault::none);
    EXPECT_EQ(r.body, line_of(998) + "\r\n" + line_of(998, 'y') + "\r\n");
}

TEST(SmtpDotReader, LineOf999OctetsPlusCrlfIsTooLong) {
    auto r = dot(line_of(999) + "\r\n.\r\n");
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.fault, MessageFault::line_too_long);
    EXPECT_EQ(r.body, "");
}

TEST(SmtpDotReader, TooLongLineAfterShortOnes) {
    auto r = dot("short\r\n" + line_of(998) + "\r\n" + line_of(999) + "\r\nafter\r\n.\r\n");
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.fault, MessageFault::line_too_long);
}

// RFC 5321 §4.5.3.1.6: 1000 octets including the CRLF, "not counting the leading dot duplicated for transparency".
TEST(SmtpDotReader, StuffingDotDoesNotCountTowardsTheLineLength) {
    // As sent: "." + 998 = 999 octets; the text line is 998 octets + CRLF: fine.
    auto ok = dot("." + line_of(998) + "\r\n.\r\n");
    EXPECT_TRUE(ok.done);
    EXPECT_EQ(ok.fault, MessageFault::none);
    EXPECT_EQ(ok.body, line_of(998) + "\r\n");
    // As sent: "." + 999: the text line is 999 octets + CRLF: too long.
    auto bad = dot("." + line_of(999) + "\r\n.\r\n");
    EXPECT_TRUE(bad.done);
    EXPECT_EQ(bad.fault, MessageFault::line_too_long);
    // ".." + 997: the text line is "." + 997 = 998 octets: fine.
    auto dots = dot(".." + line_of(997) + "\r\n.\r\n");
    EXPECT_EQ(dots.fault, MessageFault::none);
    EXPECT_EQ(dots.body, "." + line_of(997) + "\r\n");
    EXPECT_EQ(dot(".." + line_of(998) + "\r\n.\r\n").fault, MessageFault::line_too_long);
    // A dot in the middle of a line is text and counts.
    EXPECT_EQ(dot("a." + line_of(997) + "\r\n.\r\n").fault, MessageFault::line_too_long);
    EXPECT_EQ(dot("a." + line_of(996) + "\r\n.\r\n").fault, MessageFault::none);
}

TEST(SmtpDotReader, LongLineDoesNotHideTheEnd) {
    std::string in = line_of(5000) + "\r\n.\r\nQUIT\r\n";
    auto r = dot(in);
    EXPECT_TRUE(r.done);
    EXPECT_EQ(in.substr(r.consumed), "QUIT\r\n");
    EXPECT_EQ(r.fault, MessageFault::line_too_long);
    EXPECT_EQ(r.size, 5002u);
}

TEST(SmtpDotReader, LineLengthSplitInPieces) {
    std::string ok = line_of(998) + "\r\n.\r\n";
    std::string bad = line_of(999) + "\r\n.\r\n";
    for (size_t k = 0; k <= ok.size(); ++k) {
        EXPECT_EQ(dot_pieces({std::string_view(ok).substr(0, k), std::string_view(ok).substr(k)}).fault,
                  MessageFault::none)
            << k;
    }
    for (size_t k = 0; k <= bad.size(); ++k) {
        EXPECT_EQ(dot_pieces({std::string_view(bad).substr(0, k), std::string_view(bad).substr(k)}).fault,
                  MessageFault::line_too_long)
            << k;
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Size

TEST(SmtpDotReader, SizeLimitCountsUnstuffedContentWithCrlf) {
    // "12345678\r\n" is 10 octets.
    auto ok = dot("12345678\r\n.\r\n", 10);
    EXPECT_EQ(ok.fault, MessageFault::none);
    EXPECT_EQ(ok.body, "12345678\r\n");
    auto big = dot("123456789\r\n.\r\n", 10);
    EXPECT_TRUE(big.done);
    EXPECT_EQ(big.fault, MessageFault::too_big);
    EXPECT_EQ(big.body, "");
    EXPECT_EQ(big.size, 11u);
    // The stuffing dot is not content: "..a\r\n" is 4 octets of content.
    EXPECT_EQ(dot("..a\r\n.\r\n", 4).fault, MessageFault::none);
    EXPECT_EQ(dot("..a\r\n.\r\n", 3).fault, MessageFault::too_big);
}

TEST(SmtpDotReader, SizeKeepsCountingAfterAFault) {
    auto r = dot("a\nb\r\n" + line_of(100) + "\r\n.\r\n");
    EXPECT_EQ(r.fault, MessageFault::bare_line_ending);
    EXPECT_EQ(r.size, 3u + 2u + 102u);
}

TEST(SmtpDotReader, FirstFaultWins) {
    EXPECT_EQ(dot("a\nb" + line_of(2000) + "\r\n.\r\n", 100).fault, MessageFault::bare_line_ending);
    EXPECT_EQ(dot(line_of(2000) + "\r\na\nb\r\n.\r\n", 10000).fault, MessageFault::line_too_long);
    EXPECT_EQ(dot(line_of(2000) + "\r\na\nb\r\n.\r\n", 100).fault, MessageFault::too_big);  // octet 101 < 999
    EXPECT_EQ(dot(line_of(200) + "\r\n" + line_of(2000) + "\r\na\nb\r\n.\r\n", 100).fault, MessageFault::too_big);
}

// ---------------------------------------------------------------------------------------------------------------
// The same result wherever the input is split

TEST(SmtpDotReader, SplitAtEveryByteBoundaryGivesTheSameResult) {
    for (std::string_view in : {
             "Subject: x\r\n\r\nbody\r\n.\r\n",
             ".\r\n",
             "..a\r\n...\r\n..\r\n.\r\nNOOP\r\n",
             "a\r\n.\r",
             "a\n.\nb\r\n.\r\n",
             "a\r.\rb\r\n.\r\n",
             "a\n.\r\nb\r\n.\r\n",
             "a\r\n.\nb\r\n.\r\nQUIT\r\n",
             "a\r\n.\rb\r\n.\r\n",
             "a\r\n.\r\r\n.\r\n",
             "a\r\r\n.\r\n",
             "x\r\n\n.\r\n",
             "hello\n.\nMAIL FROM:<x@y>\r\n.\r\n",
             "\r\n\r\n.\r\n\r\n",
         }) {
        expect_split_invariant(in);
        expect_split_invariant(in, 4);  // with a size fault somewhere in most of them
    }
}

TEST(SmtpDotReader, SplitLongLinesGiveTheSameResult) {
    expect_split_invariant(line_of(998) + "\r\n.\r\n");
    expect_split_invariant(line_of(999) + "\r\n.\r\n");
    expect_split_invariant("." + line_of(998) + "\r\n.\r\n");
    expect_split_invariant("." + line_of(999) + "\r\n.\r\n");
    expect_split_invariant(".." + line_of(998) + "\r\n.\r\n");
    expect_split_invariant("a\r\n" + line_of(998) + "\r\n" + line_of(999) + "\r\n.\r\nNOOP\r\n");
    expect_split_invariant("a\r\n" + line_of(998) + "\r\n" + line_of(999) + "\r\n.\r\nNOOP\r\n", 3000);
    // The size limit reached after the line limit, in the same line.
    expect_split_invariant(line_of(1500) + "\r\n.\r\n", 1200);
}

// When one run of text crosses both the size limit and the 998-octet line limit, the fault reported (552 or 554)
// must not depend on how the input was split into reads.
TEST(SmtpDotReader, SizeAndLineFaultInOneRunDoNotDependOnSplitting) {
    std::string in = line_of(999) + "\r\n.\r\n";
    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < in.size(); ++i) bytes.push_back(std::string_view(in).substr(i, 1));
    EXPECT_EQ(dot(in, 10).fault, dot_pieces(bytes, 10).fault);
    std::string r = line_of(999) + "\r\n";
    std::vector<std::string_view> rbytes;
    for (size_t i = 0; i < r.size(); ++i) rbytes.push_back(std::string_view(r).substr(i, 1));
    EXPECT_EQ(raw(r, true, 10).fault, raw_pieces(rbytes, true, 10).fault);
    // The same with a longer, realistic message: a 1500-octet line with a 1200-octet limit, after 1003 octets of
    // good lines, fed whole and split in the middle of the long line.
    std::string m = "a\r\n" + line_of(998) + "\r\n" + line_of(1500) + "\r\n.\r\n";
    EXPECT_EQ(dot(m, 1200).fault,
              dot_pieces({std::string_view(m).substr(0, 1300), std::string_view(m).substr(1300)}, 1200).fault);
}

// ---------------------------------------------------------------------------------------------------------------
// BDAT: raw chunks

TEST(SmtpRawReader, ContentIsKeptVerbatim) {
    auto r = raw("Subject: c\r\n\r\n..x\r\n.\r\n", false);
    EXPECT_FALSE(r.done);
    EXPECT_EQ(r.fault, MessageFault::none);
    EXPECT_EQ(r.body, "Subject: c\r\n\r\n..x\r\n.\r\n");
    EXPECT_EQ(r.size, 22u);
}

TEST(SmtpRawReader, FinishMarksDone) {
    auto r = raw("a\r\n");
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.body, "a\r\n");
    auto e = raw("");
    EXPECT_TRUE(e.done);
    EXPECT_EQ(e.body, "");
    EXPECT_EQ(e.fault, MessageFault::none);
}

TEST(SmtpRawReader, FinishClosesAnUnterminatedLastLine) {
    auto r = raw("a\r\nlast");
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.fault, MessageFault::none);
    EXPECT_EQ(r.body, "a\r\nlast\r\n");
    EXPECT_EQ(r.size, 9u);
}

TEST(SmtpRawReader, PendingCrAtTheEndIsBare) {
    auto r = raw("a\r\nb\r");
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.fault, MessageFault::bare_line_ending);
    EXPECT_EQ(r.body, "");
}

TEST(SmtpRawReader, CrlfSplitAcrossChunks) {
    auto r = raw_pieces({"a\r", "\nb\r", "\n"}, true);
    EXPECT_EQ(r.fault, MessageFault::none);
    EXPECT_EQ(r.body, "a\r\nb\r\n");
}

TEST(SmtpRawReader, BareCrAndLfAreFlagged) {
    for (std::string_view in : {"a\nb\r\n", "a\rb\r\n", "\n", "\r\r\n", "a\r\n\n.\n"}) {
        auto r = raw(in);
        EXPECT_EQ(r.fault, MessageFault::bare_line_ending) << ::testing::PrintToString(std::string(in));
        EXPECT_EQ(r.body, "");
    }
}

TEST(SmtpRawReader, LineLength) {
    EXPECT_EQ(raw(line_of(998) + "\r\n").fault, MessageFault::none);
    EXPECT_EQ(raw(line_of(999) + "\r\n").fault, MessageFault::line_too_long);
    EXPECT_EQ(raw(line_of(998)).fault, MessageFault::none);  // closed by finish_raw
    EXPECT_EQ(raw(line_of(999)).fault, MessageFault::line_too_long);
    // No dot-stuffing in BDAT: a leading dot is an ordinary octet.
    EXPECT_EQ(raw("." + line_of(997) + "\r\n").fault, MessageFault::none);
    EXPECT_EQ(raw("." + line_of(998) + "\r\n").fault, MessageFault::line_too_long);
    EXPECT_EQ(raw_pieces({line_of(500), line_of(498), "\r\n"}, true).fault, MessageFault::none);
    EXPECT_EQ(raw_pieces({line_of(500), line_of(499), "\r\n"}, true).fault, MessageFault::line_too_long);
}

TEST(SmtpRawReader, SizeLimit) {
    EXPECT_EQ(raw("abc\r\n", true, 5).fault, MessageFault::none);
    EXPECT_EQ(raw("abc\r\n", true, 4).fault, MessageFault::too_big);
    // The CRLF that finish_raw adds is content too.
    EXPECT_EQ(raw("abc", true, 5).fault, MessageFault::none);
    EXPECT_EQ(raw("abc", true, 4).fault, MessageFault::too_big);
    auto r = raw(line_of(50), false, 10);
    EXPECT_EQ(r.fault, MessageFault::too_big);
    EXPECT_EQ(r.size, 50u);
    EXPECT_EQ(r.body, "");
}

TEST(SmtpRawReader, SplitAtEveryByteBoundaryGivesTheSameResult) {
    // expect_split_invariant checks the raw reader too; these inputs matter most for BDAT.
    for (std::string_view in : {"a\r\nb\r\n", "a\r\nb", "a\r", "\r\n\r\n", "..\r\n.\r\n", "a\rb\nc\r\n"}) {
        expect_split_invariant(in);
        expect_split_invariant(in, 3);
    }
}
