"""Timeouts and slow clients: idle_timeout / command_timeout / data_timeout (421 4.4.2), session_timeout (a
client busy with slow NOOPs is still let go with 421 4.4.2), min_data_rate (a DATA trickle below the rate is
closed with 421 4.4.2 once the 10 s grace is over), and a few hundred trickling connections that do not keep
an honest client from completing its session.
"""
from __future__ import annotations

import resource
import smtplib
import socket
import threading
import time

import pytest

from abuse_support import Client, make_abuse_server  # noqa: F401
from helpers import ServerClosed, assert_reply

LONG = "30s"


def wait_unsolicited(c: Client, deadline: float, pace: float, action=None):
    """Until `deadline`: every `pace` seconds run action() (if given), and return the first reply the server
    sends by itself (None when none came)."""
    while time.monotonic() < deadline:
        if action is not None:
            try:
                action()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server closed; its last reply is in the buffer or on the way
        try:
            return c.reply(timeout=pace)
        except TimeoutError:
            continue
        except ServerClosed:
            raise AssertionError("server closed without a reply")
    return None


@pytest.mark.parametrize("which", ["idle_timeout", "command_timeout"])
def test_command_stage_timeouts(make_abuse_server, which):
    limits = {"idle_timeout": LONG, "command_timeout": LONG, "data_timeout": LONG}
    limits[which] = "1s"
    srv = make_abuse_server(limits=limits)
    with srv.mx() as c:
        c.ehlo()
        t0 = time.monotonic()
        r = c.reply(timeout=5)
        elapsed = time.monotonic() - t0
        assert_reply(r, 421, "4.4.2")
        assert 0.8 <= elapsed <= 3.0, f"{which} 1s: 421 after {elapsed:.2f}s"
        assert c.closed_after()


def test_data_timeout(make_abuse_server):
    srv = make_abuse_server(limits={"idle_timeout": LONG, "command_timeout": LONG, "data_timeout": "1s"})
    with srv.mx() as c:
        c.ehlo()
        assert_reply(c.cmd("MAIL FROM:<s@remote.example>"), 250)
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250)
        assert_reply(c.cmd("DATA"), 354)
        c.send(b"Subject: stalled\r\n\r\n")
        t0 = time.monotonic()
        r = c.reply(timeout=5)
        assert_reply(r, 421, "4.4.2")
        assert 0.8 <= time.monotonic() - t0 <= 3.0
        assert c.closed_after()
    assert srv.all_delivered() == {}


def test_session_timeout_with_slow_noops(make_abuse_server):
    """session_timeout = "3s", other timeouts 30 s: NOOP every 0.5 s is answered, but the session still gets
    421 4.4.2 once it is 3 s old."""
    srv = make_abuse_server(limits={"session_timeout": "3s", "idle_timeout": LONG, "command_timeout": LONG,
                                    "data_timeout": LONG})
    c = srv.mx()
    t0 = time.monotonic()
    c.ehlo()
    noops = 0

    def noop():
        nonlocal noops
        c.send(b"NOOP\r\n")
        r = c.reply(timeout=2)
        if r.code == 250:
            noops += 1
        else:
            raise _Got(r)

    class _Got(Exception):
        def __init__(self, r):
            self.r = r

    try:
        r = wait_unsolicited(c, t0 + 6, 0.5, noop)
    except _Got as got:
        r = got.r
    elapsed = time.monotonic() - t0
    assert r is not None, "no 421 within 6 s of a 3 s session_timeout"
    assert_reply(r, 421, "4.4.2")
    assert 2.7 <= elapsed <= 4.5, f"session_timeout 3s: 421 after {elapsed:.2f}s"
    assert noops >= 3, f"only {noops} NOOPs answered before the session limit"
    assert c.closed_after()
    c.close()


def test_session_timeout_during_data(make_abuse_server):
    srv = make_abuse_server(limits={"session_timeout": "2s", "idle_timeout": LONG, "command_timeout": LONG,
                                    "data_timeout": LONG, "min_data_rate": 0})
    c = srv.mx()
    t0 = time.monotonic()
    c.ehlo()
    assert_reply(c.cmd("MAIL FROM:<s@remote.example>"), 250)
    assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250)
    assert_reply(c.cmd("DATA"), 354)
    r = wait_unsolicited(c, t0 + 5, 0.3, lambda: c.send(b"line of the message\r\n"))
    assert r is not None
    assert_reply(r, 421, "4.4.2")
    assert 1.7 <= time.monotonic() - t0 <= 3.5
    c.close()
    time.sleep(0.2)
    assert srv.all_delivered() == {}


