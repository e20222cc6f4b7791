// SASL mechanisms against a fake credential store: PLAIN (RFC 4616), LOGIN, SCRAM-SHA-256 (RFC 5802 / 7677,
// including the RFC 7677 §3 example exchange byte for byte).
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "auth/credentials.hpp"
#include "auth/sasl.hpp"
#include "auth/sasl_mechanisms.hpp"
#include "auth/scram.hpp"
#include "smtp/base64.hpp"

using namespace postern::auth;
using postern::smtp::base64_decode;
using postern::smtp::base64_encode;
using Kind = SaslOutcome::Kind;
using namespace std::string_literals;

namespace {

// RFC 7677 §3.
const std::string kRfcSalt = *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==");
constexpr std::string_view kRfcClientNonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view kRfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfcServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kRfcClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kRfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

struct FakeAccount {
    std::string password;
    std::vector<std::pair<std::string, std::string>> app_passwords;  // label, password
    std::string salt = kRfcSalt;
    uint32_t iterations = 4096;
    bool main_password_for_smtp = true;
};

class FakeVerifier : public CredentialVerifier {
public:
    std::map<std::string, FakeAccount> accounts;  // lower-case names
    bool unavailable = false;
    bool throws = false;
    std::vector<std::pair<std::string, std::string>> verify_calls;
    std::vector<std::string> scram_calls;
    std::vector<std::pair<std::string, std::string>> used;  // user, label

    VerifyResult verify_password(std::string_view user, std::string_view password) override {
        verify_calls.emplace_back(user, password);
        if (throws) throw std::runtime_error("database is locked");
        VerifyResult r;
        if (unavailable) {
            r.status = VerifyResult::Status::unavailable;
            r.reason = "store down";
            return r;
        }
        std::string name(user);
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        auto it = accounts.find(name);
        if (it == accounts.end()) {
            r.reason = "unknown user";
            return r;
        }
        if (it->second.main_password_for_smtp && password == it->second.password) {
            r.status = VerifyResult::Status::ok;
            r.user = name;
            return r;
        }
        for (auto& [label, pw] : it->second.app_passwords) {
            if (password == pw) {
                r.status = VerifyResult::Status::ok;
                r.user = name;
                r.app_password_label = label;
                return r;
            }
        }
        r.reason = "wrong password";
        return r;
    }

    std::optional<ScramCredentials> scram_credentials(std::string_view user) override {
        scram_calls.emplace_back(user);
        if (throws) throw std::runtime_error("database is locked");
        auto it = accounts.find(std::string(user));
        if (it == accounts.end()) return std::nullopt;
        ScramCredentials c;
        c.user = it->first;
        c.salt = it->second.salt;
        c.iterations = it->second.iterations;
        if (it->second.main_password_for_smtp)
            c.keys.push_back(derive_scram_key(it->second.password, c.salt, c.iterations));
        for (auto& [label, pw] : it->second.app_passwords) {
            c.keys.push_back(derive_scram_key(pw, c.salt, c.iterations));
            c.keys.back().app_password_label = label;
        }
        return c;
    }

