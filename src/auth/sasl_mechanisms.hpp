// The mechanism implementations behind make_mechanism(), one per file (sasl_plain.cpp, sasl_login.cpp,
// sasl_scram.cpp). `verifier` must outlive the mechanism.
#pragma once

#include <memory>
#include <string>

#include "auth/credentials.hpp"
#include "auth/sasl.hpp"

namespace postern::auth {

std::unique_ptr<SaslMechanism> make_plain_mechanism(CredentialVerifier& verifier);
std::unique_ptr<SaslMechanism> make_login_mechanism(CredentialVerifier& verifier);
// `server_nonce` is the part the server appends to the client's nonce; empty (the default) means 24 random
// octets, base64-encoded. Tests pass a fixed value to replay RFC 7677's example exchange.
std::unique_ptr<SaslMechanism> make_scram_sha256_mechanism(CredentialVerifier& verifier,
                                                           std::string server_nonce = {});

}  // namespace postern::auth
