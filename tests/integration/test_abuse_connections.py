"""Abuse protection at connect and in the command loop, as a raw client sees it: per-IP and server-wide
connection caps and the per-minute connection rate (421 4.7.0 at the greeting, then close), loopback not
exempt unless allow_networks lists it, the error budget (max_errors, then 421 4.7.0), the tarpit
(error_delay after the 3rd error) and HTTP request lines (421 4.7.0 and close at once).

Several client addresses come from 127.0.0.0/8 source binding (127.0.0.1, .2, .3).
"""
from __future__ import annotations

import time

import pytest

from abuse_support import Client, expect_refused_greeting, make_abuse_server  # noqa: F401
from helpers import assert_reply

IP1, IP2, IP3 = "127.0.0.1", "127.0.0.2", "127.0.0.3"


def open_ok(srv, n: int, source: str = IP1, port: int | None = None) -> list[Client]:
    clients = []
    for _ in range(n):
        c = Client(srv.host, port or srv.port, source=source)
        assert_reply(c.greeting, 220)
        clients.append(c)
    return clients


def close_all(clients) -> None:
    for c in clients:
        c.close()


# ---------------------------------------------------------------------------------------------
# Connection caps

@pytest.mark.parametrize("n", [1, 3])
def test_per_ip_cap_refuses_the_next_connection(make_abuse_server, n):
    """max_connections_per_ip = N: N sessions get 220, the (N+1)-th 421 4.7.0 at the greeting and is closed;
    loopback is not exempt by default; the first N keep working."""
    srv = make_abuse_server(limits={"max_connections_per_ip": n})
    held = open_ok(srv, n)
    try:
        with Client(srv.host, srv.port, source=IP1) as extra:
            expect_refused_greeting(extra, "4.7.0")
        for c in held:
            assert_reply(c.cmd("NOOP"), 250, "2.0.0")
    finally:
        close_all(held)


def test_per_ip_cap_is_per_address_and_across_listeners(make_abuse_server):
    srv = make_abuse_server(limits={"max_connections_per_ip": 2})
    held = open_ok(srv, 1, IP1) + open_ok(srv, 1, IP1, port=srv.sub_port)
    try:
        # Both listeners count for the one address ...
        with Client(srv.host, srv.port, source=IP1) as c:
            expect_refused_greeting(c, "4.7.0")
        with Client(srv.host, srv.sub_port, source=IP1) as c:
            expect_refused_greeting(c, "4.7.0")
        # ... and another address has its own allowance.
        others = open_ok(srv, 2, IP2)
        close_all(others)
    finally:
        close_all(held)


def test_per_ip_slot_is_released_when_a_session_ends(make_abuse_server):
    srv = make_abuse_server(limits={"max_connections_per_ip": 1})
    with Client(srv.host, srv.port, source=IP1) as c:
        assert_reply(c.greeting, 220)
        assert_reply(c.cmd("QUIT"), 221, "2.0.0")
        assert c.closed_after()
    srv.wait_sessions(0)
    with Client(srv.host, srv.port, source=IP1) as c:
        assert_reply(c.greeting, 220)


def test_max_connections_is_server_wide(make_abuse_server):
    """max_connections = 2 with no per-IP cap: the third connection, from a third address, gets 421 4.7.0."""
    srv = make_abuse_server(limits={"max_connections": 2, "max_connections_per_ip": 0})
    held = open_ok(srv, 1, IP1) + open_ok(srv, 1, IP2)
    try:
        with Client(srv.host, srv.port, source=IP3) as c:
            expect_refused_greeting(c, "4.7.0")
        with Client(srv.host, srv.subs_port, source=IP3, implicit_tls=True) as c:
            expect_refused_greeting(c, "4.7.0")
    finally:
        close_all(held)
    srv.wait_sessions(0)
    with Client(srv.host, srv.port, source=IP3) as c:
        assert_reply(c.greeting, 220)


def test_connection_rate_per_minute(make_abuse_server):
    """connections_per_minute_per_ip = 3: three connections (each closed again) get 220, the fourth 421 4.7.0;
    another address is not affected."""
    srv = make_abuse_server(limits={"connections_per_minute_per_ip": 3, "max_connections_per_ip": 0})
    for _ in range(3):
        with Client(srv.host, srv.port, source=IP1) as c:
            assert_reply(c.greeting, 220)
            assert_reply(c.cmd("QUIT"), 221)
    with Client(srv.host, srv.port, source=IP1) as c:
        expect_refused_greeting(c, "4.7.0")
    with Client(srv.host, srv.sub_port, source=IP1) as c:
        expect_refused_greeting(c, "4.7.0")
    with Client(srv.host, srv.port, source=IP2) as c:
        assert_reply(c.greeting, 220)


