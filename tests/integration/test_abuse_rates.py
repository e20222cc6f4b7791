"""Message and recipient rates (451 4.7.1 at MAIL / RCPT, the session stays usable), per client address and
per authenticated user, and greylisting on mx ([greylist] enabled, delay "2s"): 451 4.7.1 with the wait in
seconds for a new (network, sender, recipient) triplet, 250 and delivery after the delay, no delay for
authenticated sessions or allow-listed networks.
"""
from __future__ import annotations

import re
import time

from abuse_support import ALICE, BOB, Client, make_abuse_server  # noqa: F401
from helpers import assert_reply

IP1, IP2 = "127.0.0.1", "127.0.0.2"


def body(tag: str) -> bytes:
    return f"Subject: {tag}\r\n\r\nbody of {tag}\r\n".encode()


def assert_still_usable(c: Client) -> None:
    assert_reply(c.cmd("RSET"), 250, "2.0.0")
    assert_reply(c.cmd("NOOP"), 250, "2.0.0")
    assert_reply(c.cmd("QUIT"), 221, "2.0.0")
    assert c.closed_after()


# ---------------------------------------------------------------------------------------------
# Per client address

def test_messages_per_hour_per_ip(make_abuse_server):
    """messages_per_hour_per_ip = 2: two messages are accepted, the third MAIL gets 451 4.7.1, in the same
    session and in the next; RSET/NOOP/QUIT still work; another address is not affected."""
    srv = make_abuse_server(limits={"messages_per_hour_per_ip": 2})
    with srv.mx() as c:
        c.ehlo()
        for i in range(2):
            assert_reply(c.send_message("s@remote.example", ["alice@test.example"], body(f"m{i}")), 250, "2.0.0")
        assert_reply(c.cmd("MAIL FROM:<s@remote.example>"), 451, "4.7.1")
        # A refused MAIL opens no transaction.
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 503, "5.5.1")
        assert_still_usable(c)
    with srv.mx() as c:
        c.ehlo()
        assert_reply(c.cmd("MAIL FROM:<other@remote.example>"), 451, "4.7.1")
        assert_still_usable(c)
    with srv.mx(source=IP2) as c:
        c.ehlo()
        assert_reply(c.send_message("s@remote.example", ["alice@test.example"], body("other-ip")), 250)
    assert len(srv.wait_for_maildir("alice", 3)) == 3


def test_recipients_per_hour_per_ip(make_abuse_server):
    """recipients_per_hour_per_ip = 3: 2 recipients in a first message, 1 more in the second, then RCPT gets
    451 4.7.1; the message with the recipients already accepted goes through; a later RCPT is refused too."""
    srv = make_abuse_server(limits={"recipients_per_hour_per_ip": 3})
    with srv.mx() as c:
        c.ehlo()
        assert_reply(c.send_message("s@remote.example", ["alice@test.example", "bob@test.example"], body("a")), 250)
        assert_reply(c.cmd("MAIL FROM:<s@remote.example>"), 250)
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250, "2.1.5")
        assert_reply(c.cmd("RCPT TO:<bob@test.example>"), 451, "4.7.1")
        assert_reply(c.cmd("DATA"), 354)
        c.send(body("b") + b".\r\n")
        assert_reply(c.reply(), 250, "2.0.0")
        assert_reply(c.cmd("MAIL FROM:<s@remote.example>"), 250)
        assert_reply(c.cmd("RCPT TO:<postmaster@test.example>"), 451, "4.7.1")
        assert_still_usable(c)
    assert len(srv.wait_for_maildir("alice", 2)) == 2
    assert len(srv.wait_for_maildir("bob", 1)) == 1


def test_refused_message_does_not_count(make_abuse_server):
    """Only accepted messages count: a transaction abandoned with RSET does not use up the allowance."""
    srv = make_abuse_server(limits={"messages_per_hour_per_ip": 1})
    with srv.mx() as c:
        c.ehlo()
        for _ in range(3):
            assert_reply(c.cmd("MAIL FROM:<s@remote.example>"), 250)
            assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250)
            assert_reply(c.cmd("RSET"), 250)
        assert_reply(c.send_message("s@remote.example", ["alice@test.example"]), 250)
        assert_reply(c.cmd("MAIL FROM:<s@remote.example>"), 451, "4.7.1")


def test_rates_zero_is_unlimited(make_abuse_server):
    srv = make_abuse_server(limits={"messages_per_hour_per_ip": 0, "recipients_per_hour_per_ip": 0,
                                    "messages_per_hour_per_user": 0, "recipients_per_hour_per_user": 0})
    with srv.mx() as c:
        c.ehlo()
        for i in range(6):
            assert_reply(c.send_message("s@remote.example", ["alice@test.example", "bob@test.example"],
                                        body(f"z{i}")), 250)


