// The embedded default and the TOML loader. Every key is checked: a typo is an error, never silently ignored.
#include "config/config.hpp"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <toml++/toml.h>

#include "config/config_errors.hpp"

namespace postern::config {

namespace {

std::string to_lower(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens.
// "192.0.2.0/24", "2001:db8::/32", "::1": an address and an optional prefix length that fits it.
bool valid_network(const std::string& text) {
    auto slash = text.find('/');
    std::string address = text.substr(0, slash);
    unsigned char buf[16];
    bool v4 = inet_pton(AF_INET, address.c_str(), buf) == 1;
    if (!v4 && inet_pton(AF_INET6, address.c_str(), buf) != 1) return false;
    if (slash == std::string::npos) return true;
    auto digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return false;
    return std::stoi(digits) <= (v4 ? 32 : 128);
}

bool valid_domain(std::string_view name) {
    if (name.empty() || name.size() > 253) return false;
    size_t start = 0;
    while (true) {
        size_t dot = name.find('.', start);
        std::string_view label = name.substr(start, dot == std::string_view::npos ? dot : dot - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
        for (char c : label)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
        if (dot == std::string_view::npos) return true;
        start = dot + 1;
    }
}

void add_unique(std::vector<std::string>& list, std::string value) {
    if (std::find(list.begin(), list.end(), value) == list.end()) list.push_back(std::move(value));
}

std::vector<std::string> domains_for(const std::string& hostname) {
    std::vector<std::string> domains;
    add_unique(domains, to_lower(hostname));
    add_unique(domains, "localhost");
    return domains;
}

std::string read_whole_file(const std::filesystem::path& file) {
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec))
        throw ConfigError(file.string() + ": cannot read the config file: it is a directory");
    std::FILE* f = std::fopen(file.c_str(), "rb");
    if (!f) throw ConfigError(file.string() + ": cannot read the config file: " + std::strerror(errno));
    std::string text;
    char buffer[8192];
    size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) text.append(buffer, n);
    bool failed = std::ferror(f) != 0;
    std::fclose(f);
    if (failed) throw ConfigError(file.string() + ": cannot read the config file");
    return text;
}

// Walks the parsed document and fills a Config, one table at a time.
class Loader {
public:
    explicit Loader(const std::filesystem::path& file) : err_(file.string()), file_(file) {}

    Config load(const toml::table& root) {
        Config cfg = embedded_default();
        bool hostname_given = false;
        bool domains_given = false;
        for (auto&& [key, node] : root) {
            const std::string name(key.str());
            if (name == "hostname") {
                cfg.hostname = read_domain(node, name);
                hostname_given = true;
            } else if (name == "data_dir") {
                cfg.data_dir = read_path(node, name);
            } else if (name == "local_domains") {
                cfg.local_domains = read_domains(node, name);
                domains_given = true;
            } else if (name == "postmaster") {
                cfg.postmaster = read_postmaster(node, name);
            } else if (name == "io_threads") {
                cfg.io_threads = static_cast<unsigned>(err_.integer(node, name, 0, 1024));
            } else if (name == "listeners") {
                cfg.listeners = read_listeners(node, name);
            } else if (name == "limits") {
                read_limits(err_.table(node, name), cfg.limits);
            } else if (name == "greylist") {
                read_greylist(err_.table(node, name), cfg.greylist);
            } else if (name == "auth") {
                read_auth(err_.table(node, name), cfg.auth);
            } else if (name == "tls") {
                read_tls(err_.table(node, name), cfg.tls);
            } else if (name == "queue") {
                read_queue(err_.table(node, name), cfg.queue);
            } else if (name == "delivery") {
                read_delivery(err_.table(node, name), cfg.delivery);
            } else if (name == "lmtp") {
                read_lmtp(err_.table(node, name), cfg.lmtp);
            } else if (name == "relay") {
                read_relay(err_.table(node, name), cfg.relay);
            } else if (name == "dns") {
                read_dns(err_.table(node, name), cfg.dns);
            } else if (name == "dkim") {
                read_dkim(err_.table(node, name), cfg.dkim);
            } else {
                err_.unknown_key(key, "", {"hostname", "data_dir", "local_domains", "postmaster", "io_threads",
                                           "listeners", "limits", "greylist", "auth", "tls", "queue", "delivery",
                                           "lmtp", "relay", "dns", "dkim"});
            }
        }
        if (hostname_given && !domains_given) cfg.local_domains = domains_for(cfg.hostname);
        if (cfg.delivery.local == Delivery::Local::lmtp && cfg.lmtp.address.empty()) {
            const toml::node* where = root.get("delivery");
            if (auto* d = root["delivery"]["local"].node()) where = d;
            err_.fail(*where, "delivery.local", "\"lmtp\" needs [lmtp] address, such as \"unix:/run/dovecot/lmtp\"");
        }
        return cfg;
    }

private:
    std::string read_domain(const toml::node& node, const std::string& key) {
        std::string value = err_.string(node, key);
        if (!valid_domain(value))
            err_.fail(node, key, "expected a host name such as \"mail.example.org\", got " + describe(node));
        return value;
    }

