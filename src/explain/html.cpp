#include "explain/html.hpp"

#include <algorithm>
#include <fstream>
#include <stdexcept>

#include "explain/explainer.hpp"
#include "explain/text.hpp"

namespace postern::explain {

namespace fs = std::filesystem;

std::string basic_page(int code) { return std::to_string(code) + ".html"; }
std::string enhanced_page(int subject, int detail) {
    return "X." + std::to_string(subject) + "." + std::to_string(detail) + ".html";
}
std::string pair_page(int a, int b) {
    return "compare/" + std::to_string(std::min(a, b)) + "-" + std::to_string(std::max(a, b)) + ".html";
}

std::string_view html_lang(Lang lang) {
    switch (lang) {
        case Lang::vi:
            return "vi";
        case Lang::zh:
            return "zh-Hans";
        default:
            return "en";
    }
}

namespace {

constexpr std::string_view kStyle =
    R"css(/* Postern: SMTP replies explained. One stylesheet for every page and language. */
:root { color-scheme: light dark; --fg: #1d1f21; --bg: #fdfdfc; --muted: #5b6168; --line: #d8dadd;
  --accent: #0b5cad; --c2: #1f7a3a; --c3: #6b5b00; --c4: #a35a00; --c5: #b3261e; --card: #f3f4f5; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6e6e3; --bg: #16181a; --muted: #a3a9b0; --line: #3a3f44; --accent: #7ab7ff;
    --c2: #6fd08c; --c3: #e2cf5a; --c4: #ffb35c; --c5: #ff8a80; --card: #202326; }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--fg); line-height: 1.6;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans CJK SC", "PingFang SC",
    "Microsoft YaHei", sans-serif; font-size: 1.0625rem; overflow-wrap: anywhere; }
header, main, footer { max-width: 56rem; margin: 0 auto; padding: 0 1rem; }
header { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; justify-content: space-between; align-items: center;
  padding-top: .75rem; padding-bottom: .75rem; border-bottom: 1px solid var(--line); }
nav a { margin-right: .9rem; white-space: nowrap; }
nav a[aria-current] { font-weight: 600; color: var(--fg); text-decoration: none; }
a { color: var(--accent); }
h1 { font-size: 1.6rem; line-height: 1.3; margin: 1.25rem 0 .5rem; }
h2 { font-size: 1.2rem; margin: 1.75rem 0 .4rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
h3 { font-size: 1.05rem; margin: 1.1rem 0 .3rem; }
p { margin: .4rem 0 .8rem; }
code, .code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .95em; }
.code { font-weight: 700; }
.class-2 .code, .code.class-2 { color: var(--c2); }
.class-3 .code, .code.class-3 { color: var(--c3); }
.class-4 .code, .code.class-4 { color: var(--c4); }
.class-5 .code, .code.class-5 { color: var(--c5); }
.lead { font-size: 1.1rem; color: var(--muted); }
.card { background: var(--card); border-radius: .5rem; padding: .6rem .9rem; margin: .6rem 0; }
.card h3 { margin-top: .2rem; }
ul.facts { list-style: none; padding: 0; }
ul.links { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .35rem .9rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { text-align: left; vertical-align: top; padding: .4rem .5rem; border-bottom: 1px solid var(--line); }
thead th { border-bottom: 2px solid var(--line); }
table.codes td:first-child { white-space: nowrap; }
table.sbs th[scope=row] { width: 11rem; color: var(--muted); font-weight: 600; }
table.sbs td { width: calc((100% - 11rem) / 2); }
footer { color: var(--muted); font-size: .9rem; margin-top: 2.5rem; padding-top: .75rem; padding-bottom: 2rem;
  border-top: 1px solid var(--line); }
@media (max-width: 40rem) {
  body { font-size: 1rem; }
  h1 { font-size: 1.35rem; }
  table.sbs, table.sbs thead, table.sbs tbody { display: block; }
  table.sbs tr { display: grid; grid-template-columns: 1fr 1fr; column-gap: .75rem; border-bottom: 1px solid var(--line); }
  table.sbs th, table.sbs td { width: auto; border: 0; padding: .3rem .2rem; }
  table.sbs th[scope=row], table.sbs thead th:first-child { grid-column: 1 / span 2; width: auto; padding-bottom: 0; }
  table.codes td:nth-child(3), table.codes th:nth-child(3) { display: none; }
}
)css";

void write_file(const fs::path& path, std::string_view content) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) throw std::runtime_error("cannot write " + path.string());
    f << content;
    if (!f.flush()) throw std::runtime_error("cannot write " + path.string());
}

