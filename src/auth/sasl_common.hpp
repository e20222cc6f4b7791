// Helpers shared by the SASL mechanisms: name handling and the password check behind PLAIN and LOGIN.
#pragma once

#include <string>
#include <string_view>

#include "auth/credentials.hpp"
#include "auth/sasl.hpp"

namespace postern::auth::sasl_detail {

// RFC 4616 §2 and draft-murchison-sasl-login: each of authzid, authcid and password is at most 255 octets.
inline constexpr size_t kMaxFieldSize = 255;

std::string ascii_lower(std::string_view text);
bool valid_utf8(std::string_view text);
// The attempted user name made safe for one log line: ASCII lower-cased, octets below 0x21, 0x7F, '"' and
// '\\' written as \xNN, cut at 64 octets (then "...").
std::string user_for_log(std::string_view name);

SaslOutcome malformed(std::string_view reason, std::string_view attempted_user = {});
SaslOutcome failure(std::string_view reason, std::string_view attempted_user = {});
SaslOutcome temporary_failure(std::string_view reason, std::string_view attempted_user = {});

// verifier.verify_password(user, password) as an outcome: ok → success (data empty, user canonical, the
// app password's use recorded), bad → failure with the verifier's reason, unavailable or a throw →
// temporary_failure.
SaslOutcome check_password(CredentialVerifier& verifier, std::string_view user, std::string_view password);

// verifier.app_password_used, which must not turn a verified login into a failure: returns "" or a note
// for the log when recording the use threw.
std::string record_app_password_use(CredentialVerifier& verifier, std::string_view user, std::string_view label);

}  // namespace postern::auth::sasl_detail
