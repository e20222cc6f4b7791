#include "smtp/session.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <utility>

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

}  // namespace

Session::Session(SessionSettings settings) : settings_(std::move(settings)) {
    size_text_ = std::to_string(settings_.max_message_size);
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
    ++errors_;
    reply(id, args);
}

void Session::close_with(ReplyId id) {
    if (phase_ == Phase::closed) return;
    reply(id, {settings_.hostname});
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
        case Phase::command: {
            std::string_view line;
            if (!next_line(line)) return Action::need_input;
            dispatch(line);
            break;
        }
        }
    }
}

// Takes the next complete command line out of the input. A line longer than the limit is dropped up to its end
// and answered with 500 5.5.2, without ever holding more than the limit in memory.
bool Session::next_line(std::string_view& line) {
    while (true) {
        std::string_view avail(in_.data() + in_pos_, in_.size() - in_pos_);
        auto lf = avail.find('\n');
        if (discarding_long_line_) {
            if (lf == std::string_view::npos) {
                in_pos_ = in_.size();
                return false;
            }
            in_pos_ += lf + 1;
            discarding_long_line_ = false;
            error(line_too_long);
            return false;  // back to advance(), which looks at the phase again
        }
        if (lf == std::string_view::npos) {
            if (avail.size() >= settings_.max_command_line) {
                discarding_long_line_ = true;
                in_pos_ = in_.size();
            }
            return false;
        }
        if (lf + 1 > settings_.max_command_line) {
            in_pos_ += lf + 1;
            error(line_too_long);
            continue;
        }
        line = avail.substr(0, lf);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        in_pos_ += lf + 1;
        return true;
    }
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
    case Verb::expn:
    case Verb::auth:
    case Verb::starttls: return error(not_implemented);
    case Verb::unknown: return error(unknown_command);
    }
}

void Session::cmd_helo(std::string_view arg, bool extended) {
    while (!arg.empty() && arg.back() == ' ') arg.remove_suffix(1);
    if (!is_printable_token(arg)) return error(helo_needs_domain, {extended ? "EHLO" : "HELO"});
    reset_transaction();  // RFC 5321 §4.1.4: EHLO/HELO also clears any transaction
    facts_.helo = std::string(arg);
    facts_.esmtp = extended;
    if (!extended) return reply(helo_ok, {settings_.hostname});
    std::array<std::string, 6> keywords{
        "PIPELINING",          "SIZE " + size_text_, "8BITMIME", "SMTPUTF8",
        "ENHANCEDSTATUSCODES", "CHUNKING",
    };
    render_multiline(out_, ehlo_first_line, {settings_.hostname, facts_.helo}, keywords);
}

void Session::cmd_mail(std::string_view arg, bool missing_prefix) {
    if (facts_.helo.empty()) return error(need_helo);
    if (mail_given_) return error(nested_mail);
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
            auto v = p.has_value ? parse_decimal(p.value, 20) : std::nullopt;
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

    env.sender = std::move(path.mailbox);
    envelope_ = std::move(env);
    mail_given_ = true;
    reply(sender_ok);
}

void Session::cmd_rcpt(std::string_view arg, bool missing_prefix) {
    if (!mail_given_) return error(need_mail);
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
    if (!domain.empty() && !is_local_domain(domain)) return error(relay_denied, {domain});

    lookup_address_ = std::move(path.mailbox);
    effect_ = Effect{.kind = EffectKind::lookup_recipient, .recipient = &lookup_address_};
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
    }
}

void Session::cmd_data(std::string_view arg) {
    if (!arg.empty()) return error(syntax_error);
    if (!mail_given_) return error(need_mail);
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
    if (!mail_given_) return error(need_mail);
    if (envelope_.recipients.empty()) {
        return rcpt_attempted_ ? error(no_valid_recipients) : error(need_rcpt, {"BDAT"});
    }
    if (!used_bdat_) {
        used_bdat_ = true;
        message_.clear();
        reader_.emplace(message_, settings_.max_message_size);
    }
    bdat_discard_ = false;
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
    if (!bdat_last_) return reply(chunk_ok, {std::to_string(reader_->size())});
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
    effect_ = Effect{.kind = EffectKind::store_message, .envelope = &envelope_, .message = &message_};
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

}  // namespace postern::smtp