std::string esc(std::string_view s) { return html_escape(s); }

class Site {
public:
    explicit Site(fs::path dir) : dir_(std::move(dir)), kb_(Knowledge::get()) {}

    size_t write() {
        fs::create_directories(dir_);
        write_file(dir_ / "style.css", kStyle);
        write_root();
        size_t pages = 1;
        for (Lang lang : all_langs) {
            Explainer ex(lang);
            auto ldir = dir_ / std::string(lang_code(lang));
            fs::create_directories(ldir / "compare");
            write_file(ldir / "index.html", index_page(ex));
            write_file(ldir / "compare" / "index.html", compare_index(ex));
            pages += 2;
            for (const auto& b : kb_.basic_codes()) {
                write_file(ldir / basic_page(b.code), code_page(ex, b.code));
                ++pages;
            }
            for (const auto& e : kb_.enhanced_codes()) {
                write_file(ldir / enhanced_page(e.subject, e.detail), enhanced_html(ex, e));
                ++pages;
            }
            const auto& codes = kb_.basic_codes();
            for (size_t i = 0; i < codes.size(); ++i)
                for (size_t j = i + 1; j < codes.size(); ++j) {
                    write_file(ldir / pair_page(codes[i].code, codes[j].code),
                               pair_html(ex, codes[i].code, codes[j].code));
                    ++pages;
                }
        }
        return pages;
    }

private:
    // `rel`: the page's path inside a language directory ("535.html", "compare/421-535.html").
    std::string head(const Explainer& ex, const std::string& rel, std::string_view title) const {
        std::string up = rel.find('/') != std::string::npos ? "../../" : "../";
        std::string here = up.substr(3);  // "" or "../": from the page to its language directory
        std::string h = "<!DOCTYPE html>\n<html lang=\"" + std::string(html_lang(ex.lang())) + "\">\n<head>\n";
        h += "<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
        h += "<title>" + esc(title) + " · " + esc(ex.ui("site_title")) + "</title>\n";
        h += "<link rel=\"stylesheet\" href=\"" + up + "style.css\">\n";
        for (Lang l : all_langs)
            h += "<link rel=\"alternate\" hreflang=\"" + std::string(html_lang(l)) + "\" href=\"" + up +
                 std::string(lang_code(l)) + "/" + rel + "\">\n";
        h += "<link rel=\"alternate\" hreflang=\"x-default\" href=\"" + up + "en/" + rel + "\">\n";
        h += "</head>\n<body>\n<header>\n";
        h += "<nav class=\"site\" aria-label=\"" + esc(ex.ui("site_title")) + "\"><a href=\"" + here + "index.html\">" +
             esc(ex.ui("all_codes")) + "</a><a href=\"" + here + "compare/index.html\">" +
             esc(ex.ui("all_comparisons")) + "</a></nav>\n";
        h += "<nav class=\"langs\" aria-label=\"" + esc(ex.ui("languages")) + "\">";
        for (Lang l : all_langs) {
            h += "<a href=\"" + up + std::string(lang_code(l)) + "/" + rel + "\" hreflang=\"" +
                 std::string(html_lang(l)) + "\" lang=\"" + std::string(html_lang(l)) + "\"";
            if (l == ex.lang()) h += " aria-current=\"page\"";
            h += ">" + esc(kb_.text(l, {"meta", "name"})) + "</a>";
        }
        h += "</nav>\n</header>\n<main>\n";
        return h;
    }

    std::string foot(const Explainer& ex) const {
        return "</main>\n<footer><p>" + esc(fill(ex.ui("footer"), {{"version", POSTERN_VERSION}})) +
               "</p></footer>\n</body>\n</html>\n";
    }

