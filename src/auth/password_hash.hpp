// argon2id password hashing through libsodium, shared by account passwords and app passwords.
#pragma once

#include <string>
#include <string_view>

#include "config/config.hpp"

namespace postern::auth {

// Passwords are 1-256 bytes: empty ones are refused, and the cap bounds the work an attacker can ask for.
inline constexpr size_t max_password_bytes = 256;

// Throws AccountError when the password is empty or too long.
void check_password_length(std::string_view password);

// Throws AccountError when libsodium cannot work with this cost (below its minimum or above its maximum).
void check_cost(const config::Auth& cost);

// An encoded "$argon2id$v=19$m=...,t=...,p=1$salt$hash" string. Throws AccountError if out of memory.
std::string hash_password(std::string_view password, const config::Auth& cost);

// Constant-time check of a password against an encoded hash; false for a malformed hash.
bool verify_hash(const std::string& hash, std::string_view password);

// True when the hash was made with another cost than `cost`, so a successful login should re-hash it.
bool needs_rehash(const std::string& hash, const config::Auth& cost);

// Generated app passwords: 24 symbols from a 32-symbol alphabet without 0, 1, l and o (120 bits), drawn with
// libsodium's randombytes_uniform and shown in groups of four: "abcd-efgh-ijkm-npqr-stuv-wxyz". The dashes
// are part of the password.
inline constexpr std::string_view app_password_alphabet = "23456789abcdefghijkmnpqrstuvwxyz";
std::string generate_app_password();

}  // namespace postern::auth
