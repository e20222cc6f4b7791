"""`postern explain`: explanations and comparisons of reply codes in English, Vietnamese and Chinese, JSON for tools,
exit status 2 for codes that are ill-formed, unknown or inconsistent, and the static reference site
(`explain --html DIR`): well-formed HTML whose every link resolves, rendered in headless Chromium."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import CLI_TIMEOUT

BASIC_CODES = [211, 214, 220, 221, 235, 250, 251, 252, 334, 354, 421, 432, 450, 451, 452, 454, 455, 500, 501, 502,
               503, 504, 521, 530, 534, 535, 538, 550, 551, 552, 553, 554, 555, 556]
LANG_VARS = ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")


def explain(binary: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in LANG_VARS}
    base.update(env or {})
    return subprocess.run([str(binary), "explain", *args], capture_output=True, text=True, timeout=CLI_TIMEOUT,
                          env=base, stdin=subprocess.DEVNULL)


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


# ---------------------------------------------------------------------------------------------
# Explanations

def test_explain_a_basic_code(postern_path):
    out = ok(explain(postern_path, "535"))
    assert out.startswith("535  Authentication credentials invalid\n")
    for heading in ("Class 5xx, permanent negative completion", "What it means", "When you see it",
                    "What to do as a user", "What to do as an administrator", "When Postern sends it",
                    "535 5.7.8 Authentication credentials invalid [auth_failed]", "[auth] failure_delay",
                    "Defined in: RFC 4954"):
        assert heading in out, heading


def test_explain_a_reply_with_its_enhanced_code(postern_path):
    out = ok(explain(postern_path, "421", "4.7.0"))
    assert out.startswith("421 4.7.0  Service not available, closing connection\n")
    assert "Enhanced status code 4.7.0: Other or undefined security status" in out
    assert "Class 4, persistent transient failure" in out and "Subject 7, security or policy" in out
    # Only Postern's 421 4.7.0 replies, each with its cause and setting.
    assert "[too_many_connections]" in out and "[limits] max_connections" in out
    assert "[ip_banned]" in out and "postern ban remove" in out
    assert "[maintenance]" not in out  # that one is 421 4.3.2
    out = ok(explain(postern_path, "5.7.8"))
    assert out.startswith("5.7.8  Authentication credentials invalid\n")


@pytest.mark.parametrize("lang,title,headings", [
    ("vi", "535 5.7.8  Thông tin xác thực không hợp lệ", ["Ý nghĩa", "Khi nào gặp", "Người dùng nên làm gì",
                                                   "Người quản trị nên làm gì", "Khi nào Postern gửi mã này"]),
    ("zh", "535 5.7.8  身份验证凭据无效", ["含义", "何时出现", "用户该怎么做", "管理员该怎么做", "Postern 何时发送"]),
])
def test_explain_in_vietnamese_and_chinese(postern_path, lang, title, headings):
    out = ok(explain(postern_path, "535", "5.7.8", "--lang", lang))
    assert out.startswith(title + "\n"), out[:200]
    for h in headings:
        assert h in out, h


def test_language_from_the_locale(postern_path):
    assert "Ý nghĩa" in ok(explain(postern_path, "250", env={"LANG": "vi_VN.UTF-8"}))
    assert "含义" in ok(explain(postern_path, "250", env={"LC_MESSAGES": "zh_CN.UTF-8", "LANG": "vi_VN.UTF-8"}))
    assert "含义" in ok(explain(postern_path, "250", env={"LC_ALL": "zh_TW.UTF-8", "LANG": "vi_VN.UTF-8"}))
    assert "What it means" in ok(explain(postern_path, "250", env={"LC_ALL": "C.UTF-8", "LANG": "vi_VN.UTF-8"}))
    assert "What it means" in ok(explain(postern_path, "250", env={"LANG": "fr_FR.UTF-8"}))
    # --lang wins over the locale.
    assert "What it means" in ok(explain(postern_path, "250", "--lang", "en", env={"LANG": "zh_CN.UTF-8"}))


def test_compare_side_by_side(postern_path):
    out = ok(explain(postern_path, "421", "535"))
    assert out.startswith("421 or 535: what is the difference?\n")
    assert "│ 421" in out and "│ 535" in out
    assert "transient negative completion" in out and "permanent negative completion" in out
    assert "Key differences" in out and "When to act on which" in out
    assert "After 421 the server closes the connection; after 535 the session goes on." in " ".join(out.split())
    assert "Act on 535 first" in out
    out = ok(explain(postern_path, "421", "4.7.0", "535", "5.7.8", "--lang", "zh"))
    assert out.startswith("421 4.7.0 还是 535 5.7.8：有什么区别？\n")
    assert "主要区别" in out and "先处理哪一个" in out


def test_json_for_tools(postern_path):
    doc = json.loads(ok(explain(postern_path, "535", "5.7.8", "--json")))
    assert doc["lang"] == "en" and doc["reply"] == "535 5.7.8"
    assert doc["basic"]["class"]["digit"] == 5 and doc["basic"]["name"] == "Authentication credentials invalid"
    assert doc["basic"]["closes_connection"] is False and doc["basic"]["seen"] == ["AUTH"]
    assert doc["enhanced"]["code"] == "5.7.8" and doc["enhanced"]["subject"]["digit"] == 7
    assert [p["name"] for p in doc["postern"]] == ["auth_failed"]
    assert "auth.failure_delay" in doc["postern"][0]["config"]
    doc = json.loads(ok(explain(postern_path, "421", "535", "--json", "--lang", "vi")))
    assert doc["lang"] == "vi" and [c["reply"] for c in doc["compare"]] == ["421", "535"]
    assert len(doc["differences"]) >= 3 and len(doc["act"]) >= 2 and doc["note"]


@pytest.mark.parametrize("lang", ["en", "vi", "zh"])
def test_every_code_in_every_language(postern_path, lang):
    for code in BASIC_CODES:
        doc = json.loads(ok(explain(postern_path, str(code), "--json", "--lang", lang)))
        for field in ("name", "summary", "meaning", "when", "fix_user", "fix_admin"):
            assert doc["basic"][field], (code, field)


@pytest.mark.parametrize("args,message", [
    (["599"], "599 is not a reply code defined by RFC 5321, 3207, 4954 or 7504."),
    (["abc"], "“abc” is not a reply code"),
    (["5355"], "“5355” is not a reply code"),
    (["5.7.99"], "5.7.99 is not an enhanced status code"),
    (["5.07.8"], "is not an enhanced status code: it has the form class.subject.detail"),
    (["535", "4.7.8"], "535 and 4.7.8 do not go together: a 5xx reply carries an enhanced code of class 5"),
    (["250", "5.1.1"], "250 and 5.1.1 do not go together"),
    (["354", "2.0.0"], "354 is an intermediate reply (3xx), which never carries an enhanced code"),
    ([], "give one reply to explain, or two to compare"),
    (["421", "535", "550"], "give one reply to explain, or two to compare"),
    (["5.7.8", "535"], "to compare, give two basic codes"),
    (["535", "--lang", "fr"], "unknown language “fr”: use en, vi or zh."),
])
def test_bad_codes_exit_2_with_a_clear_message(postern_path, args, message):
    proc = explain(postern_path, *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith("postern: ") and message in proc.stderr, proc.stderr


def test_bad_code_message_in_the_chosen_language(postern_path):
    proc = explain(postern_path, "535", "4.7.8", "--lang", "zh")
    assert proc.returncode == 2 and "535 和 4.7.8 不能搭配" in proc.stderr
    proc = explain(postern_path, "599", env={"LANG": "vi_VN.UTF-8"})
    assert proc.returncode == 2 and "599 không phải là mã phản hồi" in proc.stderr


# ---------------------------------------------------------------------------------------------
# The static site

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    """Collects what the checks need and every well-formedness error: unclosed or misnested elements, end tags of
    void elements, duplicate ids."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.doctype = None
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.alternates: dict[str, str] = {}
        self.lang = None
        self.meta: dict[str, str] = {}
        self.charset = False
        self.headings: dict[str, list[str]] = {"h1": [], "h2": []}
        self._heading: str | None = None
        self._text: list[str] = []
        self.lang_links: dict[str, str] = {}
        self._in_langs = False

    def handle_decl(self, decl):
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            if a["id"] in self.ids:
                self.errors.append(f"duplicate id {a['id']}")
            self.ids.add(a["id"])
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "meta":
            if "charset" in a:
                self.charset = a["charset"].lower() == "utf-8"
            if "name" in a:
                self.meta[a["name"]] = a.get("content", "")
        if tag == "link" and a.get("rel") == "alternate":
            self.alternates[a["hreflang"]] = a["href"]
        if tag in ("a", "link") and "href" in a:
            self.hrefs.append(a["href"])
        if tag == "nav" and a.get("class") == "langs":
            self._in_langs = True
        if tag == "a" and self._in_langs:
            self.lang_links[a.get("hreflang")] = a["href"]
        if tag in self.headings:
            self._heading = tag
            self._text = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.errors.append(f"self-closed <{tag}/>")
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            self.errors.append(f"end tag of void element </{tag}>")
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else 'nothing'}>")
            return
        self.stack.pop()
        if tag == "nav":
            self._in_langs = False
        if tag == self._heading:
            self.headings[tag].append(" ".join("".join(self._text).split()))
            self._heading = None

    def handle_data(self, data):
        if self._heading:
            self._text.append(data)

    def finish(self) -> "Page":
        self.close()
        if self.stack:
            self.errors.append(f"unclosed elements {self.stack}")
        return self


