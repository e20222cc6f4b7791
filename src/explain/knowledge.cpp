#include "explain/knowledge.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <stdexcept>

namespace postern::explain {

std::string_view lang_code(Lang lang) {
    switch (lang) {
        case Lang::vi:
            return "vi";
        case Lang::zh:
            return "zh";
        default:
            return "en";
    }
}

std::optional<Lang> parse_lang(std::string_view code) {
    std::string lower;
    for (char c : code) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    for (Lang l : all_langs)
        if (lower == lang_code(l)) return l;
    return std::nullopt;
}

Lang lang_from_env(const char* lc_all, const char* lc_messages, const char* lang) {
    for (const char* v : {lc_all, lc_messages, lang}) {
        if (!v || !*v) continue;
        std::string_view s(v);
        if (s.size() >= 2 && std::tolower(static_cast<unsigned char>(s[0])) == 'v' &&
            std::tolower(static_cast<unsigned char>(s[1])) == 'i')
            return Lang::vi;
        if (s.size() >= 2 && std::tolower(static_cast<unsigned char>(s[0])) == 'z' &&
            std::tolower(static_cast<unsigned char>(s[1])) == 'h')
            return Lang::zh;
        return Lang::en;
    }
    return Lang::en;
}

Lang lang_from_environment() {
    return lang_from_env(std::getenv("LC_ALL"), std::getenv("LC_MESSAGES"), std::getenv("LANG"));
}

namespace {

toml::table parse(std::string_view source, std::string_view what) {
    try {
        return toml::parse(source, std::string(what));
    } catch (const toml::parse_error& e) {
        throw std::runtime_error("explain data " + std::string(what) + ":" + std::to_string(e.source().begin.line) +
                                 ": " + std::string(e.description()));
    }
}

int parse_int(std::string_view s) {
    int v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    return s.empty() ? -1 : v;
}

std::vector<std::string> strings(const toml::node_view<const toml::node>& node) {
    std::vector<std::string> out;
    if (auto* arr = node.as_array())
        for (const auto& el : *arr)
            if (auto s = el.value<std::string>()) out.push_back(*s);
    return out;
}

}  // namespace

Knowledge::Knowledge(std::string_view common, const std::array<std::vector<std::string_view>, 3>& langs) {
    common_ = parse(common, "common.toml");
    for (size_t i = 0; i < langs.size(); ++i) {
        for (size_t part = 0; part < langs[i].size(); ++part) {
            auto t = parse(langs[i][part], std::string(lang_code(all_langs[i])) + "/" + std::to_string(part));
            for (auto&& [key, node] : t) {
                if (texts_[i].contains(key.str()))
                    throw std::runtime_error("explain data: [" + std::string(key.str()) + "] defined twice in " +
                                             std::string(lang_code(all_langs[i])));
                texts_[i].insert(key, node);
            }
        }
    }
    const toml::table& ct = common_;
    if (auto* basic = ct["basic"].as_table()) {
        for (auto&& [key, node] : *basic) {
            BasicFacts f;
            f.code = parse_int(key.str());
            if (f.code < 200 || f.code > 599)
                throw std::runtime_error("explain data: bad basic code " + std::string(key.str()));
            auto v = toml::node_view<const toml::node>(node);
            f.rfc = v["rfc"].value_or(std::string{});
            f.seen = strings(v["seen"]);
            f.closes = v["closes"].value_or(false);
            f.actor = v["actor"].value_or(std::string{"none"});
            basic_.push_back(std::move(f));
        }
    }
    std::sort(basic_.begin(), basic_.end(), [](const auto& a, const auto& b) { return a.code < b.code; });
    if (auto* enh = ct["enhanced"].as_table()) {
        for (auto&& [key, node] : *enh) {
            std::string_view k = key.str();
            auto dot = k.find('.', 2);
            if (!k.starts_with("X.") || dot == std::string_view::npos)
                throw std::runtime_error("explain data: bad enhanced key " + std::string(k));
            EnhancedFacts f;
            f.key = std::string(k);
            f.subject = parse_int(k.substr(2, dot - 2));
            f.detail = parse_int(k.substr(dot + 1));
            if (f.subject < 0 || f.detail < 0) throw std::runtime_error("explain data: bad enhanced key " + f.key);
            auto v = toml::node_view<const toml::node>(node);
            f.rfc = v["rfc"].value_or(std::string{});
            if (auto* arr = v["basic"].as_array())
                for (const auto& el : *arr)
                    if (auto n = el.value<int64_t>()) f.basic.push_back(static_cast<int>(*n));
            enhanced_.push_back(std::move(f));
        }
    }
    std::sort(enhanced_.begin(), enhanced_.end(), [](const auto& a, const auto& b) {
        return std::pair(a.subject, a.detail) < std::pair(b.subject, b.detail);
    });
    if (auto* p = ct["postern"].as_table())
        for (auto&& [key, node] : *p)
            postern_[std::string(key.str())] = strings(toml::node_view<const toml::node>(node)["config"]);
}

const BasicFacts* Knowledge::basic(int code) const {
    for (const auto& f : basic_)
        if (f.code == code) return &f;
    return nullptr;
}

const EnhancedFacts* Knowledge::enhanced(int subject, int detail) const {
    for (const auto& f : enhanced_)
        if (f.subject == subject && f.detail == detail) return &f;
    return nullptr;
}

const std::vector<std::string>* Knowledge::postern_config(std::string_view name) const {
    auto it = postern_.find(name);
    return it == postern_.end() ? nullptr : &it->second;
}

std::vector<std::string> Knowledge::postern_names() const {
    std::vector<std::string> out;
    for (const auto& [name, _] : postern_) out.push_back(name);
    return out;
}

std::string_view Knowledge::text(Lang lang, std::initializer_list<std::string_view> path) const {
    const toml::node* node = &texts(lang);
    for (auto key : path) {
        auto* table = node->as_table();
        if (!table) return {};
        node = table->get(key);
        if (!node) return {};
    }
    if (auto* s = node->as_string()) return s->get();
    return {};
}

std::string config_display(std::string_view key) {
    if (key.find(' ') != std::string_view::npos) return std::string(key);
    auto dot = key.find('.');
    if (dot == std::string_view::npos) return std::string(key);
    return "[" + std::string(key.substr(0, dot)) + "] " + std::string(key.substr(dot + 1));
}

}  // namespace postern::explain
