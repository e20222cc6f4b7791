// The static reference site of `postern explain --html DIR`: per language (en, vi, zh) an index, a page per
// basic code, a page per enhanced code (subject.detail) and a page per pair of basic codes, with links between
// the languages; one stylesheet; plain HTML that reads on a phone.
#pragma once

#include <filesystem>
#include <string>

#include "explain/knowledge.hpp"

namespace postern::explain {

// Writes the site into `dir` (created if needed; existing files of the same names are replaced).
// Returns the number of HTML pages written. Throws std::runtime_error when a file cannot be written.
size_t write_site(const std::filesystem::path& dir);

// Paths of the pages inside the site, relative to a language directory.
std::string basic_page(int code);                    // "535.html"
std::string enhanced_page(int subject, int detail);  // "X.7.8.html"
std::string pair_page(int a, int b);                 // "compare/421-535.html" (lower code first)

// The BCP 47 tag used in lang="" and hreflang="" ("en", "vi", "zh-Hans").
std::string_view html_lang(Lang lang);

}  // namespace postern::explain