    // Relative to the file, not to the working directory, so the server and the CLI agree wherever they run.
    std::filesystem::path read_path(const toml::node& node, const std::string& key) {
        std::filesystem::path path = err_.string(node, key);
        if (path.empty()) err_.fail(node, key, "must not be empty");
        if (path.is_relative()) path = std::filesystem::absolute(file_).parent_path() / path;
        return path.lexically_normal();
    }

    std::vector<std::string> read_domains(const toml::node& node, const std::string& key) {
        const toml::array* array = node.as_array();
        if (!array) err_.fail(node, key, "expected an array of domain names, got " + describe(node));
        std::vector<std::string> domains;
        for (size_t i = 0; i < array->size(); ++i) {
            std::string item_key = key + "[" + std::to_string(i) + "]";
            add_unique(domains, to_lower(read_domain(*array->get(i), item_key)));
        }
        return domains;
    }

    std::string read_postmaster(const toml::node& node, const std::string& key) {
        std::string value = err_.string(node, key);
        bool printable = std::all_of(value.begin(), value.end(),
                                     [](char c) { return static_cast<unsigned char>(c) > ' ' && c != 0x7f; });
        if (value.empty() || !printable)
            err_.fail(node, key, "expected a user name such as \"postmaster\", got " + describe(node));
        return value;
    }

    std::vector<Listener> read_listeners(const toml::node& node, const std::string& key) {
        const toml::array* array = node.as_array();
        if (!array) err_.fail(node, key, "expected [[listeners]] tables, got " + describe(node));
        if (array->empty()) err_.fail(node, key, "at least one listener is required");
        std::vector<Listener> listeners;
        for (size_t i = 0; i < array->size(); ++i) {
            std::string prefix = key + "[" + std::to_string(i) + "]";
            Listener listener = read_listener(err_.table(*array->get(i), prefix), prefix);
            for (const Listener& other : listeners)
                if (other.host == listener.host && other.port == listener.port)
                    err_.fail(*array->get(i), prefix + ".address", listener.address + " is listed twice");
            listeners.push_back(std::move(listener));
        }
        return listeners;
    }

    Listener read_listener(const toml::table& table, const std::string& prefix) {
        Listener listener;
        bool has_mode = false;
        bool has_address = false;
        for (auto&& [key, node] : table) {
            const std::string name(key.str());
            const std::string full = prefix + "." + name;
            if (name == "mode") {
                std::string mode = err_.string(node, full);
                if (mode == "mx") listener.mode = ListenerMode::mx;
                else if (mode == "submission") listener.mode = ListenerMode::submission;
                else if (mode == "submissions") listener.mode = ListenerMode::submissions;
                else err_.fail(node, full, "expected \"mx\", \"submission\" or \"submissions\", got " + describe(node));
                has_mode = true;
            } else if (name == "address") {
                if (!parse_listen_address(err_.string(node, full), listener))
                    err_.fail(node, full,
                              "expected an IP address and port such as \"127.0.0.1:2525\", \"[::1]:2525\" or "
                              "\"0.0.0.0:25\", got " + describe(node));
                has_address = true;
            } else {
                err_.unknown_key(key, prefix, {"mode", "address"});
            }
        }
        if (!has_mode) err_.fail(table, prefix + ".mode", "missing; expected \"mx\", \"submission\" or \"submissions\"");
        if (!has_address) err_.fail(table, prefix + ".address", "missing; expected such as \"127.0.0.1:2525\"");
        return listener;
    }

