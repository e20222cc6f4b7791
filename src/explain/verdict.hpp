// The probe's verdict: what a recorded SMTP session (postern probe) means, in one sentence of plain words.
// Pure: the network side (app/cli_probe.cpp) fills a ProbeOutcome, this turns it into text.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "explain/explainer.hpp"

namespace postern::explain {

enum class ProbeStep { connect, tls, greeting, ehlo, starttls, auth, mail, rcpt, data, quit };
std::string_view step_key(ProbeStep step);  // "connect", "tls", ... (the keys of [step] in the data)

struct ProbeOutcome {
    enum class Failure {
        none,
        connect,            // could not connect: `error`
        tls,                // TLS handshake failed: `error`
        closed,             // the server closed the connection without a reply during `failed_step`
        timeout,            // no reply within `timeout_seconds` during `failed_step`
        reply,              // the server answered `failed_step` with `code`/`enhanced`
        starttls_missing,   // --starttls, but EHLO did not offer it
        auth_missing,       // --user, but EHLO did not offer AUTH
        auth_no_mechanism,  // AUTH offered, but neither PLAIN nor LOGIN (`mechanisms`)
        auth_cleartext,     // the password was not sent over an unencrypted connection
    };
    Failure failure = Failure::none;
    ProbeStep failed_step = ProbeStep::connect;
    int code = 0;
    std::string enhanced;
    std::string error;
    std::vector<ProbeStep> passed;  // steps that succeeded, in order
    std::string target, from, to, mechanisms;
    bool tls_active = false;
    int timeout_seconds = 0;

    bool ok() const { return failure == Failure::none; }
};

std::string verdict(const Explainer& ex, const ProbeOutcome& outcome);

}  // namespace postern::explain
