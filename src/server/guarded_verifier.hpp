// The account store as SASL mechanisms see it, with the per-account lockout in front: while an account is
// locked no password is checked and AUTH gets 454 4.7.0. It also remembers which account was tried.
#pragma once

#include <string>

#include "auth/account_store.hpp"
#include "auth/credentials.hpp"
#include "policy/policy.hpp"

namespace postern::server {

class GuardedVerifier : public auth::CredentialVerifier {
public:
    GuardedVerifier(auth::AccountStore& store, policy::Policy& policy) : store_(store), policy_(policy) {}

    auth::VerifyResult verify_password(std::string_view user, std::string_view password) override;
    std::optional<auth::ScramCredentials> scram_credentials(std::string_view user) override;
    void app_password_used(std::string_view user, std::string_view label) override;

    const std::string& last_user() const { return last_user_; }

private:
    auth::AccountStore& store_;
    policy::Policy& policy_;
    std::string last_user_;
};

}  // namespace postern::server