    void app_password_used(std::string_view user, std::string_view label) override { used.emplace_back(user, label); }
};

class SaslTest : public ::testing::Test {
protected:
    SaslTest() {
        verifier.accounts["alice"] = FakeAccount{"correct horse", {{"phone", "app-secret-1"}, {"laptop", "app-secret-2"}}};
        verifier.accounts["user"] = FakeAccount{"pencil", {}};
    }
    FakeVerifier verifier;
};

// ---------------------------------------------------------------------------------------------------------
// Mechanism list and factory

TEST(SaslMechanisms, NamesInAdvertisedOrder) {
    EXPECT_EQ(mechanism_names(), (std::vector<std::string>{"PLAIN", "LOGIN", "SCRAM-SHA-256"}));
}

TEST_F(SaslTest, FactoryKnowsEveryAdvertisedNameAndNothingElse) {
    for (const auto& name : mechanism_names()) EXPECT_NE(make_mechanism(name, verifier), nullptr) << name;
    EXPECT_EQ(make_mechanism("CRAM-MD5", verifier), nullptr);
    EXPECT_EQ(make_mechanism("SCRAM-SHA-256-PLUS", verifier), nullptr);
    EXPECT_EQ(make_mechanism("SCRAM-SHA-1", verifier), nullptr);
    EXPECT_EQ(make_mechanism("", verifier), nullptr);
}

// ---------------------------------------------------------------------------------------------------------
// PLAIN

TEST_F(SaslTest, PlainInitialResponseSucceeds) {
    auto m = make_mechanism("PLAIN", verifier);
    auto out = m->step("\0alice\0correct horse"s);
    EXPECT_EQ(out.kind, Kind::success);
    EXPECT_EQ(out.user, "alice");
    EXPECT_EQ(out.data, "");
    EXPECT_EQ(out.log_reason, "");
    ASSERT_EQ(verifier.verify_calls.size(), 1u);
    EXPECT_EQ(verifier.verify_calls[0], (std::pair<std::string, std::string>{"alice", "correct horse"}));
    EXPECT_TRUE(verifier.used.empty());
}

TEST_F(SaslTest, PlainWithoutInitialResponseSendsEmptyChallenge) {
    auto m = make_mechanism("PLAIN", verifier);
    auto first = m->step(std::nullopt);
    EXPECT_EQ(first.kind, Kind::challenge);
    EXPECT_EQ(first.data, "");
    EXPECT_TRUE(verifier.verify_calls.empty());
    auto out = m->step("\0alice\0correct horse"s);
    EXPECT_EQ(out.kind, Kind::success);
    EXPECT_EQ(out.user, "alice");
}

TEST_F(SaslTest, PlainEmptyInitialResponseIsMalformed) {
    // "AUTH PLAIN =" is an empty message, not a missing one (RFC 4954 §4).
    auto m = make_mechanism("PLAIN", verifier);
    EXPECT_EQ(m->step(""s).kind, Kind::malformed);
    EXPECT_TRUE(verifier.verify_calls.empty());
}

TEST_F(SaslTest, PlainEmptyResponseAfterChallengeIsMalformed) {
    auto m = make_mechanism("PLAIN", verifier);
    EXPECT_EQ(m->step(std::nullopt).kind, Kind::challenge);
    EXPECT_EQ(m->step(""s).kind, Kind::malformed);
}

TEST_F(SaslTest, PlainWrongPasswordFailsWithVerifierReason) {
    auto m = make_mechanism("PLAIN", verifier);
    auto out = m->step("\0Alice\0wrong"s);
    EXPECT_EQ(out.kind, Kind::failure);
    EXPECT_EQ(out.log_reason, "wrong password");
    EXPECT_EQ(out.user, "alice");  // the attempted name, for the log
}

TEST_F(SaslTest, PlainUnknownUserFails) {
    auto out = make_mechanism("PLAIN", verifier)->step("\0mallory\0x"s);
    EXPECT_EQ(out.kind, Kind::failure);
    EXPECT_EQ(out.log_reason, "unknown user");
    EXPECT_EQ(out.user, "mallory");
}

TEST_F(SaslTest, PlainSucceedsWithCanonicalNameWhenClientUsesUpperCase) {
    auto out = make_mechanism("PLAIN", verifier)->step("ALICE\0Alice\0correct horse"s);
    EXPECT_EQ(out.kind, Kind::success);
    EXPECT_EQ(out.user, "alice");
}

TEST_F(SaslTest, PlainAuthzidDifferentFromAuthcidFailsWithoutCheckingPassword) {
    auto out = make_mechanism("PLAIN", verifier)->step("bob\0alice\0correct horse"s);
    EXPECT_EQ(out.kind, Kind::failure);
    EXPECT_EQ(out.log_reason, "authorization identity differs");
    EXPECT_EQ(out.user, "alice");
    EXPECT_TRUE(verifier.verify_calls.empty());
}

TEST_F(SaslTest, PlainAppPasswordRecordsUse) {
    auto out = make_mechanism("PLAIN", verifier)->step("\0alice\0app-secret-2"s);
    EXPECT_EQ(out.kind, Kind::success);
    EXPECT_EQ(out.user, "alice");
    ASSERT_EQ(verifier.used.size(), 1u);
    EXPECT_EQ(verifier.used[0], (std::pair<std::string, std::string>{"alice", "laptop"}));
}

TEST_F(SaslTest, PlainBackendUnavailableIsTemporary) {
    verifier.unavailable = true;
    auto out = make_mechanism("PLAIN", verifier)->step("\0alice\0correct horse"s);
    EXPECT_EQ(out.kind, Kind::temporary_failure);
    EXPECT_EQ(out.log_reason, "store down");
    EXPECT_EQ(out.user, "alice");
}

TEST_F(SaslTest, PlainBackendThrowingIsTemporary) {
    verifier.throws = true;
    auto out = make_mechanism("PLAIN", verifier)->step("\0alice\0correct horse"s);
    EXPECT_EQ(out.kind, Kind::temporary_failure);
    EXPECT_NE(out.log_reason.find("database is locked"), std::string::npos);
}

TEST_F(SaslTest, PlainStepAfterTheEndFails) {
    auto m = make_mechanism("PLAIN", verifier);
    EXPECT_EQ(m->step("\0alice\0correct horse"s).kind, Kind::success);
    EXPECT_EQ(m->step("\0alice\0correct horse"s).kind, Kind::failure);
}

TEST_F(SaslTest, PlainUserNameInLogIsSanitised) {
    auto out = make_mechanism("PLAIN", verifier)->step("\0Eve \"x\"\r\n\0pw"s);
    EXPECT_EQ(out.kind, Kind::failure);
    EXPECT_EQ(out.user, "eve\\x20\\x22x\\x22\\x0D\\x0A");
}

class SaslPlainMalformed : public SaslTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(SaslPlainMalformed, IsMalformedAndNotVerified) {
    auto out = make_mechanism("PLAIN", verifier)->step(GetParam());
    EXPECT_EQ(out.kind, Kind::malformed) << out.log_reason;
    EXPECT_TRUE(verifier.verify_calls.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Sasl, SaslPlainMalformed,
    ::testing::Values("alice correct horse"s, "alice\0correct horse"s, "\0alice\0correct\0horse"s,
                      "\0\0correct horse"s, "\0alice\0"s, "\0\0"s, "\0"s + std::string(256, 'a') + "\0pw"s,
                      "\0alice\0"s + std::string(256, 'p'), std::string(256, 'z') + "\0alice\0pw"s,
                      "\0al\xFFice\0pw"s, "\xC0\xAF\0alice\0pw"s));

TEST_F(SaslTest, PlainFieldsOf255OctetsAreAccepted) {
    verifier.accounts[std::string(255, 'u')] = FakeAccount{std::string(255, 'p'), {}};
    auto out = make_mechanism("PLAIN", verifier)->step(std::string(255, 'u') + "\0"s + std::string(255, 'u') + "\0"s +
                                                       std::string(255, 'p'));
    EXPECT_EQ(out.kind, Kind::success);
}

// ---------------------------------------------------------------------------------------------------------
// LOGIN

TEST_F(SaslTest, LoginWithoutInitialResponse) {
    auto m = make_mechanism("LOGIN", verifier);
    auto c1 = m->step(std::nullopt);
    EXPECT_EQ(c1.kind, Kind::challenge);
    EXPECT_EQ(c1.data, "Username:");
    auto c2 = m->step("alice");
    EXPECT_EQ(c2.kind, Kind::challenge);
    EXPECT_EQ(c2.data, "Password:");
    EXPECT_TRUE(verifier.verify_calls.empty());
    auto out = m->step("correct horse");
    EXPECT_EQ(out.kind, Kind::success);
    EXPECT_EQ(out.user, "alice");
    EXPECT_EQ(out.data, "");
}

TEST_F(SaslTest, LoginInitialResponseIsTheUserName) {
    auto m = make_mechanism("LOGIN", verifier);
    auto c = m->step("alice");
    EXPECT_EQ(c.kind, Kind::challenge);
    EXPECT_EQ(c.data, "Password:");
    auto out = m->step("app-secret-1");
    EXPECT_EQ(out.kind, Kind::success);
    EXPECT_EQ(out.user, "alice");
    ASSERT_EQ(verifier.used.size(), 1u);
    EXPECT_EQ(verifier.used[0].second, "phone");
}

TEST_F(SaslTest, LoginEmptyInitialResponseAsksForTheUserName) {
    auto m = make_mechanism("LOGIN", verifier);
    auto c = m->step(""s);
    EXPECT_EQ(c.kind, Kind::challenge);
    EXPECT_EQ(c.data, "Username:");
}

TEST_F(SaslTest, LoginWrongPassword) {
    auto m = make_mechanism("LOGIN", verifier);
    m->step(std::nullopt);
    m->step("alice");
    auto out = m->step("nope");
    EXPECT_EQ(out.kind, Kind::failure);
    EXPECT_EQ(out.log_reason, "wrong password");
    EXPECT_EQ(out.user, "alice");
}

TEST_F(SaslTest, LoginEmptyAnswersAreMalformed) {
    auto m = make_mechanism("LOGIN", verifier);
    m->step(std::nullopt);
    EXPECT_EQ(m->step(""s).kind, Kind::malformed);

    auto m2 = make_mechanism("LOGIN", verifier);
    m2->step("alice");
    auto out = m2->step(""s);
    EXPECT_EQ(out.kind, Kind::malformed);
    EXPECT_EQ(out.user, "alice");
    EXPECT_TRUE(verifier.verify_calls.empty());
}

TEST_F(SaslTest, LoginOverlongOrNulFieldsAreMalformed) {
    EXPECT_EQ(make_mechanism("LOGIN", verifier)->step(std::string(256, 'a')).kind, Kind::malformed);
    EXPECT_EQ(make_mechanism("LOGIN", verifier)->step("al\0ice"s).kind, Kind::malformed);
    auto m = make_mechanism("LOGIN", verifier);
    m->step("alice");
    EXPECT_EQ(m->step(std::string(256, 'p')).kind, Kind::malformed);
    EXPECT_TRUE(verifier.verify_calls.empty());
}

TEST_F(SaslTest, LoginBackendUnavailableIsTemporary) {
    verifier.unavailable = true;
    auto m = make_mechanism("LOGIN", verifier);
    m->step("alice");
    EXPECT_EQ(m->step("correct horse").kind, Kind::temporary_failure);
}

// ---------------------------------------------------------------------------------------------------------
// SCRAM-SHA-256 primitives

TEST(SaslScramPrimitives, RandomSaltIs16FreshOctets) {
    auto a = random_salt();
    auto b = random_salt();
    EXPECT_EQ(a.size(), 16u);
    EXPECT_EQ(b.size(), 16u);
    EXPECT_NE(a, b);
}

TEST(SaslScramPrimitives, DeriveScramKeyShapesAndErrors) {
    auto k = derive_scram_key("pencil", kRfcSalt, 4096);
    EXPECT_EQ(k.stored_key.size(), 32u);
    EXPECT_EQ(k.server_key.size(), 32u);
    EXPECT_TRUE(k.app_password_label.empty());
    EXPECT_EQ(k.stored_key, derive_scram_key("pencil", kRfcSalt, 4096).stored_key);
    EXPECT_NE(k.stored_key, derive_scram_key("pencil", kRfcSalt, 4097).stored_key);
    EXPECT_NE(k.stored_key, derive_scram_key("pencil", "other salt", 4096).stored_key);
    EXPECT_THROW(derive_scram_key("pencil", kRfcSalt, 0), std::invalid_argument);
}

TEST(SaslScramPrimitives, HmacSha256Rfc4231Case2) {
    // 5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843
    EXPECT_EQ(base64_encode(hmac_sha256("Jefe", "what do ya want for nothing?")),
              "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
}

// ---------------------------------------------------------------------------------------------------------
// SCRAM-SHA-256 exchanges

// A SCRAM-SHA-256 client computed independently with OpenSSL, to drive the server.
struct ScramClient {
    std::string user = "user";
    std::string password = "pencil";
    std::string client_nonce = std::string(kRfcClientNonce);
    std::string gs2 = "n,,";
    std::string final_extensions;  // e.g. ",x=1", placed before the proof

    std::string bare() const { return "n=" + user + ",r=" + client_nonce; }
    std::string first() const { return gs2 + bare(); }

    struct Final {
        std::string message;
        std::string server_final;  // what the server must answer
    };
    Final final(std::string_view server_first) const {
        auto r = attr(server_first, 'r');
        auto salt = *base64_decode(attr(server_first, 's'));
        int iterations = std::stoi(attr(server_first, 'i'));
        unsigned char salted[32];
        EXPECT_EQ(PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                                    reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()),
                                    iterations, EVP_sha256(), 32, salted),
                  1);
        std::string salted_password(reinterpret_cast<char*>(salted), 32);
        std::string without_proof = "c=" + base64_encode(gs2) + ",r=" + r + final_extensions;
        std::string auth_message = bare() + "," + std::string(server_first) + "," + without_proof;
        auto client_key = hmac_sha256(salted_password, "Client Key");
        auto signature = hmac_sha256(sha256(client_key), auth_message);
        std::string proof = client_key;
        for (size_t i = 0; i < proof.size(); ++i) proof[i] ^= signature[i];
        auto server_signature = hmac_sha256(hmac_sha256(salted_password, "Server Key"), auth_message);
        return {without_proof + ",p=" + base64_encode(proof), "v=" + base64_encode(server_signature)};
    }

