#include "dns/resolver.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <unbound.h>

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "config/config.hpp"

namespace postern::dns {

namespace {

constexpr int kTypeA = 1;
constexpr int kTypeMx = 15;
constexpr int kTypeAaaa = 28;

struct Pending {
    bool done = false;
    int err = 0;
    ub_result* result = nullptr;
};

void on_answer(void* data, int err, ub_result* result) {
    auto* p = static_cast<Pending*>(data);
    p->err = err;
    p->result = result;
    p->done = true;
}

std::string lower(std::string s) {
    for (auto& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

}  // namespace

bool parse_mx_rdata(const unsigned char* data, size_t len, MxHost& out) {
    if (len < 3) return false;
    out.preference = static_cast<uint16_t>((data[0] << 8) | data[1]);
    out.name.clear();
    size_t pos = 2;
    while (true) {
        if (pos >= len) return false;
        unsigned n = data[pos++];
        if (n == 0) break;
        if (n > 63 || pos + n > len) return false;  // compression pointers never appear in unbound's rdata
        if (!out.name.empty()) out.name += '.';
        out.name.append(reinterpret_cast<const char*>(data + pos), n);
        pos += n;
    }
    out.name = lower(out.name);
    return true;
}

MxAnswer finish_mx(std::vector<MxHost> hosts) {
    MxAnswer answer;
    if (hosts.size() == 1 && hosts[0].name.empty()) {
        answer.outcome = Outcome::null_mx;
        return answer;
    }
    // A "." among real hosts is a misconfiguration: ignore it and use the others.
    hosts.erase(std::remove_if(hosts.begin(), hosts.end(), [](const MxHost& h) { return h.name.empty(); }),
                hosts.end());
    if (hosts.empty()) {
        answer.outcome = Outcome::no_data;
        return answer;
    }
    // RFC 5321 §5.1: lowest preference first; hosts of equal preference in random order, spreading the load.
    static thread_local std::mt19937 rng{std::random_device{}()};
    std::shuffle(hosts.begin(), hosts.end(), rng);
    std::stable_sort(hosts.begin(), hosts.end(),
                     [](const MxHost& a, const MxHost& b) { return a.preference < b.preference; });
    answer.outcome = Outcome::ok;
    answer.hosts = std::move(hosts);
    return answer;
}

UnboundResolver::UnboundResolver(const std::string& resolver, std::chrono::milliseconds timeout)
    : timeout_(timeout) {
    ctx_ = ub_ctx_create();
    if (!ctx_) {
        setup_error_ = "cannot create the DNS resolver";
        return;
    }
    ub_ctx_async(ctx_, 1);  // a thread, not a forked process, does the work
    int rc = 0;
    if (!resolver.empty()) {
        std::string host;
        uint16_t port = 53;
        if (!config::parse_host_port(resolver, host, port)) {
            setup_error_ = "bad resolver address " + resolver;
            return;
        }
        // A resolver on loopback is what tests (and a local caching resolver) use: allow it.
        ub_ctx_set_option(ctx_, "do-not-query-localhost:", "no");
        rc = ub_ctx_set_fwd(ctx_, fmt::format("{}@{}", host, port).c_str());
    } else {
        rc = ub_ctx_resolvconf(ctx_, nullptr);
    }
    if (rc != 0) setup_error_ = fmt::format("DNS resolver setup: {}", ub_strerror(rc));
}

UnboundResolver::~UnboundResolver() {
    if (ctx_) ub_ctx_delete(ctx_);
}

UnboundResolver::Raw UnboundResolver::query(const std::string& name, int type) {
    Raw raw;
    if (!setup_error_.empty()) {
        raw.error = setup_error_;
        return raw;
    }
    Pending pending;
    int async_id = 0;
    {
        std::lock_guard lock(mutex_);
        int rc = ub_resolve_async(ctx_, name.c_str(), type, 1 /* IN */, &pending, on_answer, &async_id);
        if (rc != 0) {
            raw.error = fmt::format("DNS query failed: {}", ub_strerror(rc));
            return raw;
        }
    }
    auto deadline = std::chrono::steady_clock::now() + timeout_;
    int fd = ub_fd(ctx_);
    while (true) {
        {
            std::lock_guard lock(mutex_);
            if (!pending.done) ub_process(ctx_);  // runs the callbacks of whichever queries are answered
            if (pending.done) break;
            if (cancelled_ || std::chrono::steady_clock::now() >= deadline) {
                ub_cancel(ctx_, async_id);
                raw.error = cancelled_ ? "DNS lookup cancelled" : fmt::format("DNS lookup of {} timed out", name);
                return raw;
            }
        }
        pollfd p{fd, POLLIN, 0};
        ::poll(&p, 1, 50);  // other threads may take our answer off the pipe: wake up regularly to look
    }
    if (pending.err != 0 || !pending.result) {
        raw.error = fmt::format("DNS lookup of {}: {}", name, ub_strerror(pending.err));
        if (pending.result) ub_resolve_free(pending.result);
        return raw;
    }
    ub_result* r = pending.result;
    if (r->rcode == 3 || r->nxdomain) {
        raw.outcome = Outcome::nxdomain;
    } else if (r->rcode != 0) {
        raw.error = fmt::format("DNS lookup of {}: rcode {}", name, r->rcode);
    } else if (!r->havedata) {
        raw.outcome = Outcome::no_data;
    } else {
        raw.outcome = Outcome::ok;
        for (int i = 0; r->data[i]; ++i) raw.rdata.emplace_back(r->data[i], static_cast<size_t>(r->len[i]));
    }
    ub_resolve_free(r);
    return raw;
}

MxAnswer UnboundResolver::mx(const std::string& domain) {
    auto raw = query(domain, kTypeMx);
    MxAnswer answer;
    if (raw.outcome != Outcome::ok) {
        answer.outcome = raw.outcome;
        answer.error = raw.error;
        return answer;
    }
    std::vector<MxHost> hosts;
    for (const auto& rd : raw.rdata) {
        MxHost h;
        if (parse_mx_rdata(reinterpret_cast<const unsigned char*>(rd.data()), rd.size(), h)) hosts.push_back(h);
    }
    if (hosts.empty()) {
        answer.outcome = Outcome::error;
        answer.error = "malformed MX records for " + domain;
        return answer;
    }
    return finish_mx(std::move(hosts));
}

AddressAnswer UnboundResolver::addresses(const std::string& host) {
    AddressAnswer answer;
    auto six = query(host, kTypeAaaa);
    auto four = query(host, kTypeA);
    char text[INET6_ADDRSTRLEN];
    if (six.outcome == Outcome::ok)
        for (const auto& rd : six.rdata)
            if (rd.size() == 16 && inet_ntop(AF_INET6, rd.data(), text, sizeof text)) answer.addresses.push_back(text);
    if (four.outcome == Outcome::ok)
        for (const auto& rd : four.rdata)
            if (rd.size() == 4 && inet_ntop(AF_INET, rd.data(), text, sizeof text)) answer.addresses.push_back(text);
    if (!answer.addresses.empty()) {
        answer.outcome = Outcome::ok;
    } else if (six.outcome == Outcome::error || four.outcome == Outcome::error) {
        answer.outcome = Outcome::error;
        answer.error = !four.error.empty() ? four.error : six.error;
    } else if (four.outcome == Outcome::nxdomain || six.outcome == Outcome::nxdomain) {
        answer.outcome = Outcome::nxdomain;
    } else {
        answer.outcome = Outcome::no_data;
    }
    return answer;
}

}  // namespace postern::dns
