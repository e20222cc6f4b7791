// The reply-code knowledge base (src/explain): every reply Postern sends is explained in every language, every
// code of the RFCs is there, the code parser, the locale choice, comparisons, wrapping, verdicts, the site.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "explain/codes.hpp"
#include "explain/explainer.hpp"
#include "explain/html.hpp"
#include "explain/knowledge.hpp"
#include "explain/text.hpp"
#include "explain/verdict.hpp"
#include "smtp/reply.hpp"

namespace postern::explain {
namespace {

const char* const kBasicFields[] = {"name", "summary", "meaning", "when", "user", "admin"};
const char* const kEnhancedFields[] = {"name", "meaning", "when", "user", "admin"};

std::string lang_name(Lang l) { return std::string(lang_code(l)); }

bool has_cjk(std::string_view s) {
    // U+4E00..U+9FFF in UTF-8 start with bytes E4..E9.
    for (unsigned char c : s)
        if (c >= 0xE4 && c <= 0xE9) return true;
    return false;
}

// Vietnamese letters are Latin with diacritics; a short line such as "Sau QUIT." (after QUIT) may have none.
bool has_vietnamese(std::string_view s) {
    if (s.starts_with("Sau ")) return true;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c == 0xC3 || c == 0xC4 || c == 0xC6 || c == 0xE1) return true;  // Latin-1, Latin Extended, Vietnamese block
    }
    return false;
}

// ---------------------------------------------------------------------------------------------
// Every reply of the server's registry is explained, in every language.

TEST(ExplainRegistry, EveryReplyPosternSendsIsExplainedInEveryLanguage) {
    const auto& kb = Knowledge::get();
    for (const auto& e : smtp::registry()) {
        SCOPED_TRACE(std::string(e.name));
        ASSERT_NE(kb.basic(e.code), nullptr) << "basic code " << e.code << " of " << e.name << " is not in the data";
        ASSERT_NE(kb.postern_config(e.name), nullptr) << e.name << " has no [postern." << e.name << "] in common";
        std::optional<EnhancedCode> enh;
        if (!e.enhanced.empty()) {
            enh = parse_enhanced(e.enhanced);
            ASSERT_TRUE(enh) << e.enhanced << " does not parse";
            ASSERT_NE(kb.enhanced(enh->subject, enh->detail), nullptr) << e.enhanced << " is not in the data";
            EXPECT_EQ(consistency_error(e.code, *enh, Lang::en), "") << e.code << " " << e.enhanced;
        }
        for (Lang l : all_langs) {
            SCOPED_TRACE(lang_name(l));
            Explainer ex(l);
            for (auto f : kBasicFields) EXPECT_FALSE(ex.basic_field(e.code, f).empty()) << e.code << " " << f;
            if (enh) {
                for (auto f : kEnhancedFields)
                    EXPECT_FALSE(ex.enhanced_field(enh->subject, enh->detail, f).empty()) << e.enhanced << " " << f;
            }
            EXPECT_FALSE(kb.text(l, {"postern", e.name, "cause"}).empty()) << "no cause for " << e.name;
            // The explanation of the reply names the entry, so `postern explain CODE ENH` shows this cause.
            ReplyCode r{e.code, enh};
            auto text = ex.text(r, 100);
            EXPECT_NE(text.find("[" + std::string(e.name) + "]"), std::string::npos);
        }
    }
}

TEST(ExplainRegistry, NoStaleEntriesForRepliesThatNoLongerExist) {
    std::set<std::string> names;
    for (const auto& e : smtp::registry()) names.insert(std::string(e.name));
    for (const auto& n : Knowledge::get().postern_names())
        EXPECT_TRUE(names.count(n)) << "[postern." << n << "] is stale";
}

// ---------------------------------------------------------------------------------------------
// Completeness against the RFCs.

