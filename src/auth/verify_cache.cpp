#include "auth/verify_cache.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace postern::auth {

namespace {

void append_field(std::string& out, std::string_view field) {
    // Length-prefixed, so ("ab","c") and ("a","bc") never make the same message.
    auto n = static_cast<uint32_t>(field.size());
    out.append(reinterpret_cast<const char*>(&n), sizeof n);
    out.append(field);
}

}  // namespace

CachingVerifier::CachingVerifier(AccountStore& store, std::chrono::milliseconds ttl, size_t max_entries)
    : store_(store), secret_(32, '\0'), ttl_(ttl), max_entries_(max_entries) {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(secret_.data()), static_cast<int>(secret_.size())) != 1)
        throw std::runtime_error("cannot make the auth cache secret");
}

std::string CachingVerifier::key(std::string_view user, std::string_view password, std::string_view fingerprint) const {
    std::string message;
    append_field(message, user);
    append_field(message, password);
    append_field(message, fingerprint);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
         reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &len);
    OPENSSL_cleanse(message.data(), message.size());
    return std::string(reinterpret_cast<const char*>(mac), len);
}

VerifyResult CachingVerifier::verify_password(std::string_view user, std::string_view password) {
    std::chrono::milliseconds ttl;
    {
        std::lock_guard lock(mutex_);
        ttl = ttl_;
    }
    if (ttl.count() == 0) return store_.verify_password(user, password);
    std::optional<std::string> fingerprint;
    try {
        fingerprint = store_.credential_fingerprint(user);
    } catch (const std::exception& e) {
        VerifyResult r;
        r.status = VerifyResult::Status::unavailable;
        r.reason = std::string("account store: ") + e.what();
        return r;
    }
    if (!fingerprint) return store_.verify_password(user, password);  // unknown user: the store's own timing

    auto k = key(user, password, *fingerprint);
    auto now = Clock::now();
    {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(k);
        if (it != entries_.end()) {
            if (it->second.expires > now) {
                ++hits_;
                return it->second.result;
            }
            order_.erase(it->second.order);
            entries_.erase(it);
        }
    }
    auto result = store_.verify_password(user, password);
    if (result.status != VerifyResult::Status::ok) return result;
    std::lock_guard lock(mutex_);
    if (entries_.size() >= max_entries_ && !order_.empty()) {
        entries_.erase(order_.front());
        order_.pop_front();
    }
    if (!entries_.contains(k)) {
        order_.push_back(k);
        entries_.emplace(k, Entry{result, now + ttl_, std::prev(order_.end())});
    }
    return result;
}

std::optional<ScramCredentials> CachingVerifier::scram_credentials(std::string_view user) {
    return store_.scram_credentials(user);  // SCRAM costs one HMAC per key already: nothing to cache
}

void CachingVerifier::app_password_used(std::string_view user, std::string_view label) {
    store_.app_password_used(user, label);
}

void CachingVerifier::set_ttl(std::chrono::milliseconds ttl) {
    std::lock_guard lock(mutex_);
    ttl_ = ttl;
    if (ttl.count() == 0) {
        entries_.clear();
        order_.clear();
    }
}

uint64_t CachingVerifier::hits() const {
    std::lock_guard lock(mutex_);
    return hits_;
}

}  // namespace postern::auth
