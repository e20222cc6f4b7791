#include "auth/scram.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <climits>
#include <stdexcept>

namespace postern::auth {

std::string random_bytes(size_t n) {
    std::string out(n, '\0');
    if (n > INT_MAX || RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
        throw std::runtime_error("RAND_bytes failed");
    return out;
}

std::string random_salt() {
    return random_bytes(kScramSaltSize);
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (key.size() > INT_MAX ||
        HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
             data.size(), out, &len) == nullptr ||
        len != kScramHashSize)
        throw std::runtime_error("HMAC-SHA-256 failed");
    return std::string(reinterpret_cast<const char*>(out), len);
}

std::string sha256(std::string_view data) {
    unsigned char out[SHA256_DIGEST_LENGTH];
    if (SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out) == nullptr)
        throw std::runtime_error("SHA-256 failed");
    return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

ScramKey derive_scram_key(std::string_view password, std::string_view salt, uint32_t iterations) {
    if (iterations == 0 || iterations > INT_MAX) throw std::invalid_argument("SCRAM iteration count out of range");
    if (password.size() > INT_MAX || salt.size() > INT_MAX) throw std::invalid_argument("SCRAM input too long");
    unsigned char salted[kScramHashSize];
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                          reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()),
                          static_cast<int>(iterations), EVP_sha256(), sizeof salted, salted) != 1)
        throw std::runtime_error("PBKDF2-HMAC-SHA-256 failed");
    std::string salted_password(reinterpret_cast<const char*>(salted), sizeof salted);
    OPENSSL_cleanse(salted, sizeof salted);
    ScramKey key;
    std::string client_key = hmac_sha256(salted_password, "Client Key");
    key.stored_key = sha256(client_key);
    key.server_key = hmac_sha256(salted_password, "Server Key");
    OPENSSL_cleanse(client_key.data(), client_key.size());
    OPENSSL_cleanse(salted_password.data(), salted_password.size());
    return key;
}

}  // namespace postern::auth
