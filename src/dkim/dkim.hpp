// DKIM signing (RFC 6376) with rsa-sha256 and ed25519-sha256 (RFC 8463), relaxed/relaxed canonicalization,
// and the submission hygiene of RFC 6409 §8 (Message-ID:, Date:). Keys live in <key_dir>/<domain>/<selector>.pem
// (PKCS#8 PEM, made by `postern dkim keygen`); a domain with several keys is signed with each (e.g. RSA and
// Ed25519 side by side, as RFC 8463 suggests).
#pragma once

#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

typedef struct evp_pkey_st EVP_PKEY;

namespace postern::dkim {

struct Key {
    std::string domain;
    std::string selector;
    std::string algorithm;  // "rsa-sha256" | "ed25519-sha256"
    std::shared_ptr<EVP_PKEY> pkey;
};

struct HeaderField {
    std::string name;  // as written
    std::string raw;   // the whole field, continuation lines and the final CRLF included
};

// The header fields of a message (up to the empty line) and where the body starts.
std::vector<HeaderField> parse_header(std::string_view message, size_t& body_offset);
// The unfolded value of the first field named `name` (case-insensitive), without leading/trailing blanks.
std::optional<std::string> header_value(std::string_view message, std::string_view name);
// The domain of the first address in From:, lower case; empty when there is none.
std::string from_domain(std::string_view message);

// RFC 6376 §3.4.2 / §3.4.4.
std::string relaxed_header(std::string_view name, std::string_view value);
std::string relaxed_body(std::string_view body);

// The DKIM-Signature: field (folded, CRLF-terminated) for `message` with `key`, signed at `now`.
std::string sign(std::string_view message, const Key& key, std::time_t now);

// Keys for `domain` under key_dir (cached; re-read when the domain's directory changes).
std::vector<Key> keys_for(const std::filesystem::path& key_dir, const std::string& domain);
// Signatures from every key of `domain`, concatenated; empty when it has none.
std::string sign_for_domain(const std::filesystem::path& key_dir, const std::string& domain, std::string_view message,
                            std::time_t now);

// RFC 6409 §8: "Date:" and "Message-ID:" fields for a submitted message that lacks them (empty when it has both).
std::string missing_submission_headers(std::string_view message, const std::string& hostname,
                                       const std::string& queue_id, std::time_t now);

struct GeneratedKey {
    std::filesystem::path file;
    std::string record_name;   // "<selector>._domainkey.<domain>"
    std::string record_value;  // "v=DKIM1; k=rsa; p=..."
};
// Makes a key ("rsa" with `bits`, or "ed25519") and writes it 0600; throws std::runtime_error (also when the
// file exists and !overwrite).
GeneratedKey generate_key(const std::filesystem::path& key_dir, const std::string& domain, const std::string& selector,
                          const std::string& algorithm, int bits, bool overwrite);
// The TXT record value of a key's public half.
std::string txt_record(EVP_PKEY* pkey);
// Loads a PEM private key; nullptr with `error` set when it cannot.
std::shared_ptr<EVP_PKEY> load_private_key(const std::filesystem::path& file, std::string& error);

}  // namespace postern::dkim