def test_min_data_rate(make_abuse_server):
    """min_data_rate = "10k": one byte every 0.5 s in DATA is answered with 421 4.4.2 once the 10 s grace is
    over (bounded: gives up after 16 s). Runs once: it is the slowest test of the suite."""
    srv = make_abuse_server(limits={"min_data_rate": "10k", "data_timeout": "5s", "command_timeout": "5s",
                                    "idle_timeout": "5s"})
    c = srv.mx()
    c.ehlo()
    assert_reply(c.cmd("MAIL FROM:<s@remote.example>"), 250)
    assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250)
    assert_reply(c.cmd("DATA"), 354)
    t0 = time.monotonic()
    r = wait_unsolicited(c, t0 + 16, 0.5, lambda: c.send(b"x"))
    elapsed = time.monotonic() - t0
    assert r is not None, "trickling client still connected after 16 s"
    assert_reply(r, 421, "4.4.2")
    assert 9.5 <= elapsed <= 12.5, f"421 after {elapsed:.2f}s; the grace is 10 s"
    assert c.closed_after()
    c.close()
    assert srv.all_delivered() == {}


def test_slow_clients_do_not_starve_an_honest_one(make_abuse_server, record_property):
    """300 connections trickle a byte per second (half of them inside DATA) while an honest smtplib client runs
    EHLO, MAIL, RCPT, DATA, QUIT: it completes (time printed and recorded), and the slow ones are still there."""
    n_slow = 300
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n_slow + 200
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    srv = make_abuse_server(limits={"max_connections": 1000, "max_connections_per_ip": 1000,
                                    "connections_per_minute_per_ip": 0, "command_timeout": LONG,
                                    "idle_timeout": LONG, "data_timeout": LONG})
    slow: list[socket.socket] = []
    stop = threading.Event()
    send_errors = []

    def trickle():
        while not stop.wait(1.0):
            for s in slow:
                try:
                    s.send(b"x")
                except OSError as e:
                    send_errors.append(e)

    t = threading.Thread(target=trickle, daemon=True)
    try:
        for i in range(n_slow):
            s = socket.create_connection((srv.host, srv.port), timeout=5)
            if i % 2:
                # Pipelined up to DATA, then the message trickles.
                s.sendall(b"EHLO slow.test.invalid\r\nMAIL FROM:<s@remote.example>\r\n"
                          b"RCPT TO:<alice@test.example>\r\nDATA\r\n")
            else:
                s.sendall(b"EHLO slow.test.invalid\r\nNOOP")   # an unfinished command line
            s.setblocking(False)
            slow.append(s)
        t.start()
        srv.wait_sessions(n_slow, timeout=10)
        time.sleep(1.5)  # let the trickle run a round or two

        t0 = time.monotonic()
        client = smtplib.SMTP(srv.host, srv.port, local_hostname="honest.test.invalid", timeout=10)
        code, _ = client.ehlo()
        assert code == 250
        refused = client.sendmail("honest@remote.example", ["alice@test.example"],
                                  b"Subject: honest\r\n\r\nnot slow at all\r\n")
        assert refused == {}
        code, _ = client.quit()
        assert code == 221
        elapsed = time.monotonic() - t0
        print(f"\nhonest session with {n_slow} trickling connections: {elapsed * 1000:.1f} ms")
        record_property("honest_session_seconds", round(elapsed, 4))
        assert elapsed < 5.0, f"honest session took {elapsed:.2f}s next to {n_slow} slow clients"
        assert len(srv.wait_for_maildir("alice", 1)) == 1
        srv.wait_sessions(n_slow, timeout=3)
        assert not send_errors, f"{len(send_errors)} trickle writes failed, e.g. {send_errors[0]!r}"
    finally:
        stop.set()
        if t.is_alive():
            t.join(3)
        for s in slow:
            s.close()
