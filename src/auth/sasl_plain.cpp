// PLAIN (RFC 4616): message = [authzid] NUL authcid NUL passwd, in one client response.
#include <optional>
#include <string_view>

#include "auth/sasl_common.hpp"
#include "auth/sasl_mechanisms.hpp"

namespace postern::auth {
namespace {

using namespace sasl_detail;

class PlainMechanism final : public SaslMechanism {
public:
    explicit PlainMechanism(CredentialVerifier& verifier) : verifier_(verifier) {}

    SaslOutcome step(std::optional<std::string_view> client_data) override {
        switch (state_) {
        case State::start:
            if (!client_data) {
                // No initial response: an empty challenge asks for the message (RFC 4616 §2).
                state_ = State::awaiting_message;
                SaslOutcome out;
                out.kind = SaslOutcome::Kind::challenge;
                return out;
            }
            break;
        case State::awaiting_message:
            break;
        case State::done:
            return failure("PLAIN exchange already finished");
        }
        state_ = State::done;
        return check(client_data.value_or(std::string_view{}));
    }

private:
    enum class State { start, awaiting_message, done };

    SaslOutcome check(std::string_view message) {
        auto nul1 = message.find('\0');
        if (nul1 == std::string_view::npos) return malformed("PLAIN message without NUL separators");
        auto nul2 = message.find('\0', nul1 + 1);
        if (nul2 == std::string_view::npos) return malformed("PLAIN message with one NUL separator");
        if (message.find('\0', nul2 + 1) != std::string_view::npos)
            return malformed("PLAIN message with more than two NUL separators");
        auto authzid = message.substr(0, nul1);
        auto authcid = message.substr(nul1 + 1, nul2 - nul1 - 1);
        auto password = message.substr(nul2 + 1);
        if (authcid.empty()) return malformed("PLAIN message with an empty user name");
        if (password.empty()) return malformed("PLAIN message with an empty password", authcid);
        if (authzid.size() > kMaxFieldSize || authcid.size() > kMaxFieldSize || password.size() > kMaxFieldSize)
            return malformed("PLAIN field longer than 255 octets", authcid);
        if (!valid_utf8(authzid) || !valid_utf8(authcid)) return malformed("PLAIN name not UTF-8", authcid);
        if (!authzid.empty() && ascii_lower(authzid) != ascii_lower(authcid))
            return failure("authorization identity differs", authcid);
        return check_password(verifier_, authcid, password);
    }

    CredentialVerifier& verifier_;
    State state_ = State::start;
};

}  // namespace

std::unique_ptr<SaslMechanism> make_plain_mechanism(CredentialVerifier& verifier) {
    return std::make_unique<PlainMechanism>(verifier);
}

}  // namespace postern::auth
