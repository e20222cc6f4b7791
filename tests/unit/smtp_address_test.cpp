// Envelope paths (RFC 5321 §4.1.2) with RFC 6531 UTF-8: local parts, domains, address literals, the special
// paths <> and <postmaster>, source routes, length limits, and Mailbox::str() re-quoting.
#include <gtest/gtest.h>

#include <string>

#include "smtp/address.hpp"

using namespace postern::smtp;

namespace {

PathParse fwd(std::string_view text, bool utf8 = true) { return parse_path(text, PathKind::forward, utf8); }
PathParse rev(std::string_view text, bool utf8 = true) { return parse_path(text, PathKind::reverse, utf8); }

// Both kinds of path must agree on ordinary addresses.
void expect_both(std::string_view text, PathError error, std::string_view local = {}, std::string_view domain = {},
                 std::string_view rest = {}) {
    for (auto kind : {PathKind::reverse, PathKind::forward}) {
        SCOPED_TRACE(std::string(kind == PathKind::reverse ? "reverse " : "forward ") + std::string(text));
        auto p = parse_path(text, kind, true);
        EXPECT_EQ(p.error, error);
        if (error == PathError::none) {
            EXPECT_EQ(p.mailbox.local, local);
            EXPECT_EQ(p.mailbox.domain, domain);
            EXPECT_EQ(p.rest, rest);
        } else {
            // A failed parse leaves no half-filled mailbox behind.
            EXPECT_TRUE(p.mailbox.local.empty());
            EXPECT_TRUE(p.mailbox.domain.empty());
        }
    }
}

void expect_syntax(std::string_view text) { expect_both(text, PathError::syntax); }

Mailbox mb(std::string local, std::string domain) { return Mailbox{std::move(local), std::move(domain)}; }

std::string repeat(char c, size_t n) { return std::string(n, c); }

// A domain of exactly n octets made of labels of at most 63 octets.
std::string domain_of(size_t n) {
    std::string d;
    while (d.size() < n) {
        if (!d.empty()) d.push_back('.');
        size_t room = n - d.size();
        size_t label = std::min<size_t>(63, room);
        if (room - label == 1) --label;  // never leave room for just a dot
        d.append(label, 'a');
    }
    return d;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Plain addresses

TEST(SmtpAddress, SimpleAddress) { expect_both("<alice@example.com>", PathError::none, "alice", "example.com", ""); }

TEST(SmtpAddress, DomainIsLowerCasedLocalPartIsKept) {
    expect_both("<Alice.Smith@EXAMPLE.Com>", PathError::none, "Alice.Smith", "example.com");
}

TEST(SmtpAddress, DotStringWithEveryAtextCharacter) {
    expect_both("<!#$%&'*+-/=?^_`{|}~@example.com>", PathError::none, "!#$%&'*+-/=?^_`{|}~", "example.com");
    expect_both("<first.last+tag@sub.example.com>", PathError::none, "first.last+tag", "sub.example.com");
    expect_both("<0@x>", PathError::none, "0", "x");
}

TEST(SmtpAddress, DotStringDotsMustSeparateAtoms) {
    expect_syntax("<.alice@example.com>");
    expect_syntax("<alice.@example.com>");
    expect_syntax("<al..ice@example.com>");
    expect_syntax("<.@example.com>");
}

TEST(SmtpAddress, DotStringRejectsSpecials) {
    for (std::string_view bad : {"<a b@x.com>", "<a(b)@x.com>", "<a,b@x.com>", "<a\"b@x.com>", "<a\\b@x.com>",
                                 "<a:b@x.com>", "<a;b@x.com>", "<a<b@x.com>", "<a[b]@x.com>", "<a\tb@x.com>",
                                 "<a\x7f@x.com>", "<a@b@x.com>", "<alice@@x.com>"}) {
        SCOPED_TRACE(std::string(bad));
        expect_syntax(bad);
    }
}

TEST(SmtpAddress, MissingPieces) {
    for (std::string_view bad : {"", "<", ">", "<>>", "alice@example.com", "<alice@example.com", "alice@example.com>",
                                 "<alice>", "<alice@>", "<@example.com>", "<@>", " <alice@example.com>",
                                 "<alice@example.com.>", "<alice@.example.com>", "<alice@exa mple.com>"}) {
        SCOPED_TRACE(std::string(bad));
        EXPECT_EQ(fwd(bad).error, PathError::syntax);
        EXPECT_EQ(rev(bad).error, PathError::syntax);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Quoted local parts

TEST(SmtpAddress, QuotedLocalPartWithSpaces) {
    expect_both("<\"john doe\"@example.com>", PathError::none, "john doe", "example.com");
    expect_both("<\" \"@example.com>", PathError::none, " ", "example.com");
}

TEST(SmtpAddress, QuotedPairsAreResolved) {
    expect_both(R"(<"a\"b\\c"@example.com>)", PathError::none, R"(a"b\c)", "example.com");
    expect_both(R"(<"\a\ b"@example.com>)", PathError::none, "a b", "example.com");
}

TEST(SmtpAddress, QuotedLocalPartMayHoldAngleBracketAndAt) {
    expect_both("<\"a>b\"@example.com> SIZE=1", PathError::none, "a>b", "example.com", "SIZE=1");
    expect_both("<\"a@b\"@example.com>", PathError::none, "a@b", "example.com");
    expect_both("<\"a.,;:()[]<>b\"@example.com>", PathError::none, "a.,;:()[]<>b", "example.com");
}

TEST(SmtpAddress, EmptyQuotedLocalPartIsNotTheNullPath) {
    auto p = fwd("<\"\"@example.com>");
    ASSERT_EQ(p.error, PathError::none);
    EXPECT_EQ(p.mailbox.local, "");
    EXPECT_EQ(p.mailbox.domain, "example.com");
    EXPECT_FALSE(p.mailbox.is_null());
}

TEST(SmtpAddress, NeedlessQuotesAreRemoved) {
    expect_both("<\"alice\"@example.com>", PathError::none, "alice", "example.com");
}

TEST(SmtpAddress, MalformedQuotedStrings) {
    for (std::string_view bad : {
             "<\"abc@example.com>",       // unterminated
             "<\"abc\"def@example.com>",  // text after the closing quote
             "<abc\"def\"@example.com>",  // quote inside a dot-string
             "<\"a\tb\"@example.com>",    // control character in qtext
             "<\"a\\\tb\"@example.com>",  // quoted-pair of a control character
             "<\"a\x7f\"@example.com>",   // DEL
             "<\"a\\\x7f\"@example.com>",  // quoted DEL
             "<\"a\\",                    // backslash at the end of input
             "<\"a\"",                    // nothing after the local part
         }) {
        SCOPED_TRACE(std::string(bad));
        expect_syntax(bad);
    }
    // A NUL, CR or LF inside quotes.
    expect_syntax(std::string_view("<\"a\0b\"@example.com>", 20));
    expect_syntax("<\"a\rb\"@example.com>");
    expect_syntax("<\"a\nb\"@example.com>");
}

// ---------------------------------------------------------------------------------------------------------------
// The special paths

TEST(SmtpAddress, NullReversePath) {
    auto p = rev("<>");
    EXPECT_EQ(p.error, PathError::none);
    EXPECT_TRUE(p.mailbox.is_null());
    EXPECT_EQ(p.rest, "");
    EXPECT_EQ(p.mailbox.str(), "");

    auto q = rev("<> SIZE=100 BODY=8BITMIME");
    EXPECT_EQ(q.error, PathError::none);
    EXPECT_TRUE(q.mailbox.is_null());
    EXPECT_EQ(q.rest, "SIZE=100 BODY=8BITMIME");
}

TEST(SmtpAddress, NullPathIsReverseOnly) {
    EXPECT_EQ(fwd("<>").error, PathError::syntax);
    EXPECT_EQ(fwd("<> X=1").error, PathError::syntax);
}

TEST(SmtpAddress, NullPathNeedsASpaceBeforeParameters) { EXPECT_EQ(rev("<>SIZE=1").error, PathError::syntax); }

TEST(SmtpAddress, PostmasterIsForwardOnlyAndCaseInsensitive) {
    for (std::string_view text : {"<postmaster>", "<Postmaster>", "<POSTMASTER>", "<pOsTmAsTeR>"}) {
        SCOPED_TRACE(std::string(text));
        auto p = fwd(text);
        EXPECT_EQ(p.error, PathError::none);
        EXPECT_EQ(p.mailbox.local, "postmaster");
        EXPECT_EQ(p.mailbox.domain, "");
        EXPECT_FALSE(p.mailbox.is_null());
        EXPECT_EQ(p.mailbox.str(), "postmaster");
        EXPECT_EQ(rev(text).error, PathError::syntax);
    }
    auto p = fwd("<postmaster> NOTIFY=NEVER");
    EXPECT_EQ(p.error, PathError::none);
    EXPECT_EQ(p.rest, "NOTIFY=NEVER");
    EXPECT_EQ(fwd("<postmaster>X").error, PathError::syntax);
    EXPECT_EQ(fwd("<postmastery>").error, PathError::syntax);
    EXPECT_EQ(fwd("<postmaste>").error, PathError::syntax);
}

TEST(SmtpAddress, PostmasterAtADomainIsAnOrdinaryAddress) {
    expect_both("<Postmaster@Example.COM>", PathError::none, "Postmaster", "example.com");
}

// ---------------------------------------------------------------------------------------------------------------
// Source routes (RFC 5321 §4.1.2 and appendix C): accepted and ignored

TEST(SmtpAddress, SourceRoutesAreIgnored) {
    expect_both("<@relay.example:user@final.example>", PathError::none, "user", "final.example");
    expect_both("<@a.example,@b.example,@c.example:user@final.example> X=1", PathError::none, "user",
                "final.example", "X=1");
    expect_both("<@[192.0.2.1]:user@final.example>", PathError::none, "user", "final.example");
}

TEST(SmtpAddress, MalformedSourceRoutes) {
    for (std::string_view bad : {"<@:user@final.example>", "<@a.example,b.example:user@final.example>",
                                 "<@a.example,:user@final.example>", "<@a..example:user@final.example>",
                                 "<@a.example user@final.example>", "<@a.example>", "<@a.example,@b.example>",
                                 "<@a.example:>", "<@a.example", "<@-a.example:user@final.example>"}) {
        SCOPED_TRACE(std::string(bad));
        expect_syntax(bad);
    }
}

TEST(SmtpAddress, SourceRouteDoesNotMakePostmasterSpecial) {
    auto p = fwd("<@a.example:postmaster@final.example>");
    EXPECT_EQ(p.error, PathError::none);
    EXPECT_EQ(p.mailbox.local, "postmaster");
    EXPECT_EQ(p.mailbox.domain, "final.example");
}

// ---------------------------------------------------------------------------------------------------------------
// Address literals

TEST(SmtpAddress, AddressLiteralsInPaths) {
    expect_both("<user@[192.0.2.1]>", PathError::none, "user", "[192.0.2.1]");
    // The literal is lower-cased like any domain; the brackets are kept.
    expect_both("<user@[IPv6:2001:DB8::1]>", PathError::none, "user", "[ipv6:2001:db8::1]");
    expect_both("<user@[x-tag:Some-Thing]>", PathError::none, "user", "[x-tag:some-thing]");
    expect_both("<user@[192.0.2.1]> SIZE=5", PathError::none, "user", "[192.0.2.1]", "SIZE=5");
}

TEST(SmtpAddress, MalformedAddressLiteralsInPaths) {
    for (std::string_view bad : {"<user@[192.0.2.256]>", "<user@[192.0.2.1]x>", "<user@[192.0.2.1>", "<user@[]>",
                                 "<user@[IPv6:1::2::3]>", "<user@x[192.0.2.1]>", "<user@[192.0.2.1].example>",
                                 "<user@[a b:c]>"}) {
        SCOPED_TRACE(std::string(bad));
        expect_syntax(bad);
    }
}

TEST(SmtpAddress, Ipv4Literals) {
    for (std::string_view ok : {"[0.0.0.0]", "[255.255.255.255]", "[192.0.2.1]", "[001.002.003.004]", "[10.0.0.255]"})
        EXPECT_TRUE(valid_address_literal(ok)) << ok;
    for (std::string_view bad : {"[256.0.0.1]", "[1.2.3]", "[1.2.3.4.5]", "[1.2.3.4.]", "[.1.2.3.4]", "[1..2.3]",
                                 "[1234.1.1.1]", "[1.2.3.-4]", "[1.2.3.a]", "[ 1.2.3.4]", "[1.2.3.4 ]", "1.2.3.4",
                                 "[1.2.3.4", "1.2.3.4]", "[]", "[", ""})
        EXPECT_FALSE(valid_address_literal(bad)) << bad;
}

TEST(SmtpAddress, Ipv6Literals) {
    for (std::string_view ok : {
             "[IPv6:2001:db8:0:0:0:0:0:1]", "[IPv6:2001:db8::1]", "[IPv6:::1]", "[IPv6:::]", "[IPv6:1::]",
             "[IPv6:FFFF:ffff:0:0:0:0:0:0]", "[ipv6:2001:db8::1]", "[IPV6:2001:DB8::1]",
             "[IPv6:1:2:3:4:5:6:7:8]", "[IPv6:1:2:3::6:7:8]", "[IPv6:::ffff:192.0.2.1]",
             "[IPv6:1:2:3:4:5:6:192.0.2.1]", "[IPv6:1::192.0.2.1]", "[IPv6:abcd:ef01:2345:6789:abcd:ef01:2345:6789]",
         })
        EXPECT_TRUE(valid_address_literal(ok)) << ok;
    for (std::string_view bad : {
             "[IPv6:]", "[IPv6:1:2:3:4:5:6:7]", "[IPv6:1:2:3:4:5:6:7:8:9]", "[IPv6:1::2::3]", "[IPv6::1]",
             "[IPv6:1:]", "[IPv6:1:::2]", "[IPv6:12345::1]", "[IPv6:g::1]", "[IPv6:1:2:3:4:5:6:7:192.0.2.1]",
             "[IPv6:192.0.2.1]", "[IPv6:::192.0.2.256]", "[IPv6:::1.2.3]", "[IPv6:1::2:]", "[IPv6: ::1]",
             "[IPv6:1:2:3:4:5:6:7:8::]",
         })
        EXPECT_FALSE(valid_address_literal(bad)) << bad;
}

TEST(SmtpAddress, GeneralAddressLiterals) {
    for (std::string_view ok : {"[x-tag:abc]", "[tag:!\"#$%&'()*+,-./09:;<=>?@AZ^_`az{|}~]", "[T1:x]", "[a-b-c:1]"})
        EXPECT_TRUE(valid_address_literal(ok)) << ok;
    for (std::string_view bad : {"[:abc]", "[tag:]", "[tag]", "[ta g:abc]", "[tag:a b]", "[tag:a[b]", "[tag:a\\b]",
                                 "[tag:a]b]", "[t_g:abc]", "[tag:\x7f]", "[tag:caf\xc3\xa9]"})
        EXPECT_FALSE(valid_address_literal(bad)) << bad;
}

// RFC 5321 §4.1.3: Standardized-tag = Ldh-str, and an Ldh-str ends with a letter or digit.
TEST(SmtpAddress, GeneralAddressLiteralTagMustNotEndWithHyphen) {
    EXPECT_FALSE(valid_address_literal("[x-:abc]"));
}

// RFC 5321 §4.1.3: with "::", no more than 6 groups may be present in addition to it (IPv6-comp), and no more
// than 4 in addition to "::" and the IPv4 part (IPv6v4-comp).
TEST(SmtpAddress, Ipv6CompressedFormsFollowRfc5321GroupCounts) {
    EXPECT_FALSE(valid_address_literal("[IPv6:1:2:3:4:5:6:7::]"));
    EXPECT_FALSE(valid_address_literal("[IPv6:1:2:3::4:5:6:7]"));
    EXPECT_FALSE(valid_address_literal("[IPv6:1:2:3:4:5::192.0.2.1]"));
    EXPECT_TRUE(valid_address_literal("[IPv6:1:2:3:4:5:6::]"));
    EXPECT_TRUE(valid_address_literal("[IPv6:1:2:3:4::192.0.2.1]"));
}

// ---------------------------------------------------------------------------------------------------------------
// Domains

TEST(SmtpAddress, ValidDomains) {
    for (std::string_view ok : {"example.com", "a", "A.B.C", "xn--bcher-kva.example", "a-b.example", "1.2.3",
                                "123.example", "a1-2b.example", "[192.0.2.1]", "[IPv6:::1]"}) {
        EXPECT_TRUE(valid_domain(ok, false)) << ok;
        EXPECT_TRUE(valid_domain(ok, true)) << ok;
    }
}

TEST(SmtpAddress, InvalidDomains) {
    for (std::string_view bad : {"", ".", "example.com.", ".example.com", "a..b", "-a.example", "a-.example",
                                 "a_b.example", "a b.example", "a@b", "[192.0.2.1", "exa\tmple"}) {
        EXPECT_FALSE(valid_domain(bad, true)) << bad;
        EXPECT_FALSE(valid_domain(bad, false)) << bad;
    }
}

TEST(SmtpAddress, LabelAndDomainLengthLimits) {
    EXPECT_TRUE(valid_domain(repeat('a', 63) + ".example", false));
    EXPECT_FALSE(valid_domain(repeat('a', 64) + ".example", false));
    auto d255 = domain_of(255);
    auto d256 = domain_of(256);
    ASSERT_EQ(d255.size(), 255u);
    ASSERT_EQ(d256.size(), 256u);
    EXPECT_TRUE(valid_domain(d255, false));
    EXPECT_FALSE(valid_domain(d256, false));
}

TEST(SmtpAddress, ULabelsOnlyWithUtf8) {
    for (std::string_view u : {"b\xc3\xbc" "cher.example", "\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a",
                               "\xf0\x9f\x98\x80.example", "-\xc3\xbc-.example"}) {
        EXPECT_TRUE(valid_domain(u, true)) << u;
        EXPECT_FALSE(valid_domain(u, false)) << u;
    }
}

TEST(SmtpAddress, MalformedUtf8DomainsAreRefusedEvenWithUtf8) {
    for (std::string_view bad : {"b\xc3.example", "b\xc3\x28.example", "\xc0\xaf.example", "\xe0\x80\xaf.example",
                                 "\xed\xa0\x80.example", "\xf4\x90\x80\x80.example", "\xf5\x80\x80\x80.example",
                                 "\x80.example", "\xff.example"})
        EXPECT_FALSE(valid_domain(bad, true)) << bad;
}

// ---------------------------------------------------------------------------------------------------------------
// Length limits (RFC 5321 §4.5.3.1)

TEST(SmtpAddress, LocalPartOf64OctetsIsFine65IsTooLong) {
    auto ok = "<" + repeat('l', 64) + "@example.com>";
    auto p = fwd(ok);
    EXPECT_EQ(p.error, PathError::none);
    EXPECT_EQ(p.mailbox.local, repeat('l', 64));

    auto too_long = "<" + repeat('l', 65) + "@example.com>";
    EXPECT_EQ(fwd(too_long).error, PathError::too_long);
    EXPECT_EQ(rev(too_long).error, PathError::too_long);
    EXPECT_TRUE(fwd(too_long).mailbox.local.empty());
}

TEST(SmtpAddress, LocalPartLimitCountsOctetsNotCharacters) {
    std::string e_acute = "\xc3\xa9";
    std::string local32, local33;
    for (int i = 0; i < 32; ++i) local32 += e_acute;
    local33 = local32 + e_acute;
    EXPECT_EQ(fwd("<" + local32 + "@example.com>").error, PathError::none);
    EXPECT_EQ(fwd("<" + local33 + "@example.com>").error, PathError::too_long);
}

TEST(SmtpAddress, PathOf256OctetsIsFine257IsTooLong) {
    // "<" + 64 + "@" + 189 + ">" = 256 octets.
    auto local = repeat('l', 64);
    auto path256 = "<" + local + "@" + domain_of(189) + ">";
    ASSERT_EQ(path256.size(), 256u);
    std::string with_params = path256 + " X=1";  // the parse's rest points into it
    auto p = fwd(with_params);
    EXPECT_EQ(p.error, PathError::none);
    EXPECT_EQ(p.rest, "X=1");

    auto path257 = "<" + local + "@" + domain_of(190) + ">";
    ASSERT_EQ(path257.size(), 257u);
    EXPECT_EQ(fwd(path257).error, PathError::too_long);
    EXPECT_EQ(rev(path257).error, PathError::too_long);
}

TEST(SmtpAddress, PathLimitIncludesTheSourceRoute) {
    // 250-octet path without the route, then a route that pushes it over 256.
    auto base = "<" + repeat('l', 10) + "@" + domain_of(237) + ">";
    ASSERT_EQ(base.size(), 250u);
    EXPECT_EQ(fwd(base).error, PathError::none);
    auto routed = "<@r.example:" + base.substr(1);
    EXPECT_EQ(fwd(routed).error, PathError::too_long);
}

TEST(SmtpAddress, DomainOver255OctetsIsRefused) {
    auto p = fwd("<a@" + domain_of(256) + ">");
    EXPECT_NE(p.error, PathError::none);
}

// A domain over 255 octets makes the path over 256 octets; the parse should say too_long, like every other
// length limit, rather than syntax.
TEST(SmtpAddress, DomainOver255OctetsIsReportedAsTooLong) {
    EXPECT_EQ(fwd("<a@" + domain_of(256) + ">").error, PathError::too_long);
}

// ---------------------------------------------------------------------------------------------------------------
// UTF-8 (RFC 6531)

TEST(SmtpAddress, Utf8LocalPart) {
    auto p = fwd("<j\xc3\xb6ran@example.com>");
    EXPECT_EQ(p.error, PathError::none);
    EXPECT_EQ(p.mailbox.local, "j\xc3\xb6ran");
    EXPECT_TRUE(p.mailbox.is_utf8());
    EXPECT_EQ(fwd("<j\xc3\xb6ran@example.com>", false).error, PathError::utf8_not_allowed);
    EXPECT_EQ(rev("<j\xc3\xb6ran@example.com>", false).error, PathError::utf8_not_allowed);
}

TEST(SmtpAddress, Utf8EverywhereAndFourOctetSequences) {
    // 用户@例子.广告 and an emoji local part.
    auto p = rev("<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a> SMTPUTF8");
    EXPECT_EQ(p.error, PathError::none);
    EXPECT_EQ(p.mailbox.local, "\xe7\x94\xa8\xe6\x88\xb7");
    EXPECT_EQ(p.mailbox.domain, "\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a");
    EXPECT_EQ(p.rest, "SMTPUTF8");

    auto e = fwd("<\xf0\x9f\x98\x80.x@example.com>");
    EXPECT_EQ(e.error, PathError::none);
    EXPECT_EQ(e.mailbox.local, "\xf0\x9f\x98\x80.x");
}

TEST(SmtpAddress, ULabelDomainIsLowerCasedInItsAsciiOnly) {
    auto p = fwd("<Alice@B\xc3\x9c" "CHER.Example>");  // BÜCHER: Ü stays as it is, ASCII is lower-cased
    EXPECT_EQ(p.error, PathError::none);
    EXPECT_EQ(p.mailbox.local, "Alice");
    EXPECT_EQ(p.mailbox.domain, "b\xc3\x9c" "cher.example");
    EXPECT_TRUE(p.mailbox.is_utf8());
    EXPECT_EQ(fwd("<alice@b\xc3\xbc" "cher.example>", false).error, PathError::utf8_not_allowed);
}

TEST(SmtpAddress, Utf8InAQuotedLocalPart) {
    auto p = fwd("<\"j\xc3\xb6 ran\"@example.com>");
    EXPECT_EQ(p.error, PathError::none);
    EXPECT_EQ(p.mailbox.local, "j\xc3\xb6 ran");
    EXPECT_EQ(fwd("<\"j\xc3\xb6 ran\"@example.com>", false).error, PathError::utf8_not_allowed);
}

TEST(SmtpAddress, MalformedUtf8IsASyntaxErrorWhetherOrNotUtf8IsAllowed) {
    for (std::string_view seq : {
             "\xc3",              // truncated two-octet sequence
             "\xc3\x28",          // bad continuation
             "\xc0\xaf",          // overlong '/'
             "\xc1\xbf",          // overlong
             "\xe0\x80\xaf",      // overlong three-octet
             "\xe2\x82",          // truncated three-octet
             "\xed\xa0\x80",      // UTF-16 surrogate
             "\xf0\x80\x80\xaf",  // overlong four-octet
             "\xf4\x90\x80\x80",  // above U+10FFFF
             "\xf5\x80\x80\x80",  // invalid lead
             "\x80",              // lone continuation
             "\xbf",              // lone continuation
             "\xfe",
             "\xff",
         }) {
        std::string hex;
        for (unsigned char c : seq) hex += std::to_string(c) + " ";
        SCOPED_TRACE(hex);
        for (bool utf8 : {true, false}) {
            EXPECT_EQ(fwd("<a" + std::string(seq) + "b@example.com>", utf8).error, PathError::syntax);
            EXPECT_EQ(fwd("<\"a" + std::string(seq) + "b\"@example.com>", utf8).error, PathError::syntax);
            EXPECT_EQ(fwd("<ab@ex" + std::string(seq) + "ample.com>", utf8).error, PathError::syntax);
            EXPECT_EQ(rev("<a" + std::string(seq) + "@example.com>", utf8).error, PathError::syntax);
        }
    }
}

TEST(SmtpAddress, BoundaryCodePointsAreAccepted) {
    for (std::string_view seq : {"\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80",
                                 "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf"}) {
        auto p = fwd("<a" + std::string(seq) + "@example.com>");
        EXPECT_EQ(p.error, PathError::none);
        EXPECT_EQ(p.mailbox.local, "a" + std::string(seq));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// What follows the path

TEST(SmtpAddress, RestSkipsLeadingSpacesOnly) {
    auto p = rev("<a@b.example>   SIZE=1  BODY=7BIT ");
    EXPECT_EQ(p.error, PathError::none);
    EXPECT_EQ(p.rest, "SIZE=1  BODY=7BIT ");
    EXPECT_EQ(rev("<a@b.example>SIZE=1").error, PathError::syntax);
    EXPECT_EQ(rev("<a@b.example>>").error, PathError::syntax);
    EXPECT_EQ(rev("<a@b.example> ").rest, "");
    EXPECT_EQ(rev("<a@b.example>").rest, "");
}

// ---------------------------------------------------------------------------------------------------------------
// Mailbox

TEST(SmtpMailbox, StrOfPlainAddresses) {
    EXPECT_EQ(mb("alice", "example.com").str(), "alice@example.com");
    EXPECT_EQ(mb("first.last+tag", "example.com").str(), "first.last+tag@example.com");
    EXPECT_EQ(mb("!#$%&'*+-/=?^_`{|}~", "x").str(), "!#$%&'*+-/=?^_`{|}~@x");
    EXPECT_EQ(mb("postmaster", "").str(), "postmaster");
    EXPECT_EQ(mb("", "").str(), "");
    EXPECT_EQ(mb("j\xc3\xb6ran", "b\xc3\xbc" "cher.example").str(), "j\xc3\xb6ran@b\xc3\xbc" "cher.example");
    EXPECT_EQ(mb("u", "[192.0.2.1]").str(), "u@[192.0.2.1]");
}

TEST(SmtpMailbox, StrRequotesWhenNeeded) {
    EXPECT_EQ(mb("john doe", "example.com").str(), "\"john doe\"@example.com");
    EXPECT_EQ(mb(R"(a"b\c)", "example.com").str(), R"("a\"b\\c"@example.com)");
    EXPECT_EQ(mb("", "example.com").str(), "\"\"@example.com");
    EXPECT_EQ(mb(".a", "x").str(), "\".a\"@x");
    EXPECT_EQ(mb("a.", "x").str(), "\"a.\"@x");
    EXPECT_EQ(mb("a..b", "x").str(), "\"a..b\"@x");
    EXPECT_EQ(mb(".", "x").str(), "\".\"@x");
    EXPECT_EQ(mb("a@b", "x").str(), "\"a@b\"@x");
    EXPECT_EQ(mb("a>b", "x").str(), "\"a>b\"@x");
    EXPECT_EQ(mb("j\xc3\xb6 r", "x").str(), "\"j\xc3\xb6 r\"@x");
}

TEST(SmtpMailbox, StrRoundTripsThroughTheParser) {
    for (const auto& m : {mb("alice", "example.com"), mb("john doe", "example.com"), mb(R"(a"b\c)", "x.example"),
                          mb("", "x.example"), mb(".a..b.", "x.example"), mb("a>b@c", "x.example"),
                          mb("j\xc3\xb6ran", "b\xc3\xbc" "cher.example"), mb("u", "[192.0.2.1]"),
                          mb("u", "[ipv6:2001:db8::1]")}) {
        SCOPED_TRACE(m.str());
        auto p = fwd("<" + m.str() + ">");
        ASSERT_EQ(p.error, PathError::none);
        EXPECT_EQ(p.mailbox.local, m.local);
        EXPECT_EQ(p.mailbox.domain, m.domain);
    }
}

TEST(SmtpMailbox, IsNullAndIsUtf8) {
    EXPECT_TRUE(mb("", "").is_null());
    EXPECT_FALSE(mb("a", "").is_null());
    EXPECT_FALSE(mb("", "x").is_null());
    EXPECT_FALSE(mb("alice", "example.com").is_utf8());
    EXPECT_TRUE(mb("j\xc3\xb6ran", "example.com").is_utf8());
    EXPECT_TRUE(mb("alice", "b\xc3\xbc" "cher.example").is_utf8());
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

TEST(SmtpAddressHelpers, HasNonAscii) {
    EXPECT_FALSE(has_non_ascii(""));
    EXPECT_FALSE(has_non_ascii("plain ascii \x7f\x01"));
    EXPECT_TRUE(has_non_ascii("caf\xc3\xa9"));
    EXPECT_TRUE(has_non_ascii("\x80"));
}

TEST(SmtpAddressHelpers, AsciiLowerTouchesOnlyAsciiLetters) {
    EXPECT_EQ(ascii_lower("ABC xyz 0-9 @[]"), "abc xyz 0-9 @[]");
    EXPECT_EQ(ascii_lower("\xc3\x9c" "BER"), "\xc3\x9c" "ber");
    EXPECT_EQ(ascii_lower(""), "");
}

TEST(SmtpAddressHelpers, Iequals) {
    EXPECT_TRUE(iequals("MAIL", "mail"));
    EXPECT_TRUE(iequals("", ""));
    EXPECT_TRUE(iequals("PostMaster", "pOSTmASTER"));
    EXPECT_FALSE(iequals("MAIL", "MAIL "));
    EXPECT_FALSE(iequals("MAIL", "MAIK"));
    EXPECT_FALSE(iequals("[", "{"));  // '[' is not 'A'-'Z' shifted
    EXPECT_FALSE(iequals("\xc3\x9c", "\xc3\xbc"));
}
