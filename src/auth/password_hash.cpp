// argon2id via libsodium's crypto_pwhash_str: salt, parameters and hash travel together in one string.
#include "auth/password_hash.hpp"

#include <sodium.h>

#include <mutex>

#include "auth/account_store.hpp"

namespace postern::auth {

namespace {

void init_sodium() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (sodium_init() < 0) throw AccountError("cannot initialise libsodium");
    });
}

unsigned long long ops(const config::Auth& cost) { return cost.argon2_ops; }
size_t mem_bytes(const config::Auth& cost) { return static_cast<size_t>(cost.argon2_mem_kib) * 1024; }

}  // namespace

std::string generate_app_password() {
    static_assert(app_password_alphabet.size() == 32);
    init_sodium();
    std::string out;
    for (int i = 0; i < 24; ++i) {
        if (i > 0 && i % 4 == 0) out += '-';
        out += app_password_alphabet[randombytes_uniform(static_cast<uint32_t>(app_password_alphabet.size()))];
    }
    return out;
}

void check_password_length(std::string_view password) {
    if (password.empty()) throw AccountError("password must not be empty");
    if (password.size() > max_password_bytes)
        throw AccountError("password is longer than " + std::to_string(max_password_bytes) + " bytes");
}

void check_cost(const config::Auth& cost) {
    if (cost.argon2_ops < crypto_pwhash_argon2id_OPSLIMIT_MIN || cost.argon2_ops > crypto_pwhash_argon2id_OPSLIMIT_MAX)
        throw AccountError("argon2_ops " + std::to_string(cost.argon2_ops) + " is outside libsodium's range");
    if (cost.argon2_mem_kib * 1024 < crypto_pwhash_argon2id_MEMLIMIT_MIN ||
        cost.argon2_mem_kib > crypto_pwhash_argon2id_MEMLIMIT_MAX / 1024)
        throw AccountError("argon2_mem_kib " + std::to_string(cost.argon2_mem_kib) + " is outside libsodium's range");
}

std::string hash_password(std::string_view password, const config::Auth& cost) {
    init_sodium();
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str_alg(out, password.data(), password.size(), ops(cost), mem_bytes(cost),
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        throw AccountError("cannot hash the password: out of memory (argon2_mem_kib " +
                           std::to_string(cost.argon2_mem_kib) + ")");
    return out;
}

bool verify_hash(const std::string& hash, std::string_view password) {
    init_sodium();
    // libsodium reads up to crypto_pwhash_STRBYTES from the buffer; std::string keeps it NUL-terminated.
    return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

bool needs_rehash(const std::string& hash, const config::Auth& cost) {
    init_sodium();
    return crypto_pwhash_str_needs_rehash(hash.c_str(), ops(cost), mem_bytes(cost)) != 0;
}

}  // namespace postern::auth
