#include "smtp/command.hpp"

#include <array>
#include <utility>

#include "smtp/address.hpp"

namespace postern::smtp {
namespace {

constexpr std::array<std::pair<std::string_view, Verb>, 14> kVerbs{{
    {"HELO", Verb::helo}, {"EHLO", Verb::ehlo}, {"MAIL", Verb::mail}, {"RCPT", Verb::rcpt},
    {"DATA", Verb::data}, {"BDAT", Verb::bdat}, {"RSET", Verb::rset}, {"NOOP", Verb::noop},
    {"VRFY", Verb::vrfy}, {"EXPN", Verb::expn}, {"HELP", Verb::help}, {"QUIT", Verb::quit},
    {"AUTH", Verb::auth}, {"STARTTLS", Verb::starttls},
}};

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

}  // namespace

CommandLine parse_command(std::string_view line) {
    CommandLine cmd;
    auto space = line.find(' ');
    auto word = line.substr(0, space);
    for (const auto& [name, verb] : kVerbs) {
        if (iequals(word, name)) {
            cmd.verb = verb;
            break;
        }
    }
    cmd.arg = space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
    auto strip_prefix = [&](std::string_view prefix) {
        if (cmd.arg.size() >= prefix.size() && iequals(cmd.arg.substr(0, prefix.size()), prefix)) {
            cmd.arg.remove_prefix(prefix.size());
            while (!cmd.arg.empty() && cmd.arg.front() == ' ') cmd.arg.remove_prefix(1);  // "FROM: <a@b>" is common
        } else {
            cmd.missing_prefix = true;
        }
    };
    if (cmd.verb == Verb::mail) strip_prefix("FROM:");
    if (cmd.verb == Verb::rcpt) strip_prefix("TO:");
    return cmd;
}

std::optional<std::vector<EsmtpParam>> parse_params(std::string_view text) {
    std::vector<EsmtpParam> params;
    while (!text.empty() && text.back() == ' ') text.remove_suffix(1);  // trailing spaces are harmless
    while (!text.empty()) {
        auto end = text.find(' ');
        auto item = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
        while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
        EsmtpParam p;
        auto eq = item.find('=');
        p.keyword = item.substr(0, eq);
        if (p.keyword.empty() || !is_alnum(p.keyword.front())) return std::nullopt;
        for (char c : p.keyword)
            if (!is_alnum(c) && c != '-') return std::nullopt;
        if (eq != std::string_view::npos) {
            p.has_value = true;
            p.value = item.substr(eq + 1);
            if (p.value.empty()) return std::nullopt;
            for (char c : p.value) {
                auto u = static_cast<unsigned char>(c);
                if (u == '=' || (u < 33) || u == 127) return std::nullopt;
            }
        }
        params.push_back(p);
    }
    return params;
}

}  // namespace postern::smtp