    void read_limits(const toml::table& table, Limits& limits) {
        // Counts where 0 means "no limit", and durations where "0s" means "off".
        const std::pair<const char*, uint32_t Limits::*> counts[] = {
            {"max_connections", &Limits::max_connections},
            {"max_connections_per_ip", &Limits::max_connections_per_ip},
            {"connections_per_minute_per_ip", &Limits::connections_per_minute_per_ip},
            {"max_errors", &Limits::max_errors},
            {"auth_failures_per_ip", &Limits::auth_failures_per_ip},
            {"auth_failures_per_account", &Limits::auth_failures_per_account},
            {"messages_per_hour_per_user", &Limits::messages_per_hour_per_user},
            {"recipients_per_hour_per_user", &Limits::recipients_per_hour_per_user},
            {"messages_per_hour_per_ip", &Limits::messages_per_hour_per_ip},
            {"recipients_per_hour_per_ip", &Limits::recipients_per_hour_per_ip},
        };
        const std::pair<const char*, std::chrono::milliseconds Limits::*> durations[] = {
            {"command_timeout", &Limits::command_timeout},
            {"data_timeout", &Limits::data_timeout},
            {"idle_timeout", &Limits::idle_timeout},
            {"drain_timeout", &Limits::drain_timeout},
            {"auth_failure_window", &Limits::auth_failure_window},
            {"auth_ban_time", &Limits::auth_ban_time},
            {"account_lockout_time", &Limits::account_lockout_time},
        };
        const std::pair<const char*, std::chrono::milliseconds Limits::*> optional_durations[] = {
            {"session_timeout", &Limits::session_timeout},
            {"error_delay", &Limits::error_delay},
        };
        std::vector<std::string> known{"max_message_size", "max_recipients", "min_data_rate", "allow_networks"};
        for (const auto& c : counts) known.emplace_back(c.first);
        for (const auto& d : durations) known.emplace_back(d.first);
        for (const auto& d : optional_durations) known.emplace_back(d.first);

        for (auto&& [key, node] : table) {
            const std::string name(key.str());
            const std::string full = "limits." + name;
            if (name == "max_message_size") {
                limits.max_message_size = read_size(node, full);
                continue;
            }
            if (name == "max_recipients") {
                limits.max_recipients =
                    static_cast<uint32_t>(err_.integer(node, full, 1, std::numeric_limits<uint32_t>::max()));
                continue;
            }
            if (name == "min_data_rate") {  // octets per second; 0 = no minimum
                if (auto integer = node.value_exact<int64_t>(); integer && *integer == 0) limits.min_data_rate = 0;
                else limits.min_data_rate = read_size(node, full, 1);
                continue;
            }
            if (name == "allow_networks") {
                limits.allow_networks = read_networks(node, full);
                continue;
            }
            bool found = false;
            for (const auto& [cname, member] : counts) {
                if (name == cname) {
                    limits.*member =
                        static_cast<uint32_t>(err_.integer(node, full, 0, std::numeric_limits<uint32_t>::max()));
                    found = true;
                }
            }
            for (const auto& [dname, member] : durations) {
                if (name == dname) {
                    limits.*member = read_duration(node, full);
                    found = true;
                }
            }
            for (const auto& [dname, member] : optional_durations) {
                if (name == dname) {
                    limits.*member = read_duration(node, full, true);
                    found = true;
                }
            }
            if (!found) {
                std::vector<std::string_view> names(known.begin(), known.end());
                err_.unknown_key(key, "limits", std::span<const std::string_view>(names));
            }
        }
    }

    std::vector<std::string> read_networks(const toml::node& node, const std::string& key) {
        const toml::array* array = node.as_array();
        if (!array) err_.fail(node, key, "expected an array of networks such as [\"192.0.2.0/24\", \"::1\"], got " + describe(node));
        std::vector<std::string> networks;
        for (size_t i = 0; i < array->size(); ++i) {
            std::string item_key = key + "[" + std::to_string(i) + "]";
            std::string value = err_.string(*array->get(i), item_key);
            if (!valid_network(value))
                err_.fail(*array->get(i), item_key,
                          "expected an IP address or network such as \"192.0.2.0/24\", got " + describe(*array->get(i)));
            networks.push_back(value);
        }
        return networks;
    }