def parse_page(text: str) -> Page:
    p = Page()
    p.feed(text)
    return p.finish()


@pytest.fixture(scope="module")
def site(postern_path, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("site")
    proc = subprocess.run([str(postern_path), "explain", "--html", str(root), "--lang", "en"], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Wrote ") and str(root / "index.html") in proc.stdout
    return root


def test_site_has_every_page_in_every_language(site):
    n = len(BASIC_CODES)
    for lang in ("en", "vi", "zh"):
        d = site / lang
        assert (d / "index.html").is_file() and (d / "compare" / "index.html").is_file()
        for code in BASIC_CODES:
            assert (d / f"{code}.html").is_file(), code
        assert len(list(d.glob("X.*.html"))) == 81
        assert len(list((d / "compare").glob("*-*.html"))) == n * (n - 1) // 2
    assert (site / "style.css").is_file() and (site / "index.html").is_file()


def test_site_is_well_formed_and_every_link_resolves(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 2000
    ids_cache: dict[Path, set[str]] = {}

    def ids_of(path: Path) -> set[str]:
        if path not in ids_cache:
            ids_cache[path] = parse_page(path.read_text(encoding="utf-8")).ids
        return ids_cache[path]

    expected_lang = {"en": "en", "vi": "vi", "zh": "zh-Hans"}
    for page in pages:
        rel = page.relative_to(site)
        p = parse_page(page.read_text(encoding="utf-8"))
        ids_cache[page] = p.ids
        assert not p.errors, f"{rel}: {p.errors[:5]}"
        assert p.doctype and p.doctype.lower() == "doctype html", rel
        assert p.charset, rel
        assert p.meta.get("viewport") == "width=device-width, initial-scale=1", rel
        assert len(p.headings["h1"]) >= 1, rel
        if rel.parts[0] in expected_lang:
            assert p.lang == expected_lang[rel.parts[0]], rel
            assert set(p.alternates) == {"en", "vi", "zh-Hans", "x-default"}, rel
            # The language links lead to the same page in each language.
            for hreflang, href in p.lang_links.items():
                target = (page.parent / href).resolve()
                assert target.relative_to(site).parts[1:] == rel.parts[1:], (rel, href)
            assert set(p.lang_links) == {"en", "vi", "zh-Hans"}, rel
        for href in p.hrefs:
            assert "://" not in href and not href.startswith("/"), (rel, href)  # self-contained: relative links only
            path, _, frag = href.partition("#")
            target = (page.parent / path).resolve() if path else page
            assert target.is_file(), f"{rel}: broken link {href}"
            if frag and target.suffix == ".html":
                assert frag in ids_of(target), f"{rel}: {href} has no id {frag}"


def test_site_explains_every_reply_postern_sends(site):
    index = parse_page((site / "en" / "index.html").read_text(encoding="utf-8"))
    assert "Every reply Postern sends" in index.headings["h2"]
    # Each registry entry has a card (id = its name) on its code's page, in every language.
    text = (site / "en" / "index.html").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("<tr><td>") and "#" in line]
    assert len(rows) >= 60
    for lang in ("vi", "zh"):
        page = (site / lang / "535.html").read_text(encoding="utf-8")
        assert 'id="auth_failed"' in page


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def dump_dom(url: str) -> str:
    assert CHROMIUM, "chromium is not installed (scripts/setup installs it)"
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                               "--disable-component-update", "--disable-sync", "--no-first-run",
                               "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--dump-dom", url],
                              capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.parametrize("rel,lang,h1,h2s", [
    ("en/index.html", "en", "SMTP replies, explained", ["How to read a reply", "Reply codes", "Enhanced status codes",
                                                       "Every reply Postern sends"]),
    ("vi/535.html", "vi", "535 Thông tin xác thực không hợp lệ", ["Ý nghĩa", "Khi nào gặp", "Người dùng nên làm gì",
                                                                  "Người quản trị nên làm gì", "Khi nào Postern gửi mã này"]),
    ("zh/compare/421-535.html", "zh-Hans", "421 还是 535：有什么区别？", ["主要区别", "先处理哪一个"]),
    ("en/X.7.8.html", "en", "X.7.8 Authentication credentials invalid", ["When you see it", "When Postern sends it"]),
])
def test_pages_render_in_chromium(site, rel, lang, h1, h2s):
    page = site / rel
    source = parse_page(page.read_text(encoding="utf-8"))
    dom = parse_page(dump_dom(page.as_uri()))
    assert dom.lang == lang
    assert dom.headings["h1"] == [h1]
    for h in h2s:
        assert h in dom.headings["h2"], (h, dom.headings["h2"])
    # Chromium built the same tree the generator wrote: same links, same language links, nothing moved.
    assert dom.hrefs == source.hrefs
    assert set(dom.lang_links) == {"en", "vi", "zh-Hans"}
    assert dom.headings == source.headings
