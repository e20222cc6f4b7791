// The SMTP session state machine: bytes in, replies and effects out. No sockets, clocks or files.
//
// The server layer drives it:
//   session.feed(bytes);
//   switch (session.advance()) { need_input: read more; effect: carry out pending_effect(), then answer it with
//   recipient_result() / store_result(); close: write take_output() and close }
// and writes take_output() whenever it is not empty (replies to pipelined commands come out together, in order).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "smtp/address.hpp"
#include "smtp/message_reader.hpp"
#include "smtp/reply.hpp"

namespace postern::smtp {

struct SessionSettings {
    std::string hostname;
    std::vector<std::string> local_domains;  // lower-case
    uint64_t max_message_size = 25 * 1024 * 1024;
    uint32_t max_recipients = 100;
    size_t max_command_line = 2048;  // octets including CRLF
    size_t max_auth_line = 12288;    // RFC 4954 §4: a SASL response line may be this long

    bool tls_available = false;   // STARTTLS can be offered (a certificate is loaded)
    bool implicit_tls = false;    // the connection was TLS from the first byte (465 role)
    bool auth_enabled = false;    // AUTH is offered on this listener
    bool auth_requires_tls = true;  // AUTH neither offered nor accepted before TLS
    bool require_auth = false;    // submission: MAIL needs AUTH first (530)
    std::vector<std::string> auth_mechanisms;  // advertised names, upper-case

    uint32_t max_errors = 0;  // rejected commands before 421 4.7.0 and close; 0 = no limit
};

enum class BodyType { seven_bit, eight_bit_mime };

struct Recipient {
    Mailbox address;
    std::string user;  // the local account it is delivered to
};

struct Envelope {
    Mailbox sender;  // empty for the null path <>
    std::vector<Recipient> recipients;
    BodyType body = BodyType::seven_bit;
    bool smtputf8 = false;
    std::optional<uint64_t> declared_size;
};

// What the session knows of the client, for the Received: trace header.
struct SessionFacts {
    std::string helo;  // the EHLO/HELO argument
    bool esmtp = false;
    bool tls = false;
    std::string auth_user;  // empty until AUTH succeeds
};

enum class Action { need_input, effect, close };

enum class EffectKind { none, check_sender, lookup_recipient, store_message, start_tls, auth_step };

struct Effect {
    EffectKind kind = EffectKind::none;
    const Mailbox* recipient = nullptr;  // lookup_recipient: the address (or <postmaster>)
    bool recipient_remote = false;       // lookup_recipient: not a local domain (authenticated relay)
    uint32_t recipients_so_far = 0;      // lookup_recipient: accepted in this transaction
    const Mailbox* sender = nullptr;     // check_sender
    const Envelope* envelope = nullptr;  // store_message
    std::string* message = nullptr;      // store_message: the content, CRLF lines; the store may move it away
    // auth_step: the mechanism (upper-case) and the decoded client data. The first step of an exchange has
    // auth_first set; its data is nullopt when AUTH carried no initial response.
    std::string_view auth_mechanism;
    bool auth_first = false;
    std::optional<std::string> auth_data;
};

enum class LookupVerdict { found, not_found, temp_fail, refused };
struct RecipientResult {
    LookupVerdict verdict = LookupVerdict::not_found;
    std::string user{};                  // found: the account that receives it; empty for a remote recipient
    ReplyId refusal = ReplyId::ok;       // refused: the reply (rate limit, greylisting, ...)
    std::string refusal_arg{};
};

// The server's word on MAIL (rate limits): accept, or refuse with a reply.
struct SenderResult {
    bool ok = true;
    ReplyId refusal = ReplyId::ok;
    std::string refusal_arg{};
};

struct StoreResult {
    bool ok = false;
    std::string queue_id;
};

struct AuthStepResult {
    enum class Kind { challenge, success, failure, temporary_failure, malformed } kind = Kind::failure;
    std::string data;                    // challenge, or final server data on success (sent as one more 334)
    std::string user;                    // success
    std::vector<std::string> addresses;  // success: the addresses the user may send as, lower-case
};

class Session {
public:
    explicit Session(SessionSettings settings);

