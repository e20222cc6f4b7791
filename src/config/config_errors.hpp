// Internal to the config loader: typed reads of TOML nodes that throw ConfigError naming file, line and key.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <toml++/toml.h>

#include "config/config.hpp"

namespace postern::config {

// Shows a value the way the user wrote it: "5 minutes" quoted, numbers bare, containers by kind.
std::string describe(const toml::node& node);

class ErrorReporter {
public:
    explicit ErrorReporter(std::string file) : file_(std::move(file)) {}

    // "<file>:<line>: <key>: <message>"
    [[noreturn]] void fail(const toml::source_region& where, std::string_view key, std::string_view message) const;
    [[noreturn]] void fail(const toml::node& node, std::string_view key, std::string_view message) const {
        fail(node.source(), key, message);
    }
    // An unknown key, with a "did you mean" when one of the known keys is a near miss.
    [[noreturn]] void unknown_key(const toml::key& key, std::string_view prefix,
                                  std::initializer_list<std::string_view> known) const;
    [[noreturn]] void unknown_key(const toml::key& key, std::string_view prefix,
                                  std::span<const std::string_view> known) const;

    std::string string(const toml::node& node, std::string_view key) const;
    int64_t integer(const toml::node& node, std::string_view key, int64_t min, int64_t max) const;
    const toml::table& table(const toml::node& node, std::string_view key) const;

private:
    std::string file_;
};

}  // namespace postern::config
