// Test driver for the pure SMTP session: feeds bytes, runs advance() until the session needs input or closes,
// and answers its effects the way the server layer would: the sender policy accepts (unless told otherwise), a
// user table answers lookup_recipient (a remote recipient, allowed after AUTH, is found with no local user), a
// capturing store takes store_message, start_tls always succeeds, and a test-supplied handler answers auth_step.
// Shared by the smtp_session*_test.cpp files and dialog_replay_test.cpp.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "smtp/address.hpp"
#include "smtp/session.hpp"

namespace postern::smtp::test {

struct StoredMessage {
    Envelope envelope;
    std::string message;
};

struct AuthStep {
    std::string mechanism;
    bool first = false;
    std::optional<std::string> data;
};

class SessionDriver {
public:
    explicit SessionDriver(SessionSettings settings) : session_(std::move(settings)) {}

    // The greeting.
    std::string start() {
        session_.start();
        return session_.take_output();
    }

    // Feeds bytes as one input event and runs the session; returns what it wrote.
    std::string send(std::string_view bytes) {
        session_.feed(bytes);
        return run();
    }

    // Runs advance() until the session needs input or closes, answering effects on the way.
    std::string run() {
        while (true) {
            last_action = session_.advance();
            if (last_action != Action::effect) break;
            if (++effects_in_a_row > 10000) {
                ADD_FAILURE() << "the session keeps asking for effects";
                break;
            }
            answer(session_.pending_effect());
        }
        effects_in_a_row = 0;
        return session_.take_output();
    }

    bool closed() const { return last_action == Action::close; }
    Session& session() { return session_; }

    // Configuration of the fake server side.
    std::set<std::string> users{"alice", "bob", "postmaster"};  // local parts, compared case-insensitively
    std::optional<LookupVerdict> forced_verdict;                  // answer every lookup with this verdict
    std::optional<RecipientResult> forced_result;                 // or with this whole result
    std::optional<SenderResult> sender_verdict;                   // answer check_sender with this (default: ok)
    bool store_ok = true;
    std::function<AuthStepResult(const AuthStep&)> auth_handler;  // answers auth_step effects

    // What the session asked for.
    std::vector<Mailbox> senders;         // check_sender
    std::vector<Mailbox> lookups;         // lookup_recipient at a local domain (or <postmaster>)
    std::vector<Mailbox> remote_lookups;  // lookup_recipient elsewhere (authenticated relay)
    std::vector<StoredMessage> stored;  // successful stores only
    int store_attempts = 0;
    int tls_handshakes = 0;
    std::vector<AuthStep> auth_steps;
    Action last_action = Action::need_input;

private:
    void answer(const Effect& effect) {
        switch (effect.kind) {
        case EffectKind::check_sender: {
            EXPECT_NE(effect.sender, nullptr);
            if (effect.sender) senders.push_back(*effect.sender);
            return session_.sender_result(sender_verdict.value_or(SenderResult{}));
        }
        case EffectKind::lookup_recipient: {
            EXPECT_NE(effect.recipient, nullptr);
            RecipientResult result;
            if (!effect.recipient) {
                result.verdict = LookupVerdict::temp_fail;
                return session_.recipient_result(result);
            }
            auto user = ascii_lower(effect.recipient->local);
            if (forced_result) {
                (effect.recipient_remote ? remote_lookups : lookups).push_back(*effect.recipient);
                return session_.recipient_result(*forced_result);
            }
            if (effect.recipient_remote) {
                remote_lookups.push_back(*effect.recipient);
                result.verdict = forced_verdict.value_or(LookupVerdict::found);
                return session_.recipient_result(result);
            }
            lookups.push_back(*effect.recipient);
            if (forced_verdict) {
                result.verdict = *forced_verdict;
                if (result.verdict == LookupVerdict::found) result.user = user;
            } else if (users.count(user)) {
                result.verdict = LookupVerdict::found;
                result.user = user;
            } else {
                result.verdict = LookupVerdict::not_found;
            }
            return session_.recipient_result(result);
        }
        case EffectKind::store_message: {
            EXPECT_NE(effect.envelope, nullptr);
            EXPECT_NE(effect.message, nullptr);
            ++store_attempts;
            StoreResult result;
            if (!store_ok || !effect.envelope || !effect.message) return session_.store_result(result);
            stored.push_back({*effect.envelope, *effect.message});
            result.ok = true;
            result.queue_id = "Q" + std::to_string(stored.size());
            return session_.store_result(result);
        }
        case EffectKind::start_tls:
            ++tls_handshakes;
            return session_.tls_started();
        case EffectKind::auth_step: {
            AuthStep step{std::string(effect.auth_mechanism), effect.auth_first, effect.auth_data};
            auth_steps.push_back(step);
            if (!auth_handler) {
                ADD_FAILURE() << "auth_step effect without an auth_handler";
                return session_.auth_result(AuthStepResult{});
            }
            return session_.auth_result(auth_handler(step));
        }
        default:
            ADD_FAILURE() << "unexpected effect kind " << static_cast<int>(effect.kind);
            return session_.close_with(ReplyId::local_error);
        }
    }

    Session session_;
    int effects_in_a_row = 0;
};

}  // namespace postern::smtp::test
