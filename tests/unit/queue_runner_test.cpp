// The queue manager with scripted agents and a real spool on disk: per-recipient outcomes, retries, bounces
// (never for <>), expiry, delay warnings, hold/release/delete/flush, and resuming after a restart.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <future>
#include <thread>

#include "queue/runner.hpp"

using namespace postern::queue;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Status = DeliveryResult::Status;

namespace {

class ScriptedAgent : public DeliveryAgent {
public:
    // (recipient address, attempt number starting at 1) → result
    std::function<DeliveryResult(const std::string&, int)> script = [](const std::string&, int) {
        return DeliveryResult{};
    };

    DeliveryResult deliver(const QueuedEnvelope& env, const QueuedRecipient& r, std::string_view message) override {
        std::lock_guard lock(mutex_);
        int n = ++attempts_[r.address];
        auto res = script(r.address, n);
        if (res.status == Status::ok) delivered_.push_back({r.address, env.sender, std::string(message)});
        ++calls_;
        return res;
    }
    std::string destination(const QueuedRecipient& r) const override { return r.address.substr(r.address.find('@')); }

    struct Delivery {
        std::string to, sender, message;
    };
    std::vector<Delivery> delivered() {
        std::lock_guard lock(mutex_);
        return delivered_;
    }
    int attempts(const std::string& a) {
        std::lock_guard lock(mutex_);
        return attempts_[a];
    }

private:
    std::mutex mutex_;
    std::map<std::string, int> attempts_;
    std::vector<Delivery> delivered_;
    int calls_ = 0;
};

DeliveryResult temp(std::string text = "451 4.7.1 later") { return {Status::temporary, text, "4.7.1", "mx.remote.example"}; }
DeliveryResult perm(std::string text = "550 5.1.1 no such user") { return {Status::permanent, text, "5.1.1", "mx.remote.example"}; }

class QueueRunnerTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "postern-runner-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        settings_.hostname = "mx.test.example";
        settings_.retry_schedule = {50ms};
        settings_.threads = 2;
    }
    void TearDown() override {
        stop();
        fs::remove_all(dir_);
    }

    void start() {
        spool_ = std::make_unique<Spool>(dir_ / "spool");
        runner_ = std::make_unique<QueueRunner>(*spool_, settings_, local_, remote_, [](const std::string& address) {
            // test.example is local: "alice" there is an account.
            if (address.ends_with("@test.example")) return std::optional<QueuedRecipient>(QueuedRecipient{address, address.substr(0, address.find('@'))});
            return std::optional<QueuedRecipient>(QueuedRecipient{address, ""});
        });
        spool_->on_committed([this](std::shared_ptr<SpoolEntry> e) { runner_->enqueue(std::move(e)); });
        runner_->start();
        spool_->start();
    }
    void stop() {
        if (runner_) runner_->stop();
        if (spool_) spool_->stop();
        runner_.reset();
        spool_.reset();
    }

    std::string submit(const std::string& sender, std::vector<QueuedRecipient> rcpts, int64_t arrived = 0) {
        auto e = std::make_shared<SpoolEntry>();
        e->envelope.id = spool_->new_id();
        e->envelope.arrived = arrived ? arrived : std::time(nullptr);
        e->envelope.sender = sender;
        e->envelope.recipients = std::move(rcpts);
        e->message = "From: " + sender + "\r\nSubject: test\r\n\r\nbody\r\n";
        struct W : CommitWaiter {
            std::promise<bool> p;
            void committed(bool ok) override { p.set_value(ok); }
        };
        auto w = std::make_unique<W>();
        auto f = w->p.get_future();
        auto id = e->envelope.id;
        spool_->submit(e, std::move(w));
        EXPECT_TRUE(f.get());
        return id;
    }

    size_t queue_files() {
        size_t n = 0;
        for (const auto& e : fs::directory_iterator(dir_ / "spool" / "queue")) n += e.is_regular_file();
        return n;
    }

    // Polls until pred() holds (at most 5 s).
    bool eventually(const std::function<bool()>& pred) {
        auto deadline = std::chrono::steady_clock::now() + 5s;
        while (std::chrono::steady_clock::now() < deadline) {
            if (pred()) return true;
            std::this_thread::sleep_for(10ms);
        }
        return pred();
    }

    fs::path dir_;
    RunnerSettings settings_;
    ScriptedAgent local_, remote_;
    std::unique_ptr<Spool> spool_;
    std::unique_ptr<QueueRunner> runner_;
};

}  // namespace

