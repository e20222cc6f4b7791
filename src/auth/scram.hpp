// SCRAM-SHA-256 primitives (RFC 5802 §3, RFC 7677) on OpenSSL 3: key derivation for the account store and
// the HMAC / hash / random helpers the SASL mechanism uses. No SASLprep: passwords are taken as octets.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "auth/credentials.hpp"

namespace postern::auth {

inline constexpr size_t kScramHashSize = 32;  // SHA-256 output, the size of StoredKey, ServerKey and proofs
inline constexpr size_t kScramSaltSize = 16;  // what random_salt() returns

// SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations); ClientKey = HMAC(SaltedPassword, "Client Key");
// StoredKey = SHA-256(ClientKey); ServerKey = HMAC(SaltedPassword, "Server Key"). The label is left empty.
// Throws std::invalid_argument when iterations is 0 or above INT_MAX, std::runtime_error if OpenSSL fails.
ScramKey derive_scram_key(std::string_view password, std::string_view salt, uint32_t iterations);

// kScramSaltSize octets from the OpenSSL CSPRNG; throws std::runtime_error if it fails.
std::string random_salt();

// n octets from the OpenSSL CSPRNG; throws std::runtime_error if it fails.
std::string random_bytes(size_t n);
// HMAC-SHA-256 and SHA-256, raw kScramHashSize-octet results; throw std::runtime_error if OpenSSL fails.
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string sha256(std::string_view data);

}  // namespace postern::auth
