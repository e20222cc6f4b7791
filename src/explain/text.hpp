// Small text helpers for the explain layer: placeholders, terminal wrapping that knows CJK is two columns
// wide, JSON and HTML escaping. No locale, no I/O.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postern::explain {

using Args = std::vector<std::pair<std::string_view, std::string>>;

// Replaces each "{name}" of `tmpl` with the value of `name` in `args`; unknown names are left as they are.
std::string fill(std::string_view tmpl, const Args& args);

// Columns a UTF-8 string takes on a terminal: 2 for East Asian wide characters, 0 for combining marks.
size_t display_width(std::string_view text);

// Wraps `text` to `width` columns: breaks at spaces, and between two wide (CJK) characters except before
// closing punctuation. Each line starts with `indent` (counted in the width). A word longer than a line stays whole.
std::vector<std::string> wrap(std::string_view text, size_t width, std::string_view indent = "");

// `text` wrapped and joined with newlines, ending with one.
std::string wrap_block(std::string_view text, size_t width, std::string_view indent = "");

// Pads with spaces to `width` display columns.
std::string pad(std::string_view text, size_t width);

std::string json_string(std::string_view text);  // with the quotes
std::string html_escape(std::string_view text);

}  // namespace postern::explain
