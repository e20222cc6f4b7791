#include "smtp/session.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <utility>

#include "smtp/base64.hpp"
#include "smtp/command.hpp"

namespace postern::smtp {
namespace {

using enum ReplyId;

constexpr size_t kMaxBdatDigits = 18;

bool is_printable_token(std::string_view s) {
    if (s.empty()) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u > 32 && u != 127;
    });
}

std::optional<uint64_t> parse_decimal(std::string_view s, size_t max_digits) {
    if (s.empty() || s.size() > max_digits) return std::nullopt;
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
    return v;
}

// RFC 1870 size-value = 1*20DIGIT: twenty nines overflow 64 bits but are valid, and simply too big.
std::optional<uint64_t> parse_size(std::string_view s) {
    if (s.empty() || s.size() > 20 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    auto v = parse_decimal(s, 20);
    return v ? v : std::optional<uint64_t>(UINT64_MAX);
}

// "GET / HTTP/1.1", "CONNECT host:443 HTTP/1.1": a web client or proxy probe on an SMTP port.
bool looks_like_http(std::string_view line) {
    static constexpr std::string_view methods[] = {"GET ", "POST ", "HEAD ", "PUT ", "CONNECT ", "OPTIONS ",
                                                   "DELETE ", "PATCH ", "TRACE "};
    for (auto m : methods)
        if (line.starts_with(m)) return true;
    return false;
}

}  // namespace

Session::Session(SessionSettings settings) : settings_(std::move(settings)) {
    size_text_ = std::to_string(settings_.max_message_size);
    facts_.tls = settings_.implicit_tls;
}

void Session::start() { reply(greeting, {settings_.hostname}); }

void Session::feed(std::string_view bytes) {
    if (phase_ == Phase::closed) return;
    if (in_pos_ == in_.size()) {
        in_.clear();
        in_pos_ = 0;
    } else if (in_pos_ > 4096 && in_pos_ > in_.size() / 2) {
        in_.erase(0, in_pos_);
        in_pos_ = 0;
    }
    in_.append(bytes);
}

void Session::reply(ReplyId id, std::initializer_list<std::string_view> args) { render_to(out_, id, args); }

void Session::error(ReplyId id, std::initializer_list<std::string_view> args) {
    reply(id, args);
    // The error budget: a client that keeps sending what is refused is let go (421 and close).
    if (++errors_ == settings_.max_errors) close_with(too_many_errors);
}

void Session::close_with(ReplyId id, std::string_view detail) {
    if (phase_ == Phase::closed) return;
    reply(id, {settings_.hostname, detail});
    phase_ = Phase::closed;
}

void Session::reset_transaction() {
    mail_given_ = false;
    rcpt_attempted_ = false;
    used_bdat_ = false;
    envelope_ = Envelope{};
    message_.clear();
    reader_.reset();
}

bool Session::is_local_domain(std::string_view domain) const {
    return std::find(settings_.local_domains.begin(), settings_.local_domains.end(), domain) !=
           settings_.local_domains.end();
}

Action Session::advance() {
    while (true) {
        switch (phase_) {
        case Phase::closed:
            return Action::close;
        case Phase::effect:
            return Action::effect;
        case Phase::data:
            advance_data();
            if (phase_ == Phase::data) return Action::need_input;
            break;
        case Phase::bdat:
            advance_bdat();
            if (phase_ == Phase::bdat) return Action::need_input;
            break;
        case Phase::command:
        case Phase::auth_line: {
            std::string_view line;
            bool auth = phase_ == Phase::auth_line;
            // An AUTH command may carry an initial response: its line may be as long as an exchange line.
            bool auth_command = !auth && starts_with_auth();
            auto got = auth || auth_command ? next_line(line, settings_.max_auth_line, auth_line_too_long)
                                            : next_line(line, settings_.max_command_line, line_too_long);
            if (got == LineStatus::need_input) return Action::need_input;
            if (got == LineStatus::line) auth ? auth_response(line) : dispatch(line);
            break;
        }
        }
    }
}

bool Session::starts_with_auth() const {
    std::string_view avail(in_.data() + in_pos_, in_.size() - in_pos_);
    return avail.size() >= 5 && iequals(avail.substr(0, 5), "AUTH ");
}

