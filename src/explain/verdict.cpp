#include "explain/verdict.hpp"

#include "explain/text.hpp"

namespace postern::explain {

std::string_view step_key(ProbeStep step) {
    switch (step) {
        case ProbeStep::connect:
            return "connect";
        case ProbeStep::tls:
            return "tls";
        case ProbeStep::greeting:
            return "greeting";
        case ProbeStep::ehlo:
            return "ehlo";
        case ProbeStep::starttls:
            return "starttls";
        case ProbeStep::auth:
            return "auth";
        case ProbeStep::mail:
            return "mail";
        case ProbeStep::rcpt:
            return "rcpt";
        case ProbeStep::data:
            return "data";
        case ProbeStep::quit:
            return "quit";
    }
    return "connect";
}

std::string verdict(const Explainer& ex, const ProbeOutcome& o) {
    using F = ProbeOutcome::Failure;
    auto v = [&](std::string_view key, Args args = {}) { return fill(ex.t({"verdict", key}), args); };
    auto step = std::string(ex.t({"step", step_key(o.failed_step)}));
    auto reply = std::to_string(o.code) + (o.enhanced.empty() ? "" : " " + o.enhanced);
    auto summary = ex.summary(o.code, o.enhanced);
    switch (o.failure) {
        case F::none: {
            std::vector<std::string> steps;
            for (auto s : o.passed)
                if (s != ProbeStep::connect && s != ProbeStep::quit) steps.emplace_back(ex.t({"step", step_key(s)}));
            std::string joined;
            for (size_t i = 0; i < steps.size(); ++i) joined += (i ? std::string(ex.ui("list_sep")) : "") + steps[i];
            return v("ok", {{"steps", joined}});
        }
        case F::connect:
            return v("connect_failed", {{"target", o.target}, {"error", o.error}});
        case F::tls:
            return v("tls_failed", {{"error", o.error}});
        case F::closed:
            return v("closed", {{"step", step}});
        case F::timeout:
            return v("timeout", {{"step", step}, {"seconds", std::to_string(o.timeout_seconds)}});
        case F::starttls_missing:
            return v("starttls_missing");
        case F::auth_missing:
            return v(o.tls_active ? "auth_missing" : "auth_missing_tls");
        case F::auth_no_mechanism:
            return v("auth_no_mechanism", {{"mechanisms", o.mechanisms}});
        case F::auth_cleartext:
            return v("auth_cleartext");
        case F::reply:
            break;
    }
    Args args{{"reply", reply}, {"summary", summary}, {"step", step}, {"from", o.from}, {"to", o.to}};
    int cls = o.code / 100;
    if (o.failed_step == ProbeStep::greeting) return v("greeting_refused", args);
    if (o.code == 421) return v("closed_by_server", args);
    switch (o.failed_step) {
        case ProbeStep::ehlo:
            return v("ehlo_refused", args);
        case ProbeStep::starttls:
            return v("starttls_refused", args);
        case ProbeStep::auth:
            if (o.code == 535) return v("auth_failed", args);
            if (o.code == 538) return v("auth_needs_tls", args);
            if (cls == 4) return v("auth_temporary", args);
            return v("auth_refused", args);
        case ProbeStep::mail:
            if (o.code == 530) return v(o.tls_active ? "auth_required" : "starttls_required", args);
            if (cls == 4) return v("temporary", args);
            return v("mail_refused", args);
        case ProbeStep::rcpt:
            if (o.code == 530) return v("auth_required", args);
            if (cls == 4) return v("temporary", args);
            if (o.enhanced == "5.7.1") return v("relay_denied", args);
            if (o.enhanced == "5.1.1") return v("unknown_user", args);
            return v("rcpt_refused", args);
        case ProbeStep::data:
            if (o.code == 530) return v("auth_required", args);
            if (cls == 4) return v("temporary", args);
            return v("data_refused", args);
        default:
            if (cls == 4) return v("temporary", args);
            return v("closed_by_server", args);
    }
}

}  // namespace postern::explain
