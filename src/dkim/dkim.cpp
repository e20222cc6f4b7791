#include "dkim/dkim.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <stdexcept>

#include <fmt/format.h>

namespace postern::dkim {

namespace fs = std::filesystem;

namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool iequals(std::string_view a, std::string_view b) { return a.size() == b.size() && lower(a) == lower(b); }

std::string base64(const unsigned char* data, size_t len) {
    std::string out(4 * ((len + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(len));
    out.resize(static_cast<size_t>(n));
    return out;
}

std::string sha256(std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    return std::string(reinterpret_cast<char*>(md), len);
}

// The fields signed when present; "from" is signed once more than it occurs, so that none can be added.
constexpr std::string_view kSigned[] = {"from", "sender", "reply-to", "subject", "date", "message-id", "to", "cc",
                                        "mime-version", "content-type", "content-transfer-encoding", "in-reply-to",
                                        "references", "list-id", "list-unsubscribe"};

std::string value_of(const HeaderField& f) {
    auto colon = f.raw.find(':');
    return colon == std::string::npos ? std::string{} : f.raw.substr(colon + 1);
}

}  // namespace

std::vector<HeaderField> parse_header(std::string_view message, size_t& body_offset) {
    std::vector<HeaderField> fields;
    size_t pos = 0;
    body_offset = message.size();
    while (pos < message.size()) {
        auto nl = message.find('\n', pos);
        size_t end = nl == std::string_view::npos ? message.size() : nl + 1;
        std::string_view line = message.substr(pos, end - pos);
        if (line == "\r\n" || line == "\n") {
            body_offset = end;
            return fields;
        }
        if (is_wsp(line.front()) && !fields.empty()) {
            fields.back().raw.append(line);
        } else {
            auto colon = line.find(':');
            if (colon == std::string_view::npos) {  // not a header line: the body starts here
                body_offset = pos;
                return fields;
            }
            std::string_view name = line.substr(0, colon);
            while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
            fields.push_back({std::string(name), std::string(line)});
        }
        pos = end;
    }
    return fields;
}

std::optional<std::string> header_value(std::string_view message, std::string_view name) {
    size_t body = 0;
    for (const auto& f : parse_header(message, body)) {
        if (!iequals(f.name, name)) continue;
        std::string v;
        for (char c : value_of(f))
            if (c != '\r' && c != '\n') v += c;
        auto b = v.find_first_not_of(" \t");
        auto e = v.find_last_not_of(" \t");
        return b == std::string::npos ? std::string{} : v.substr(b, e - b + 1);
    }
    return std::nullopt;
}

std::string from_domain(std::string_view message) {
    auto from = header_value(message, "From");
    if (!from) return {};
    // The address is in <...> when there is a display name; otherwise the whole value (comments aside).
    std::string addr = *from;
    auto lt = addr.rfind('<');
    if (lt != std::string::npos) {
        auto gt = addr.find('>', lt);
        addr = addr.substr(lt + 1, gt == std::string::npos ? std::string::npos : gt - lt - 1);
    } else {
        auto paren = addr.find('(');
        if (paren != std::string::npos) addr = addr.substr(0, paren);
    }
    auto at = addr.rfind('@');
    if (at == std::string::npos) return {};
    std::string domain = addr.substr(at + 1);
    while (!domain.empty() && (is_wsp(domain.back()) || domain.back() == ',')) domain.pop_back();
    return lower(domain);
}

std::string relaxed_header(std::string_view name, std::string_view value) {
    std::string out = lower(name);
    while (!out.empty() && is_wsp(out.back())) out.pop_back();
    out += ':';
    std::string v;
    bool space = false;
    for (char c : value) {
        if (c == '\r' || c == '\n') continue;  // unfold
        if (is_wsp(c)) {
            space = true;
            continue;
        }
        if (space && !v.empty()) v += ' ';
        space = false;
        v += c;
    }
    out += v;
    out += "\r\n";
    return out;
}

std::string relaxed_body(std::string_view body) {
    std::string out;
    out.reserve(body.size());
    size_t pos = 0;
    size_t keep = 0;  // length of out up to the last non-empty line
    while (pos < body.size()) {
        auto nl = body.find("\r\n", pos);
        std::string_view line = body.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? body.size() : nl + 2;
        std::string l;
        bool space = false;
        for (char c : line) {
            if (is_wsp(c)) {
                space = true;
                continue;
            }
            if (space) l += ' ';
            space = false;
            l += c;
        }
        out += l;
        out += "\r\n";
        if (!l.empty()) keep = out.size();
    }
    out.resize(keep);  // empty lines at the end are ignored
    return out;
}

std::string sign(std::string_view message, const Key& key, std::time_t now) {
    size_t body_offset = 0;
    auto fields = parse_header(message, body_offset);
    auto body_hash = sha256(relaxed_body(message.substr(std::min(body_offset, message.size()))));

    // h=: every occurrence of the chosen fields (selected bottom-up by the verifier), and from once more.
    std::vector<std::string> names;
    for (auto wanted : kSigned) {
        size_t count = 0;
        for (const auto& f : fields)
            if (iequals(f.name, wanted)) ++count;
        if (wanted == "from") ++count;
        for (size_t i = 0; i < count; ++i) names.emplace_back(wanted);
    }
    std::string data;
    std::map<std::string, int> used;  // per name: how many instances were taken from the bottom
    for (const auto& name : names) {
        int seen = 0;
        int want = used[name]++;
        for (auto it = fields.rbegin(); it != fields.rend(); ++it) {
            if (!iequals(it->name, name)) continue;
            if (seen++ == want) {
                data += relaxed_header(it->name, value_of(*it));
                break;
            }
        }
    }
    std::string h;
    for (const auto& n : names) h += (h.empty() ? "" : ":") + n;

    std::string header = fmt::format(
        "DKIM-Signature: v=1; a={}; c=relaxed/relaxed; d={}; s={};\r\n\tt={}; h={};\r\n\tbh={};\r\n\tb=",
        key.algorithm, key.domain, key.selector, static_cast<long long>(now), h,
        base64(reinterpret_cast<const unsigned char*>(body_hash.data()), body_hash.size()));
    auto canon = relaxed_header("DKIM-Signature", std::string_view(header).substr(header.find(':') + 1));
    canon.resize(canon.size() - 2);  // the signature field is hashed without its CRLF (RFC 6376 §3.7)
    data += canon;

    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    std::string to_sign = data;
    const EVP_MD* md = EVP_sha256();
    if (key.algorithm == "ed25519-sha256") {  // RFC 8463: PureEdDSA over the SHA-256 of the data
        to_sign = sha256(data);
        md = nullptr;
    }
    size_t sig_len = 0;
    if (EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key.pkey.get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &sig_len, reinterpret_cast<const unsigned char*>(to_sign.data()),
                       to_sign.size()) != 1)
        throw std::runtime_error("DKIM signing failed");
    std::string sig(sig_len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                       reinterpret_cast<const unsigned char*>(to_sign.data()), to_sign.size()) != 1)
        throw std::runtime_error("DKIM signing failed");
    sig.resize(sig_len);
    auto b = base64(reinterpret_cast<const unsigned char*>(sig.data()), sig.size());
    for (size_t i = 0; i < b.size(); i += 72) {
        if (i > 0) header += "\r\n\t ";
        header += b.substr(i, 72);
    }
    header += "\r\n";
    return header;
}

