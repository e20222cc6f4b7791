// SCRAM-SHA-256 (RFC 5802, RFC 7677), server side, without channel binding: the -PLUS variant is not offered,
// so a client asking for binding ("p=") fails and "y" is accepted. Names are taken as sent (no SASLprep)
// and looked up ASCII lower-cased, as the account store keeps them.
//
// An unknown user gets a server-first-message like any other (a salt derived from the name with a
// per-process secret, 4096 iterations), so the exchange does not reveal which accounts exist; it fails at
// the proof. The proof is checked against every key of the account (main password and app passwords
// share one salt and iteration count).
#include <openssl/crypto.h>

#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/sasl_common.hpp"
#include "auth/sasl_mechanisms.hpp"
#include "auth/scram.hpp"
#include "smtp/base64.hpp"

namespace postern::auth {
namespace {

using namespace sasl_detail;
using smtp::base64_decode;
using smtp::base64_encode;

constexpr size_t kServerNonceOctets = 24;
constexpr uint32_t kFakeIterations = 4096;

// Splits on ','; empty pieces are kept so that the caller can reject them.
std::vector<std::string_view> split_attributes(std::string_view text) {
    std::vector<std::string_view> out;
    size_t start = 0;
    while (true) {
        auto comma = text.find(',', start);
        out.push_back(text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
        if (comma == std::string_view::npos) return out;
        start = comma + 1;
    }
}

// saslname (RFC 5802 §7): UTF-8 without NUL or ',', with '=' only in the escapes =2C (',') and =3D ('=').
std::optional<std::string> decode_saslname(std::string_view text) {
    if (text.empty() || !valid_utf8(text)) return std::nullopt;
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '\0' || c == ',') return std::nullopt;
        if (c != '=') {
            out += c;
            continue;
        }
        auto escape = text.substr(i + 1, 2);
        if (escape == "2C") {
            out += ',';
        } else if (escape == "3D") {
            out += '=';
        } else {
            return std::nullopt;
        }
        i += 2;
    }
    return out;
}

// printable = %x21-2B / %x2D-7E (no ',').
bool valid_nonce(std::string_view nonce) {
    if (nonce.empty()) return false;
    for (char c : nonce)
        if (c < 0x21 || c > 0x7E || c == ',') return false;
    return true;
}

// attr-val = ALPHA "=" value; value = 1*value-char (UTF-8 without NUL and ',').
bool valid_extension(std::string_view attr) {
    if (attr.size() < 3 || attr[1] != '=') return false;
    char a = attr[0];
    if (!((a >= 'a' && a <= 'z') || (a >= 'A' && a <= 'Z'))) return false;
    auto value = attr.substr(2);
    return value.find('\0') == std::string_view::npos && valid_utf8(value);
}

// A stable salt for a user that does not exist, as long as a real one (kScramSaltSize octets).
std::string fake_salt(std::string_view user) {
    static const std::string secret = random_bytes(kScramHashSize);
    return hmac_sha256(secret, user).substr(0, kScramSaltSize);
}

class ScramSha256Mechanism final : public SaslMechanism {
public:
    ScramSha256Mechanism(CredentialVerifier& verifier, std::string server_nonce)
        : verifier_(verifier), server_nonce_(std::move(server_nonce)) {}

    SaslOutcome step(std::optional<std::string_view> client_data) override {
        switch (state_) {
        case State::start:
            if (!client_data) {
                // The client speaks first; without an initial response, ask for it with an empty challenge.
                state_ = State::awaiting_client_first;
                SaslOutcome out;
                out.kind = SaslOutcome::Kind::challenge;
                return out;
            }
            [[fallthrough]];
        case State::awaiting_client_first:
            state_ = State::done;
            return client_first(client_data.value_or(std::string_view{}));
        case State::awaiting_client_final:
            state_ = State::done;
            return client_final(client_data.value_or(std::string_view{}));
        case State::done:
            break;
        }
        return failure("SCRAM exchange already finished", user_);
    }

private:
    enum class State { start, awaiting_client_first, awaiting_client_final, done };

