// The server's configuration as a plain value: loaded once from TOML (or the embedded default) and passed down.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace postern::config {

enum class ListenerMode { mx, submission, submissions };

struct Listener {
    ListenerMode mode = ListenerMode::mx;
    std::string address;  // "127.0.0.1:2525", "[::1]:2525", "0.0.0.0:25"
    std::string host;     // parsed from address
    uint16_t port = 0;    // parsed from address
};

struct Limits {
    uint64_t max_message_size = 25 * 1024 * 1024;  // octets
    uint32_t max_recipients = 100;                  // per message
    std::chrono::milliseconds command_timeout{std::chrono::minutes(5)};
    std::chrono::milliseconds data_timeout{std::chrono::minutes(5)};
    std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
};

struct Auth {
    // argon2id cost for new hashes (libsodium crypto_pwhash_str): operations and memory in KiB.
    uint64_t argon2_ops = 2;
    uint64_t argon2_mem_kib = 64 * 1024;
    // A failed AUTH is answered this late, so password guessing is slow. 0 (for tests) to 60 s.
    std::chrono::milliseconds failure_delay{std::chrono::seconds(1)};
};

struct Tls {
    // PEM certificate chain and private key; both empty: the server makes a self-signed pair in data_dir/tls.
    std::filesystem::path cert;
    std::filesystem::path key;
};

struct Config {
    std::string hostname;                     // default: the machine's name
    std::filesystem::path data_dir = "var";  // accounts.db, spool/, mail/
    std::vector<std::string> local_domains;   // lower-case; default: { hostname, "localhost" }
    std::string postmaster = "postmaster";    // the user that receives <postmaster> mail
    std::vector<Listener> listeners;
    Limits limits;
    Auth auth;
    Tls tls;
    unsigned io_threads = 0;  // 0 = one per core
};

// Thrown for a bad config file; what() names the key and the line.
struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The embedded default of DESIGN.md: data in ./var, 127.0.0.1 ports 2525 (mx), 2587 (submission), 2465 (submissions).
Config embedded_default();

// Reads a TOML file (reference: docs/configuration.md); keys not given keep the embedded default. Relative paths
// (data_dir, tls.cert, tls.key) are taken from the file's directory. Throws ConfigError, whose what() reads
// "<file>:<line>: <dotted.key>: <what is wrong>" — unknown keys included, so typos are never ignored.
Config load_file(const std::filesystem::path& file);

// Parses "30s", "5m", "2h", "1d", "250ms" (or a sum such as "1h30m") into milliseconds; nullopt when malformed.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// The shortest exact spelling of a duration in the syntax above: "5m", "90s", "250ms".
std::string format_duration(std::chrono::milliseconds duration);

// Parses a size in octets: "1048576", "10k", "25M", "1G" (binary units; "KiB"/"MB" spellings accepted).
std::optional<uint64_t> parse_size(std::string_view text);

// Splits "127.0.0.1:2525", "[::1]:2525" or "0.0.0.0:25" into listener.host/port; false when malformed.
// The host must be an IP literal (IPv6 in brackets): the server binds it without a DNS lookup.
bool parse_listen_address(std::string_view text, Listener& listener);

const char* mode_name(ListenerMode mode);

}  // namespace postern::config