// Takes the next complete command line out of the input. A line longer than the limit is dropped up to its end
// and answered with 500 5.5.2, without ever holding more than the limit in memory.
Session::LineStatus Session::next_line(std::string_view& line, size_t limit, ReplyId too_long) {
    {
        std::string_view avail(in_.data() + in_pos_, in_.size() - in_pos_);
        auto lf = avail.find('\n');
        if (discarding_long_line_) {
            if (lf == std::string_view::npos) {
                in_pos_ = in_.size();
                return LineStatus::need_input;
            }
            in_pos_ += lf + 1;
            discarding_long_line_ = false;
            long_line(discard_reply_);
            return LineStatus::replied;  // advance() looks at the phase again
        }
        if (lf == std::string_view::npos) {
            if (avail.size() >= limit) {
                discarding_long_line_ = true;
                discard_reply_ = too_long;  // later reads of this line no longer show how it began
                in_pos_ = in_.size();
            }
            return LineStatus::need_input;
        }
        if (lf + 1 > limit) {
            in_pos_ += lf + 1;
            long_line(too_long);
            return LineStatus::replied;
        }
        line = avail.substr(0, lf);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        in_pos_ += lf + 1;
        return LineStatus::line;
    }
}

// An over-long SASL response also ends the exchange (RFC 4954 §4: 500 5.5.6).
void Session::long_line(ReplyId too_long) {
    if (phase_ == Phase::auth_line) {
        phase_ = Phase::command;
        auth_mechanism_.clear();
        auth_final_pending_ = false;
    }
    error(too_long);
}

void Session::dispatch(std::string_view line) {
    auto cmd = parse_command(line);
    switch (cmd.verb) {
    case Verb::helo: return cmd_helo(cmd.arg, false);
    case Verb::ehlo: return cmd_helo(cmd.arg, true);
    case Verb::mail: return cmd_mail(cmd.arg, cmd.missing_prefix);
    case Verb::rcpt: return cmd_rcpt(cmd.arg, cmd.missing_prefix);
    case Verb::data: return cmd_data(cmd.arg);
    case Verb::bdat: return cmd_bdat(cmd.arg);
    case Verb::rset: return cmd_rset(cmd.arg);
    case Verb::noop: return reply(ok);
    case Verb::vrfy: return cmd_vrfy(cmd.arg);
    case Verb::help: return reply(help);
    case Verb::quit: return cmd_quit(cmd.arg);
    case Verb::starttls: return cmd_starttls(cmd.arg);
    case Verb::auth: return cmd_auth(cmd.arg);
    case Verb::expn: return error(not_implemented);
    case Verb::unknown:
        if (looks_like_http(line)) return close_with(http_request);
        return error(unknown_command);
    }
}

void Session::cmd_helo(std::string_view arg, bool extended) {
    while (!arg.empty() && arg.back() == ' ') arg.remove_suffix(1);
    if (!is_printable_token(arg)) return error(helo_needs_domain, {extended ? "EHLO" : "HELO"});
    reset_transaction();  // RFC 5321 §4.1.4: EHLO/HELO also clears any transaction
    facts_.helo = std::string(arg);
    facts_.esmtp = extended;
    if (!extended) return reply(helo_ok, {settings_.hostname});
    std::vector<std::string> keywords{
        "PIPELINING", "SIZE " + size_text_, "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING",
    };
    if (settings_.tls_available && !facts_.tls) keywords.push_back("STARTTLS");
    if (auth_offered() && facts_.auth_user.empty() && !settings_.auth_mechanisms.empty()) {
        std::string auth = "AUTH";
        for (const auto& m : settings_.auth_mechanisms) auth.append(" ").append(m);
        keywords.push_back(std::move(auth));
    }
    render_multiline(out_, ehlo_first_line, {settings_.hostname, facts_.helo}, keywords);
}

