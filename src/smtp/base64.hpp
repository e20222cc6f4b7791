// Base64 (RFC 4648 §4) for SASL exchanges (RFC 4954): strict decoding, no whitespace, padding required.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postern::smtp {

std::string base64_encode(std::string_view data);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace postern::smtp