TEST(ExplainCodes, EveryBasicCodeOfTheRfcsIsThere) {
    // RFC 5321 §4.2.3, RFC 4954 §6 (AUTH), RFC 3207 (STARTTLS: 220, 454, 501, 530), RFC 7504 (521, 556).
    const std::vector<int> expected{211, 214, 220, 221, 235, 250, 251, 252, 334, 354, 421, 432,
                                    450, 451, 452, 454, 455, 500, 501, 502, 503, 504, 521, 530,
                                    534, 535, 538, 550, 551, 552, 553, 554, 555, 556};
    std::vector<int> have;
    for (const auto& b : Knowledge::get().basic_codes()) have.push_back(b.code);
    EXPECT_EQ(have, expected);
    for (Lang l : all_langs) {
        Explainer ex(l);
        for (int code : expected)
            for (auto f : kBasicFields)
                EXPECT_FALSE(ex.basic_field(code, f).empty()) << lang_name(l) << " " << code << " " << f;
    }
}

TEST(ExplainCodes, EveryEnhancedCodeOfRfc3463AndTheRegistryIsThere) {
    std::vector<std::pair<int, int>> expected;
    auto range = [&](int subject, int last) {
        for (int d = 0; d <= last; ++d) expected.emplace_back(subject, d);
    };
    range(0, 0);
    range(1, 10);  // X.1.9 RFC 3886, X.1.10 RFC 7505
    range(2, 4);
    range(3, 6);  // X.3.6 RFC 6710
    range(4, 7);
    range(5, 6);   // X.5.6 RFC 4954
    range(6, 10);  // X.6.6 RFC 4468, X.6.7-10 RFC 6531
    range(7, 30);  // X.7.8-12 RFC 4954, 5248; X.7.15-30 RFC 6710, 7293, 7372, 7505, 8617, 8689
    std::vector<std::pair<int, int>> have;
    for (const auto& e : Knowledge::get().enhanced_codes()) have.emplace_back(e.subject, e.detail);
    EXPECT_EQ(have, expected);
    for (Lang l : all_langs) {
        Explainer ex(l);
        for (auto [s, d] : expected)
            for (auto f : kEnhancedFields)
                EXPECT_FALSE(ex.enhanced_field(s, d, f).empty()) << lang_name(l) << " X." << s << "." << d << " " << f;
        for (int s = 0; s <= 7; ++s) {
            EXPECT_FALSE(ex.t({"subject", std::to_string(s), "name"}).empty());
            EXPECT_FALSE(ex.t({"subject", std::to_string(s), "meaning"}).empty());
        }
        for (int c : {2, 3, 4, 5})
            for (auto f : {"name", "summary", "meaning", "act"})
                EXPECT_FALSE(ex.t({"class", std::to_string(c), f}).empty()) << c << f;
        for (int c : {2, 4, 5}) EXPECT_FALSE(ex.t({"eclass", std::to_string(c), "name"}).empty());
    }
}

// The three languages have exactly the same keys, so nothing is explained in one language only.
TEST(ExplainCodes, EveryLanguageHasTheSameKeys) {
    std::function<void(const toml::table&, const std::string&, std::set<std::string>&)> keys =
        [&](const toml::table& t, const std::string& prefix, std::set<std::string>& out) {
            for (auto&& [k, v] : t) {
                auto path = prefix + std::string(k.str());
                if (auto* sub = v.as_table())
                    keys(*sub, path + ".", out);
                else
                    out.insert(path);
            }
        };
    std::set<std::string> en, other;
    keys(Knowledge::get().texts(Lang::en), "", en);
    for (Lang l : {Lang::vi, Lang::zh}) {
        other.clear();
        keys(Knowledge::get().texts(l), "", other);
        EXPECT_EQ(other, en) << lang_name(l);
    }
}