    static std::string attr(std::string_view message, char name) {
        std::string key = std::string(1, name) + "=";
        size_t pos = 0;
        while (pos <= message.size()) {
            auto comma = message.find(',', pos);
            auto item = message.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
            if (item.starts_with(key)) return std::string(item.substr(2));
            if (comma == std::string_view::npos) break;
            pos = comma + 1;
        }
        ADD_FAILURE() << "no " << name << "= in " << message;
        return {};
    }
};

std::unique_ptr<SaslMechanism> rfc_scram(CredentialVerifier& verifier) {
    return make_scram_sha256_mechanism(verifier, std::string(kRfcServerNonce));
}

TEST_F(SaslTest, ScramRfc7677ExampleByteForByte) {
    // The test client reproduces the RFC's proof, so it is a fair judge of the server below.
    EXPECT_EQ(ScramClient{}.final(kRfcServerFirst).message, kRfcClientFinal);
    EXPECT_EQ(ScramClient{}.final(kRfcServerFirst).server_final, kRfcServerFinal);

    auto m = rfc_scram(verifier);
    auto first = m->step(kRfcClientFirst);
    ASSERT_EQ(first.kind, Kind::challenge) << first.log_reason;
    EXPECT_EQ(first.data, kRfcServerFirst);
    ASSERT_EQ(verifier.scram_calls.size(), 1u);
    EXPECT_EQ(verifier.scram_calls[0], "user");
    auto out = m->step(kRfcClientFinal);
    ASSERT_EQ(out.kind, Kind::success) << out.log_reason;
    EXPECT_EQ(out.data, kRfcServerFinal);
    EXPECT_EQ(out.user, "user");
    EXPECT_EQ(out.log_reason, "");
    EXPECT_TRUE(verifier.used.empty());
    EXPECT_EQ(m->step(""s).kind, Kind::failure);  // nothing after the end
}

TEST_F(SaslTest, ScramWithoutInitialResponseSendsEmptyChallengeFirst) {
    auto m = rfc_scram(verifier);
    auto c = m->step(std::nullopt);
    EXPECT_EQ(c.kind, Kind::challenge);
    EXPECT_EQ(c.data, "");
    EXPECT_EQ(m->step(kRfcClientFirst).data, kRfcServerFirst);
    auto out = m->step(kRfcClientFinal);
    EXPECT_EQ(out.kind, Kind::success);
    EXPECT_EQ(out.data, kRfcServerFinal);
}

TEST_F(SaslTest, ScramEmptyClientFirstIsMalformed) {
    EXPECT_EQ(rfc_scram(verifier)->step(""s).kind, Kind::malformed);
    auto m = rfc_scram(verifier);
    m->step(std::nullopt);
    EXPECT_EQ(m->step(""s).kind, Kind::malformed);
}

TEST_F(SaslTest, ScramRandomServerNonceExtendsTheClientNonce) {
    auto m1 = make_mechanism("SCRAM-SHA-256", verifier);
    auto m2 = make_mechanism("SCRAM-SHA-256", verifier);
    auto r1 = ScramClient::attr(m1->step(kRfcClientFirst).data, 'r');
    auto r2 = ScramClient::attr(m2->step(kRfcClientFirst).data, 'r');
    ASSERT_TRUE(r1.starts_with(kRfcClientNonce));
    auto suffix = r1.substr(kRfcClientNonce.size());
    EXPECT_EQ(suffix.size(), 32u);  // 24 octets, base64
    auto decoded = base64_decode(suffix);
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->size(), 24u);
    EXPECT_NE(r1, r2);
    // And the whole exchange works with a random nonce too.
    ScramClient client;
    auto server_first = "r=" + r1 + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    auto fin = client.final(server_first);
    auto out = m1->step(fin.message);
    EXPECT_EQ(out.kind, Kind::success) << out.log_reason;
    EXPECT_EQ(out.data, fin.server_final);
}

