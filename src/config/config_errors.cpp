// Error messages of the config loader: one format, so every mistake points at its file, line and key.
#include "config/config_errors.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace postern::config {

namespace {

std::string quote(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
            out += escaped;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

}  // namespace

std::string describe(const toml::node& node) {
    switch (node.type()) {
        case toml::node_type::string: return quote(*node.value_exact<std::string>());
        case toml::node_type::integer: return std::to_string(*node.value_exact<int64_t>());
        case toml::node_type::floating_point: return "the number " + std::to_string(*node.value_exact<double>());
        case toml::node_type::boolean: return *node.value_exact<bool>() ? "true" : "false";
        case toml::node_type::table: return "a table";
        case toml::node_type::array: return "an array";
        case toml::node_type::date: return "a date";
        case toml::node_type::time: return "a time";
        case toml::node_type::date_time: return "a date-time";
        case toml::node_type::none: break;
    }
    return "nothing";
}

void ErrorReporter::fail(const toml::source_region& where, std::string_view key, std::string_view message) const {
    throw ConfigError(file_ + ":" + std::to_string(where.begin.line) + ": " + std::string(key) + ": " +
                      std::string(message));
}

void ErrorReporter::unknown_key(const toml::key& key, std::string_view prefix,
                                std::initializer_list<std::string_view> known) const {
    unknown_key(key, prefix, std::span<const std::string_view>(known.begin(), known.size()));
}

void ErrorReporter::unknown_key(const toml::key& key, std::string_view prefix,
                                std::span<const std::string_view> known) const {
    std::string full = prefix.empty() ? std::string(key.str()) : std::string(prefix) + "." + std::string(key.str());
    std::string_view best;
    size_t best_distance = 3;  // further than two edits is a different word, not a typo
    for (std::string_view candidate : known) {
        size_t d = edit_distance(key.str(), candidate);
        if (d < best_distance) {
            best_distance = d;
            best = candidate;
        }
    }
    std::string message = "unknown key";
    if (!best.empty()) {
        message += " (did you mean \"" + std::string(best) + "\"?)";
    } else {
        message += "; expected one of:";
        for (std::string_view candidate : known) message += " " + std::string(candidate);
    }
    fail(key.source(), full, message);
}

std::string ErrorReporter::string(const toml::node& node, std::string_view key) const {
    if (auto value = node.value_exact<std::string>()) return *value;
    fail(node, key, "expected a string, got " + describe(node));
}

int64_t ErrorReporter::integer(const toml::node& node, std::string_view key, int64_t min, int64_t max) const {
    auto value = node.value_exact<int64_t>();
    if (!value) fail(node, key, "expected an integer, got " + describe(node));
    if (*value < min || *value > max)
        fail(node, key, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                            describe(node));
    return *value;
}

const toml::table& ErrorReporter::table(const toml::node& node, std::string_view key) const {
    if (const toml::table* t = node.as_table()) return *t;
    fail(node, key, "expected a table, got " + describe(node));
}

}  // namespace postern::config
