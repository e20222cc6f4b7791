#include "explain/codes.hpp"

#include "explain/text.hpp"

namespace postern::explain {

std::string EnhancedCode::str() const {
    return std::to_string(cls) + "." + std::to_string(subject) + "." + std::to_string(detail);
}

std::string EnhancedCode::key() const { return "X." + std::to_string(subject) + "." + std::to_string(detail); }

std::string ReplyCode::str() const {
    std::string out = basic ? std::to_string(basic) : std::string{};
    if (enhanced) out += (out.empty() ? "" : " ") + enhanced->str();
    return out;
}

std::optional<int> parse_basic(std::string_view t) {
    if (t.size() != 3) return std::nullopt;
    for (char c : t)
        if (c < '0' || c > '9') return std::nullopt;
    if (t[0] < '2' || t[0] > '5') return std::nullopt;
    return (t[0] - '0') * 100 + (t[1] - '0') * 10 + (t[2] - '0');
}

namespace {

// 1-3 digits, no leading zero (except "0" itself).
std::optional<int> number(std::string_view t) {
    if (t.empty() || t.size() > 3) return std::nullopt;
    if (t.size() > 1 && t[0] == '0') return std::nullopt;
    int v = 0;
    for (char c : t) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + (c - '0');
    }
    return v;
}

bool looks_enhanced(std::string_view t) { return t.find('.') != std::string_view::npos; }

std::string msg(Lang lang, std::string_view key, const Args& args) {
    return fill(Knowledge::get().text(lang, {"error", key}), args);
}

}  // namespace

std::optional<EnhancedCode> parse_enhanced(std::string_view t) {
    auto d1 = t.find('.');
    if (d1 != 1) return std::nullopt;
    auto d2 = t.find('.', d1 + 1);
    if (d2 == std::string_view::npos) return std::nullopt;
    if (t[0] != '2' && t[0] != '4' && t[0] != '5') return std::nullopt;
    auto s = number(t.substr(d1 + 1, d2 - d1 - 1));
    auto d = number(t.substr(d2 + 1));
    if (!s || !d) return std::nullopt;
    return EnhancedCode{t[0] - '0', *s, *d};
}

std::string consistency_error(int basic, const EnhancedCode& e, Lang lang) {
    int c = basic / 100;
    if (c == 3) return msg(lang, "intermediate", {{"basic", std::to_string(basic)}, {"enhanced", e.str()}});
    if (c != e.cls)
        return msg(lang, "mismatch",
                   {{"basic", std::to_string(basic)},
                    {"enhanced", e.str()},
                    {"c", std::to_string(c)},
                    {"d", std::to_string(e.cls)}});
    return {};
}

std::vector<ReplyCode> parse_reply_codes(std::span<const std::string> words, Lang lang) {
    const auto& kb = Knowledge::get();
    std::vector<ReplyCode> out;
    for (const auto& w : words) {
        if (auto b = parse_basic(w)) {
            if (!kb.basic(*b)) throw CodeError(msg(lang, "unknown_basic", {{"code", w}}));
            out.push_back(ReplyCode{*b, std::nullopt});
            continue;
        }
        if (auto e = parse_enhanced(w)) {
            if (!kb.enhanced(e->subject, e->detail)) throw CodeError(msg(lang, "unknown_enhanced", {{"code", w}}));
            if (!out.empty() && out.back().basic && !out.back().enhanced) {
                auto err = consistency_error(out.back().basic, *e, lang);
                if (!err.empty()) throw CodeError(err);
                out.back().enhanced = *e;
            } else {
                out.push_back(ReplyCode{0, *e});
            }
            continue;
        }
        if (looks_enhanced(w)) throw CodeError(msg(lang, "malformed_enhanced", {{"arg", w}}));
        throw CodeError(msg(lang, "malformed", {{"arg", w}}));
    }
    if (out.empty() || out.size() > 2) throw CodeError(msg(lang, "count", {}));
    if (out.size() == 2 && (!out[0].basic || !out[1].basic)) throw CodeError(msg(lang, "compare_basic", {}));
    return out;
}

}  // namespace postern::explain