def test_allow_networks_are_not_rate_limited(make_abuse_server):
    srv = make_abuse_server(limits={"messages_per_hour_per_ip": 1, "recipients_per_hour_per_ip": 1,
                                    "allow_networks": ["127.0.0.1"]})
    with srv.mx() as c:
        c.ehlo()
        for i in range(3):
            assert_reply(c.send_message("s@remote.example", ["alice@test.example", "bob@test.example"],
                                        body(f"x{i}")), 250)


# ---------------------------------------------------------------------------------------------
# Per authenticated user

def test_messages_per_hour_per_user(make_abuse_server):
    """messages_per_hour_per_user = 1 (no per-IP limit): alice's second MAIL gets 451 4.7.1, also in a new
    session and from another address; bob from the same address still sends."""
    srv = make_abuse_server(limits={"messages_per_hour_per_user": 1, "messages_per_hour_per_ip": 0})
    with srv.login(*ALICE) as c:
        assert_reply(c.send_message("alice@test.example", ["bob@test.example"], body("u1")), 250)
        assert_reply(c.cmd("MAIL FROM:<alice@test.example>"), 451, "4.7.1")
        assert_still_usable(c)
    with srv.login(*ALICE, source=IP2) as c:
        assert_reply(c.cmd("MAIL FROM:<alice@test.example>"), 451, "4.7.1")
    with srv.login("ALICE", ALICE[1]) as c:          # the same account, however it is spelled
        assert_reply(c.cmd("MAIL FROM:<alice@test.example>"), 451, "4.7.1")
    with srv.login(*BOB) as c:
        assert_reply(c.send_message("bob@test.example", ["alice@test.example"], body("u2")), 250)
    # Unauthenticated mail on mx from the same address is not alice's.
    with srv.mx() as c:
        c.ehlo()
        assert_reply(c.send_message("x@remote.example", ["alice@test.example"], body("u3")), 250)


def test_recipients_per_hour_per_user(make_abuse_server):
    srv = make_abuse_server(limits={"recipients_per_hour_per_user": 2, "recipients_per_hour_per_ip": 0})
    with srv.login(*ALICE) as c:
        assert_reply(c.cmd("MAIL FROM:<alice@test.example>"), 250)
        assert_reply(c.cmd("RCPT TO:<bob@test.example>"), 250)
        assert_reply(c.cmd("RCPT TO:<postmaster@test.example>"), 250)
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 451, "4.7.1")
        assert_reply(c.cmd("DATA"), 354)
        c.send(body("r") + b".\r\n")
        assert_reply(c.reply(), 250)
        assert_reply(c.cmd("MAIL FROM:<alice@test.example>"), 250)
        assert_reply(c.cmd("RCPT TO:<bob@test.example>"), 451, "4.7.1")
        assert_still_usable(c)
    with srv.login(*BOB) as c:
        assert_reply(c.send_message("bob@test.example", ["alice@test.example", "postmaster@test.example"]), 250)


# ---------------------------------------------------------------------------------------------
# Greylisting

GREY = {"enabled": True, "delay": "2s"}
WAIT_RE = re.compile(r"\b(\d+) seconds?\b")


def try_rcpt(srv, sender: str, rcpt: str, source: str = IP1):
    """One mx session: EHLO, MAIL, RCPT; returns (client, RCPT reply). The caller finishes or closes it."""
    c = srv.mx(source=source)
    c.ehlo()
    assert_reply(c.cmd(f"MAIL FROM:<{sender}>"), 250)
    return c, c.cmd(f"RCPT TO:<{rcpt}>")


def assert_greylisted(r, low: int = 1, high: int = 2) -> int:
    assert_reply(r, 451, "4.7.1")
    m = WAIT_RE.search(r.text)
    assert m, f"the wait in seconds is not in the 451 text: {r!s}"
    wait = int(m.group(1))
    assert low <= wait <= high, f"wait {wait}s not within [{low}, {high}] for a 2s delay: {r!s}"
    return wait