// Vietnamese and Chinese are written for their readers, not left in English.
TEST(ExplainCodes, TranslationsAreWrittenInTheirLanguage) {
    const auto& kb = Knowledge::get();
    auto check = [&](std::initializer_list<std::string_view> path) {
        auto en = kb.text(Lang::en, path);
        auto vi = kb.text(Lang::vi, path);
        auto zh = kb.text(Lang::zh, path);
        std::string where;
        for (auto p : path) where += std::string(p) + ".";
        EXPECT_NE(vi, en) << where;
        EXPECT_NE(zh, en) << where;
        EXPECT_TRUE(has_vietnamese(vi)) << where << " vi: " << vi;
        EXPECT_TRUE(has_cjk(zh)) << where << " zh: " << zh;
    };
    for (const auto& b : kb.basic_codes())
        for (auto f : {"summary", "meaning", "when", "user", "admin"}) check({"basic", std::to_string(b.code), f});
    for (const auto& e : kb.enhanced_codes())
        for (auto f : {"meaning", "user", "admin"}) check({"enhanced", e.key, f});
    for (const auto& n : kb.postern_names()) check({"postern", n, "cause"});
    for (auto k : {"site_title", "site_intro", "how_to_read", "meaning", "fix_user", "fix_admin", "differences"})
        check({"ui", k});
}

// ---------------------------------------------------------------------------------------------
// Parsing what people type.

TEST(ExplainParse, WellFormedCodes) {
    EXPECT_EQ(parse_basic("535"), 535);
    EXPECT_EQ(parse_basic("220"), 220);
    EXPECT_FALSE(parse_basic("600"));
    EXPECT_FALSE(parse_basic("135"));
    EXPECT_FALSE(parse_basic("5355"));
    EXPECT_FALSE(parse_basic("53"));
    EXPECT_FALSE(parse_basic("5x5"));
    auto e = parse_enhanced("5.7.8");
    ASSERT_TRUE(e);
    EXPECT_EQ(*e, (EnhancedCode{5, 7, 8}));
    EXPECT_EQ(e->str(), "5.7.8");
    EXPECT_EQ(e->key(), "X.7.8");
    EXPECT_EQ(parse_enhanced("4.7.28")->detail, 28);
    EXPECT_FALSE(parse_enhanced("3.1.1"));   // class 3 does not exist
    EXPECT_FALSE(parse_enhanced("5.07.8"));  // no leading zeros (RFC 3463 §2)
    EXPECT_FALSE(parse_enhanced("5.7"));
    EXPECT_FALSE(parse_enhanced("5.7.8.1"));
    EXPECT_FALSE(parse_enhanced("5.7.1000"));
    EXPECT_FALSE(parse_enhanced("55.7.8"));
}

std::vector<ReplyCode> parse(std::vector<std::string> words, Lang l = Lang::en) { return parse_reply_codes(words, l); }

TEST(ExplainParse, OneReplyTwoRepliesAndEnhancedCodes) {
    auto r = parse({"535"});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].basic, 535);
    EXPECT_FALSE(r[0].enhanced);
    r = parse({"535", "5.7.8"});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].str(), "535 5.7.8");
    r = parse({"421", "535"});
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[1].basic, 535);
    r = parse({"421", "4.7.0", "535", "5.7.8"});
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0].str(), "421 4.7.0");
    EXPECT_EQ(r[1].str(), "535 5.7.8");
    r = parse({"5.7.8"});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].basic, 0);
    EXPECT_EQ(r[0].str(), "5.7.8");
}

