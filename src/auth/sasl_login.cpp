// LOGIN (draft-murchison-sasl-login-00): "Username:" then "Password:", each answered with the bare value.
// An initial response on the AUTH line is the user name. An empty initial response ("AUTH LOGIN =") is
// taken as none, as Dovecot and Cyrus do, since an empty user name could never succeed.
#include <optional>
#include <string>
#include <string_view>

#include "auth/sasl_common.hpp"
#include "auth/sasl_mechanisms.hpp"

namespace postern::auth {
namespace {

using namespace sasl_detail;

class LoginMechanism final : public SaslMechanism {
public:
    explicit LoginMechanism(CredentialVerifier& verifier) : verifier_(verifier) {}

    SaslOutcome step(std::optional<std::string_view> client_data) override {
        auto data = client_data.value_or(std::string_view{});
        switch (state_) {
        case State::start:
            if (data.empty()) {
                state_ = State::awaiting_user;
                return challenge("Username:");
            }
            [[fallthrough]];
        case State::awaiting_user:
            if (auto bad = take_user(data)) {
                state_ = State::done;
                return *bad;
            }
            state_ = State::awaiting_password;
            return challenge("Password:");
        case State::awaiting_password:
            state_ = State::done;
            if (data.empty()) return malformed("LOGIN with an empty password", user_);
            if (data.size() > kMaxFieldSize) return malformed("LOGIN password longer than 255 octets", user_);
            if (data.find('\0') != std::string_view::npos) return malformed("LOGIN password with a NUL", user_);
            return check_password(verifier_, user_, data);
        case State::done:
            break;
        }
        return failure("LOGIN exchange already finished", user_);
    }

private:
    enum class State { start, awaiting_user, awaiting_password, done };

    static SaslOutcome challenge(std::string_view prompt) {
        SaslOutcome out;
        out.kind = SaslOutcome::Kind::challenge;
        out.data = prompt;
        return out;
    }

    std::optional<SaslOutcome> take_user(std::string_view data) {
        if (data.empty()) return malformed("LOGIN with an empty user name");
        if (data.size() > kMaxFieldSize) return malformed("LOGIN user name longer than 255 octets", data);
        if (data.find('\0') != std::string_view::npos || !valid_utf8(data))
            return malformed("LOGIN user name with a NUL or not UTF-8", data);
        user_ = data;
        return std::nullopt;
    }

    CredentialVerifier& verifier_;
    State state_ = State::start;
    std::string user_;
};

}  // namespace

std::unique_ptr<SaslMechanism> make_login_mechanism(CredentialVerifier& verifier) {
    return std::make_unique<LoginMechanism>(verifier);
}

}  // namespace postern::auth
