// The server's TLS settings (OpenSSL 3): TLS 1.2 minimum, server cipher preference, the configured certificate,
// or a self-signed one for the hostname made in <data_dir>/tls on first start and reused after.
#pragma once

#include <asio/ssl/context.hpp>

#include <filesystem>
#include <memory>
#include <string>

namespace postern::server {

struct TlsFiles {
    std::filesystem::path cert;
    std::filesystem::path key;
};

// Makes <dir>/cert.pem and <dir>/key.pem (EC P-256, SAN = hostname, 10 years) unless both exist.
TlsFiles ensure_self_signed(const std::filesystem::path& dir, const std::string& hostname);

// Throws std::runtime_error naming the file when a certificate or key cannot be loaded.
std::shared_ptr<asio::ssl::context> make_tls_context(const TlsFiles& files);

// "TLSv1.3 TLS_AES_256_GCM_SHA384" of an established connection, for logs and the Received: header.
std::string describe_tls(SSL* ssl);

}  // namespace postern::server