    void read_greylist(const toml::table& table, Greylist& greylist) {
        for (auto&& [key, node] : table) {
            const std::string name(key.str());
            const std::string full = "greylist." + name;
            if (name == "enabled") {
                auto value = node.value_exact<bool>();
                if (!value) err_.fail(node, full, "expected true or false, got " + describe(node));
                greylist.enabled = *value;
            } else if (name == "delay") {
                greylist.delay = read_duration(node, full, true);
            } else if (name == "ttl") {
                greylist.ttl = read_duration(node, full);
            } else {
                err_.unknown_key(key, "greylist", {"enabled", "delay", "ttl"});
            }
        }
    }

    uint64_t read_size(const toml::node& node, const std::string& key, uint64_t min_size = 1024) {
        std::optional<uint64_t> size;
        if (auto integer = node.value_exact<int64_t>()) {
            if (*integer >= 0) size = static_cast<uint64_t>(*integer);
        } else if (auto text = node.value_exact<std::string>()) {
            size = parse_size(*text);
        }
        if (!size) err_.fail(node, key, "expected a size in octets such as 26214400 or \"25M\", got " + describe(node));
        if (*size < min_size)
            err_.fail(node, key, "must be at least " + std::to_string(min_size) + " octets, got " + describe(node));
        return *size;
    }

    std::chrono::milliseconds read_duration(const toml::node& node, const std::string& key, bool zero_ok = false) {
        std::optional<std::chrono::milliseconds> duration;
        if (auto text = node.value_exact<std::string>()) duration = parse_duration(*text);
        if (!duration) err_.fail(node, key, "expected a duration such as \"30s\" or \"5m\", got " + describe(node));
        if (duration->count() < 0 || (!zero_ok && duration->count() == 0))
            err_.fail(node, key, "must be longer than zero, got " + describe(node));
        return *duration;
    }

    void read_auth(const toml::table& table, Auth& auth) {
        for (auto&& [key, node] : table) {
            const std::string name(key.str());
            const std::string full = "auth." + name;
            // Bounds: libsodium's argon2id minimum, and a ceiling that keeps a typo from stalling every login.
            if (name == "argon2_ops") auth.argon2_ops = static_cast<uint64_t>(err_.integer(node, full, 1, 64));
            else if (name == "argon2_mem_kib")
                auth.argon2_mem_kib = static_cast<uint64_t>(err_.integer(node, full, 8, 4 * 1024 * 1024));
            else if (name == "failure_delay") auth.failure_delay = read_failure_delay(node, full);
            // RFC 7677's minimum; the ceiling keeps a typo from making every SCRAM login (client side too) crawl.
            else if (name == "scram_iterations")
                auth.scram_iterations = static_cast<uint32_t>(err_.integer(node, full, 4096, 10'000'000));
            else if (name == "cache_ttl") auth.cache_ttl = read_duration(node, full, true);
            else
                err_.unknown_key(key, "auth",
                                 {"argon2_ops", "argon2_mem_kib", "failure_delay", "scram_iterations", "cache_ttl"});
        }
    }

    std::chrono::milliseconds read_failure_delay(const toml::node& node, const std::string& key) {
        std::optional<std::chrono::milliseconds> delay;
        if (auto text = node.value_exact<std::string>()) delay = parse_duration(*text);
        if (!delay) err_.fail(node, key, "expected a duration such as \"1s\" or \"0s\", got " + describe(node));
        // Longer would run into the client's own timeouts and hold connections open for nothing.
        if (*delay > std::chrono::minutes(1)) err_.fail(node, key, "must be at most 1m, got " + describe(node));
        return *delay;
    }