    static std::string code_span(int code) {
        return "<span class=\"code class-" + std::to_string(code / 100) + "\">" + std::to_string(code) + "</span>";
    }

    std::string basic_link(const Explainer& ex, int code, const std::string& here) const {
        if (!kb_.basic(code)) return "<span class=\"code\">" + std::to_string(code) + "</span>";
        return "<a href=\"" + here + basic_page(code) + "\" title=\"" + esc(ex.basic_field(code, "name")) + "\">" +
               code_span(code) + "</a>";
    }

    std::string postern_cards(const Explainer& ex, const std::vector<PosternUse>& uses, const std::string& here) const {
        std::string h;
        for (const auto& u : uses) {
            auto enh = u.entry->enhanced.empty() ? std::nullopt : parse_enhanced(u.entry->enhanced);
            h += "<div class=\"card\" id=\"" + esc(u.entry->name) + "\">\n<h3>" + basic_link(ex, u.entry->code, here);
            if (enh)
                h += " <a href=\"" + here + enhanced_page(enh->subject, enh->detail) + "\"><code>" + esc(enh->str()) +
                     "</code></a>";
            h += " " + esc(registry_text(*u.entry)) + " <small><code>" + esc(u.entry->name) + "</code></small></h3>\n";
            h += "<p><strong>" + esc(ex.ui("cause")) + esc(ex.ui("colon")) + "</strong>" + esc(u.cause) + "</p>\n";
            if (!u.config.empty()) {
                h += "<p><strong>" + esc(ex.ui("config")) + esc(ex.ui("colon")) + "</strong>";
                for (size_t i = 0; i < u.config.size(); ++i)
                    h += (i ? ", " : "") + std::string("<code>") + esc(config_display(u.config[i])) + "</code>";
                h += "</p>\n";
            }
            h += "</div>\n";
        }
        return h;
    }

    void write_root() const {
        Explainer ex(Lang::en);
        std::string h =
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>";
        for (Lang l : all_langs) h += (l == Lang::en ? "" : " · ") + esc(kb_.text(l, {"ui", "site_title"}));
        h += "</title>\n<link rel=\"stylesheet\" href=\"style.css\">\n";
        for (Lang l : all_langs)
            h += "<link rel=\"alternate\" hreflang=\"" + std::string(html_lang(l)) + "\" href=\"" +
                 std::string(lang_code(l)) + "/index.html\">\n";
        h += "</head>\n<body>\n<main>\n";
        for (Lang l : all_langs) {
            auto tag = std::string(html_lang(l));
            h += "<section lang=\"" + tag + "\">\n<h1><a href=\"" + std::string(lang_code(l)) +
                 "/index.html\" hreflang=\"" + tag + "\">" + esc(kb_.text(l, {"ui", "site_title"})) + "</a></h1>\n<p>" +
                 esc(kb_.text(l, {"ui", "site_intro"})) + "</p>\n<p><a href=\"" + std::string(lang_code(l)) +
                 "/index.html\" hreflang=\"" + tag + "\">" + esc(kb_.text(l, {"meta", "name"})) +
                 " →</a></p>\n</section>\n";
        }
        h += "</main>\n<footer><p>" + esc(fill(ex.ui("footer"), {{"version", POSTERN_VERSION}})) +
             "</p></footer>\n</body>\n</html>\n";
        write_file(dir_ / "index.html", h);
    }

