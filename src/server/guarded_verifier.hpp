// The account store as SASL mechanisms see it, with the per-account lockout in front: while an account is
// locked no password is checked and AUTH gets 454 4.7.0. It also remembers which account was tried.
#pragma once

#include <string>

#include "auth/credentials.hpp"
#include "policy/policy.hpp"

namespace postern::server {

class GuardedVerifier : public auth::CredentialVerifier {
public:
    GuardedVerifier(auth::CredentialVerifier& store, policy::Policy& policy, std::optional<policy::IpAddress> client)
        : store_(store), policy_(policy), client_(std::move(client)) {}

    auth::VerifyResult verify_password(std::string_view user, std::string_view password) override;
    std::optional<auth::ScramCredentials> scram_credentials(std::string_view user) override;
    void app_password_used(std::string_view user, std::string_view label) override;

    const std::string& last_user() const { return last_user_; }

private:
    auth::CredentialVerifier& store_;  // the account store, through the verification cache
    bool locked(const std::string& user) const;

    policy::Policy& policy_;
    std::optional<policy::IpAddress> client_;
    std::string last_user_;
};

}  // namespace postern::server
