// Reply codes as people type them: "535" (RFC 5321 basic code) and "5.7.8" (RFC 3463 enhanced status code).
#pragma once

#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "explain/knowledge.hpp"

namespace postern::explain {

struct EnhancedCode {
    int cls = 0;  // 2, 4 or 5
    int subject = 0;
    int detail = 0;
    std::string str() const;  // "5.7.8"
    std::string key() const;  // "X.7.8"
    bool operator==(const EnhancedCode&) const = default;
};

// What one argument group names: a basic code, optionally with its enhanced code; or an enhanced code alone.
struct ReplyCode {
    int basic = 0;  // 0 when only an enhanced code was given
    std::optional<EnhancedCode> enhanced;
    std::string str() const;  // "535 5.7.8", "535", "5.7.8"
};

// Syntax only: three digits with a first digit 2-5.
std::optional<int> parse_basic(std::string_view text);
// Syntax only (RFC 3463 §2): class 2, 4 or 5, then subject and detail of 1-3 digits without leading zeros.
std::optional<EnhancedCode> parse_enhanced(std::string_view text);

// A code the user gave that cannot be explained; what() is the message in the chosen language.
struct CodeError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Turns the command-line words into one reply (explain) or two (compare), checking each code is well formed,
// known to the knowledge base, and that an enhanced code's class matches its basic code. Throws CodeError.
std::vector<ReplyCode> parse_reply_codes(std::span<const std::string> words, Lang lang);

// Empty when `basic` and `enhanced` can go together; otherwise the reason, in `lang`.
std::string consistency_error(int basic, const EnhancedCode& enhanced, Lang lang);

}  // namespace postern::explain
