#include "auth/sasl.hpp"

#include "auth/sasl_mechanisms.hpp"

namespace postern::auth {

const std::vector<std::string>& mechanism_names() {
    static const std::vector<std::string> names{"PLAIN", "LOGIN", "SCRAM-SHA-256"};
    return names;
}

std::unique_ptr<SaslMechanism> make_mechanism(std::string_view name, CredentialVerifier& verifier) {
    if (name == "PLAIN") return make_plain_mechanism(verifier);
    if (name == "LOGIN") return make_login_mechanism(verifier);
    if (name == "SCRAM-SHA-256") return make_scram_sha256_mechanism(verifier);
    return nullptr;
}

}  // namespace postern::auth
