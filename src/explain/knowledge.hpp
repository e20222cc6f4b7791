// The reply-code knowledge base: the facts of src/explain/data/common.toml.inc and the texts of
// src/explain/data/<lang>/*.toml.inc, compiled into the binary and parsed once on first use.
#pragma once

#include <array>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

namespace postern::explain {

enum class Lang { en, vi, zh };
inline constexpr std::array<Lang, 3> all_langs{Lang::en, Lang::vi, Lang::zh};

std::string_view lang_code(Lang lang);                  // "en", "vi", "zh"
std::optional<Lang> parse_lang(std::string_view code);  // "en", "vi", "zh" (case-insensitive); nullopt otherwise
// The language of the environment: the first non-empty of LC_ALL, LC_MESSAGES, LANG (as POSIX orders them);
// "vi…" gives Vietnamese, "zh…" Chinese, anything else English.
Lang lang_from_env(const char* lc_all, const char* lc_messages, const char* lang);
Lang lang_from_environment();

struct BasicFacts {
    int code = 0;
    std::string rfc;
    std::vector<std::string> seen;  // "connect", "any", "end_of_data" or a command verb
    bool closes = false;
    std::string actor;  // none, user, software, admin, time
};

struct EnhancedFacts {
    int subject = 0;
    int detail = 0;
    std::string key;  // "X.7.8"
    std::string rfc;
    std::vector<int> basic;  // the basic codes it usually comes with
};

class Knowledge {
public:
    static const Knowledge& get();  // the built-in data; throws std::runtime_error if it does not parse

    const std::vector<BasicFacts>& basic_codes() const { return basic_; }           // ascending
    const std::vector<EnhancedFacts>& enhanced_codes() const { return enhanced_; }  // by subject, detail
    const BasicFacts* basic(int code) const;
    const EnhancedFacts* enhanced(int subject, int detail) const;
    // Settings and commands behind a reply of Postern's registry; nullptr for a name the data does not know.
    const std::vector<std::string>* postern_config(std::string_view name) const;
    std::vector<std::string> postern_names() const;

    // The text at `path` (e.g. {"basic", "535", "name"}) in `lang`; empty when missing.
    std::string_view text(Lang lang, std::initializer_list<std::string_view> path) const;
    const toml::table& texts(Lang lang) const { return texts_[static_cast<size_t>(lang)]; }

    // Parses the given sources (TOML); for tests of the loader. `langs` holds each language's files.
    Knowledge(std::string_view common, const std::array<std::vector<std::string_view>, 3>& langs);

private:
    toml::table common_;
    std::array<toml::table, 3> texts_;
    std::vector<BasicFacts> basic_;
    std::vector<EnhancedFacts> enhanced_;
    std::map<std::string, std::vector<std::string>, std::less<>> postern_;
};

// "auth.failure_delay" → "[auth] failure_delay"; top-level keys and commands ("postern ban list") unchanged.
std::string config_display(std::string_view key);

}  // namespace postern::explain
