// Server side SASL mechanisms (RFC 4422): PLAIN (RFC 4616), LOGIN, SCRAM-SHA-256 (RFC 5802 / RFC 7677).
// The SMTP core frames the exchange (334 lines, base64, cancel); a mechanism sees only decoded client data.
// step() may verify a password (argon2id: slow by design), so the server calls it off the I/O threads.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/credentials.hpp"

namespace postern::auth {

struct SaslOutcome {
    enum class Kind { challenge, success, failure, temporary_failure, malformed } kind = Kind::failure;
    std::string data;        // challenge: raw server data; success: final server data (SCRAM), may be empty
    // success: the authenticated (canonical) account. Otherwise the attempted user name when one was parsed,
    // for the log only: ASCII lower-cased, octets below 0x21, 0x7F, '"' and '\\' as \xNN, cut at 64 octets.
    std::string user;
    // failure, malformed, temporary_failure: the real reason, for the log line only (the client always sees
    // 535 / 501 / 454). success: empty, or a non-fatal note (an app password's last use not recorded).
    std::string log_reason;
};

class SaslMechanism {
public:
    virtual ~SaslMechanism() = default;
    // The first call carries the initial response (nullopt when the client sent none); later calls each
    // client response, decoded.
    virtual SaslOutcome step(std::optional<std::string_view> client_data) = 0;
};

// Upper-case names in the order they are advertised.
const std::vector<std::string>& mechanism_names();
// `name` exactly as in mechanism_names(); nullptr for a name that is not supported. `verifier` must outlive the mechanism.
std::unique_ptr<SaslMechanism> make_mechanism(std::string_view name, CredentialVerifier& verifier);

}  // namespace postern::auth
