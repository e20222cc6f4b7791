// `postern dkim keygen DOMAIN [--selector S] [--algorithm rsa|ed25519]`: makes a signing key in
// <key_dir>/<domain>/<selector>.pem and prints the DNS TXT record to publish.
#include <iostream>
#include <memory>

#include "app/cli.hpp"
#include "dkim/dkim.hpp"

namespace postern::app {

namespace {

struct KeygenOptions {
    ConfigOptions config;
    std::string domain;
    std::string selector = "postern";
    std::string algorithm = "rsa";
    int bits = 2048;
    bool force = false;
};

// TXT strings are at most 255 octets (RFC 1035 §3.3.14): longer records are split into several.
std::string quoted_strings(const std::string& value) {
    std::string out;
    for (size_t i = 0; i < value.size(); i += 250) {
        if (i > 0) out += ' ';
        out += '"' + value.substr(i, 250) + '"';
    }
    return out;
}

int keygen(const KeygenOptions& o) {
    auto cfg = load_config(o.config);
    auto key_dir = cfg.dkim.key_dir.empty() ? cfg.data_dir / "dkim" : cfg.dkim.key_dir;
    dkim::GeneratedKey key;
    try {
        key = dkim::generate_key(key_dir, o.domain, o.selector, o.algorithm, o.bits, o.force);
    } catch (const std::exception& e) {
        throw CliError(e.what(), exit_failure);
    }
    std::cerr << "postern: wrote " << key.file.string() << "; publish this record:\n";
    std::cout << key.record_name << ". IN TXT " << quoted_strings(key.record_value) << "\n";
    return exit_ok;
}

}  // namespace

void add_dkim_commands(CLI::App& app, Action& action) {
    auto* dkim = app.add_subcommand("dkim", "DKIM signing keys");
    dkim->require_subcommand(1);
    auto o = std::make_shared<KeygenOptions>();
    auto* gen = dkim->add_subcommand("keygen", "Make a signing key for DOMAIN and print its DNS TXT record");
    gen->add_option("DOMAIN", o->domain, "The signing domain (d=)")->required();
    gen->add_option("-s,--selector", o->selector, "Selector (s=); default \"postern\"");
    gen->add_option("-a,--algorithm", o->algorithm, "rsa (rsa-sha256, default) or ed25519 (ed25519-sha256)")
        ->check(CLI::IsMember({"rsa", "ed25519"}));
    gen->add_option("-b,--bits", o->bits, "RSA key size (default 2048)");
    gen->add_flag("-f,--force", o->force, "Replace an existing key of that selector");
    add_config_option(*gen, o->config);
    add_data_dir_option(*gen, o->config);
    gen->callback([&action, o] { action = [o] { return keygen(*o); }; });
}

}  // namespace postern::app
