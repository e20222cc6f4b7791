// Answers the core's "who receives this address?" for local domains from the account store.
#pragma once

#include <string>

#include "auth/account_store.hpp"
#include "smtp/session.hpp"

namespace postern::server {

class RecipientResolver {
public:
    RecipientResolver(auth::AccountStore& accounts, std::string postmaster)
        : accounts_(accounts), postmaster_(std::move(postmaster)) {}

    // alice@<local domain> → alice; "alice+tag" → alice when there is no "alice+tag" account; postmaster (with
    // or without a domain) is always accepted (RFC 5321 §4.5.1) and goes to the configured postmaster user.
    smtp::RecipientResult resolve(const smtp::Mailbox& address);

private:
    auth::AccountStore& accounts_;
    std::string postmaster_;
};

}  // namespace postern::server