TEST_F(SaslTest, ScramAppPasswordAmongSeveralKeys) {
    verifier.accounts["alice"].salt = random_salt();
    for (auto [password, label] : std::vector<std::pair<std::string, std::string>>{
             {"app-secret-2", "laptop"}, {"app-secret-1", "phone"}, {"correct horse", ""}}) {
        verifier.used.clear();
        ScramClient client;
        client.user = "alice";
        client.password = password;
        client.client_nonce = "fyko+d2lbbFgONRv9qkxdawL";
        auto m = make_mechanism("SCRAM-SHA-256", verifier);
        auto first = m->step(client.first());
        ASSERT_EQ(first.kind, Kind::challenge);
        EXPECT_EQ(*base64_decode(ScramClient::attr(first.data, 's')), verifier.accounts["alice"].salt);
        auto fin = client.final(first.data);
        auto out = m->step(fin.message);
        ASSERT_EQ(out.kind, Kind::success) << password << ": " << out.log_reason;
        EXPECT_EQ(out.user, "alice");
        EXPECT_EQ(out.data, fin.server_final) << "server signature made with the matching key's ServerKey";
        if (label.empty()) {
            EXPECT_TRUE(verifier.used.empty());
        } else {
            ASSERT_EQ(verifier.used.size(), 1u);
            EXPECT_EQ(verifier.used[0], (std::pair<std::string, std::string>{"alice", label}));
        }
    }
}