    // The greeting is written to the output; call once before the first advance().
    void start();
    void feed(std::string_view bytes);
    Action advance();

    const Effect& pending_effect() const { return effect_; }
    void recipient_result(const RecipientResult& result);
    void sender_result(const SenderResult& result);
    void store_result(const StoreResult& result);
    // The TLS handshake after STARTTLS succeeded: the session starts over, the client must EHLO again.
    void tls_started();
    void auth_result(AuthStepResult result);

    std::string take_output() { return std::exchange(out_, {}); }
    bool has_output() const { return !out_.empty(); }

    // Timeouts, shutdown and connection refusals come from the server layer; the reply is the registry's
    // (its first argument the hostname, then `detail`), the closing is the core's. Before start(), it refuses
    // the connection instead of greeting.
    void close_with(ReplyId id, std::string_view detail = {});

    bool in_message_content() const { return phase_ == Phase::data || phase_ == Phase::bdat; }
    bool in_transaction() const { return mail_given_; }
    const Mailbox* envelope_sender() const { return mail_given_ ? &envelope_.sender : nullptr; }
    const SessionFacts& facts() const { return facts_; }
    uint64_t errors() const { return errors_; }

private:
    enum class Phase { command, data, bdat, auth_line, effect, closed };

    enum class LineStatus { line, need_input, replied };
    LineStatus next_line(std::string_view& line, size_t limit, ReplyId too_long);
    void long_line(ReplyId too_long);
    bool starts_with_auth() const;
    void dispatch(std::string_view line);
    void reply(ReplyId id, std::initializer_list<std::string_view> args = {});
    void error(ReplyId id, std::initializer_list<std::string_view> args = {});
    void reset_transaction();
    bool is_local_domain(std::string_view domain) const;

    void cmd_helo(std::string_view arg, bool extended);
    void cmd_mail(std::string_view arg, bool missing_prefix);
    void cmd_rcpt(std::string_view arg, bool missing_prefix);
    void cmd_data(std::string_view arg);
    void cmd_bdat(std::string_view arg);
    void cmd_rset(std::string_view arg);
    void cmd_vrfy(std::string_view arg);
    void cmd_quit(std::string_view arg);
    void cmd_starttls(std::string_view arg);
    void cmd_auth(std::string_view arg);
    void auth_response(std::string_view line);
    void request_auth_step(std::optional<std::string> data, bool first);
    bool auth_offered() const;
    bool sender_owned(const Mailbox& sender) const;

    void advance_data();
    void advance_bdat();
    void finish_message();
    void message_fault_reply(MessageFault fault);

    SessionSettings settings_;
    SessionFacts facts_;
    std::string size_text_;  // max_message_size in decimal, for replies

    std::string in_;
    size_t in_pos_ = 0;
    bool discarding_long_line_ = false;
    ReplyId discard_reply_ = ReplyId::line_too_long;
    std::string out_;
    Phase phase_ = Phase::command;

    // The mail transaction.
    bool mail_given_ = false;
    bool rcpt_attempted_ = false;
    bool used_bdat_ = false;
    Envelope envelope_;
    Envelope pending_envelope_;  // MAIL waiting for check_sender
    std::string message_;
    std::optional<MessageReader> reader_;
    uint64_t bdat_remaining_ = 0;
    uint64_t bdat_received_ = 0;
    bool bdat_last_ = false;
    bool bdat_discard_ = false;  // this chunk is read only to keep in step with the client

    // SASL exchange.
    std::string auth_mechanism_;
    bool auth_final_pending_ = false;  // success data sent; waiting for the client's empty response
    AuthStepResult auth_success_;
    std::vector<std::string> owned_addresses_;

    Effect effect_;
    Mailbox lookup_address_;
    uint64_t errors_ = 0;
};

}  // namespace postern::smtp
