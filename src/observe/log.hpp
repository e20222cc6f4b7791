// One line per event on stderr, "key=value" pairs after a fixed prefix, so that every refusal is greppable.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace postern::observe {

enum class Level { debug, info, warn, error };

void set_min_level(Level level);
void write_line(Level level, std::string_view text);
bool enabled(Level level);

template <typename... Args>
void log(Level level, fmt::format_string<Args...> format, Args&&... args) {
    if (!enabled(level)) return;
    write_line(level, fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
void info(fmt::format_string<Args...> format, Args&&... args) {
    log(Level::info, format, std::forward<Args>(args)...);
}
template <typename... Args>
void warn(fmt::format_string<Args...> format, Args&&... args) {
    log(Level::warn, format, std::forward<Args>(args)...);
}
template <typename... Args>
void error(fmt::format_string<Args...> format, Args&&... args) {
    log(Level::error, format, std::forward<Args>(args)...);
}
template <typename... Args>
void debug(fmt::format_string<Args...> format, Args&&... args) {
    log(Level::debug, format, std::forward<Args>(args)...);
}

}  // namespace postern::observe