TEST_F(SaslTest, ScramMainPasswordRefusedWhenNotValidForSmtp) {
    verifier.accounts["alice"].main_password_for_smtp = false;
    ScramClient client;
    client.user = "alice";
    client.password = "correct horse";
    auto m = rfc_scram(verifier);
    auto fin = client.final(m->step(client.first()).data);
    auto out = m->step(fin.message);
    EXPECT_EQ(out.kind, Kind::failure);
    EXPECT_EQ(out.log_reason, "wrong password");
}

TEST_F(SaslTest, ScramUserNameLookedUpLowerCase) {
    ScramClient client;
    client.user = "USER";
    auto m = rfc_scram(verifier);
    auto first = m->step(client.first());
    ASSERT_EQ(first.kind, Kind::challenge);
    EXPECT_EQ(verifier.scram_calls.at(0), "user");
    auto out = m->step(client.final(first.data).message);
    EXPECT_EQ(out.kind, Kind::success) << out.log_reason;
    EXPECT_EQ(out.user, "user");
}

TEST_F(SaslTest, ScramUnknownUserGetsStableFakeSaltAndFailsAtProof) {
    auto server_first_for = [&](std::string user) {
        ScramClient client;
        client.user = std::move(user);
        return rfc_scram(verifier)->step(client.first());
    };
    auto a = server_first_for("nobody");
    ASSERT_EQ(a.kind, Kind::challenge);
    EXPECT_EQ(a.data, server_first_for("nobody").data);
    EXPECT_EQ(a.data, server_first_for("NoBody").data);
    EXPECT_NE(ScramClient::attr(a.data, 's'), ScramClient::attr(server_first_for("somebody").data, 's'));
    EXPECT_EQ(base64_decode(ScramClient::attr(a.data, 's'))->size(), 16u);  // as long as a real salt
    EXPECT_EQ(ScramClient::attr(a.data, 'i'), "4096");

    ScramClient client;
    client.user = "nobody";
    auto m = rfc_scram(verifier);
    auto first = m->step(client.first());
    auto out = m->step(client.final(first.data).message);
    EXPECT_EQ(out.kind, Kind::failure);
    EXPECT_EQ(out.log_reason, "unknown user");
    EXPECT_EQ(out.user, "nobody");
}

