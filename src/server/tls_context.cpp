#include "server/tls_context.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <stdexcept>

#include <fmt/format.h>

#include "observe/log.hpp"

namespace postern::server {

namespace fs = std::filesystem;

namespace {

struct FileCloser {
    void operator()(FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;

File open_private(const fs::path& path) {
    // Created owner-only from the start: a private key is never readable by others, not even for a moment.
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot create " + path.string());
    return File(::fdopen(fd, "w"));
}

void generate(const fs::path& cert_path, const fs::path& key_path, const std::string& hostname) {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
    std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
    if (!key || !cert) throw std::runtime_error("cannot generate a TLS key");
    X509_set_version(cert.get(), 2);
    unsigned char serial[16];
    std::FILE* urandom = std::fopen("/dev/urandom", "rb");
    if (!urandom || std::fread(serial, 1, sizeof serial, urandom) != sizeof serial) {
        if (urandom) std::fclose(urandom);
        throw std::runtime_error("cannot read /dev/urandom");
    }
    std::fclose(urandom);
    serial[0] &= 0x7F;  // a positive serial number
    std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(BN_bin2bn(serial, sizeof serial, nullptr), BN_free);
    BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get()));
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
    X509_set_pubkey(cert.get(), key.get());
    auto* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(hostname.c_str()),
                               -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    auto san = "DNS:" + hostname;
    if (auto* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str())) {
        X509_add_ext(cert.get(), ext, -1);
        X509_EXTENSION_free(ext);
    }
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) throw std::runtime_error("cannot sign the certificate");

    auto tmp_key = key_path.string() + ".tmp", tmp_cert = cert_path.string() + ".tmp";
    {
        auto f = open_private(tmp_key);
        if (!PEM_write_PrivateKey(f.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr))
            throw std::runtime_error("cannot write " + tmp_key);
    }
    {
        auto f = open_private(tmp_cert);
        if (!PEM_write_X509(f.get(), cert.get())) throw std::runtime_error("cannot write " + tmp_cert);
    }
    fs::rename(tmp_key, key_path);
    fs::rename(tmp_cert, cert_path);
}

}  // namespace

TlsFiles ensure_self_signed(const fs::path& dir, const std::string& hostname) {
    TlsFiles files{dir / "cert.pem", dir / "key.pem"};
    if (fs::exists(files.cert) && fs::exists(files.key)) return files;
    fs::create_directories(dir);
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
    generate(files.cert, files.key, hostname);
    observe::info("tls created self-signed certificate cert={} hostname={}", files.cert.string(), hostname);
    return files;
}

std::shared_ptr<asio::ssl::context> make_tls_context(const TlsFiles& files) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    auto* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    // Forward-secret AEAD suites only for TLS 1.2; TLS 1.3 suites are all fine as OpenSSL ships them.
    SSL_CTX_set_cipher_list(native,
                            "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
                            "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256");
    // Sessions are short and many: keep less per connection.
    SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(native, files.cert.c_str()) != 1)
        throw std::runtime_error(fmt::format("cannot load TLS certificate {}", files.cert.string()));
    if (SSL_CTX_use_PrivateKey_file(native, files.key.c_str(), SSL_FILETYPE_PEM) != 1)
        throw std::runtime_error(fmt::format("cannot load TLS key {}", files.key.string()));
    if (SSL_CTX_check_private_key(native) != 1)
        throw std::runtime_error(fmt::format("TLS key {} does not match certificate {}", files.key.string(),
                                             files.cert.string()));
    return ctx;
}

std::string describe_tls(SSL* ssl) {
    return fmt::format("{} {}", SSL_get_version(ssl), SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
}

}  // namespace postern::server
