#include "queue/envelope.hpp"

#include <charconv>

namespace postern::queue {
namespace {

constexpr std::string_view kMagic = "postern-spool 1";

}  // namespace

std::string serialize_envelope(const QueuedEnvelope& env) {
    // Addresses never hold CR or LF (the parser refuses them), so one field per line is unambiguous.
    std::string out;
    out.reserve(128 + env.recipients.size() * 64);
    out.append(kMagic).append("\n");
    out.append("id ").append(env.id).append("\n");
    out.append("arrived ").append(std::to_string(env.arrived)).append("\n");
    out.append("sender ").append(env.sender).append("\n");
    out.append("smtputf8 ").append(env.smtputf8 ? "1" : "0").append("\n");
    out.append("8bit ").append(env.eight_bit ? "1" : "0").append("\n");
    for (const auto& r : env.recipients)
        out.append("rcpt ").append(r.user.empty() ? "-" : r.user).append(" ").append(r.address).append("\n");
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
        if (key == "id") {
            env.id = value;
        } else if (key == "arrived") {
            std::from_chars(value.data(), value.data() + value.size(), env.arrived);
        } else if (key == "sender") {
            env.sender = value;
        } else if (key == "smtputf8") {
            env.smtputf8 = value == "1";
        } else if (key == "8bit") {
            env.eight_bit = value == "1";
        } else if (key == "rcpt") {
            auto sp2 = value.find(' ');
            if (sp2 == std::string_view::npos) return std::nullopt;
            auto user = value.substr(0, sp2);
            env.recipients.push_back({std::string(value.substr(sp2 + 1)), user == "-" ? "" : std::string(user)});
        }
        // Unknown keys are skipped: a newer version's spool stays readable.
    }
    if (env.id.empty() || env.recipients.empty()) return std::nullopt;
    body_offset = pos;
    return env;
}

}  // namespace postern::queue