TEST_F(SaslTest, ScramTamperedProofFails) {
    std::string final_message(kRfcClientFinal);
    auto proof = *base64_decode(final_message.substr(final_message.find(",p=") + 3));
    proof[7] ^= 0x01;
    final_message = final_message.substr(0, final_message.find(",p=") + 3) + base64_encode(proof);
    auto m = rfc_scram(verifier);
    m->step(kRfcClientFirst);
    auto out = m->step(final_message);
    EXPECT_EQ(out.kind, Kind::failure);
    EXPECT_EQ(out.log_reason, "wrong password");
    EXPECT_EQ(out.data, "");
}

TEST_F(SaslTest, ScramWrongPasswordFails) {
    ScramClient client;
    client.password = "pen";
    auto m = rfc_scram(verifier);
    auto out = m->step(client.final(m->step(client.first()).data).message);
    EXPECT_EQ(out.kind, Kind::failure);
    EXPECT_EQ(out.log_reason, "wrong password");
}

TEST_F(SaslTest, ScramChannelBindingRequestFails) {
    auto out = rfc_scram(verifier)->step("p=tls-unique,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    EXPECT_EQ(out.kind, Kind::failure);
    EXPECT_TRUE(verifier.scram_calls.empty());
    EXPECT_EQ(rfc_scram(verifier)->step("p=tls-exporter,,n=user,r=abc").kind, Kind::failure);
}

TEST_F(SaslTest, ScramClientSupportingBindingButNotUsingItSucceeds) {
    ScramClient client;
    client.gs2 = "y,,";
    auto m = rfc_scram(verifier);
    auto fin = client.final(m->step(client.first()).data);
    EXPECT_NE(fin.message.find("c=eSws,"), std::string::npos);
    auto out = m->step(fin.message);
    EXPECT_EQ(out.kind, Kind::success) << out.log_reason;
    EXPECT_EQ(out.data, fin.server_final);
}

TEST_F(SaslTest, ScramChannelBindingDataMustBeTheGs2Header) {
    // The client said "n,," but claims "y,," in c=; the proof is otherwise right for what it sent.
    ScramClient client;
    auto m = rfc_scram(verifier);
    m->step(client.first());
    ScramClient lying = client;
    lying.gs2 = "y,,";
    auto out = m->step(lying.final(kRfcServerFirst).message);
    EXPECT_EQ(out.kind, Kind::failure);
    EXPECT_NE(out.log_reason.find("channel binding"), std::string::npos);

    auto m2 = rfc_scram(verifier);
    m2->step(kRfcClientFirst);
    std::string final_message(kRfcClientFinal);
    final_message.replace(0, 6, "c=biwsCg==");
    EXPECT_EQ(m2->step(final_message).kind, Kind::failure);
}

TEST_F(SaslTest, ScramNonceMustBeTheCombinedNonce) {
    auto m = rfc_scram(verifier);
    m->step(kRfcClientFirst);
    auto out = m->step("c=biws,r=rOprNGfwEbeRWgbNEkqO,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    EXPECT_EQ(out.kind, Kind::failure);
    EXPECT_EQ(out.log_reason, "SCRAM nonce differs");
}

TEST_F(SaslTest, ScramAuthzidMustBeTheUser) {
    ScramClient client;
    client.gs2 = "n,a=User,";
    auto m = rfc_scram(verifier);
    auto first = m->step(client.first());
    ASSERT_EQ(first.kind, Kind::challenge) << first.log_reason;
    auto fin = client.final(first.data);
    auto out = m->step(fin.message);
    EXPECT_EQ(out.kind, Kind::success) << out.log_reason;
    EXPECT_EQ(out.data, fin.server_final);

    // An empty a= (gsasl sends one for an empty authorization id) counts as none.
    ScramClient empty_authzid;
    empty_authzid.gs2 = "n,a=,";
    auto m2 = rfc_scram(verifier);
    auto fin2 = empty_authzid.final(m2->step(empty_authzid.first()).data);
    EXPECT_EQ(m2->step(fin2.message).kind, Kind::success);

    auto other = rfc_scram(verifier)->step("n,a=admin,n=user,r=abc");
    EXPECT_EQ(other.kind, Kind::failure);
    EXPECT_EQ(other.log_reason, "authorization identity differs");
    EXPECT_EQ(verifier.scram_calls.size(), 2u);  // the mismatching exchange looked nothing up
}

TEST_F(SaslTest, ScramUserNameEscapesAreDecoded) {
    auto m = rfc_scram(verifier);
    ASSERT_EQ(m->step("n,,n=a=2Cb=3Dc,r=abc").kind, Kind::challenge);
    EXPECT_EQ(verifier.scram_calls.at(0), "a,b=c");
}

TEST_F(SaslTest, ScramMandatoryExtensionFails) {
    EXPECT_EQ(rfc_scram(verifier)->step("n,,m=ext,n=user,r=abc").kind, Kind::failure);
}

TEST_F(SaslTest, ScramExtensionsAreIgnored) {
    auto m = rfc_scram(verifier);
    auto first = m->step("n,,n=user,r=rOprNGfwEbeRWgbNEkqO,x=whatever");
    ASSERT_EQ(first.kind, Kind::challenge);
    EXPECT_EQ(first.data, kRfcServerFirst);
    // The extension is part of client-first-message-bare, so the RFC proof no longer fits.
    EXPECT_EQ(m->step(kRfcClientFinal).kind, Kind::failure);
}

TEST_F(SaslTest, ScramBackendThrowingIsTemporary) {
    verifier.throws = true;
    auto out = rfc_scram(verifier)->step(kRfcClientFirst);
    EXPECT_EQ(out.kind, Kind::temporary_failure);
    EXPECT_NE(out.log_reason.find("database is locked"), std::string::npos);
    EXPECT_EQ(out.user, "user");
}

TEST_F(SaslTest, ScramAccountWithoutUsableKeysFails) {
    verifier.accounts["user"].main_password_for_smtp = false;
    auto m = rfc_scram(verifier);
    ASSERT_EQ(m->step(kRfcClientFirst).data, kRfcServerFirst);
    auto out = m->step(kRfcClientFinal);
    EXPECT_EQ(out.kind, Kind::failure);
    EXPECT_NE(out.log_reason.find("no SCRAM key"), std::string::npos);
}

TEST_F(SaslTest, ScramAccountWithoutSaltLooksLikeAnyOtherAndFails) {
    verifier.accounts["user"].salt.clear();
    verifier.accounts["user"].main_password_for_smtp = false;  // no key can exist without a salt
    auto m = rfc_scram(verifier);
    auto first = m->step(kRfcClientFirst);
    ASSERT_EQ(first.kind, Kind::challenge);
    EXPECT_EQ(base64_decode(ScramClient::attr(first.data, 's'))->size(), 16u);
    EXPECT_EQ(ScramClient::attr(first.data, 'i'), "4096");
    auto out = m->step(ScramClient{}.final(first.data).message);
    EXPECT_EQ(out.kind, Kind::failure);
    EXPECT_NE(out.log_reason.find("no SCRAM key"), std::string::npos);
}

class SaslScramMalformedFirst : public SaslTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(SaslScramMalformedFirst, IsMalformed) {
    auto out = rfc_scram(verifier)->step(GetParam());
    EXPECT_EQ(out.kind, Kind::malformed) << out.log_reason;
    EXPECT_TRUE(verifier.scram_calls.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Sasl, SaslScramMalformedFirst,
    ::testing::Values("x,,n=user,r=abc"s, "n,n=user,r=abc"s, "n"s, "n,"s, "n,,"s, "n,,r=abc"s, "n,,n=user"s,
                      "n,,n=user,r="s, "n,,n=,r=abc"s, "n,,n=us=er,r=abc"s, "n,,n=us=2c,r=abc"s, "n,,n=user,,r=abc"s,
                      "n,,n=user,r=abc,"s, "n,,n=user,r=a\x7F"s, "n,,n=us\0er,r=abc"s, "n,,n=us\xFFr,r=abc"s,
                      "n,,n=user,r=abc,1=x"s, "n,,n=user,r=abc,x="s, "n,a=user"s, "n,a=us=er,n=user,r=abc"s,
                      "N,,n=user,r=abc"s, " n,,n=user,r=abc"s));

class SaslScramMalformedFinal : public SaslTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(SaslScramMalformedFinal, IsMalformed) {
    auto m = rfc_scram(verifier);
    ASSERT_EQ(m->step(kRfcClientFirst).kind, Kind::challenge);
    auto out = m->step(GetParam());
    EXPECT_EQ(out.kind, Kind::malformed) << out.log_reason;
}

INSTANTIATE_TEST_SUITE_P(
    Sasl, SaslScramMalformedFinal,
    ::testing::Values(""s, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"s,
                      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="s,
                      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=not base64"s,
                      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9"s,
                      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p="s,
                      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="s,
                      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=,x=1"s));

TEST_F(SaslTest, ScramFinalExtensionsBeforeProofAreAccepted) {
    ScramClient client;
    client.final_extensions = ",x=1";
    auto m = rfc_scram(verifier);
    auto fin = client.final(m->step(client.first()).data);
    auto out = m->step(fin.message);
    EXPECT_EQ(out.kind, Kind::success) << out.log_reason;
    EXPECT_EQ(out.data, fin.server_final);

    // The extension is covered by the proof: one slipped in afterwards breaks it.
    ScramClient plain;
    auto m2 = rfc_scram(verifier);
    auto fin2 = plain.final(m2->step(plain.first()).data);
    auto at = fin2.message.find(",p=");
    EXPECT_EQ(m2->step(fin2.message.substr(0, at) + ",x=1" + fin2.message.substr(at)).kind, Kind::failure);
}

}  // namespace