    std::string index_page(const Explainer& ex) const {
        std::string h = head(ex, "index.html", ex.ui("site_title"));
        h += "<h1>" + esc(ex.ui("site_title")) + "</h1>\n<p class=\"lead\">" + esc(ex.ui("site_intro")) + "</p>\n";
        h += "<h2 id=\"read\">" + esc(ex.ui("how_to_read_title")) + "</h2>\n<p>" + esc(ex.ui("how_to_read")) + "</p>\n";
        h += "<h2 id=\"codes\">" + esc(ex.ui("basic_codes")) + "</h2>\n";
        for (int cls : {2, 3, 4, 5}) {
            auto d = std::to_string(cls);
            h += "<h3 class=\"class-" + d + "\"><span class=\"code\">" + d + "xx</span> " +
                 esc(ex.t({"class", d, "name"})) + "</h3>\n<p>" + esc(ex.t({"class", d, "meaning"})) + "</p>\n";
            h += "<table class=\"codes\">\n<thead><tr><th>" + esc(ex.ui("code")) + "</th><th>" + esc(ex.ui("name")) +
                 "</th><th>" + esc(ex.ui("meaning")) + "</th></tr></thead>\n<tbody>\n";
            for (const auto& b : kb_.basic_codes()) {
                if (b.code / 100 != cls) continue;
                h += "<tr><td>" + basic_link(ex, b.code, "") + "</td><td><a href=\"" + basic_page(b.code) + "\">" +
                     esc(ex.basic_field(b.code, "name")) + "</a></td><td>" + esc(ex.basic_field(b.code, "summary")) +
                     "</td></tr>\n";
            }
            h += "</tbody>\n</table>\n";
        }
        h += "<h2 id=\"enhanced\">" + esc(ex.ui("enhanced_codes")) + "</h2>\n<p>";
        for (int c : {2, 4, 5}) h += esc(ex.eclass_line(c)) + "<br>\n";
        h += "</p>\n";
        for (int s = 0; s <= 7; ++s) {
            auto d = std::to_string(s);
            h += "<h3>X." + d + ".x " + esc(ex.t({"subject", d, "name"})) + "</h3>\n<p>" +
                 esc(ex.t({"subject", d, "meaning"})) + "</p>\n<ul>\n";
            for (const auto& e : kb_.enhanced_codes()) {
                if (e.subject != s) continue;
                h += "<li><a href=\"" + enhanced_page(e.subject, e.detail) + "\"><code>" + esc(e.key) + "</code> " +
                     esc(ex.enhanced_field(e.subject, e.detail, "name")) + "</a></li>\n";
            }
            h += "</ul>\n";
        }
        h += "<h2 id=\"postern\">" + esc(ex.ui("postern_replies")) + "</h2>\n";
        h += "<table class=\"codes\">\n<thead><tr><th>" + esc(ex.ui("code")) + "</th><th>" + esc(ex.ui("text")) +
             "</th><th>" + esc(ex.ui("cause")) + "</th></tr></thead>\n<tbody>\n";
        for (const auto& e : smtp::registry()) {
            auto enh = e.enhanced.empty() ? std::nullopt : parse_enhanced(e.enhanced);
            h += "<tr><td>" + basic_link(ex, e.code, "");
            if (enh)
                h += " <a href=\"" + enhanced_page(enh->subject, enh->detail) + "\"><code>" + esc(enh->str()) +
                     "</code></a>";
            h += "</td><td><a href=\"" + basic_page(e.code) + "#" + esc(e.name) + "\">" + esc(registry_text(e)) +
                 "</a></td><td>" + esc(ex.t({"postern", e.name, "cause"})) + "</td></tr>\n";
        }
        h += "</tbody>\n</table>\n";
        h += "<h2 id=\"compare\">" + esc(ex.ui("compare")) + "</h2>\n<p><a href=\"compare/index.html\">" +
             esc(ex.ui("all_comparisons")) + "</a></p>\n";
        h += foot(ex);
        return h;
    }