TEST(ExplainParse, BadInputIsRefusedWithAClearMessage) {
    auto message = [](std::vector<std::string> words, Lang l = Lang::en) {
        try {
            parse(words, l);
        } catch (const CodeError& e) {
            return std::string(e.what());
        }
        return std::string("(accepted)");
    };
    EXPECT_NE(message({"abc"}).find("is not a reply code"), std::string::npos);
    EXPECT_NE(message({"599"}).find("599 is not a reply code defined"), std::string::npos);
    EXPECT_NE(message({"5.9.1"}).find("not an enhanced status code"), std::string::npos);
    EXPECT_NE(message({"5.7.99"}).find("not an enhanced status code"), std::string::npos);
    EXPECT_NE(message({"3.1.1"}).find("class 2, 4 or 5"), std::string::npos);
    EXPECT_NE(message({"535", "4.7.8"}).find("do not go together"), std::string::npos);
    EXPECT_NE(message({"250", "5.0.0"}).find("a 2xx reply carries an enhanced code of class 2"), std::string::npos);
    EXPECT_NE(message({"354", "2.0.0"}).find("intermediate"), std::string::npos);
    EXPECT_NE(message({"421", "535", "550"}).find("two to compare"), std::string::npos);
    EXPECT_NE(message({}).find("one reply"), std::string::npos);
    EXPECT_NE(message({"5.7.8", "535"}).find("to compare"), std::string::npos);
    EXPECT_NE(message({"535", "5.7.8", "5.7.8"}).find("to compare"), std::string::npos);
    // In the chosen language.
    EXPECT_NE(message({"535", "4.7.8"}, Lang::vi).find("không đi cùng nhau"), std::string::npos);
    EXPECT_NE(message({"535", "4.7.8"}, Lang::zh).find("不能搭配"), std::string::npos);
}

TEST(ExplainLang, FromTheEnvironmentInPosixOrder) {
    EXPECT_EQ(lang_from_env(nullptr, nullptr, nullptr), Lang::en);
    EXPECT_EQ(lang_from_env(nullptr, nullptr, "vi_VN.UTF-8"), Lang::vi);
    EXPECT_EQ(lang_from_env(nullptr, nullptr, "zh_CN.UTF-8"), Lang::zh);
    EXPECT_EQ(lang_from_env(nullptr, "zh_TW", "vi_VN"), Lang::zh);    // LC_MESSAGES before LANG
    EXPECT_EQ(lang_from_env("C.UTF-8", "zh_CN", "vi_VN"), Lang::en);  // LC_ALL wins
    EXPECT_EQ(lang_from_env("", "", "vi"), Lang::vi);                 // empty means unset
    EXPECT_EQ(lang_from_env(nullptr, nullptr, "fr_FR.UTF-8"), Lang::en);
    EXPECT_EQ(parse_lang("VI"), Lang::vi);
    EXPECT_FALSE(parse_lang("fr"));
}

// ---------------------------------------------------------------------------------------------
// Explanations and comparisons.

TEST(ExplainText, ExplanationHasEverySection) {
    Explainer ex(Lang::en);
    auto text = ex.text(ReplyCode{535, EnhancedCode{5, 7, 8}}, 80);
    for (auto s : {"535 5.7.8  Authentication credentials invalid", "Class 5xx, permanent negative completion",
                   "What it means", "When you see it", "What to do as a user", "What to do as an administrator",
                   "Enhanced status code 5.7.8", "Subject 7, security or policy", "When Postern sends it",
                   "[auth_failed]", "[auth] failure_delay", "Defined in: RFC 4954"})
        EXPECT_NE(text.find(s), std::string::npos) << s << "\n" << text;
    for (const auto& line : wrap(text, 80)) EXPECT_LE(display_width(line), 80u);
}

TEST(ExplainText, CodeThatPosternNeverSendsSaysSo) {
    Explainer ex(Lang::en);
    auto text = ex.text(ReplyCode{551, std::nullopt}, 100);
    EXPECT_NE(text.find("Postern does not send this reply."), std::string::npos);
}

TEST(ExplainCompare, TransientAgainstPermanent) {
    Explainer ex(Lang::en);
    auto c = ex.compare(ReplyCode{421, std::nullopt}, ReplyCode{535, std::nullopt});
    ASSERT_GE(c.differences.size(), 3u);
    EXPECT_NE(c.differences[0].find("421 is 4xx (transient negative completion)"), std::string::npos);
    EXPECT_NE(c.differences[0].find("535 is 5xx (permanent negative completion)"), std::string::npos);
    bool closes = false;
    for (const auto& d : c.differences)
        closes |= d.find("After 421 the server closes the connection") != std::string::npos;
    EXPECT_TRUE(closes);
    bool first = false;
    for (const auto& a : c.act) first |= a.find("Act on 535 first") != std::string::npos;
    EXPECT_TRUE(first);
    EXPECT_FALSE(c.note.empty());  // a hand-written note for this pair
    auto text = ex.compare_text(ReplyCode{421, std::nullopt}, ReplyCode{535, std::nullopt}, 100);
    for (auto s : {"421 or 535: what is the difference?", "Key differences", "When to act on which", "│"})
        EXPECT_NE(text.find(s), std::string::npos) << s;
    for (std::istringstream in(text); !in.eof();) {
        std::string line;
        std::getline(in, line);
        EXPECT_LE(display_width(line), 100u) << line;
    }
}