    // client-first-message = gs2-header client-first-message-bare
    SaslOutcome client_first(std::string_view message) {
        if (message.starts_with("p=")) return failure("client requires channel binding (SCRAM-SHA-256-PLUS not offered)");
        if (message.size() < 2 || (message[0] != 'n' && message[0] != 'y') || message[1] != ',')
            return malformed("SCRAM client-first-message: bad GS2 channel binding flag");
        size_t pos = 2;
        std::optional<std::string> authzid;
        if (message.substr(pos).starts_with("a=")) {
            auto comma = message.find(',', pos);
            if (comma == std::string_view::npos) return malformed("SCRAM client-first-message: bad GS2 header");
            // An empty "a=" is outside the grammar, but some clients (gsasl with an empty authorization id)
            // send it: taken as no authorization identity, as in PLAIN.
            if (comma > pos + 2) {
                authzid = decode_saslname(message.substr(pos + 2, comma - pos - 2));
                if (!authzid) return malformed("SCRAM client-first-message: bad authorization identity");
            }
            pos = comma + 1;
        } else if (pos < message.size() && message[pos] == ',') {
            ++pos;
        } else {
            return malformed("SCRAM client-first-message: bad GS2 header");
        }
        gs2_header_ = message.substr(0, pos);
        auto bare = message.substr(pos);

        auto attrs = split_attributes(bare);
        if (attrs[0].starts_with("m=")) return failure("SCRAM mandatory extension not supported");
        if (!attrs[0].starts_with("n=")) return malformed("SCRAM client-first-message: no user name");
        auto user = decode_saslname(attrs[0].substr(2));
        if (!user) return malformed("SCRAM client-first-message: bad user name");
        user_ = *user;
        if (attrs.size() < 2 || !attrs[1].starts_with("r=") || !valid_nonce(attrs[1].substr(2)))
            return malformed("SCRAM client-first-message: bad nonce", user_);
        for (size_t i = 2; i < attrs.size(); ++i)
            if (!valid_extension(attrs[i])) return malformed("SCRAM client-first-message: bad extension", user_);
        if (authzid && ascii_lower(*authzid) != ascii_lower(user_))
            return failure("authorization identity differs", user_);

        std::string name = ascii_lower(user_);
        std::string salt;
        uint32_t iterations = kFakeIterations;
        try {
            credentials_ = verifier_.scram_credentials(name);
            if (credentials_ && !credentials_->salt.empty() && credentials_->iterations != 0) {
                salt = credentials_->salt;
                iterations = credentials_->iterations;
            } else {
                // Unknown user, or an account without a salt (it can have no usable key): fail at the proof.
                salt = fake_salt(name);
                if (credentials_) credentials_->keys.clear();
            }
            nonce_ = std::string(attrs[1].substr(2)) +
                     (server_nonce_.empty() ? base64_encode(random_bytes(kServerNonceOctets)) : server_nonce_);
        } catch (const std::exception& e) {
            return temporary_failure(std::string("SCRAM credentials: ") + e.what(), user_);
        }
        client_first_bare_ = bare;
        server_first_ = "r=" + nonce_ + ",s=" + base64_encode(salt) + ",i=" + std::to_string(iterations);
        state_ = State::awaiting_client_final;
        SaslOutcome out;
        out.kind = SaslOutcome::Kind::challenge;
        out.data = server_first_;
        return out;
    }

    // client-final-message = "c=" base64(gs2-header) "," "r=" nonce ["," extensions] "," "p=" base64(proof)
    SaslOutcome client_final(std::string_view message) {
        auto attrs = split_attributes(message);
        if (attrs.size() < 3 || !attrs[0].starts_with("c=") || !attrs[1].starts_with("r=") ||
            !attrs.back().starts_with("p="))
            return malformed("SCRAM client-final-message: bad syntax", user_);
        for (size_t i = 2; i + 1 < attrs.size(); ++i)
            if (!valid_extension(attrs[i])) return malformed("SCRAM client-final-message: bad extension", user_);
        auto proof = base64_decode(attrs.back().substr(2));
        if (!proof || proof->size() != kScramHashSize)
            return malformed("SCRAM client-final-message: bad proof", user_);
        if (attrs[0].substr(2) != base64_encode(gs2_header_))
            return failure("SCRAM channel binding data differs from the GS2 header", user_);
        if (attrs[1].substr(2) != nonce_) return failure("SCRAM nonce differs", user_);
        if (!credentials_) return failure("unknown user", user_);
        if (credentials_->keys.empty())
            return failure("no SCRAM key for this account (none derived yet, or app passwords required)", user_);

        auto without_proof = message.substr(0, message.size() - attrs.back().size() - 1);
        std::string auth_message = client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
        const ScramKey* matched = nullptr;
        std::string server_signature;
        try {
            // Every key is tried, so the time taken does not tell which one matched.
            for (const auto& key : credentials_->keys) {
                if (key.stored_key.size() != kScramHashSize || key.server_key.size() != kScramHashSize) continue;
                std::string client_key = hmac_sha256(key.stored_key, auth_message);
                for (size_t i = 0; i < kScramHashSize; ++i) client_key[i] ^= (*proof)[i];
                std::string stored = sha256(client_key);
                OPENSSL_cleanse(client_key.data(), client_key.size());
                if (CRYPTO_memcmp(stored.data(), key.stored_key.data(), kScramHashSize) == 0 && !matched)
                    matched = &key;
            }
            if (matched) server_signature = hmac_sha256(matched->server_key, auth_message);
        } catch (const std::exception& e) {
            return temporary_failure(std::string("SCRAM: ") + e.what(), user_);
        }
        if (!matched) return failure("wrong password", user_);

        SaslOutcome out;
        out.kind = SaslOutcome::Kind::success;
        out.user = credentials_->user.empty() ? ascii_lower(user_) : credentials_->user;
        out.data = "v=" + base64_encode(server_signature);
        if (!matched->app_password_label.empty())
            out.log_reason = record_app_password_use(verifier_, out.user, matched->app_password_label);
        return out;
    }

    CredentialVerifier& verifier_;
    std::string server_nonce_;
    State state_ = State::start;
    std::string user_;  // as sent, decoded
    std::string gs2_header_;
    std::string client_first_bare_;
    std::string server_first_;
    std::string nonce_;  // client nonce + server nonce
    std::optional<ScramCredentials> credentials_;
};

}  // namespace

std::unique_ptr<SaslMechanism> make_scram_sha256_mechanism(CredentialVerifier& verifier, std::string server_nonce) {
    return std::make_unique<ScramSha256Mechanism>(verifier, std::move(server_nonce));
}

}  // namespace postern::auth