std::shared_ptr<EVP_PKEY> load_private_key(const fs::path& file, std::string& error) {
    std::FILE* f = std::fopen(file.c_str(), "rb");
    if (!f) {
        error = "cannot open " + file.string();
        return nullptr;
    }
    EVP_PKEY* pkey = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    if (!pkey) {
        error = "not a PEM private key: " + file.string();
        return nullptr;
    }
    return std::shared_ptr<EVP_PKEY>(pkey, EVP_PKEY_free);
}

std::vector<Key> keys_for(const fs::path& key_dir, const std::string& domain) {
    struct Cached {
        fs::file_time_type stamp;
        std::vector<Key> keys;
    };
    static std::mutex mutex;
    static std::map<fs::path, Cached> cache;
    if (domain.empty() || domain.find('/') != std::string::npos || domain.starts_with(".")) return {};
    auto dir = key_dir / lower(domain);
    std::error_code ec;
    auto stamp = fs::last_write_time(dir, ec);
    if (ec) return {};
    std::lock_guard lock(mutex);
    auto it = cache.find(dir);
    if (it != cache.end() && it->second.stamp == stamp) return it->second.keys;
    std::vector<Key> keys;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.path().extension() == ".pem") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
        std::string error;
        auto pkey = load_private_key(file, error);
        if (!pkey) continue;
        Key k;
        k.domain = lower(domain);
        k.selector = file.stem().string();
        int id = EVP_PKEY_get_base_id(pkey.get());
        if (id == EVP_PKEY_RSA) k.algorithm = "rsa-sha256";
        else if (id == EVP_PKEY_ED25519) k.algorithm = "ed25519-sha256";
        else continue;
        k.pkey = std::move(pkey);
        keys.push_back(std::move(k));
    }
    cache[dir] = {stamp, keys};
    return keys;
}