void Session::cmd_mail(std::string_view arg, bool missing_prefix) {
    if (facts_.helo.empty()) return error(need_helo);
    if (mail_given_) return error(nested_mail);
    if (settings_.require_auth && facts_.auth_user.empty()) return error(auth_required);
    if (missing_prefix) return error(syntax_error);
    auto path = parse_path(arg, PathKind::reverse, true);
    if (path.error != PathError::none) return error(bad_sender_syntax);
    auto params = parse_params(path.rest);
    if (!params) return error(syntax_error);

    Envelope env;
    bool seen_size = false, seen_body = false, seen_utf8 = false, seen_auth = false;
    for (const auto& p : *params) {
        auto dup = [&](bool& seen) { return std::exchange(seen, true); };
        if (iequals(p.keyword, "SIZE")) {
            auto v = p.has_value ? parse_size(p.value) : std::nullopt;
            if (dup(seen_size) || !v) return error(bad_parameter_value, {"SIZE"});
            if (*v > settings_.max_message_size) return error(message_too_big, {size_text_});
            env.declared_size = *v;
        } else if (iequals(p.keyword, "BODY")) {
            if (dup(seen_body) || !p.has_value) return error(bad_parameter_value, {"BODY"});
            if (iequals(p.value, "8BITMIME")) env.body = BodyType::eight_bit_mime;
            else if (iequals(p.value, "7BIT")) env.body = BodyType::seven_bit;
            else return error(bad_parameter_value, {"BODY"});
        } else if (iequals(p.keyword, "SMTPUTF8")) {
            if (dup(seen_utf8) || p.has_value) return error(bad_parameter_value, {"SMTPUTF8"});
            env.smtputf8 = true;
        } else if (iequals(p.keyword, "AUTH")) {
            // RFC 4954 §5: the submitter's identity; accepted and not trusted, since we do not relay for it.
            if (dup(seen_auth) || !p.has_value) return error(bad_parameter_value, {"AUTH"});
        } else {
            return error(unknown_parameter, {p.keyword});
        }
    }
    if (path.mailbox.is_utf8() && !env.smtputf8) return error(utf8_needs_smtputf8);
    // An authenticated user sends only as an address it owns; the null path is for bounces, not users.
    if (!facts_.auth_user.empty() && !sender_owned(path.mailbox))
        return error(sender_not_owned, {path.mailbox.str(), facts_.auth_user});

    env.sender = std::move(path.mailbox);
    pending_envelope_ = std::move(env);
    effect_ = Effect{};
    effect_.kind = EffectKind::check_sender;
    effect_.sender = &pending_envelope_.sender;
    phase_ = Phase::effect;
}

void Session::sender_result(const SenderResult& result) {
    effect_ = {};
    phase_ = Phase::command;
    if (!result.ok) return error(result.refusal, {result.refusal_arg});
    envelope_ = std::move(pending_envelope_);
    mail_given_ = true;
    reply(sender_ok);
}

void Session::cmd_rcpt(std::string_view arg, bool missing_prefix) {
    if (!mail_given_) return error(need_mail, {"RCPT"});
    if (missing_prefix) return error(syntax_error);
    auto path = parse_path(arg, PathKind::forward, true);
    if (path.error != PathError::none) return error(bad_recipient_syntax);
    auto params = parse_params(path.rest);
    if (!params) return error(syntax_error);
    if (!params->empty()) return error(unknown_parameter, {params->front().keyword});
    if (path.mailbox.is_utf8() && !envelope_.smtputf8) return error(utf8_needs_smtputf8);
    rcpt_attempted_ = true;
    if (envelope_.recipients.size() >= settings_.max_recipients) return error(too_many_recipients);
    const auto& domain = path.mailbox.domain;
    bool remote = !domain.empty() && !is_local_domain(domain);
    // Unauthenticated: local domains only. Authenticated: any domain, queued for outbound delivery.
    if (remote && facts_.auth_user.empty()) return error(relay_denied, {domain});

    lookup_address_ = std::move(path.mailbox);
    effect_ = Effect{};
    effect_.kind = EffectKind::lookup_recipient;
    effect_.recipient = &lookup_address_;
    effect_.recipient_remote = remote;
    effect_.recipients_so_far = static_cast<uint32_t>(envelope_.recipients.size());
    phase_ = Phase::effect;
}

void Session::recipient_result(const RecipientResult& result) {
    effect_ = {};
    phase_ = Phase::command;
    switch (result.verdict) {
    case LookupVerdict::found: {
        bool duplicate = std::any_of(envelope_.recipients.begin(), envelope_.recipients.end(), [&](const Recipient& r) {
            return r.user == result.user && r.address.local == lookup_address_.local &&
                   r.address.domain == lookup_address_.domain;
        });
        if (!duplicate) envelope_.recipients.push_back({std::move(lookup_address_), result.user});
        return reply(recipient_ok);
    }
    case LookupVerdict::not_found: return error(unknown_user);
    case LookupVerdict::temp_fail: return error(recipient_lookup_failed);
    case LookupVerdict::refused: return error(result.refusal, {result.refusal_arg});
    }
}

void Session::cmd_data(std::string_view arg) {
    if (!arg.empty()) return error(syntax_error);
    if (!mail_given_) return error(need_mail, {"DATA"});
    if (used_bdat_) return error(bdat_mixed_with_data);
    if (envelope_.recipients.empty()) return rcpt_attempted_ ? error(no_valid_recipients) : error(need_rcpt, {"DATA"});
    message_.clear();
    reader_.emplace(message_, settings_.max_message_size);
    phase_ = Phase::data;
    reply(start_data);
}