def test_allow_networks_exempts_loopback(make_abuse_server):
    """allow_networks = ["127.0.0.1"]: caps and rate do not apply to that address (they still apply to .2)."""
    srv = make_abuse_server(limits={"max_connections_per_ip": 1, "connections_per_minute_per_ip": 1,
                                    "allow_networks": ["127.0.0.1"]})
    held = open_ok(srv, 4, IP1)
    try:
        with Client(srv.host, srv.port, source=IP2) as c:
            assert_reply(c.greeting, 220)
            with Client(srv.host, srv.port, source=IP2) as c2:
                expect_refused_greeting(c2, "4.7.0")
    finally:
        close_all(held)


def test_allow_networks_cidr(make_abuse_server):
    srv = make_abuse_server(limits={"max_connections_per_ip": 1, "allow_networks": ["127.0.0.0/30"]})
    held = open_ok(srv, 2, IP2) + open_ok(srv, 2, IP3)
    close_all(held)
    srv.wait_sessions(0)
    srv2 = make_abuse_server(limits={"max_connections_per_ip": 1, "allow_networks": ["127.0.0.2/32"]})
    held = open_ok(srv2, 2, IP2) + open_ok(srv2, 1, IP3)
    try:
        with Client(srv2.host, srv2.port, source=IP3) as c:
            expect_refused_greeting(c, "4.7.0")
    finally:
        close_all(held)


# ---------------------------------------------------------------------------------------------
# Error budget and tarpit

@pytest.mark.parametrize("n", [1, 3])
def test_error_budget(make_abuse_server, n):
    """max_errors = N: N rejected commands get their error replies, the N-th is followed by 421 4.7.0 and
    the connection is closed."""
    srv = make_abuse_server(limits={"max_errors": n})
    with srv.mx() as c:
        assert_reply(c.cmd("EHLO client.test.invalid"), 250)
        for i in range(n - 1):
            assert_reply(c.cmd("XYZZY"), 500, "5.5.1")
        assert_reply(c.cmd("XYZZY"), 500, "5.5.1")
        assert_reply(c.reply(), 421, "4.7.0")
        assert c.closed_after()


def test_error_budget_counts_different_errors(make_abuse_server):
    srv = make_abuse_server(limits={"max_errors": 4})
    with srv.mx() as c:
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 503, "5.5.1")   # before EHLO
        assert_reply(c.cmd("EHLO client.test.invalid"), 250)
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 503, "5.5.1")   # before MAIL
        assert_reply(c.cmd("MAIL FROM:<not an address"), 501)
        assert_reply(c.cmd("NOOP"), 250)                                    # good commands do not reset it
        assert_reply(c.cmd("FOO"), 500, "5.5.1")
        assert_reply(c.reply(), 421, "4.7.0")
        assert c.closed_after()


def test_error_budget_pipelined(make_abuse_server):
    """max_errors = 3, five bad commands in one write: three 500s, 421 4.7.0, close; nothing more."""
    srv = make_abuse_server(limits={"max_errors": 3})
    with srv.mx() as c:
        c.send(b"XYZZY\r\n" * 5)
        for _ in range(3):
            assert_reply(c.reply(), 500, "5.5.1")
        assert_reply(c.reply(), 421, "4.7.0")
        assert c.closed_after()


def test_allow_networks_not_tarpitted_or_cut_off(make_abuse_server):
    """allow_networks are exempt from every limit: no tarpit delay and no 421 after max_errors for them, while
    another address gets both."""
    limits = {"max_errors": 3, "error_delay": "1s", "allow_networks": ["127.0.0.1"],
              "command_timeout": "5s", "idle_timeout": "5s"}
    srv = make_abuse_server(limits=limits)
    with srv.mx(source=IP2) as c:
        for _ in range(2):
            assert_reply(c.cmd("XYZZY"), 500)
        assert_reply(c.cmd("XYZZY"), 500)
        assert_reply(c.reply(), 421, "4.7.0")
    with srv.mx(source=IP1) as c:
        t0 = time.monotonic()
        for _ in range(6):
            assert_reply(c.cmd("XYZZY"), 500, "5.5.1")
        assert_reply(c.cmd("NOOP"), 250)
        assert time.monotonic() - t0 < 1.0, "an allow-listed client was tarpitted"


def test_error_budget_zero_is_unlimited(make_abuse_server):
    srv = make_abuse_server(limits={"max_errors": 0})
    with srv.mx() as c:
        for _ in range(30):
            assert_reply(c.cmd("XYZZY"), 500, "5.5.1")
        assert_reply(c.cmd("NOOP"), 250)