    std::string code_page(const Explainer& ex, int code) const {
        const auto* f = kb_.basic(code);
        auto name = ex.basic_field(code, "name");
        std::string h = head(ex, basic_page(code), std::to_string(code) + " " + std::string(name));
        h += "<h1 class=\"class-" + std::to_string(code / 100) + "\">" + code_span(code) + " " + esc(name) + "</h1>\n";
        h += "<p class=\"lead\">" + esc(ex.basic_field(code, "summary")) + "</p>\n";
        h += "<p>" + esc(ex.class_line(code)) + "</p>\n";
        for (auto [label, field] :
             {std::pair{"meaning", "meaning"}, {"when", "when"}, {"fix_user", "user"}, {"fix_admin", "admin"}})
            h += "<h2>" + esc(ex.ui(label)) + "</h2>\n<p>" + esc(ex.basic_field(code, field)) + "</p>\n";
        h += "<ul class=\"facts\">\n<li><strong>" + esc(ex.ui("seen")) + esc(ex.ui("colon")) + "</strong>" +
             esc(ex.seen_phrase(code)) + "</li>\n<li><strong>" + esc(ex.ui("connection")) + esc(ex.ui("colon")) +
             "</strong>" + esc(f->closes ? ex.ui("closes_yes") : ex.ui("closes_no")) + "</li>\n<li><strong>" +
             esc(ex.ui("actor")) + esc(ex.ui("colon")) + "</strong>" + esc(ex.actor_phrase(code)) + "</li>\n</ul>\n";
        h += "<h2 id=\"postern\">" + esc(ex.ui("postern")) + "</h2>\n";
        auto uses = ex.postern_uses(code, std::nullopt);
        h += uses.empty() ? "<p>" + esc(ex.ui("postern_none")) + "</p>\n" : postern_cards(ex, uses, "");
        h += "<h2>" + esc(ex.ui("reference")) + "</h2>\n<p>" + esc(f->rfc) + "</p>\n";
        h += "<h2 id=\"compare\">" + esc(ex.ui("compare_with")) + "</h2>\n<ul class=\"links\">\n";
        for (const auto& other : kb_.basic_codes()) {
            if (other.code == code) continue;
            h += "<li><a href=\"" + pair_page(code, other.code) + "\" title=\"" +
                 esc(fill(ex.ui("compare_title"), {{"a", std::to_string(code)}, {"b", std::to_string(other.code)}})) +
                 "\">" + code_span(other.code) + "</a></li>\n";
        }
        h += "</ul>\n" + foot(ex);
        return h;
    }

    std::string enhanced_html(const Explainer& ex, const EnhancedFacts& e) const {
        auto name = ex.enhanced_field(e.subject, e.detail, "name");
        std::string h = head(ex, enhanced_page(e.subject, e.detail), e.key + " " + std::string(name));
        h += "<h1><code>" + esc(e.key) + "</code> " + esc(name) + "</h1>\n";
        h += "<p class=\"lead\">" + esc(ex.enhanced_field(e.subject, e.detail, "meaning")) + "</p>\n";
        h += "<p>" + esc(ex.subject_line(e.subject)) + "</p>\n<ul>\n";
        for (int c : {2, 4, 5}) {
            EnhancedCode code{c, e.subject, e.detail};
            h += "<li>" + esc(fill(ex.ui("as_class"), {{"code", code.str()}})) + esc(ex.ui("colon")) +
                 esc(ex.eclass_line(c)) + "</li>\n";
        }
        h += "</ul>\n";
        for (auto [label, field] : {std::pair{"when", "when"}, {"fix_user", "user"}, {"fix_admin", "admin"}})
            h += "<h2>" + esc(ex.ui(label)) + "</h2>\n<p>" + esc(ex.enhanced_field(e.subject, e.detail, field)) +
                 "</p>\n";
        if (!e.basic.empty()) {
            h += "<p><strong>" + esc(ex.ui("usually_with")) + esc(ex.ui("colon")) + "</strong>";
            for (size_t i = 0; i < e.basic.size(); ++i) h += (i ? ", " : "") + basic_link(ex, e.basic[i], "");
            h += "</p>\n";
        }
        h += "<h2 id=\"postern\">" + esc(ex.ui("postern")) + "</h2>\n";
        auto uses = ex.postern_uses(e.subject, e.detail);
        h += uses.empty() ? "<p>" + esc(ex.ui("postern_enhanced_none")) + "</p>\n" : postern_cards(ex, uses, "");
        h += "<h2>" + esc(ex.ui("reference")) + "</h2>\n<p>" + esc(e.rfc) + "</p>\n";
        h += foot(ex);
        return h;
    }

    std::string compare_index(const Explainer& ex) const {
        std::string h = head(ex, "compare/index.html", ex.ui("all_comparisons"));
        h += "<h1>" + esc(ex.ui("all_comparisons")) + "</h1>\n<p class=\"lead\">" + esc(ex.ui("compare_intro")) +
             "</p>\n";
        h += "<table class=\"codes\">\n<tbody>\n";
        for (const auto& a : kb_.basic_codes()) {
            h += "<tr><th scope=\"row\">" + basic_link(ex, a.code, "../") + "</th><td><ul class=\"links\">";
            for (const auto& b : kb_.basic_codes()) {
                if (a.code == b.code) continue;
                h += "<li><a href=\"../" + pair_page(a.code, b.code) + "\">" + std::to_string(b.code) + "</a></li>";
            }
            h += "</ul></td></tr>\n";
        }
        h += "</tbody>\n</table>\n" + foot(ex);
        return h;
    }