std::string sign_for_domain(const fs::path& key_dir, const std::string& domain, std::string_view message,
                            std::time_t now) {
    std::string out;
    for (const auto& key : keys_for(key_dir, domain)) out += sign(message, key, now);
    return out;
}

std::string missing_submission_headers(std::string_view message, const std::string& hostname,
                                       const std::string& queue_id, std::time_t now) {
    size_t body = 0;
    bool has_date = false, has_id = false;
    for (const auto& f : parse_header(message, body)) {
        has_date = has_date || iequals(f.name, "Date");
        has_id = has_id || iequals(f.name, "Message-ID");
    }
    std::string out;
    if (!has_date) {
        std::tm tm{};
        gmtime_r(&now, &tm);
        char buf[64];
        std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
        out += fmt::format("Date: {}\r\n", buf);
    }
    if (!has_id) out += fmt::format("Message-ID: <{}.{}@{}>\r\n", queue_id, static_cast<long long>(now), hostname);
    return out;
}

std::string txt_record(EVP_PKEY* pkey) {
    int id = EVP_PKEY_get_base_id(pkey);
    if (id == EVP_PKEY_ED25519) {
        unsigned char raw[32];
        size_t len = sizeof raw;
        if (EVP_PKEY_get_raw_public_key(pkey, raw, &len) != 1) throw std::runtime_error("cannot read the public key");
        return "v=DKIM1; k=ed25519; p=" + base64(raw, len);
    }
    unsigned char* der = nullptr;
    int len = i2d_PUBKEY(pkey, &der);
    if (len <= 0) throw std::runtime_error("cannot encode the public key");
    auto p = base64(der, static_cast<size_t>(len));
    OPENSSL_free(der);
    return "v=DKIM1; k=rsa; p=" + p;
}

GeneratedKey generate_key(const fs::path& key_dir, const std::string& domain, const std::string& selector,
                          const std::string& algorithm, int bits, bool overwrite) {
    auto valid_label = [](const std::string& s) {
        return !s.empty() && s.size() <= 63 && std::all_of(s.begin(), s.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
        }) && s.front() != '.' && s.front() != '-';
    };
    if (!valid_label(domain) || domain.size() > 253) throw std::runtime_error("not a domain name: " + domain);
    if (!valid_label(selector) || selector.find('.') != std::string::npos)
        throw std::runtime_error("not a selector (letters, digits, '-', '_'): " + selector);
    EVP_PKEY* raw = nullptr;
    if (algorithm == "rsa") {
        if (bits < 1024 || bits > 8192) throw std::runtime_error("RSA keys are 1024 to 8192 bits");
        raw = EVP_RSA_gen(static_cast<unsigned>(bits));
    } else if (algorithm == "ed25519") {
        raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    } else {
        throw std::runtime_error("unknown algorithm " + algorithm + " (rsa or ed25519)");
    }
    if (!raw) throw std::runtime_error("key generation failed");
    std::shared_ptr<EVP_PKEY> pkey(raw, EVP_PKEY_free);

    auto dir = key_dir / lower(domain);
    fs::create_directories(dir);
    fs::permissions(key_dir, fs::perms::owner_all, fs::perm_options::replace);
    auto file = dir / (selector + ".pem");
    if (fs::exists(file) && !overwrite)
        throw std::runtime_error(file.string() + " exists (use --force to replace it)");
    auto tmp = dir / (selector + ".pem.tmp");
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot write " + tmp.string());
    std::FILE* f = ::fdopen(fd, "wb");
    bool ok = f && PEM_write_PrivateKey(f, pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
    ok = f && std::fflush(f) == 0 && ::fsync(fd) == 0 && ok;
    if (f) std::fclose(f);
    if (!ok || std::rename(tmp.c_str(), file.c_str()) != 0) {
        std::remove(tmp.c_str());
        throw std::runtime_error("cannot write " + file.string());
    }
    GeneratedKey out;
    out.file = file;
    out.record_name = fmt::format("{}._domainkey.{}", selector, lower(domain));
    out.record_value = txt_record(pkey.get());
    return out;
}

}  // namespace postern::dkim