void Session::advance_data() {
    std::string_view avail(in_.data() + in_pos_, in_.size() - in_pos_);
    in_pos_ += reader_->feed_dot_stuffed(avail);
    if (!reader_->done()) return;
    phase_ = Phase::command;
    finish_message();
}

void Session::cmd_bdat(std::string_view arg) {
    // BDAT <size> [LAST]: the chunk must be read whatever the verdict, to stay in step with the client.
    auto space = arg.find(' ');
    auto size = parse_decimal(arg.substr(0, space), kMaxBdatDigits);
    bool last = false;
    if (space != std::string_view::npos) {
        auto rest = arg.substr(space + 1);
        if (!iequals(rest, "LAST")) size.reset();
        last = true;
    }
    if (!size) return error(syntax_error);

    bdat_remaining_ = *size;
    bdat_last_ = last;
    bdat_discard_ = true;
    phase_ = Phase::bdat;
    if (!mail_given_) return error(need_mail, {"BDAT"});
    if (envelope_.recipients.empty()) {
        return rcpt_attempted_ ? error(no_valid_recipients) : error(need_rcpt, {"BDAT"});
    }
    if (!used_bdat_) {
        used_bdat_ = true;
        bdat_received_ = 0;
        message_.clear();
        reader_.emplace(message_, settings_.max_message_size);
    }
    bdat_discard_ = false;
    bdat_received_ += *size;  // octets as sent in all chunks so far, for the 250 reply
}

void Session::advance_bdat() {
    size_t avail = in_.size() - in_pos_;
    size_t take = static_cast<size_t>(std::min<uint64_t>(avail, bdat_remaining_));
    if (!bdat_discard_) reader_->feed_raw(std::string_view(in_.data() + in_pos_, take));
    in_pos_ += take;
    bdat_remaining_ -= take;
    if (bdat_remaining_ > 0) return;
    phase_ = Phase::command;
    if (bdat_discard_) return;  // its refusal was sent when the BDAT command was read: one reply per command
    if (reader_->fault() != MessageFault::none) {
        // A refused chunk ends the transaction; later chunks get 503 until a new MAIL.
        auto fault = reader_->fault();
        reset_transaction();
        return message_fault_reply(fault);
    }
    if (!bdat_last_) return reply(chunk_ok, {std::to_string(bdat_received_)});
    reader_->finish_raw();
    finish_message();
}

void Session::message_fault_reply(MessageFault fault) {
    switch (fault) {
    case MessageFault::too_big: return error(message_too_big, {size_text_});
    case MessageFault::bare_line_ending: return error(bare_line_ending);
    case MessageFault::line_too_long: return error(text_line_too_long);
    case MessageFault::none: return;
    }
}

void Session::finish_message() {
    auto fault = reader_->fault();
    if (fault != MessageFault::none) {
        reset_transaction();
        return message_fault_reply(fault);
    }
    effect_ = Effect{};
    effect_.kind = EffectKind::store_message;
    effect_.envelope = &envelope_;
    effect_.message = &message_;
    phase_ = Phase::effect;
}

void Session::store_result(const StoreResult& result) {
    effect_ = {};
    phase_ = Phase::command;
    reset_transaction();
    if (result.ok) return reply(queued, {result.queue_id});
    reply(local_error);
}

void Session::cmd_rset(std::string_view arg) {
    if (!arg.empty()) return error(syntax_error);
    reset_transaction();
    reply(ok);
}

void Session::cmd_vrfy(std::string_view arg) {
    if (arg.empty()) return error(syntax_error);
    reply(vrfy_no_disclosure);
}

void Session::cmd_quit(std::string_view arg) {
    if (!arg.empty()) return error(syntax_error);
    reply(quit, {settings_.hostname});
    phase_ = Phase::closed;
}

bool Session::auth_offered() const {
    return settings_.auth_enabled && (facts_.tls || !settings_.auth_requires_tls);
}

bool Session::sender_owned(const Mailbox& sender) const {
    if (sender.is_null()) return false;
    auto local = ascii_lower(sender.local);
    auto plus = local.find('+');  // alice+tag@example.org belongs to whoever owns alice@example.org
    auto address = (plus != std::string::npos && plus > 0 ? local.substr(0, plus) : local) + "@" + sender.domain;
    auto full = local + "@" + sender.domain;
    return std::any_of(owned_addresses_.begin(), owned_addresses_.end(),
                       [&](const std::string& a) { return a == address || a == full; });
}

