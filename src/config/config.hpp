// The server's configuration as a plain value: loaded once from TOML (or the embedded default) and passed down.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
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
};

struct Config {
    std::string hostname;                     // default: the machine's name
    std::filesystem::path data_dir = "var";  // accounts.db, spool/, mail/
    std::vector<std::string> local_domains;   // lower-case; default: { hostname, "localhost" }
    std::string postmaster = "postmaster";    // the user that receives <postmaster> mail
    std::vector<Listener> listeners;
    Limits limits;
    Auth auth;
    unsigned io_threads = 0;  // 0 = one per core
};

// Thrown for a bad config file; what() names the key and the line.
struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The embedded default of DESIGN.md: data in ./var, 127.0.0.1 ports 2525 (mx), 2587 (submission), 2465 (submissions).
Config embedded_default();

// Reads a TOML file; keys not given keep the embedded default. Throws ConfigError.
Config load_file(const std::filesystem::path& file);

// Parses "30s", "5m", "2h", "1d", "250ms" into milliseconds; nullopt when malformed.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

const char* mode_name(ListenerMode mode);

}  // namespace postern::config
