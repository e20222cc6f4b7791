#include "server/guarded_verifier.hpp"

#include <stdexcept>

#include "smtp/address.hpp"

namespace postern::server {

bool GuardedVerifier::locked(const std::string& user) const {
    return client_ && policy_.account_locked(*client_, user, policy::Clock::now());
}

auth::VerifyResult GuardedVerifier::verify_password(std::string_view user, std::string_view password) {
    last_user_ = smtp::ascii_lower(user);
    if (locked(last_user_)) {
        auth::VerifyResult r;
        r.status = auth::VerifyResult::Status::unavailable;
        r.reason = "account locked after too many failures";
        return r;
    }
    return store_.verify_password(user, password);
}

std::optional<auth::ScramCredentials> GuardedVerifier::scram_credentials(std::string_view user) {
    last_user_ = smtp::ascii_lower(user);
    if (locked(last_user_))
        throw std::runtime_error("account locked after too many failures");
    return store_.scram_credentials(user);
}

void GuardedVerifier::app_password_used(std::string_view user, std::string_view label) {
    store_.app_password_used(user, label);
}

}  // namespace postern::server
