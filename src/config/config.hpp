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
    std::chrono::milliseconds session_timeout{std::chrono::minutes(30)};  // whole session; 0 = none
    uint64_t min_data_rate = 1024;  // octets/s during DATA/BDAT after a 10 s grace; 0 = no minimum
    std::chrono::milliseconds drain_timeout{std::chrono::seconds(30)};  // SIGTERM: time given to transactions

    // Abuse protection (src/policy). 0 = no limit for every count.
    uint32_t max_connections = 1000;
    uint32_t max_connections_per_ip = 20;
    uint32_t connections_per_minute_per_ip = 60;
    uint32_t max_errors = 20;  // rejected commands per session before 421 4.7.0
    std::chrono::milliseconds error_delay{std::chrono::seconds(1)};  // tarpit: delay of replies after 3 errors
    uint32_t auth_failures_per_ip = 5;
    std::chrono::milliseconds auth_failure_window{std::chrono::minutes(10)};
    std::chrono::milliseconds auth_ban_time{std::chrono::minutes(30)};
    uint32_t auth_failures_per_account = 20;
    std::chrono::milliseconds account_lockout_time{std::chrono::minutes(15)};
    uint32_t messages_per_hour_per_user = 500;
    uint32_t recipients_per_hour_per_user = 2000;
    uint32_t messages_per_hour_per_ip = 1000;
    uint32_t recipients_per_hour_per_ip = 4000;
    std::vector<std::string> allow_networks;  // CIDRs exempt from every limit, ban and greylisting
};

struct Greylist {
    bool enabled = false;  // mx listeners only; authenticated sessions bypass it
    std::chrono::milliseconds delay{std::chrono::minutes(5)};
    std::chrono::milliseconds ttl{std::chrono::hours(24 * 35)};
};

struct Auth {
    // argon2id cost for new hashes (libsodium crypto_pwhash_str): operations and memory in KiB.
    uint64_t argon2_ops = 2;
    uint64_t argon2_mem_kib = 64 * 1024;
    // A failed AUTH is answered this late, so password guessing is slow. 0 (for tests) to 60 s.
    std::chrono::milliseconds failure_delay{std::chrono::seconds(1)};
    // PBKDF2 iterations of the SCRAM-SHA-256 keys of accounts created from now on (each account keeps the count
    // its keys were made with). RFC 7677 asks for at least 4096.
    uint32_t scram_iterations = 4096;
    // Successful password checks are remembered this long (keyed by a keyed hash, never the password), so a
    // client that logs in for every message pays argon2 once. Any account change invalidates at once. 0 = off.
    std::chrono::milliseconds cache_ttl{std::chrono::minutes(5)};
};

struct Tls {
    // PEM certificate chain and private key; both empty: the server makes a self-signed pair in data_dir/tls.
    std::filesystem::path cert;
    std::filesystem::path key;
};

// The queue (src/queue): retries, lifetime, warnings, delivery threads.
struct Queue {
    // Waits between delivery attempts: the n-th deferral waits retry_schedule[n-1]; past the end, the last entry
    // repeats.
    std::vector<std::chrono::milliseconds> retry_schedule{std::chrono::minutes(1),  std::chrono::minutes(5),
                                                          std::chrono::minutes(15), std::chrono::minutes(30),
                                                          std::chrono::hours(1)};
    std::chrono::milliseconds max_queue_lifetime{std::chrono::hours(24 * 5)};  // then the message bounces
    std::chrono::milliseconds delay_warning_time{0};                           // 0 = no warning DSN
    unsigned delivery_threads = 8;                                             // messages delivered at once
};

// Delivery agents (src/delivery): where local mail goes, and how remote mail is sent.
struct Delivery {
    enum class Local { maildir, lmtp } local = Local::maildir;
    uint16_t smtp_port = 25;  // port of MX hosts (tests point it elsewhere)
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(30)};
    std::chrono::milliseconds command_timeout{std::chrono::minutes(5)};  // each reply of a remote server
    uint32_t destination_concurrency = 5;  // connections at once to one destination (domain or relay)
    std::chrono::milliseconds connection_cache_time{std::chrono::seconds(10)};  // idle outbound sessions kept
    std::string helo_name;  // default: hostname
};

// LMTP (RFC 2033) to a mail store, used when delivery.local = "lmtp".
struct Lmtp {
    std::string address;  // "unix:/run/dovecot/lmtp", "/run/dovecot/lmtp", "127.0.0.1:24", "[::1]:24"
    std::string host;     // parsed: empty for a unix socket
    uint16_t port = 0;
    std::filesystem::path socket;
};

// A smarthost: when host is set, all remote mail goes there instead of to MX hosts.
struct Relay {
    std::string host;  // empty: direct MX delivery
    uint16_t port = 587;
    enum class StartTls { required, opportunistic } starttls = StartTls::required;
    bool tls_verify = true;             // check the certificate (against ca_file, or the system's CAs)
    std::filesystem::path ca_file;      // PEM bundle; default the system's
    std::string tls_name;               // name checked in the certificate; default host
    std::string username;               // AUTH PLAIN/LOGIN when set (only over TLS)
    std::string password;
};

// The DNS resolver used for MX, A and AAAA lookups (libunbound).
struct Dns {
    std::string resolver;  // "127.0.0.1:53" or "[::1]:5353": forward every query there; empty: /etc/resolv.conf
    std::chrono::milliseconds timeout{std::chrono::seconds(10)};
};

// DKIM signing of mail from authenticated users (keys from `postern dkim keygen`).
struct Dkim {
    bool sign = true;
    std::filesystem::path key_dir;  // default <data_dir>/dkim; keys are <key_dir>/<domain>/<selector>.pem
};

struct Config {
    std::string hostname;                     // default: the machine's name
    std::filesystem::path data_dir = "var";  // accounts.db, spool/, mail/
    std::vector<std::string> local_domains;   // lower-case; default: { hostname, "localhost" }
    std::string postmaster = "postmaster";    // the user that receives <postmaster> mail
    std::vector<Listener> listeners;
    Limits limits;
    Greylist greylist;
    Auth auth;
    Tls tls;
    Queue queue;
    Delivery delivery;
    Lmtp lmtp;
    Relay relay;
    Dns dns;
    Dkim dkim;
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

// Splits "host:port" or "[v6]:port" (host may be a name here); false when malformed.
bool parse_host_port(std::string_view text, std::string& host, uint16_t& port);

}  // namespace postern::config
