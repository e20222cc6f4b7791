"""Timeouts: an idle client gets 421 4.4.2 and the connection is closed; an active one does not."""
from __future__ import annotations

import time

import pytest

from helpers import assert_reply

FAST = {"command_timeout": "1s", "data_timeout": "1s", "idle_timeout": "1s"}


@pytest.fixture
def fast_server(make_server):
    return make_server(limits=FAST)


def expect_timeout_close(c, started: float, low: float = 0.8, high: float = 4.0):
    r = c.reply(timeout=high + 1)
    elapsed = time.monotonic() - started
    assert_reply(r, 421, "4.4.2")
    assert low <= elapsed <= high, f"421 after {elapsed:.2f}s; the timeout is 1s"
    assert c.expect_closed(timeout=3) == b""


def test_idle_after_greeting(fast_server):
    with fast_server.connect() as c:
        expect_timeout_close(c, time.monotonic())


def test_idle_after_ehlo(fast_server):
    with fast_server.connect() as c:
        assert c.cmd("EHLO client.test.invalid").code == 250
        expect_timeout_close(c, time.monotonic())


def test_idle_in_transaction_nothing_delivered(fast_server):
    with fast_server.connect() as c:
        assert c.cmd("EHLO client.test.invalid").code == 250
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250, "2.1.5")
        expect_timeout_close(c, time.monotonic())
    time.sleep(0.3)
    assert fast_server.all_delivered() == {}


def test_partial_command_line_times_out(fast_server):
    with fast_server.connect() as c:
        c.send(b"EHLO client.test.inv")
        expect_timeout_close(c, time.monotonic())


def test_stalled_data_times_out_and_is_not_delivered(fast_server):
    with fast_server.connect() as c:
        assert c.cmd("EHLO client.test.invalid").code == 250
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250, "2.1.5")
        assert_reply(c.cmd("DATA"), 354)
        c.send(b"Subject: stalled\r\n\r\nhalf a message\r\n")
        expect_timeout_close(c, time.monotonic())
    time.sleep(0.3)
    assert fast_server.all_delivered() == {}
    assert fast_server.spool_files() == [], "partial message left in the spool"


def test_stalled_bdat_chunk_times_out(fast_server):
    with fast_server.connect() as c:
        assert c.cmd("EHLO client.test.invalid").code == 250
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250, "2.1.5")
        c.send(b"BDAT 100 LAST\r\nonly a few bytes")
        expect_timeout_close(c, time.monotonic())
    time.sleep(0.3)
    assert fast_server.all_delivered() == {}


def test_active_client_is_not_timed_out(fast_server):
    """Commands every 0.4s for 2.5s with a 1s timeout: the clock restarts with each command."""
    with fast_server.connect() as c:
        assert c.cmd("EHLO client.test.invalid").code == 250
        end = time.monotonic() + 2.5
        while time.monotonic() < end:
            assert_reply(c.cmd("NOOP"), 250, "2.0.0")
            time.sleep(0.4)
        assert_reply(c.cmd("QUIT"), 221, "2.0.0")


def test_slow_data_is_not_timed_out(fast_server):
    """A message trickling in, each piece within the timeout, is accepted."""
    with fast_server.connect() as c:
        assert c.cmd("EHLO client.test.invalid").code == 250
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250, "2.1.5")
        assert_reply(c.cmd("DATA"), 354)
        for i in range(5):
            c.send(b"line %d\r\n" % i)
            time.sleep(0.4)
        c.send(b".\r\n")
        assert_reply(c.reply(), 250, "2.0.0")
    fast_server.wait_for_maildir("alice", 1)


def test_timeout_of_one_client_does_not_affect_others(fast_server):
    idle = fast_server.connect()
    try:
        with fast_server.connect() as busy:
            assert busy.cmd("EHLO client.test.invalid").code == 250
            for _ in range(4):
                time.sleep(0.4)
                assert_reply(busy.cmd("NOOP"), 250, "2.0.0")
            assert_reply(idle.reply(timeout=3), 421, "4.4.2")
            assert_reply(busy.cmd("NOOP"), 250, "2.0.0")
    finally:
        idle.close()
