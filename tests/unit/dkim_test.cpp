// DKIM: canonicalization (RFC 6376 §3.4.5 examples), header parsing, submission headers, and signatures that
// OpenSSL verifies from the published key (the integration tests verify with dkimpy, independently).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <filesystem>

#include "dkim/dkim.hpp"

using namespace postern;
namespace fs = std::filesystem;

TEST(Dkim, RelaxedCanonicalizationOfTheRfcExample) {
    EXPECT_EQ(dkim::relaxed_header("A", " X\r\n"), "a:X\r\n");
    EXPECT_EQ(dkim::relaxed_header("B ", " Y\t\r\n\tZ  \r\n"), "b:Y Z\r\n");
    EXPECT_EQ(dkim::relaxed_body(" C \r\nD \t E\r\n\r\n\r\n"), " C\r\nD E\r\n");
    EXPECT_EQ(dkim::relaxed_body(""), "");
    EXPECT_EQ(dkim::relaxed_body("\r\n\r\n"), "");
    EXPECT_EQ(dkim::relaxed_body("x"), "x\r\n");
}

TEST(Dkim, HeaderParsing) {
    std::string m = "From: Alice <Alice@Example.ORG>\r\nSubject: a\r\n folded\r\nTo: b@x\r\n\r\nbody\r\n";
    size_t body = 0;
    auto fields = dkim::parse_header(m, body);
    ASSERT_EQ(fields.size(), 3u);
    EXPECT_EQ(fields[1].raw, "Subject: a\r\n folded\r\n");
    EXPECT_EQ(m.substr(body), "body\r\n");
    EXPECT_EQ(dkim::header_value(m, "subject"), "a folded");
    EXPECT_EQ(dkim::from_domain(m), "example.org");
    EXPECT_EQ(dkim::from_domain("From: bob@b.example (Bob)\r\n\r\n"), "b.example");
    EXPECT_FALSE(dkim::header_value(m, "Date"));
}

TEST(Dkim, SubmissionHeaders) {
    auto added = dkim::missing_submission_headers("Subject: x\r\n\r\nhi\r\n", "mx.example", "Q1", 0);
    EXPECT_EQ(added, "Date: Thu, 01 Jan 1970 00:00:00 +0000\r\nMessage-ID: <Q1.0@mx.example>\r\n");
    EXPECT_EQ(dkim::missing_submission_headers("date: x\r\nMESSAGE-id: <a@b>\r\n\r\n", "h", "Q", 0), "");
    // A "Date:" line in the body does not count.
    EXPECT_NE(dkim::missing_submission_headers("Subject: x\r\n\r\nDate: no\r\n", "h", "Q", 0).find("Date:"),
              std::string::npos);
}

namespace {

std::string b64decode(const std::string& in) {
    std::string clean;
    for (char c : in)
        if (!isspace(static_cast<unsigned char>(c))) clean += c;
    std::string out(clean.size(), '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
    size_t pad = clean.ends_with("==") ? 2 : clean.ends_with("=") ? 1 : 0;
    out.resize(static_cast<size_t>(n) - pad);
    return out;
}

std::string tag(const std::string& header, const std::string& name) {
    auto pos = header.find(" " + name + "=");
    if (pos == std::string::npos) pos = header.find("\t" + name + "=");
    auto end = header.find(';', pos);
    return header.substr(pos + name.size() + 2, end == std::string::npos ? std::string::npos : end - pos - name.size() - 2);
}

class DkimKeys : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "postern-dkim-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

}  // namespace

TEST_P(DkimKeys, KeygenSignAndVerify) {
    auto key = dkim::generate_key(dir_, "Example.ORG", "sel1", GetParam(), 2048, false);
    EXPECT_EQ(key.record_name, "sel1._domainkey.example.org");
    EXPECT_EQ(fs::status(key.file).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_THROW(dkim::generate_key(dir_, "example.org", "sel1", GetParam(), 2048, false), std::runtime_error);
    auto keys = dkim::keys_for(dir_, "example.org");
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_EQ(keys[0].algorithm, GetParam() == "rsa" ? "rsa-sha256" : "ed25519-sha256");

    std::string message = "From: a@example.org\r\nTo: b@x.example\r\nSubject: hi\r\n\r\nbody \r\n\r\n";
    auto sig = dkim::sign(message, keys[0], 1700000000);
    ASSERT_TRUE(sig.starts_with("DKIM-Signature: v=1; a="));
    EXPECT_TRUE(sig.ends_with("\r\n"));
    EXPECT_EQ(tag(sig, "d"), "example.org");
    EXPECT_EQ(tag(sig, "s"), "sel1");
    EXPECT_EQ(tag(sig, "h"), "from:from:subject:to");

    // Verify by hand: the published public key, the hashed data rebuilt from the message.
    auto p = key.record_value.substr(key.record_value.find("p=") + 2);
    auto der = b64decode(p);
    EVP_PKEY* pub = nullptr;
    if (GetParam() == "rsa") {
        const unsigned char* d = reinterpret_cast<const unsigned char*>(der.data());
        pub = d2i_PUBKEY(nullptr, &d, static_cast<long>(der.size()));
    } else {
        pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                          reinterpret_cast<const unsigned char*>(der.data()), der.size());
    }
    ASSERT_NE(pub, nullptr);
    std::string data = "from:a@example.org\r\nsubject:hi\r\nto:b@x.example\r\n";  // the extra from: is null input
    // The signature field without the b= value, relaxed, no CRLF.
    auto b_at = sig.find("b=", sig.find("bh=") + 3);
    auto unsigned_field = sig.substr(0, b_at + 2);
    auto canon = dkim::relaxed_header("DKIM-Signature", unsigned_field.substr(unsigned_field.find(':') + 1));
    data += canon.substr(0, canon.size() - 2);
    auto signature = b64decode(sig.substr(b_at + 2));
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    int ok = 0;
    if (GetParam() == "rsa") {
        EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pub);
        ok = EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                              reinterpret_cast<const unsigned char*>(data.data()), data.size());
    } else {
        unsigned char md[32];
        unsigned int len = 0;
        EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
        EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pub);
        ok = EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(), md, len);
    }
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pub);
    EXPECT_EQ(ok, 1);
    // The body hash is of the relaxed body "body\r\n".
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest("body\r\n", 6, md, &len, EVP_sha256(), nullptr);
    unsigned char enc[64] = {};
    EVP_EncodeBlock(enc, md, 32);
    EXPECT_EQ(tag(sig, "bh"), std::string(reinterpret_cast<char*>(enc)));
}

INSTANTIATE_TEST_SUITE_P(Algorithms, DkimKeys, ::testing::Values("rsa", "ed25519"));

TEST(Dkim, NoKeysNoSignature) {
    EXPECT_EQ(dkim::sign_for_domain("/nonexistent-postern-dir", "example.org", "From: a\r\n\r\n", 0), "");
    EXPECT_TRUE(dkim::keys_for("/nonexistent-postern-dir", "../etc").empty());
}
