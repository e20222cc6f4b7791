// A short-lived cache of successful password checks, so that a client that logs in for every message does not
// pay argon2id every time. Entries are keyed by HMAC-SHA-256(per-process secret, user, password, credential
// fingerprint): the password is never stored, a key is useless outside this process, and any change to the
// account (password, revoked app password, require_app_password, deletion) changes the fingerprint, so the old
// entry is never hit again — at once, even when the change came from the CLI in another process.
#pragma once

#include <chrono>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "auth/account_store.hpp"
#include "auth/credentials.hpp"

namespace postern::auth {

class CachingVerifier : public CredentialVerifier {
public:
    // ttl 0 disables the cache.
    CachingVerifier(AccountStore& store, std::chrono::milliseconds ttl, size_t max_entries = 10000);

    VerifyResult verify_password(std::string_view user, std::string_view password) override;
    std::optional<ScramCredentials> scram_credentials(std::string_view user) override;
    void app_password_used(std::string_view user, std::string_view label) override;

    void set_ttl(std::chrono::milliseconds ttl);
    uint64_t hits() const;

private:
    using Clock = std::chrono::steady_clock;
    struct Entry {
        VerifyResult result;
        Clock::time_point expires;
        std::list<std::string>::iterator order;
    };
    std::string key(std::string_view user, std::string_view password, std::string_view fingerprint) const;

    AccountStore& store_;
    std::string secret_;
    mutable std::mutex mutex_;
    std::chrono::milliseconds ttl_;
    size_t max_entries_;
    std::unordered_map<std::string, Entry> entries_;
    std::list<std::string> order_;  // oldest first, for eviction
    uint64_t hits_ = 0;
};

}  // namespace postern::auth
