// The spool envelope format: queue states and per-recipient status survive a round trip; old files still parse.
#include <gtest/gtest.h>

#include "queue/envelope.hpp"
#include "queue/runner.hpp"

using namespace postern::queue;

TEST(QueueEnvelope, RoundTripsStatesAndRecipientStatus) {
    QueuedEnvelope env;
    env.id = "ABC123";
    env.arrived = 1700000000;
    env.sender = "alice@example.org";
    env.eight_bit = true;
    env.held = true;
    env.attempts = 3;
    env.next_attempt = 1700000123456;
    env.warned = true;
    QueuedRecipient a{"bob@remote.example", ""};
    a.diagnostic = "451 4.7.1 try again\r\nlater";
    a.status = "4.7.1";
    a.remote_mta = "mx.remote.example";
    a.last_attempt = 1700000100;
    QueuedRecipient b{"carol@test.example", "carol"};
    b.state = QueuedRecipient::State::failed;
    b.status = "5.1.1";
    env.recipients = {a, b};
    auto text = serialize_envelope(env) + "Subject: x\r\n\r\nbody\r\n";
    size_t offset = 0;
    auto back = parse_envelope(text, offset);
    ASSERT_TRUE(back);
    EXPECT_EQ(text.substr(offset), "Subject: x\r\n\r\nbody\r\n");
    EXPECT_EQ(back->id, "ABC123");
    EXPECT_TRUE(back->held);
    EXPECT_EQ(back->attempts, 3);
    EXPECT_EQ(back->next_attempt, 1700000123456);
    EXPECT_TRUE(back->warned);
    ASSERT_EQ(back->recipients.size(), 2u);
    EXPECT_EQ(back->recipients[0].address, "bob@remote.example");
    EXPECT_EQ(back->recipients[0].user, "");
    EXPECT_EQ(back->recipients[0].state, QueuedRecipient::State::pending);
    EXPECT_EQ(back->recipients[0].diagnostic, "451 4.7.1 try again  later");  // one line on disk
    EXPECT_EQ(back->recipients[0].status, "4.7.1");
    EXPECT_EQ(back->recipients[0].remote_mta, "mx.remote.example");
    EXPECT_EQ(back->recipients[0].last_attempt, 1700000100);
    EXPECT_EQ(back->recipients[1].user, "carol");
    EXPECT_EQ(back->recipients[1].state, QueuedRecipient::State::failed);
    EXPECT_EQ(back->recipients[1].status, "5.1.1");
}

TEST(QueueEnvelope, ReadsTheFirstVersionFormat) {
    std::string text = "postern-spool 1\nid X1\narrived 5\nsender \nsmtputf8 0\n8bit 0\nrcpt bob bob@t.example\n\nhi";
    size_t offset = 0;
    auto env = parse_envelope(text, offset);
    ASSERT_TRUE(env);
    EXPECT_FALSE(env->held);
    EXPECT_EQ(env->attempts, 0);
    EXPECT_EQ(env->sender, "");
    EXPECT_EQ(text.substr(offset), "hi");
}

TEST(QueueEnvelope, StateOf) {
    QueuedEnvelope env;
    EXPECT_EQ(state_of(env, 1000), "active");
    env.attempts = 1;
    env.next_attempt = 2000;
    EXPECT_EQ(state_of(env, 1000), "deferred");
    EXPECT_EQ(state_of(env, 3000), "active");
    env.held = true;
    EXPECT_EQ(state_of(env, 3000), "held");
}
