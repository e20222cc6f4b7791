"""PIPELINING (RFC 2920): commands sent in one write get their replies in order, none lost or duplicated."""
from __future__ import annotations

import time

from helpers import assert_reply, parse_delivered


def test_transaction_in_one_write(server):
    with server.connect() as c:
        c.send(b"EHLO client.test.invalid\r\n"
               b"MAIL FROM:<sender@remote.example>\r\n"
               b"RCPT TO:<alice@test.example>\r\n"
               b"RCPT TO:<nobody@test.example>\r\n"
               b"RCPT TO:<bob@test.example>\r\n"
               b"DATA\r\n")
        r = c.replies(6)
        assert r[0].code == 250 and len(r[0].lines) > 1, str(r[0])
        assert_reply(r[1], 250, "2.1.0")
        assert_reply(r[2], 250, "2.1.5")
        assert_reply(r[3], 550, "5.1.1")
        assert_reply(r[4], 250, "2.1.5")
        assert_reply(r[5], 354)
        c.send(b"Subject: piped\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        assert_reply(c.reply(), 250, "2.0.0", contains="queued as ")
        assert_reply(c.reply(), 221, "2.0.0")
        assert c.expect_closed() == b""
    for user in ("alice", "bob"):
        (f,) = server.wait_for_maildir(user, 1)
        assert parse_delivered(f.read_bytes()).message == b"Subject: piped\r\n\r\nbody\r\n"


def test_everything_in_one_write_including_message(server):
    """A client that does not wait for 354 (not allowed, but common): the server must keep the
    bytes it already read after DATA and treat them as the message."""
    with server.connect() as c:
        c.send(b"EHLO client.test.invalid\r\n"
               b"MAIL FROM:<sender@remote.example>\r\n"
               b"RCPT TO:<alice@test.example>\r\n"
               b"DATA\r\n"
               b"Subject: eager\r\n\r\nRSET\r\nQUIT\r\n.\r\n"
               b"NOOP\r\n"
               b"QUIT\r\n")
        r = c.replies(7)
        assert r[0].code == 250
        assert_reply(r[1], 250, "2.1.0")
        assert_reply(r[2], 250, "2.1.5")
        assert_reply(r[3], 354)
        assert_reply(r[4], 250, "2.0.0", contains="queued as ")
        assert_reply(r[5], 250, "2.0.0")
        assert_reply(r[6], 221, "2.0.0")
        assert c.expect_closed() == b""
    (f,) = server.wait_for_maildir("alice", 1)
    assert parse_delivered(f.read_bytes()).message == b"Subject: eager\r\n\r\nRSET\r\nQUIT\r\n"


def test_errors_in_a_pipelined_group_keep_order(server):
    with server.connect() as c:
        c.send(b"EHLO client.test.invalid\r\n"
               b"RCPT TO:<alice@test.example>\r\n"          # 503 no MAIL
               b"MAIL FROM:<a@remote.example> BOGUS=1\r\n"  # 555
               b"FROB\r\n"                                  # 500
               b"MAIL FROM:<a@remote.example>\r\n"          # 250
               b"MAIL FROM:<a@remote.example>\r\n"          # 503 nested
               b"RCPT TO:<x@remote.example>\r\n"            # 554 relay
               b"RCPT TO:<alice@test.example>\r\n"          # 250
               b"VRFY alice\r\n"                            # 252
               b"RSET\r\n"                                  # 250
               b"DATA\r\n"                                  # 503
               b"NOOP\r\n")                                 # 250
        r = c.replies(12)
        assert r[0].code == 250
        expected = [(503, "5.5.1"), (555, "5.5.4"), (500, "5.5.1"), (250, "2.1.0"), (503, "5.5.1"),
                    (554, "5.7.1"), (250, "2.1.5"), (252, "2.5.0"), (250, "2.0.0"), (503, "5.5.1"),
                    (250, "2.0.0")]
        for reply, (code, enh) in zip(r[1:], expected):
            assert_reply(reply, code, enh)
        assert c.nothing_pending() == b""


def test_two_transactions_in_one_connection_pipelined(server):
    with server.connect() as c:
        assert c.cmd("EHLO client.test.invalid").code == 250
        for n in (1, 2):
            c.send(f"MAIL FROM:<s{n}@remote.example>\r\nRCPT TO:<alice@test.example>\r\nDATA\r\n".encode())
            r = c.replies(3)
            assert [x.code for x in r] == [250, 250, 354], [str(x) for x in r]
            c.send(f"Subject: n{n}\r\n\r\nmessage {n}\r\n.\r\n".encode())
            assert_reply(c.reply(), 250, "2.0.0")
        assert_reply(c.cmd("QUIT"), 221, "2.0.0")
    files = server.wait_for_maildir("alice", 2)
    bodies = sorted(parse_delivered(f.read_bytes()).message for f in files)
    assert bodies == [b"Subject: n1\r\n\r\nmessage 1\r\n", b"Subject: n2\r\n\r\nmessage 2\r\n"]


def test_many_commands_in_one_write(server):
    n = 300
    with server.connect() as c:
        assert c.cmd("EHLO client.test.invalid").code == 250
        c.send(b"".join(b"NOOP\r\n" if i % 2 == 0 else b"RSET\r\n" for i in range(n)) + b"QUIT\r\n")
        replies = c.replies(n + 1, timeout=10)
        for reply in replies[:-1]:
            assert_reply(reply, 250, "2.0.0")
        assert_reply(replies[-1], 221, "2.0.0")
        assert c.expect_closed() == b""


def test_commands_split_across_writes(server):
    """Byte-at-a-time delivery of a command must give the same single reply."""
    with server.connect() as c:
        for b in b"EHLO client.test.invalid\r\n":
            c.send(bytes([b]))
            time.sleep(0.001)
        assert c.reply().code == 250
        for chunk in (b"MAIL FR", b"OM:<a@remote", b".example>\r", b"\nRCPT TO:<alice@test.example>\r\nNO", b"OP\r\n"):
            c.send(chunk)
            time.sleep(0.02)
        assert_reply(c.reply(), 250, "2.1.0")
        assert_reply(c.reply(), 250, "2.1.5")
        assert_reply(c.reply(), 250, "2.0.0")
        assert c.nothing_pending() == b""


def test_smtplib_pipelined_many_recipients(server):
    """smtplib sends RCPTs one at a time; this mixes accepted and refused recipients."""
    client = server.smtplib()
    try:
        client.ehlo()
        refused = client.sendmail("a@remote.example",
                                  ["alice@test.example", "nobody@test.example", "bob@other.example"],
                                  b"Subject: mixed\r\n\r\nhi\r\n")
        assert set(refused) == {"nobody@test.example"}
        assert refused["nobody@test.example"][0] == 550
    finally:
        client.quit()
    server.wait_for_maildir("alice", 1)
    server.wait_for_maildir("bob", 1)


def test_commands_after_an_over_long_line_in_the_same_write(server):
    """500 5.5.2 for the long line, then the commands that came with it in the same write are answered
    at once (not only when more input arrives)."""
    with server.connect() as c:
        assert c.cmd("EHLO client.test.invalid").code == 250
        c.send(b"NOOP " + b"y" * 3000 + b"\r\nNOOP\r\nMAIL FROM:<a@remote.example>\r\n")
        assert_reply(c.reply(), 500, "5.5.2")
        assert_reply(c.reply(), 250, "2.0.0")
        assert_reply(c.reply(), 250, "2.1.0")


def test_commands_after_rejected_message_in_the_same_write(server):
    big = (b"x" * 98 + b"\r\n") * 120  # over max_message_size
    with server.connect() as c:
        c.send(b"EHLO client.test.invalid\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@test.example>\r\n"
               b"DATA\r\n" + big + b".\r\nNOOP\r\n"
               b"MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@test.example>\r\n"
               b"BDAT 6000\r\n" + big[:6000] + b"BDAT 6000 LAST\r\n" + big[:6000] + b"NOOP\r\n")
        r = c.replies(11)
        assert [x.code for x in r] == [250, 250, 250, 354, 552, 250, 250, 250, 250, 552, 250], [str(x) for x in r]
        assert c.nothing_pending() == b""


def test_nothing_after_quit_is_executed(server):
    with server.connect() as c:
        assert c.cmd("EHLO client.test.invalid").code == 250
        c.send(b"QUIT\r\nMAIL FROM:<a@remote.example>\r\nNOOP\r\n")
        assert_reply(c.reply(), 221, "2.0.0")
        assert c.expect_closed() == b""
