#include "queue/envelope.hpp"

#include <charconv>

namespace postern::queue {
namespace {

constexpr std::string_view kMagic = "postern-spool 1";

// Diagnostics come from remote servers: one line, no control characters.
std::string one_line(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
    return out;
}

template <typename T>
void parse_number(std::string_view value, T& out) {
    std::from_chars(value.data(), value.data() + value.size(), out);
}

}  // namespace

std::string serialize_envelope(const QueuedEnvelope& env) {
    // Addresses never hold CR or LF (the parser refuses them), so one field per line is unambiguous.
    std::string out;
    out.reserve(192 + env.recipients.size() * 96);
    out.append(kMagic).append("\n");
    out.append("id ").append(env.id).append("\n");
    out.append("arrived ").append(std::to_string(env.arrived)).append("\n");
    out.append("sender ").append(env.sender).append("\n");
    out.append("smtputf8 ").append(env.smtputf8 ? "1" : "0").append("\n");
    out.append("8bit ").append(env.eight_bit ? "1" : "0").append("\n");
    if (env.held) out.append("held 1\n");
    if (env.attempts) out.append("attempts ").append(std::to_string(env.attempts)).append("\n");
    if (env.next_attempt) out.append("next ").append(std::to_string(env.next_attempt)).append("\n");
    if (env.warned) out.append("warned 1\n");
    if (env.size) out.append("size ").append(std::to_string(env.size)).append("\n");
    for (const auto& r : env.recipients) {
        out.append("rcpt ").append(r.user.empty() ? "-" : r.user).append(" ").append(r.address).append("\n");
        if (r.state == QueuedRecipient::State::failed) out.append("rstate failed\n");
        if (!r.status.empty()) out.append("rstatus ").append(one_line(r.status)).append("\n");
        if (!r.remote_mta.empty()) out.append("rmta ").append(one_line(r.remote_mta)).append("\n");
        if (r.last_attempt) out.append("rtime ").append(std::to_string(r.last_attempt)).append("\n");
        if (!r.diagnostic.empty()) out.append("rdiag ").append(one_line(r.diagnostic)).append("\n");
    }
    out.append("\n");
    return out;
}

std::optional<QueuedEnvelope> parse_envelope(std::string_view file, size_t& body_offset) {
    QueuedEnvelope env;
    size_t pos = 0;
    bool first = true;
    while (true) {
        auto nl = file.find('\n', pos);
        if (nl == std::string_view::npos) return std::nullopt;
        auto line = file.substr(pos, nl - pos);
        pos = nl + 1;
        if (first) {
            if (line != kMagic) return std::nullopt;
            first = false;
            continue;
        }
        if (line.empty()) break;
        auto sp = line.find(' ');
        if (sp == std::string_view::npos) return std::nullopt;
        auto key = line.substr(0, sp);
        auto value = line.substr(sp + 1);
        QueuedRecipient* last = env.recipients.empty() ? nullptr : &env.recipients.back();
        if (key == "id") {
            env.id = value;
        } else if (key == "arrived") {
            parse_number(value, env.arrived);
        } else if (key == "sender") {
            env.sender = value;
        } else if (key == "smtputf8") {
            env.smtputf8 = value == "1";
        } else if (key == "8bit") {
            env.eight_bit = value == "1";
        } else if (key == "held") {
            env.held = value == "1";
        } else if (key == "attempts") {
            parse_number(value, env.attempts);
        } else if (key == "next") {
            parse_number(value, env.next_attempt);
        } else if (key == "warned") {
            env.warned = value == "1";
        } else if (key == "size") {
            parse_number(value, env.size);
        } else if (key == "rcpt") {
            auto sp2 = value.find(' ');
            if (sp2 == std::string_view::npos) return std::nullopt;
            auto user = value.substr(0, sp2);
            QueuedRecipient r;
            r.address = value.substr(sp2 + 1);
            r.user = user == "-" ? "" : std::string(user);
            env.recipients.push_back(std::move(r));
        } else if (last && key == "rstate") {
            last->state = value == "failed" ? QueuedRecipient::State::failed : QueuedRecipient::State::pending;
        } else if (last && key == "rstatus") {
            last->status = value;
        } else if (last && key == "rmta") {
            last->remote_mta = value;
        } else if (last && key == "rtime") {
            parse_number(value, last->last_attempt);
        } else if (last && key == "rdiag") {
            last->diagnostic = value;
        }
        // Unknown keys are skipped: a newer version's spool stays readable.
    }
    if (env.id.empty() || env.recipients.empty()) return std::nullopt;
    if (env.size && file.size() - pos != env.size) return std::nullopt;  // cut short (or grown): not whole
    body_offset = pos;
    return env;
}

}  // namespace postern::queue
