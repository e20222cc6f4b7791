"""SMTP smuggling (CVE-2023-51764/51765/51766 family): only CRLF.CRLF ends DATA; a message with a
bare CR or LF is refused with 554 5.6.0 after the real end of data, and nothing "smuggled" inside
it is ever executed as a command."""
from __future__ import annotations

import pytest

from helpers import assert_reply, parse_delivered

SMUGGLED = (b"MAIL FROM:<ceo@test.example>\r\n"
            b"RCPT TO:<bob@test.example>\r\n"
            b"DATA\r\n"
            b"From: ceo@test.example\r\nSubject: smuggled\r\n\r\nwire the money\r\n")

# fake end-of-data sequences seen in the wild; none of them ends the message
FAKE_ENDS = {
    "lf-dot-lf": b"\n.\n",
    "cr-dot-cr": b"\r.\r",
    "crlf-dot-lf": b"\r\n.\n",
    "lf-dot-crlf": b"\n.\r\n",
    "crlf-dot-cr": b"\r\n.\r",
    "cr-dot-crlf": b"\r.\r\n",
    "crlf-dot-cr-lf-space": b"\r\n.\r \n",
}


def open_transaction(c):
    assert c.cmd("EHLO attacker.test.invalid").code == 250
    assert_reply(c.cmd("MAIL FROM:<sender@remote.example>"), 250, "2.1.0")
    assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250, "2.1.5")


def finish_with_sentinel(server, c):
    """Deliver a good message to postmaster on the same connection and wait for it."""
    c.send(b"MAIL FROM:<sentinel@remote.example>\r\nRCPT TO:<postmaster@test.example>\r\nDATA\r\n")
    r = c.replies(3)
    assert [x.code for x in r] == [250, 250, 354], [str(x) for x in r]
    c.send(b"Subject: sentinel\r\n\r\nok\r\n.\r\n")
    assert_reply(c.reply(), 250, "2.0.0")
    assert_reply(c.cmd("QUIT"), 221, "2.0.0")
    server.wait_for_maildir("postmaster", 1)


@pytest.mark.parametrize("fake_end", list(FAKE_ENDS.values()), ids=list(FAKE_ENDS))
def test_smuggled_transaction_is_not_executed(server, fake_end):
    with server.connect() as c:
        open_transaction(c)
        assert_reply(c.cmd("DATA"), 354)
        c.send(b"From: sender@remote.example\r\nSubject: innocent\r\n\r\nhello" + fake_end + SMUGGLED
               + b"\r\n.\r\n")
        # exactly one reply for the whole thing: the rejection after the real end of data
        assert_reply(c.reply(), 554, "5.6.0")
        assert c.nothing_pending(0.3) == b"", "extra replies: smuggled commands were executed"
        assert_reply(c.cmd("NOOP"), 250, "2.0.0")
        finish_with_sentinel(server, c)
    assert server.all_delivered().keys() == {"postmaster"}


@pytest.mark.parametrize("fake_end", list(FAKE_ENDS.values()), ids=list(FAKE_ENDS))
def test_smuggling_in_a_single_write(server, fake_end):
    """The attacker's whole session in one write (as a relaying MTA would forward it)."""
    with server.connect() as c:
        c.send(b"EHLO attacker.test.invalid\r\n"
               b"MAIL FROM:<sender@remote.example>\r\n"
               b"RCPT TO:<alice@test.example>\r\n"
               b"DATA\r\n"
               b"Subject: innocent\r\n\r\nhello" + fake_end + SMUGGLED + b"\r\n.\r\n"
               b"NOOP\r\n")
        r = c.replies(6)
        assert r[0].code == 250
        assert_reply(r[1], 250, "2.1.0")
        assert_reply(r[2], 250, "2.1.5")
        assert_reply(r[3], 354)
        assert_reply(r[4], 554, "5.6.0")
        assert_reply(r[5], 250, "2.0.0")
        assert c.nothing_pending(0.3) == b""
        finish_with_sentinel(server, c)
    assert server.all_delivered().keys() == {"postmaster"}


def test_bare_lf_dot_lf_then_quit_does_not_end_data(server):
    """'\\n.\\n' followed by QUIT: the server is still in DATA, so it must not reply 250 nor 221."""
    with server.connect() as c:
        open_transaction(c)
        assert_reply(c.cmd("DATA"), 354)
        c.send(b"Subject: x\r\n\r\nbody\n.\nQUIT\n")
        assert c.nothing_pending(0.5) == b"", "server treated a bare-LF dot as end of data"
        c.send(b"\r\n.\r\n")
        assert_reply(c.reply(), 554, "5.6.0")
        assert_reply(c.cmd("NOOP"), 250, "2.0.0")


def test_bare_cr_dot_cr_does_not_end_data(server):
    with server.connect() as c:
        open_transaction(c)
        assert_reply(c.cmd("DATA"), 354)
        c.send(b"Subject: x\r\n\r\nbody\r.\rRSET\r")
        assert c.nothing_pending(0.5) == b"", "server treated a bare-CR dot as end of data"
        c.send(b"\r\n.\r\n")
        assert_reply(c.reply(), 554, "5.6.0")


def test_smuggling_via_bdat_chunk(server):
    """Inside BDAT everything is data: a CRLF.CRLF plus commands in a chunk are delivered verbatim."""
    chunk = b"Subject: chunk\r\n\r\nhello\r\n.\r\n" + SMUGGLED + b".\r\n"
    with server.connect() as c:
        open_transaction(c)
        c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        assert_reply(c.reply(), 250, "2.0.0", contains="queued as ")
        assert c.nothing_pending(0.3) == b""
        finish_with_sentinel(server, c)
    delivered = server.all_delivered()
    assert delivered.keys() == {"alice", "postmaster"}


def test_smuggling_via_bdat_with_bare_lf(server):
    chunk = b"Subject: chunk\r\n\r\nhello\n.\n" + SMUGGLED
    with server.connect() as c:
        open_transaction(c)
        c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        assert_reply(c.reply(), 554, "5.6.0")
        assert c.nothing_pending(0.3) == b""
        finish_with_sentinel(server, c)
    assert server.all_delivered().keys() == {"postmaster"}


def test_bdat_waits_for_the_whole_chunk(server):
    """A chunk announced larger than what has arrived so far is waited for, never cut short, and
    command-looking bytes inside it are data."""
    head = b"Subject: short\r\n\r\nQUIT\r\n"
    tail = b"RSET\r\n" + b"x" * 50 + b"\r\n"
    with server.connect() as c:
        open_transaction(c)
        c.send(b"BDAT %d LAST\r\n" % (len(head) + len(tail)) + head)
        assert c.nothing_pending(0.4) == b"", "server replied before the announced chunk size arrived"
        c.send(tail)
        assert_reply(c.reply(), 250, "2.0.0", contains="queued as ")
        assert_reply(c.cmd("NOOP"), 250, "2.0.0")
    (f,) = server.wait_for_maildir("alice", 1)
    assert parse_delivered(f.read_bytes()).message == head + tail