void Session::cmd_starttls(std::string_view arg) {
    if (!arg.empty()) return error(syntax_error);
    if (facts_.tls) return error(tls_already_active);
    if (!settings_.tls_available) return error(tls_not_available);
    reply(starttls_ready);
    // Whatever the client pipelined after STARTTLS came in cleartext and is dropped, never executed after the
    // upgrade (the CVE-2011-0411 class of injection).
    in_.clear();
    in_pos_ = 0;
    effect_ = Effect{};
    effect_.kind = EffectKind::start_tls;
    phase_ = Phase::effect;
}

void Session::tls_started() {
    effect_ = {};
    phase_ = Phase::command;
    in_.clear();
    in_pos_ = 0;
    reset_transaction();
    // RFC 3207 §4.2: discard all knowledge obtained from the client, EHLO again.
    facts_ = SessionFacts{};
    facts_.tls = true;
}

void Session::cmd_auth(std::string_view arg) {
    if (facts_.helo.empty() || !facts_.esmtp) return error(need_helo);
    if (!settings_.auth_enabled) return error(auth_not_offered);
    if (!facts_.auth_user.empty()) return error(already_authenticated);
    if (mail_given_) return error(auth_in_transaction);
    if (!auth_offered()) return error(auth_needs_tls);
    auto space = arg.find(' ');
    std::string mechanism(arg.substr(0, space));
    for (auto& c : mechanism) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);  // names are upper-case
    if (mechanism.empty()) return error(syntax_error);
    if (std::find(settings_.auth_mechanisms.begin(), settings_.auth_mechanisms.end(), mechanism) ==
        settings_.auth_mechanisms.end())
        return error(auth_unknown_mechanism);
    auth_mechanism_ = std::move(mechanism);
    std::optional<std::string> initial;
    if (space != std::string_view::npos) {
        auto text = arg.substr(space + 1);
        if (text == "=") {
            initial = std::string{};  // RFC 4954 §4: "=" is an empty initial response
        } else {
            initial = base64_decode(text);
            if (!initial) {
                auth_mechanism_.clear();
                return error(auth_bad_base64);
            }
        }
    }
    request_auth_step(std::move(initial), true);
}

void Session::request_auth_step(std::optional<std::string> data, bool first) {
    effect_ = Effect{};
    effect_.kind = EffectKind::auth_step;
    effect_.auth_mechanism = auth_mechanism_;
    effect_.auth_first = first;
    effect_.auth_data = std::move(data);
    phase_ = Phase::effect;
}

void Session::auth_response(std::string_view line) {
    phase_ = Phase::command;
    if (line == "*") {
        auth_mechanism_.clear();
        auth_final_pending_ = false;
        return error(auth_cancelled);
    }
    if (auth_final_pending_) {
        // The client acknowledges the server's final data with an empty response; then 235.
        auth_final_pending_ = false;
        auth_mechanism_.clear();
        if (!line.empty()) return error(auth_failed);
        facts_.auth_user = std::move(auth_success_.user);
        owned_addresses_ = std::move(auth_success_.addresses);
        return reply(auth_ok);
    }
    auto decoded = base64_decode(line);
    if (!decoded) {
        auth_mechanism_.clear();
        return error(auth_bad_base64);
    }
    request_auth_step(std::move(decoded), false);
}

void Session::auth_result(AuthStepResult result) {
    effect_ = {};
    phase_ = Phase::command;
    using Kind = AuthStepResult::Kind;
    switch (result.kind) {
    case Kind::challenge:
        phase_ = Phase::auth_line;
        return reply(auth_challenge, {base64_encode(result.data)});
    case Kind::success:
        if (!result.data.empty()) {
            auth_final_pending_ = true;
            phase_ = Phase::auth_line;
            auto data = base64_encode(result.data);
            auth_success_ = std::move(result);
            return reply(auth_challenge, {data});
        }
        auth_mechanism_.clear();
        facts_.auth_user = std::move(result.user);
        owned_addresses_ = std::move(result.addresses);
        return reply(auth_ok);
    case Kind::failure:
        auth_mechanism_.clear();
        return error(auth_failed);
    case Kind::temporary_failure:
        auth_mechanism_.clear();
        return error(auth_unavailable);
    case Kind::malformed:  // well-formed base64 but not what the mechanism expects: bad credentials
        auth_mechanism_.clear();
        return error(auth_failed);
    }
}

}  // namespace postern::smtp