TEST_F(QueueRunnerTest, DeliversToTwoBouncesOneRetriesTheThird) {
    local_.script = [](const std::string& a, int) { return a == "carol@test.example" ? perm() : DeliveryResult{}; };
    remote_.script = [](const std::string&, int n) { return n == 1 ? temp() : DeliveryResult{}; };
    start();
    submit("alice@test.example", {{"bob@test.example", "bob"}, {"carol@test.example", "carol"}, {"dave@remote.example", ""}});
    ASSERT_TRUE(eventually([&] { return queue_files() == 0 && remote_.delivered().size() == 1; }));
    auto local = local_.delivered();
    ASSERT_EQ(local.size(), 2u);  // bob, then the DSN to alice
    EXPECT_EQ(local[0].to, "bob@test.example");
    EXPECT_EQ(local[1].to, "alice@test.example");
    EXPECT_EQ(local[1].sender, "") << "a DSN comes from the null path";
    EXPECT_NE(local[1].message.find("Final-Recipient: rfc822; carol@test.example"), std::string::npos);
    EXPECT_NE(local[1].message.find("Diagnostic-Code: smtp; 550 5.1.1 no such user"), std::string::npos);
    EXPECT_EQ(local[1].message.find("dave@remote.example"), std::string::npos);
    EXPECT_EQ(remote_.attempts("dave@remote.example"), 2);
    EXPECT_EQ(local_.attempts("bob@test.example"), 1) << "delivered recipients are not tried again";
}

TEST_F(QueueRunnerTest, NeverBouncesTheNullSender) {
    remote_.script = [](const std::string&, int) { return perm(); };
    start();
    submit("", {{"x@remote.example", ""}});
    ASSERT_TRUE(eventually([&] { return queue_files() == 0; }));
    std::this_thread::sleep_for(100ms);
    EXPECT_TRUE(local_.delivered().empty());
    EXPECT_TRUE(remote_.delivered().empty());
}

TEST_F(QueueRunnerTest, RemoteSenderGetsItsBounceByRemoteDelivery) {
    remote_.script = [](const std::string& a, int) { return a == "x@remote.example" ? perm() : DeliveryResult{}; };
    start();
    submit("someone@elsewhere.example", {{"x@remote.example", ""}});
    ASSERT_TRUE(eventually([&] { return queue_files() == 0 && remote_.delivered().size() == 1; }));
    EXPECT_EQ(remote_.delivered()[0].to, "someone@elsewhere.example");
}

TEST_F(QueueRunnerTest, ExpiresAfterTheLifetimeWithTheLastError) {
    settings_.max_queue_lifetime = 300ms;
    remote_.script = [](const std::string&, int) { return temp("451 4.3.0 disk full"); };
    start();
    submit("alice@test.example", {{"x@remote.example", ""}}, std::time(nullptr) - 1);
    ASSERT_TRUE(eventually([&] { return queue_files() == 0 && local_.delivered().size() == 1; }));
    auto dsn = local_.delivered()[0].message;
    EXPECT_NE(dsn.find("Action: failed\r\nStatus: 4.7.1"), std::string::npos) << dsn;
    EXPECT_NE(dsn.find("451 4.3.0 disk full (delivery time expired"), std::string::npos) << dsn;
}

TEST_F(QueueRunnerTest, OneDelayWarningThenDelivery) {
    settings_.delay_warning_time = 1ms;
    remote_.script = [](const std::string&, int n) { return n < 4 ? temp() : DeliveryResult{}; };
    start();
    submit("alice@test.example", {{"x@remote.example", ""}}, std::time(nullptr) - 1);
    ASSERT_TRUE(eventually([&] { return queue_files() == 0 && remote_.delivered().size() == 1; }));
    auto local = local_.delivered();
    ASSERT_EQ(local.size(), 1u) << "exactly one warning";
    EXPECT_NE(local[0].message.find("Action: delayed"), std::string::npos);
    EXPECT_NE(local[0].message.find("Subject: Delayed Mail"), std::string::npos);
}

