#include "explain/text.hpp"

#include <cstdint>

namespace postern::explain {

namespace {

// Decodes one UTF-8 sequence at `i` (advancing it); invalid bytes are returned one by one as themselves.
char32_t next_code_point(std::string_view s, size_t& i) {
    auto b = static_cast<unsigned char>(s[i]);
    int len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 1;
    if (i + len > s.size()) len = 1;
    char32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    i += len;
    return cp;
}

bool is_wide(char32_t c) {
    return (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0x303E) || (c >= 0x3041 && c <= 0x33FF) ||
           (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xA000 && c <= 0xA4CF) ||
           (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFE30 && c <= 0xFE4F) ||
           (c >= 0xFF00 && c <= 0xFF60) || (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x20000 && c <= 0x3FFFD);
}

bool is_combining(char32_t c) {
    return (c >= 0x0300 && c <= 0x036F) || (c >= 0x1AB0 && c <= 0x1AFF) || (c >= 0x1DC0 && c <= 0x1DFF) ||
           (c >= 0x20D0 && c <= 0x20FF) || (c >= 0xFE20 && c <= 0xFE2F);
}

size_t width_of(char32_t c) { return is_combining(c) ? 0 : is_wide(c) ? 2 : 1; }

// Punctuation that must not start a line (Chinese line-breaking rules, simplified).
bool no_break_before(char32_t c) {
    switch (c) {
        case U'，':
        case U'。':
        case U'、':
        case U'；':
        case U'：':
        case U'？':
        case U'！':
        case U'）':
        case U'」':
        case U'』':
        case U'》':
        case U'”':
        case U'’':
        case U'…':
        case U'·':
        case U',':
        case U'.':
        case U';':
        case U':':
        case U')':
        case U'?':
        case U'!':
            return true;
        default:
            return false;
    }
}

bool no_break_after(char32_t c) {
    return c == U'（' || c == U'「' || c == U'『' || c == U'《' || c == U'“' || c == U'‘' || c == U'(';
}

struct Piece {
    std::string text;  // without the space before it
    size_t width = 0;
    bool space_before = false;
};

// Splits into unbreakable pieces: words between spaces, and single wide characters.
std::vector<Piece> pieces(std::string_view text) {
    std::vector<Piece> out;
    bool pending_space = false;
    bool last_wide = false;
    char32_t last_cp = 0;
    size_t i = 0;
    while (i < text.size()) {
        size_t start = i;
        char32_t c = next_code_point(text, i);
        if (c == U' ' || c == U'\t' || c == U'\n') {
            pending_space = true;
            last_wide = false;
            continue;
        }
        bool wide = is_wide(c);
        bool new_piece =
            out.empty() || pending_space || ((wide || last_wide) && !no_break_before(c) && !no_break_after(last_cp));
        if (new_piece) {
            out.push_back(Piece{{}, 0, pending_space && !out.empty()});
            pending_space = false;
        }
        out.back().text.append(text.substr(start, i - start));
        out.back().width += width_of(c);
        last_wide = wide;
        last_cp = c;
    }
    return out;
}

}  // namespace

std::string fill(std::string_view tmpl, const Args& args) {
    std::string out;
    size_t i = 0;
    while (i < tmpl.size()) {
        if (tmpl[i] == '{') {
            auto close = tmpl.find('}', i + 1);
            if (close != std::string_view::npos) {
                auto name = tmpl.substr(i + 1, close - i - 1);
                bool found = false;
                for (const auto& [key, value] : args) {
                    if (key == name) {
                        out += value;
                        found = true;
                        break;
                    }
                }
                if (found) {
                    i = close + 1;
                    continue;
                }
            }
        }
        out.push_back(tmpl[i++]);
    }
    return out;
}

size_t display_width(std::string_view text) {
    size_t w = 0;
    for (size_t i = 0; i < text.size();) w += width_of(next_code_point(text, i));
    return w;
}

std::vector<std::string> wrap(std::string_view text, size_t width, std::string_view indent) {
    std::vector<std::string> lines;
    size_t indent_w = display_width(indent);
    std::string line(indent);
    size_t line_w = indent_w;
    bool empty = true;
    for (auto& p : pieces(text)) {
        size_t need = p.width + (p.space_before && !empty ? 1 : 0);
        if (!empty && line_w + need > width) {
            lines.push_back(std::move(line));
            line = std::string(indent);
            line_w = indent_w;
            empty = true;
            need = p.width;
        }
        if (!empty && p.space_before) line.push_back(' ');
        line += p.text;
        line_w += need;
        empty = false;
    }
    if (!empty || lines.empty()) lines.push_back(std::move(line));
    return lines;
}

std::string wrap_block(std::string_view text, size_t width, std::string_view indent) {
    std::string out;
    for (auto& l : wrap(text, width, indent)) {
        out += l;
        out.push_back('\n');
    }
    return out;
}

std::string pad(std::string_view text, size_t width) {
    std::string out(text);
    for (size_t w = display_width(text); w < width; ++w) out.push_back(' ');
    return out;
}

std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (unsigned char c : text) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20) {
                    static const char* hex = "0123456789abcdef";
                    out += "\\u00";
                    out.push_back(hex[c >> 4]);
                    out.push_back(hex[c & 15]);
                } else {
                    out.push_back(static_cast<char>(c));
                }
        }
    }
    out.push_back('"');
    return out;
}

std::string html_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out.push_back(c);
        }
    }
    return out;
}

}  // namespace postern::explain