def test_tarpit_delays_errors_after_the_third(make_abuse_server):
    """error_delay = "1s": the first three error replies are fast, the 4th and 5th take >= ~1 s each."""
    srv = make_abuse_server(limits={"error_delay": "1s", "max_errors": 0,
                                    "command_timeout": "5s", "idle_timeout": "5s"})
    with srv.mx() as c:
        assert_reply(c.cmd("EHLO client.test.invalid"), 250)
        times = []
        for _ in range(5):
            t0 = time.monotonic()
            assert_reply(c.cmd("XYZZY"), 500, "5.5.1")
            times.append(time.monotonic() - t0)
        assert all(t < 0.5 for t in times[:3]), f"first three error replies were slow: {times}"
        assert all(0.9 <= t < 3.0 for t in times[3:]), f"4th and 5th error replies not delayed ~1s: {times}"


def test_tarpit_delays_each_pipelined_error(make_abuse_server):
    """After three errors, four error commands in one write: each of the four replies is delayed by
    error_delay (500ms), so the last one arrives >= ~2 s later; pipelining does not buy a single delay."""
    srv = make_abuse_server(limits={"error_delay": "500ms", "max_errors": 0,
                                    "command_timeout": "10s", "idle_timeout": "10s"})
    with srv.mx() as c:
        for _ in range(3):
            assert_reply(c.cmd("XYZZY"), 500, "5.5.1")
        t0 = time.monotonic()
        c.send(b"XYZZY\r\n" * 4)
        arrivals = []
        for _ in range(4):
            assert_reply(c.reply(timeout=8), 500, "5.5.1")
            arrivals.append(round(time.monotonic() - t0, 2))
        assert arrivals[-1] >= 1.8, f"4 pipelined error replies after the 3rd error arrived at {arrivals}s"


def test_tarpit_off_with_zero_delay(make_abuse_server):
    srv = make_abuse_server(limits={"error_delay": "0s", "max_errors": 0})
    with srv.mx() as c:
        t0 = time.monotonic()
        for _ in range(8):
            assert_reply(c.cmd("XYZZY"), 500, "5.5.1")
        assert time.monotonic() - t0 < 2.0


def test_tarpit_does_not_slow_other_sessions(make_abuse_server):
    srv = make_abuse_server(limits={"error_delay": "2s", "max_errors": 0,
                                    "command_timeout": "5s", "idle_timeout": "5s"})
    with srv.mx() as slow, srv.mx() as fast:
        for _ in range(3):
            assert_reply(slow.cmd("XYZZY"), 500)
        slow.send(b"XYZZY\r\n")            # this reply is held back ~2 s
        time.sleep(0.1)
        t0 = time.monotonic()
        assert_reply(fast.cmd("EHLO client.test.invalid"), 250)
        assert_reply(fast.cmd("NOOP"), 250)
        assert time.monotonic() - t0 < 1.0, "another session waited for the tarpit"
        assert_reply(slow.reply(), 500, "5.5.1")


# ---------------------------------------------------------------------------------------------
# HTTP on an SMTP port

@pytest.mark.parametrize("line", [b"GET / HTTP/1.1", b"POST /x HTTP/1.1", b"CONNECT host:443 HTTP/1.1",
                                  b"HEAD / HTTP/1.0"])
@pytest.mark.parametrize("after_ehlo", [False, True], ids=["first", "after-ehlo"])
def test_http_request_line_is_closed_at_once(make_abuse_server, line, after_ehlo):
    srv = make_abuse_server(limits={"error_delay": "1s"})
    with srv.mx() as c:
        if after_ehlo:
            c.ehlo()
        t0 = time.monotonic()
        c.send(line + b"\r\n")
        assert_reply(c.reply(), 421, "4.7.0")
        assert c.closed_after(timeout=2.0)
        assert time.monotonic() - t0 < 1.0, "HTTP probe was not closed at once"


def test_http_request_after_errors_is_closed_at_once(make_abuse_server):
    """Even a client already in the tarpit is let go at once when it turns out to speak HTTP."""
    srv = make_abuse_server(limits={"error_delay": "1s", "max_errors": 0,
                                    "command_timeout": "5s", "idle_timeout": "5s"})
    with srv.mx() as c:
        for _ in range(3):
            assert_reply(c.cmd("XYZZY"), 500)
        t0 = time.monotonic()
        c.send(b"GET / HTTP/1.1\r\n")
        assert_reply(c.reply(), 421, "4.7.0")
        assert c.closed_after(timeout=2.0)
        assert time.monotonic() - t0 < 0.8


def test_http_on_submission_port(make_abuse_server):
    srv = make_abuse_server()
    with srv.submission() as c:
        c.send(b"GET / HTTP/1.1\r\n")
        assert_reply(c.reply(), 421, "4.7.0")
        assert c.closed_after()