TEST(ExplainCompare, EveryPairInEveryLanguageHasItsPieces) {
    const auto& codes = Knowledge::get().basic_codes();
    for (Lang l : all_langs) {
        Explainer ex(l);
        for (size_t i = 0; i < codes.size(); ++i)
            for (size_t j = i + 1; j < codes.size(); ++j) {
                auto c = ex.compare(ReplyCode{codes[i].code, std::nullopt}, ReplyCode{codes[j].code, std::nullopt});
                ASSERT_GE(c.differences.size(), 3u);
                ASSERT_GE(c.act.size(), 2u);
                for (const auto& d : c.differences) EXPECT_EQ(d.find('{'), std::string::npos) << d;
            }
    }
}

TEST(ExplainJson, EscapedAndComplete) {
    EXPECT_EQ(json_string("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
    Explainer ex(Lang::zh);
    auto j = ex.json(ReplyCode{535, EnhancedCode{5, 7, 8}});
    for (auto s :
         {"\"lang\":\"zh\"", "\"reply\":\"535 5.7.8\"", "\"fix_user\":", "\"postern\":[{\"name\":\"auth_failed\""})
        EXPECT_NE(j.find(s), std::string::npos) << s;
}

// ---------------------------------------------------------------------------------------------
// Text helpers.

TEST(ExplainWrap, WrapsLatinAtSpacesAndChineseBetweenCharacters) {
    auto lines = wrap("one two three four five six", 10);
    EXPECT_EQ(lines, (std::vector<std::string>{"one two", "three four", "five six"}));
    EXPECT_EQ(display_width("中文"), 4u);
    EXPECT_EQ(display_width("Tiếng Việt"), 10u);
    lines = wrap("服务器拒绝了登录凭据，请检查密码。", 10);
    for (const auto& l : lines) EXPECT_LE(display_width(l), 10u) << l;
    for (const auto& l : lines) EXPECT_FALSE(l.starts_with("，") || l.starts_with("。")) << l;
    EXPECT_EQ(fill("{a} or {b} {c}", {{"a", "1"}, {"b", "2"}}), "1 or 2 {c}");
    EXPECT_EQ(html_escape("<a href=\"x\">&</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
}

// ---------------------------------------------------------------------------------------------
// Probe verdicts.

TEST(ExplainVerdict, PlainWordsForEachOutcome) {
    Explainer en(Lang::en);
    ProbeOutcome o;
    o.target = "mail.example.org:587";
    o.passed = {ProbeStep::connect, ProbeStep::greeting, ProbeStep::ehlo, ProbeStep::starttls,
                ProbeStep::tls,     ProbeStep::auth,     ProbeStep::quit};
    EXPECT_EQ(verdict(en, o), "everything worked: greeting, EHLO, STARTTLS, TLS handshake, login (AUTH).");

    o.failure = ProbeOutcome::Failure::reply;
    o.failed_step = ProbeStep::auth;
    o.code = 535;
    o.enhanced = "5.7.8";
    auto v = verdict(en, o);
    EXPECT_NE(v.find("the server refused the credentials"), std::string::npos) << v;
    EXPECT_NE(v.find("check the user name, the password or app password, and the mechanism"), std::string::npos);
    EXPECT_NE(verdict(Explainer(Lang::zh), o).find("拒绝了登录凭据"), std::string::npos);
    EXPECT_NE(verdict(Explainer(Lang::vi), o).find("từ chối thông tin đăng nhập"), std::string::npos);

    o.failed_step = ProbeStep::mail;
    o.code = 530;
    o.enhanced = "5.7.0";
    o.tls_active = true;
    EXPECT_NE(verdict(en, o).find("wants a login before it takes mail"), std::string::npos);
    o.tls_active = false;  // a 530 before STARTTLS: Postfix's "Must issue a STARTTLS command first"
    EXPECT_NE(verdict(en, o).find("wants an encrypted connection before it takes mail"), std::string::npos);

    o.failed_step = ProbeStep::rcpt;
    o.code = 554;
    o.enhanced = "5.7.1";
    o.to = "x@elsewhere.example";
    EXPECT_NE(verdict(en, o).find("does not relay mail to <x@elsewhere.example>"), std::string::npos);

    o.code = 550;
    o.enhanced = "5.1.1";
    EXPECT_NE(verdict(en, o).find("no mailbox <x@elsewhere.example>"), std::string::npos);

    o.code = 421;
    o.enhanced = "4.7.0";
    EXPECT_NE(verdict(en, o).find("the server ended the session (421 4.7.0)"), std::string::npos);

    o.failed_step = ProbeStep::auth;
    o.code = 454;
    o.enhanced = "4.7.0";
    EXPECT_NE(verdict(en, o).find("could not check the credentials right now"), std::string::npos);

    o.failure = ProbeOutcome::Failure::connect;
    o.error = "Connection refused";
    EXPECT_EQ(verdict(en, o).find("could not connect to mail.example.org:587: Connection refused"), 0u);

    o.failure = ProbeOutcome::Failure::auth_missing;
    o.tls_active = false;
    EXPECT_NE(verdict(en, o).find("add --starttls"), std::string::npos);

    // A code outside the knowledge base still gets a sentence, never an error.
    o.failure = ProbeOutcome::Failure::reply;
    o.failed_step = ProbeStep::data;
    o.code = 599;
    o.enhanced = "";
    EXPECT_NE(verdict(en, o).find("the message was refused (599)"), std::string::npos);
    EXPECT_NE(en.short_explanation(599, "").find("outside the standard list"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// The static site.

TEST(ExplainHtml, WritesEveryPageInEveryLanguage) {
    auto dir = std::filesystem::temp_directory_path() / ("postern-explain-site-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    auto pages = write_site(dir);
    const auto& kb = Knowledge::get();
    size_t n = kb.basic_codes().size();
    EXPECT_EQ(pages, 1 + 3 * (2 + n + kb.enhanced_codes().size() + n * (n - 1) / 2));
    EXPECT_TRUE(std::filesystem::exists(dir / "style.css"));
    for (Lang l : all_langs) {
        auto ldir = dir / std::string(lang_code(l));
        for (auto p : {"index.html", "535.html", "X.7.8.html", "compare/index.html", "compare/421-535.html"})
            EXPECT_TRUE(std::filesystem::exists(ldir / p)) << p;
        std::ifstream in(ldir / "535.html");
        std::string page((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        EXPECT_NE(page.find("<html lang=\"" + std::string(html_lang(l)) + "\">"), std::string::npos);
        EXPECT_NE(page.find("name=\"viewport\""), std::string::npos);
        EXPECT_NE(page.find("hreflang=\"vi\" href=\"../vi/535.html\""), std::string::npos);
        EXPECT_NE(page.find("hreflang=\"zh-Hans\" href=\"../zh/535.html\""), std::string::npos);
        EXPECT_NE(page.find("id=\"auth_failed\""), std::string::npos);
    }
    std::filesystem::remove_all(dir);
}

TEST(ExplainData, BrokenDataIsReported) {
    EXPECT_THROW(Knowledge("[basic.535", {std::vector<std::string_view>{}, {}, {}}), std::runtime_error);
    EXPECT_THROW(Knowledge("", {std::vector<std::string_view>{"[a]\nx=1", "[a]\ny=2"}, {}, {}}), std::runtime_error);
}

}  // namespace
}  // namespace postern::explain