    std::string pair_html(const Explainer& ex, int a, int b) const {
        ReplyCode ra{a, std::nullopt}, rb{b, std::nullopt};
        auto c = ex.compare(ra, rb);
        auto title = fill(ex.ui("compare_title"), {{"a", std::to_string(a)}, {"b", std::to_string(b)}});
        std::string h = head(ex, pair_page(a, b), title);
        h += "<h1>" + esc(title) + "</h1>\n<p class=\"lead\">" + esc(ex.ui("compare_intro")) + "</p>\n";
        h += "<table class=\"sbs\">\n<thead><tr><th></th><th scope=\"col\" class=\"class-" + std::to_string(a / 100) +
             "\">" + basic_link(ex, a, "../") + " " + esc(ex.basic_field(a, "name")) +
             "</th><th scope=\"col\" class=\"class-" + std::to_string(b / 100) + "\">" + basic_link(ex, b, "../") +
             " " + esc(ex.basic_field(b, "name")) + "</th></tr></thead>\n<tbody>\n";
        auto row = [&](std::string_view label, const std::string& x, const std::string& y) {
            h += "<tr><th scope=\"row\">" + esc(label) + "</th><td>" + x + "</td><td>" + y + "</td></tr>\n";
        };
        auto closes = [&](int code) { return esc(kb_.basic(code)->closes ? ex.ui("closes_yes") : ex.ui("closes_no")); };
        auto postern = [&](int code) {
            std::string s;
            for (const auto& u : ex.postern_uses(code, std::nullopt)) {
                s += (s.empty() ? "" : "<br>") + std::string("<a href=\"../") + basic_page(code) + "#" +
                     esc(u.entry->name) + "\">" + std::to_string(u.entry->code) +
                     (u.entry->enhanced.empty() ? "" : " ") + esc(u.entry->enhanced) + " " +
                     esc(registry_text(*u.entry)) + "</a>";
            }
            return s.empty() ? esc(ex.ui("postern_none")) : s;
        };
        row(ex.ui("class"), esc(ex.class_line(a)), esc(ex.class_line(b)));
        row(ex.ui("meaning"), esc(ex.basic_field(a, "meaning")), esc(ex.basic_field(b, "meaning")));
        row(ex.ui("seen"), esc(ex.seen_phrase(a)), esc(ex.seen_phrase(b)));
        row(ex.ui("when"), esc(ex.basic_field(a, "when")), esc(ex.basic_field(b, "when")));
        row(ex.ui("connection"), closes(a), closes(b));
        row(ex.ui("actor"), esc(ex.actor_phrase(a)), esc(ex.actor_phrase(b)));
        row(ex.ui("fix_user"), esc(ex.basic_field(a, "user")), esc(ex.basic_field(b, "user")));
        row(ex.ui("fix_admin"), esc(ex.basic_field(a, "admin")), esc(ex.basic_field(b, "admin")));
        row(ex.ui("postern"), postern(a), postern(b));
        h += "</tbody>\n</table>\n";
        h += "<h2>" + esc(ex.ui("differences")) + "</h2>\n<ul>\n";
        for (const auto& d : c.differences) h += "<li>" + esc(d) + "</li>\n";
        h += "</ul>\n<h2>" + esc(ex.ui("when_to_act")) + "</h2>\n<ul>\n";
        for (const auto& d : c.act) h += "<li>" + esc(d) + "</li>\n";
        h += "</ul>\n";
        if (!c.note.empty()) h += "<p class=\"card\">" + esc(c.note) + "</p>\n";
        h += foot(ex);
        return h;
    }

    fs::path dir_;
    const Knowledge& kb_;
};

}  // namespace

size_t write_site(const fs::path& dir) { return Site(dir).write(); }

}  // namespace postern::explain