def test_greylisting(make_abuse_server):
    srv = make_abuse_server(greylist=GREY)
    t_first = time.monotonic()
    c, r = try_rcpt(srv, "sender@remote.example", "alice@test.example")
    assert_greylisted(r)
    assert_reply(c.cmd("DATA"), 554, "5.5.1")       # no valid recipients
    assert_reply(c.cmd("QUIT"), 221)
    c.close()

    time.sleep(0.5)
    c, r = try_rcpt(srv, "sender@remote.example", "alice@test.example")
    assert_greylisted(r)                            # a retry before the delay
    c.close()

    time.sleep(max(0.0, 2.3 - (time.monotonic() - t_first)))
    c, r = try_rcpt(srv, "sender@remote.example", "alice@test.example")
    assert_reply(r, 250, "2.1.5")                   # after the delay
    assert_reply(c.cmd("DATA"), 354)
    c.send(body("grey") + b".\r\n")
    assert_reply(c.reply(), 250, "2.0.0")
    c.close()
    files = srv.wait_for_maildir("alice", 1)
    assert files[0].read_bytes().endswith(body("grey"))

    # Later attempts pass at once, also from another address of the same /24.
    for source in (IP1, IP2):
        c, r = try_rcpt(srv, "sender@remote.example", "alice@test.example", source)
        assert_reply(r, 250, "2.1.5")
        c.close()
    # A new sender, or a new recipient, is a new triplet.
    c, r = try_rcpt(srv, "another@remote.example", "alice@test.example")
    assert_greylisted(r)
    assert_reply(c.cmd("RCPT TO:<bob@test.example>"), 451, "4.7.1")
    c.close()


def test_greylisting_per_recipient_in_one_transaction(make_abuse_server):
    """Greylisted recipients do not stop the others of the same transaction (already passed triplets)."""
    srv = make_abuse_server(greylist={"enabled": True, "delay": "1s"})
    c, r = try_rcpt(srv, "s@remote.example", "alice@test.example")
    assert_greylisted(r, 1, 1)
    c.close()
    time.sleep(1.2)
    c, r = try_rcpt(srv, "s@remote.example", "alice@test.example")
    assert_reply(r, 250)
    assert_greylisted(c.cmd("RCPT TO:<bob@test.example>"), 1, 1)
    assert_reply(c.cmd("DATA"), 354)
    c.send(body("partial") + b".\r\n")
    assert_reply(c.reply(), 250)
    c.close()
    assert len(srv.wait_for_maildir("alice", 1)) == 1
    assert srv.maildir_files("bob") == []


def test_greylist_ttl(make_abuse_server):
    """ttl = "2s": a triplet that passed and then stays quiet for longer than the ttl is greylisted again."""
    srv = make_abuse_server(greylist={"enabled": True, "delay": "1s", "ttl": "2s"})
    c, r = try_rcpt(srv, "s@remote.example", "alice@test.example")
    assert_greylisted(r, 1, 1)
    c.close()
    time.sleep(1.2)
    c, r = try_rcpt(srv, "s@remote.example", "alice@test.example")
    assert_reply(r, 250)
    c.close()
    time.sleep(2.3)
    c, r = try_rcpt(srv, "s@remote.example", "alice@test.example")
    assert_greylisted(r, 1, 1)
    c.close()


def test_unknown_recipient_is_550_not_greylisted(make_abuse_server):
    srv = make_abuse_server(greylist=GREY)
    c, r = try_rcpt(srv, "s@remote.example", "nosuchuser@test.example")
    assert_reply(r, 550, "5.1.1")
    c.close()


def test_authenticated_sessions_are_not_greylisted(make_abuse_server):
    srv = make_abuse_server(greylist=GREY)
    with srv.login(*ALICE) as c:
        assert_reply(c.send_message("alice@test.example", ["bob@test.example"], body("sub")), 250)
    # AUTH on mx after STARTTLS: authenticated too.
    with srv.mx() as c:
        c.ehlo_starttls()
        assert_reply(c.auth_plain(*BOB), 235)
        assert_reply(c.send_message("bob@test.example", ["alice@test.example"], body("mx-auth")), 250)
    assert len(srv.wait_for_maildir("bob", 1)) == 1
    assert len(srv.wait_for_maildir("alice", 1)) == 1


def test_allow_networks_are_not_greylisted(make_abuse_server):
    srv = make_abuse_server(greylist=GREY, limits={"allow_networks": ["127.0.0.1"]})
    c, r = try_rcpt(srv, "s@remote.example", "alice@test.example")
    assert_reply(r, 250)
    c.close()
    c, r = try_rcpt(srv, "s@remote.example", "alice@test.example", IP2)
    assert_greylisted(r)
    c.close()


def test_greylisting_off_by_default(make_abuse_server):
    srv = make_abuse_server()
    c, r = try_rcpt(srv, "s@remote.example", "alice@test.example")
    assert_reply(r, 250)
    c.close()
