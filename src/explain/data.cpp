// The knowledge base's data files, compiled in: each *.toml.inc is TOML wrapped in a C++ raw string literal
// (its first and last lines), so the build tracks them like headers and the binary needs no data directory.
#include <array>
#include <string_view>
#include <vector>

#include "explain/knowledge.hpp"

namespace postern::explain {

namespace {

constexpr std::string_view kCommon =
#include "explain/data/common.toml.inc"
    ;

constexpr std::string_view kEnUi =
#include "explain/data/en/ui.toml.inc"
    ;
constexpr std::string_view kEnBasic =
#include "explain/data/en/basic.toml.inc"
    ;
constexpr std::string_view kEnEnhanced =
#include "explain/data/en/enhanced.toml.inc"
    ;
constexpr std::string_view kEnPostern =
#include "explain/data/en/postern.toml.inc"
    ;

constexpr std::string_view kViUi =
#include "explain/data/vi/ui.toml.inc"
    ;
constexpr std::string_view kViBasic =
#include "explain/data/vi/basic.toml.inc"
    ;
constexpr std::string_view kViEnhanced =
#include "explain/data/vi/enhanced.toml.inc"
    ;
constexpr std::string_view kViPostern =
#include "explain/data/vi/postern.toml.inc"
    ;

constexpr std::string_view kZhUi =
#include "explain/data/zh/ui.toml.inc"
    ;
constexpr std::string_view kZhBasic =
#include "explain/data/zh/basic.toml.inc"
    ;
constexpr std::string_view kZhEnhanced =
#include "explain/data/zh/enhanced.toml.inc"
    ;
constexpr std::string_view kZhPostern =
#include "explain/data/zh/postern.toml.inc"
    ;

}  // namespace

const Knowledge& Knowledge::get() {
    static const Knowledge kb(kCommon, {std::vector<std::string_view>{kEnUi, kEnBasic, kEnEnhanced, kEnPostern},
                                        std::vector<std::string_view>{kViUi, kViBasic, kViEnhanced, kViPostern},
                                        std::vector<std::string_view>{kZhUi, kZhBasic, kZhEnhanced, kZhPostern}});
    return kb;
}

}  // namespace postern::explain