    void read_tls(const toml::table& table, Tls& tls) {
        for (auto&& [key, node] : table) {
            const std::string name(key.str());
            const std::string full = "tls." + name;
            if (name == "cert" || name == "key") {
                std::filesystem::path path = read_path(node, full);
                // Checked here so check-config catches it, rather than the server finding out at its first TLS client.
                std::error_code ec;
                if (!std::filesystem::is_regular_file(path, ec))
                    err_.fail(node, full, "no such file: " + path.string());
                (name == "cert" ? tls.cert : tls.key) = path;
            } else {
                err_.unknown_key(key, "tls", {"cert", "key"});
            }
        }
        if (tls.cert.empty() != tls.key.empty())
            err_.fail(table, tls.cert.empty() ? "tls.cert" : "tls.key",
                      "missing; give both tls.cert and tls.key, or neither for a self-signed certificate");
    }

    bool read_bool(const toml::node& node, const std::string& key) {
        auto value = node.value_exact<bool>();
        if (!value) err_.fail(node, key, "expected true or false, got " + describe(node));
        return *value;
    }

    void read_queue(const toml::table& table, Queue& queue) {
        for (auto&& [key, node] : table) {
            const std::string name(key.str());
            const std::string full = "queue." + name;
            if (name == "retry_schedule") {
                const toml::array* array = node.as_array();
                if (!array)
                    err_.fail(node, full, "expected an array of durations such as [\"1m\", \"5m\", \"1h\"], got " +
                                              describe(node));
                if (array->empty()) err_.fail(node, full, "must list at least one duration");
                queue.retry_schedule.clear();
                for (size_t i = 0; i < array->size(); ++i)
                    queue.retry_schedule.push_back(read_duration(*array->get(i), full + "[" + std::to_string(i) + "]"));
            } else if (name == "max_queue_lifetime") {
                queue.max_queue_lifetime = read_duration(node, full);
            } else if (name == "delay_warning_time") {
                queue.delay_warning_time = read_duration(node, full, true);
            } else if (name == "delivery_threads") {
                queue.delivery_threads = static_cast<unsigned>(err_.integer(node, full, 1, 256));
            } else {
                err_.unknown_key(key, "queue",
                                 {"retry_schedule", "max_queue_lifetime", "delay_warning_time", "delivery_threads"});
            }
        }
    }

    void read_delivery(const toml::table& table, Delivery& delivery) {
        for (auto&& [key, node] : table) {
            const std::string name(key.str());
            const std::string full = "delivery." + name;
            if (name == "local") {
                std::string value = err_.string(node, full);
                if (value == "maildir") delivery.local = Delivery::Local::maildir;
                else if (value == "lmtp") delivery.local = Delivery::Local::lmtp;
                else err_.fail(node, full, "expected \"maildir\" or \"lmtp\", got " + describe(node));
            } else if (name == "smtp_port") {
                delivery.smtp_port = static_cast<uint16_t>(err_.integer(node, full, 1, 65535));
            } else if (name == "connect_timeout") {
                delivery.connect_timeout = read_duration(node, full);
            } else if (name == "command_timeout") {
                delivery.command_timeout = read_duration(node, full);
            } else if (name == "destination_concurrency") {
                delivery.destination_concurrency = static_cast<uint32_t>(err_.integer(node, full, 1, 1000));
            } else if (name == "connection_cache_time") {
                delivery.connection_cache_time = read_duration(node, full, true);
            } else if (name == "helo_name") {
                delivery.helo_name = read_domain(node, full);
            } else {
                err_.unknown_key(key, "delivery", {"local", "smtp_port", "connect_timeout", "command_timeout",
                                                   "destination_concurrency", "connection_cache_time", "helo_name"});
            }
        }
    }

    void read_lmtp(const toml::table& table, Lmtp& lmtp) {
        for (auto&& [key, node] : table) {
            const std::string name(key.str());
            const std::string full = "lmtp." + name;
            if (name == "address") {
                std::string value = err_.string(node, full);
                std::string_view path = value;
                if (path.starts_with("unix:")) path.remove_prefix(5);
                if (path.starts_with("/")) {
                    lmtp.socket = std::string(path);
                    lmtp.host.clear();
                } else if (!parse_host_port(value, lmtp.host, lmtp.port)) {
                    err_.fail(node, full, "expected \"unix:/path/to/socket\", \"/path\" or \"host:port\", got " +
                                              describe(node));
                }
                lmtp.address = value;
            } else {
                err_.unknown_key(key, "lmtp", {"address"});
            }
        }
    }