TEST_F(QueueRunnerTest, HoldReleaseFlushDelete) {
    settings_.retry_schedule = {1h};
    bool fail = true;
    std::mutex m;
    remote_.script = [&](const std::string&, int) {
        std::lock_guard lock(m);
        return fail ? temp() : DeliveryResult{};
    };
    start();
    auto id = submit("alice@test.example", {{"x@remote.example", ""}});
    ASSERT_TRUE(eventually([&] { return remote_.attempts("x@remote.example") == 1; }));
    ASSERT_TRUE(eventually([&] {
        auto info = runner_->info(id);
        return info && info->state == "deferred";
    }));
    EXPECT_EQ(runner_->list().size(), 1u);
    EXPECT_EQ(runner_->hold(id), QueueRunner::Op::done);
    EXPECT_EQ(runner_->info(id)->state, "held");
    EXPECT_EQ(runner_->flush(""), 0u) << "flush leaves held mail alone";
    {
        std::lock_guard lock(m);
        fail = false;
    }
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(remote_.attempts("x@remote.example"), 1);
    // Held survives a restart.
    stop();
    start();
    EXPECT_EQ(runner_->info(id)->state, "held");
    EXPECT_EQ(runner_->release(id), QueueRunner::Op::done);
    ASSERT_TRUE(eventually([&] { return queue_files() == 0; }));
    EXPECT_EQ(remote_.delivered().size(), 1u);
    EXPECT_EQ(runner_->hold("nonexistent"), QueueRunner::Op::not_found);

    {
        std::lock_guard lock(m);
        fail = true;
    }
    auto id2 = submit("alice@test.example", {{"y@remote.example", ""}});
    ASSERT_TRUE(eventually([&] { return remote_.attempts("y@remote.example") == 1; }));
    ASSERT_TRUE(eventually([&] { return runner_->info(id2) && runner_->info(id2)->state == "deferred"; }));
    EXPECT_EQ(runner_->flush(id2), 1u);
    ASSERT_TRUE(eventually([&] { return remote_.attempts("y@remote.example") == 2; }));
    ASSERT_TRUE(eventually([&] { return runner_->info(id2) && runner_->info(id2)->state == "deferred"; }));
    EXPECT_EQ(runner_->remove(id2), QueueRunner::Op::done);
    EXPECT_EQ(queue_files(), 0u);
    EXPECT_TRUE(local_.delivered().empty()) << "delete sends no bounce";
}

TEST_F(QueueRunnerTest, ResumesWhatWasQueuedBeforeARestart) {
    remote_.script = [](const std::string&, int) { return temp(); };
    settings_.retry_schedule = {1h};
    start();
    submit("alice@test.example", {{"x@remote.example", ""}, {"bob@test.example", "bob"}});
    ASSERT_TRUE(eventually([&] { return remote_.attempts("x@remote.example") == 1; }));
    ASSERT_TRUE(eventually([&] { return runner_->list().size() == 1 && runner_->list()[0].state == "deferred"; }));
    stop();
    EXPECT_EQ(local_.delivered().size(), 1u);
    // The entry on disk now holds only the pending remote recipient, with its last error.
    Spool spool(dir_ / "spool");
    auto ids = spool.recover();
    ASSERT_EQ(ids.size(), 1u);
    auto entry = spool.load(ids[0]);
    ASSERT_EQ(entry->envelope.recipients.size(), 1u);
    EXPECT_EQ(entry->envelope.recipients[0].address, "x@remote.example");
    EXPECT_EQ(entry->envelope.recipients[0].diagnostic, "451 4.7.1 later");
    EXPECT_EQ(entry->envelope.attempts, 1);
    remote_.script = [](const std::string&, int) { return DeliveryResult{}; };
    settings_.retry_schedule = {50ms};
    start();
    runner_->flush("");
    ASSERT_TRUE(eventually([&] { return queue_files() == 0; }));
    EXPECT_EQ(local_.attempts("bob@test.example"), 1);
}
