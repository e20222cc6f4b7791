// DNS lookups for outbound delivery (MX, A, AAAA) with libunbound. With a configured resolver address every
// query is forwarded there (tests: a dnsmasq on loopback); otherwise the system's /etc/resolv.conf is used.
// Lookups are synchronous for the caller (a delivery thread), bounded by a timeout, and can be cancelled.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

struct ub_ctx;

namespace postern::dns {

struct MxHost {
    uint16_t preference = 0;
    std::string name;  // lower case, no trailing dot
};

enum class Outcome {
    ok,        // records found
    no_data,   // the name exists, without records of that type
    nxdomain,  // the name does not exist
    null_mx,   // MX only: RFC 7505 "0 ." — the domain accepts no mail
    error,     // SERVFAIL, timeout, no resolver reachable: try again later
};

struct MxAnswer {
    Outcome outcome = Outcome::error;
    std::vector<MxHost> hosts;  // sorted by preference
    std::string error;
};

struct AddressAnswer {
    Outcome outcome = Outcome::error;
    std::vector<std::string> addresses;  // IPv6 first, then IPv4, as text
    std::string error;
};

class Resolver {
public:
    virtual ~Resolver() = default;
    virtual MxAnswer mx(const std::string& domain) = 0;
    virtual AddressAnswer addresses(const std::string& host) = 0;
    virtual void cancel() {}
};

// Parses MX rdata (preference, uncompressed name); false when malformed. Exposed for tests.
bool parse_mx_rdata(const unsigned char* data, size_t len, MxHost& out);
// Sorts by preference and applies RFC 7505: a lone "0 ." is null MX.
MxAnswer finish_mx(std::vector<MxHost> hosts);

class UnboundResolver : public Resolver {
public:
    // resolver: "127.0.0.1:53", "[::1]:5353" or empty for /etc/resolv.conf.
    UnboundResolver(const std::string& resolver, std::chrono::milliseconds timeout);
    ~UnboundResolver() override;

    MxAnswer mx(const std::string& domain) override;
    AddressAnswer addresses(const std::string& host) override;
    void cancel() override { cancelled_ = true; }

private:
    struct Raw {
        Outcome outcome = Outcome::error;
        std::vector<std::string> rdata;
        std::string error;
    };
    Raw query(const std::string& name, int type);

    ub_ctx* ctx_ = nullptr;
    std::mutex mutex_;  // around every call into ctx_ that processes answers
    std::chrono::milliseconds timeout_;
    std::atomic<bool> cancelled_{false};
    std::string setup_error_;
};

}  // namespace postern::dns