    void read_relay(const toml::table& table, Relay& relay) {
        for (auto&& [key, node] : table) {
            const std::string name(key.str());
            const std::string full = "relay." + name;
            if (name == "host") {
                std::string value = err_.string(node, full);
                std::string host = value;
                if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
                unsigned char buf[16];
                if (!valid_domain(host) && inet_pton(AF_INET, host.c_str(), buf) != 1 &&
                    inet_pton(AF_INET6, host.c_str(), buf) != 1)
                    err_.fail(node, full, "expected a host name or IP address, got " + describe(node));
                relay.host = host;
            } else if (name == "port") {
                relay.port = static_cast<uint16_t>(err_.integer(node, full, 1, 65535));
            } else if (name == "starttls") {
                std::string value = err_.string(node, full);
                if (value == "required") relay.starttls = Relay::StartTls::required;
                else if (value == "opportunistic") relay.starttls = Relay::StartTls::opportunistic;
                else err_.fail(node, full, "expected \"required\" or \"opportunistic\", got " + describe(node));
            } else if (name == "tls_verify") {
                relay.tls_verify = read_bool(node, full);
            } else if (name == "ca_file") {
                relay.ca_file = read_path(node, full);
                std::error_code ec;
                if (!std::filesystem::is_regular_file(relay.ca_file, ec))
                    err_.fail(node, full, "no such file: " + relay.ca_file.string());
            } else if (name == "tls_name") {
                relay.tls_name = err_.string(node, full);
            } else if (name == "username") {
                relay.username = err_.string(node, full);
            } else if (name == "password") {
                relay.password = err_.string(node, full);
            } else {
                err_.unknown_key(key, "relay", {"host", "port", "starttls", "tls_verify", "ca_file", "tls_name",
                                                "username", "password"});
            }
        }
        if (relay.username.empty() != relay.password.empty())
            err_.fail(table, relay.username.empty() ? "relay.username" : "relay.password",
                      "missing; give both relay.username and relay.password, or neither");
    }

    void read_dns(const toml::table& table, Dns& dns) {
        for (auto&& [key, node] : table) {
            const std::string name(key.str());
            const std::string full = "dns." + name;
            if (name == "resolver") {
                Listener parsed;
                std::string value = err_.string(node, full);
                if (!parse_listen_address(value, parsed))
                    err_.fail(node, full, "expected an IP address and port such as \"127.0.0.1:53\" or \"[::1]:53\", got " +
                                              describe(node));
                dns.resolver = value;
            } else if (name == "timeout") {
                dns.timeout = read_duration(node, full);
            } else {
                err_.unknown_key(key, "dns", {"resolver", "timeout"});
            }
        }
    }

    void read_dkim(const toml::table& table, Dkim& dkim) {
        for (auto&& [key, node] : table) {
            const std::string name(key.str());
            const std::string full = "dkim." + name;
            if (name == "sign") dkim.sign = read_bool(node, full);
            else if (name == "key_dir") dkim.key_dir = read_path(node, full);
            else err_.unknown_key(key, "dkim", {"sign", "key_dir"});
        }
    }

    ErrorReporter err_;
    std::filesystem::path file_;
};

}  // namespace

Config embedded_default() {
    Config cfg;
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) == 0 && name[0] != '\0') cfg.hostname = name;
    else cfg.hostname = "localhost";
    cfg.data_dir = "var";
    cfg.local_domains = domains_for(cfg.hostname);
    cfg.listeners = {
        {ListenerMode::mx, "127.0.0.1:2525", "127.0.0.1", 2525},
        {ListenerMode::submission, "127.0.0.1:2587", "127.0.0.1", 2587},
        {ListenerMode::submissions, "127.0.0.1:2465", "127.0.0.1", 2465},
    };
    return cfg;
}

Config load_file(const std::filesystem::path& file) {
    std::string text = read_whole_file(file);
    toml::table root;
    try {
        root = toml::parse(text, file.string());
    } catch (const toml::parse_error& e) {
        throw ConfigError(file.string() + ":" + std::to_string(e.source().begin.line) +
                          ": syntax error: " + std::string(e.description()));
    }
    return Loader(file).load(root);
}

}  // namespace postern::config
