// Base64 for SASL (RFC 4648 §4, as RFC 4954 uses it): the RFC's test vectors, binary round trips, strict decoding.
#include <gtest/gtest.h>

#include <string>

#include "smtp/base64.hpp"

using namespace postern::smtp;

TEST(SmtpBase64, Rfc4648TestVectors) {
    const std::pair<std::string_view, std::string_view> vectors[] = {
        {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (const auto& [plain, encoded] : vectors) {
        EXPECT_EQ(base64_encode(plain), encoded) << plain;
        EXPECT_EQ(base64_decode(encoded), std::optional<std::string>(plain)) << encoded;
    }
}

TEST(SmtpBase64, SaslExamples) {
    EXPECT_EQ(base64_encode(std::string("\0alice\0secret", 13)), "AGFsaWNlAHNlY3JldA==");
    EXPECT_EQ(base64_encode("Username:"), "VXNlcm5hbWU6");
    EXPECT_EQ(base64_decode("UGFzc3dvcmQ6"), std::optional<std::string>("Password:"));
}

TEST(SmtpBase64, EveryOctetRoundTrips) {
    std::string all;
    for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
    for (size_t n = 0; n <= all.size(); n += 37) {
        auto part = all.substr(0, n);
        auto enc = base64_encode(part);
        EXPECT_EQ(enc.size() % 4, 0u);
        EXPECT_EQ(base64_decode(enc), std::optional<std::string>(part)) << n;
    }
    auto enc = base64_encode(all);
    EXPECT_EQ(base64_decode(enc), std::optional<std::string>(all));
    EXPECT_NE(enc.find('+'), std::string::npos);
    EXPECT_NE(enc.find('/'), std::string::npos);
}

TEST(SmtpBase64, StrictDecoding) {
    for (std::string_view bad : {"Zg", "Zg=", "Zm9vY", "Z===", "====", "=Zg=", "Zg=a", "Zm9vYg==Zm9v", "Zm=v",
                                 "Zm9v Zg==", " Zm9v", "Zm9v\r\n", "Zm9v\n", "Zm-v", "Zm_v", "Zm9v=", "*"}) {
        EXPECT_EQ(base64_decode(bad), std::nullopt) << bad;
    }
}
