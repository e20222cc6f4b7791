// What SASL mechanisms need from an account store: password checks and SCRAM keys.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::auth {

struct VerifyResult {
    enum class Status { ok, bad, unavailable } status = Status::bad;
    std::string user;    // ok: the canonical account name
    std::string reason;  // bad: "unknown user", "wrong password", "revoked app password", ... (logs only)
    std::string app_password_label;  // ok via an app password: its label (for "last used")
};

// SCRAM-SHA-256 keys of one credential (RFC 5802 §3): StoredKey = H(ClientKey), ServerKey.
struct ScramKey {
    std::string stored_key;  // 32 raw octets
    std::string server_key;  // 32 raw octets
    std::string app_password_label;  // empty for the main password
};

// All credentials of one account share one salt and iteration count, so that one SCRAM exchange can be
// checked against the main password and every app password.
struct ScramCredentials {
    std::string user;
    std::string salt;  // raw octets
    uint32_t iterations = 4096;
    std::vector<ScramKey> keys;  // the main password's only when it is valid for SMTP (see require_app_password)
};

class CredentialVerifier {
public:
    virtual ~CredentialVerifier() = default;
    // Main password (unless require_app_password) or any unrevoked app password. Constant time per credential.
    virtual VerifyResult verify_password(std::string_view user, std::string_view password) = 0;
    // nullopt when the account does not exist; throws on store failure (the caller answers 454).
    virtual std::optional<ScramCredentials> scram_credentials(std::string_view user) = 0;
    // Records a successful login with an app password ("last used").
    virtual void app_password_used(std::string_view user, std::string_view label) = 0;
};

}  // namespace postern::auth
