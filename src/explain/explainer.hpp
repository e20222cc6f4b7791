// Explanations of reply codes and comparisons of two replies, in one language, as terminal text or JSON.
// Built from the knowledge base and Postern's reply registry (smtp::registry()).
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "explain/codes.hpp"
#include "explain/knowledge.hpp"
#include "smtp/reply.hpp"

namespace postern::explain {

// One entry of Postern's registry that matches a code, with its cause and settings.
struct PosternUse {
    const smtp::ReplyEntry* entry;
    std::string_view cause;
    std::vector<std::string> config;  // as in common.toml.inc ("auth.failure_delay", "postern ban list")
};

struct Comparison {
    ReplyCode a, b;
    std::vector<std::string> differences;
    std::vector<std::string> act;
    std::string note;  // empty when the data has none for this pair
};

// The registry text with its placeholders shown as "…".
std::string registry_text(const smtp::ReplyEntry& e);

class Explainer {
public:
    explicit Explainer(Lang lang);
    Lang lang() const { return lang_; }

    std::string_view t(std::initializer_list<std::string_view> path) const;
    std::string_view ui(std::string_view key) const { return t({"ui", key}); }
    std::string_view basic_field(int code, std::string_view field) const;
    std::string_view enhanced_field(int subject, int detail, std::string_view field) const;

    // Postern's replies with this basic code (0: any) and enhanced code (nullopt: any).
    std::vector<PosternUse> postern_uses(int basic, const std::optional<EnhancedCode>& enhanced) const;
    // Postern's replies whose enhanced code has this subject and detail, whatever the class.
    std::vector<PosternUse> postern_uses(int subject, int detail) const;

    std::string class_line(int basic) const;      // "Class 5xx, permanent negative completion: …"
    std::string eclass_line(int cls) const;       // "Class 5, permanent failure: …"
    std::string subject_line(int subject) const;  // "Subject 7, security or policy: …"
    std::string seen_phrase(int basic) const;     // "in answer to AUTH"
    std::string actor_phrase(int basic) const;
    std::string title(const ReplyCode& r) const;  // "535 5.7.8  Authentication credentials invalid"

    // One or two lines for the probe: "535 Authentication credentials invalid: the login failed…" and the
    // enhanced code's name. Codes the knowledge base does not know are named as such, never an error.
    std::string short_explanation(int basic, std::string_view enhanced) const;
    // The basic code's summary (and the enhanced code's name): used in the probe's verdicts.
    std::string summary(int basic, std::string_view enhanced) const;

    std::string text(const ReplyCode& r, size_t width) const;
    std::string json(const ReplyCode& r) const;

    Comparison compare(const ReplyCode& a, const ReplyCode& b) const;
    std::string compare_text(const ReplyCode& a, const ReplyCode& b, size_t width) const;
    std::string compare_json(const ReplyCode& a, const ReplyCode& b) const;

    // A list in prose: "a, b or c".
    std::string join_or(const std::vector<std::string>& items) const;

private:
    std::string json_object(const ReplyCode& r) const;
    Lang lang_;
    const Knowledge& kb_;
};

}  // namespace postern::explain
