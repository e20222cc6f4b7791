#include "delivery/lmtp.hpp"

#include <fmt/format.h>

#include "observe/log.hpp"

namespace postern::delivery {

using Status = queue::DeliveryResult::Status;

LmtpDelivery::LmtpDelivery(config::Lmtp lmtp, const config::Delivery& delivery, std::string hostname)
    : lmtp_(std::move(lmtp)),
      connect_timeout_(delivery.connect_timeout),
      io_timeout_(delivery.command_timeout),
      hostname_(std::move(hostname)) {}

std::string LmtpDelivery::lmtp_recipient(const queue::QueuedRecipient& r, const std::string& hostname) {
    auto at = r.address.rfind('@');
    std::string local = at == std::string::npos ? r.address : r.address.substr(0, at);
    std::string domain = at == std::string::npos ? hostname : r.address.substr(at + 1);
    std::string lower = local;
    for (auto& c : lower)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    auto plus = lower.find('+');
    std::string base = plus == std::string::npos ? lower : lower.substr(0, plus);
    if (at != std::string::npos && (lower == r.user || base == r.user)) return r.address;
    return r.user + "@" + domain;
}

queue::DeliveryResult LmtpDelivery::deliver(const queue::QueuedEnvelope& envelope,
                                            const queue::QueuedRecipient& recipient, std::string_view message) {
    return deliver_batch(envelope, {&recipient}, message).front();
}

std::vector<queue::DeliveryResult> LmtpDelivery::deliver_batch(
    const queue::QueuedEnvelope& env, const std::vector<const queue::QueuedRecipient*>& recipients,
    std::string_view message) {
    std::vector<queue::DeliveryResult> results(recipients.size());
    const std::string mta = lmtp_.host.empty() ? lmtp_.socket.string() : lmtp_.address;
    auto all = [&](queue::DeliveryResult r) {
        for (auto& x : results) x = r;
        return results;
    };
    auto lost = [&](SmtpConnection& c, std::string_view stage) {
        return all(failure(Status::temporary, "4.4.2", fmt::format("LMTP {} {}: {}", mta, stage, c.error()), mta));
    };

    std::string error;
    std::unique_ptr<SmtpConnection> conn;
    if (lmtp_.host.empty()) conn = SmtpConnection::connect_unix(lmtp_.socket, io_timeout_, &cancel_, error);
    else conn = SmtpConnection::connect_tcp(lmtp_.host, lmtp_.port, connect_timeout_, io_timeout_, &cancel_, error);
    if (!conn) return all(failure(Status::temporary, "4.4.1", "LMTP " + error, mta));

    auto greeting = conn->read_reply();
    if (!greeting) return lost(*conn, "greeting");
    if (greeting->code != 220)
        return all(failure(Status::temporary, "4.4.1", "LMTP server refused the session: " + greeting->text(), mta));
    auto lhlo = conn->hello("LHLO", hostname_);
    if (!lhlo) return lost(*conn, "LHLO");
    if (lhlo->code != 250)
        return all(failure(Status::temporary, "4.4.1", "LMTP LHLO refused: " + lhlo->text(), mta));

    if (env.smtputf8 && !conn->has_extension("SMTPUTF8"))
        return all(failure(Status::permanent, "5.6.7", "the mail store does not support SMTPUTF8", mta));
    auto mail = conn->command(fmt::format("MAIL FROM:<{}>{}", env.sender, mail_parameters(*conn, env, message.size())));
    if (!mail) return lost(*conn, "MAIL");
    if (!mail->positive()) return all(result_of(*mail, mta));

    std::vector<size_t> accepted;
    for (size_t i = 0; i < recipients.size(); ++i) {
        auto rcpt = conn->command(fmt::format("RCPT TO:<{}>", lmtp_recipient(*recipients[i], hostname_)));
        if (!rcpt) return lost(*conn, "RCPT");
        results[i] = result_of(*rcpt, mta);
        if (rcpt->positive()) accepted.push_back(i);
    }
    if (accepted.empty()) {
        conn->command("QUIT");
        return results;
    }
    auto data = conn->command("DATA");
    if (!data) return lost(*conn, "DATA");
    if (data->code != 354) {
        for (auto i : accepted) results[i] = result_of(*data, mta);
        return results;
    }
    if (!conn->send(dot_stuff(message))) return lost(*conn, "message");
    // RFC 2033 §4.2: one reply per accepted recipient, in RCPT order.
    for (size_t k = 0; k < accepted.size(); ++k) {
        auto reply = conn->read_reply();
        if (!reply) {
            for (size_t j = k; j < accepted.size(); ++j)
                results[accepted[j]] = failure(Status::temporary, "4.4.2",
                                               fmt::format("LMTP {} lost after DATA: {}", mta, conn->error()), mta);
            return results;
        }
        results[accepted[k]] = result_of(*reply, mta);
    }
    conn->command("QUIT");
    return results;
}

}  // namespace postern::delivery
