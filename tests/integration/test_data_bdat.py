"""DATA (dot-stuffing, size, bare CR/LF, line length) and BDAT / CHUNKING (RFC 3030), byte-exact."""
from __future__ import annotations

import time

import pytest

from conftest import MAX_MESSAGE_SIZE
from helpers import assert_reply, parse_delivered


def open_transaction(c, *, rcpts=("alice@test.example",), mail_params=""):
    assert c.cmd("EHLO client.test.invalid").code == 250
    assert_reply(c.cmd(f"MAIL FROM:<sender@remote.example>{mail_params}"), 250, "2.1.0")
    for r in rcpts:
        assert_reply(c.cmd(f"RCPT TO:<{r}>"), 250, "2.1.5")


def send_data(c, wire: bytes):
    """DATA, then `wire` exactly as given (must include the terminating CRLF.CRLF)."""
    assert_reply(c.cmd("DATA"), 354)
    c.send(wire)
    return c.reply()


def delivered_message(server, user="alice"):
    (f,) = server.wait_for_maildir(user, 1)
    return parse_delivered(f.read_bytes())


def sentinel(server, c):
    """Send a good message on the same connection and wait for it: everything accepted earlier on
    this connection has been delivered (or not) by then."""
    assert_reply(c.cmd("MAIL FROM:<sentinel@remote.example>"), 250, "2.1.0")
    assert_reply(c.cmd("RCPT TO:<postmaster@test.example>"), 250, "2.1.5")
    assert_reply(send_data(c, b"Subject: sentinel\r\n\r\nok\r\n.\r\n"), 250, "2.0.0")
    server.wait_for_maildir("postmaster", 1)


# ---------------------------------------------------------------------------------------------- DATA

def test_data_reply_names_queue_id(server):
    with server.connect() as c:
        open_transaction(c)
        r = send_data(c, b"Subject: id\r\n\r\nx\r\n.\r\n")
        assert_reply(r, 250, "2.0.0")
        assert len(r.lines) == 1
        words = r.lines[0].split()
        assert "queued" in words and words[words.index("queued") + 1] == "as", str(r)
        assert len(words) > words.index("as") + 1, f"no queue id after 'queued as': {r}"


def test_dot_stuffing_removed(server):
    wire = (b"Subject: dots\r\n\r\n"
            b"..leading dot\r\n"
            b"...two leading dots\r\n"
            b"..\r\n"
            b"middle . dot\r\n"
            b". \r\n"
            b".\r\n")
    with server.connect() as c:
        open_transaction(c)
        assert_reply(send_data(c, wire), 250, "2.0.0")
    assert delivered_message(server).message == (b"Subject: dots\r\n\r\n"
                                                 b".leading dot\r\n"
                                                 b"..two leading dots\r\n"
                                                 b".\r\n"
                                                 b"middle . dot\r\n"
                                                 b" \r\n")


def test_message_without_final_crlf_before_dot_is_not_ended_early(server):
    # ".\r\n" not preceded by CRLF is data
    wire = b"Subject: x\r\n\r\nabc.\r\n.\r\n"
    with server.connect() as c:
        open_transaction(c)
        assert_reply(send_data(c, wire), 250, "2.0.0")
    assert delivered_message(server).message == b"Subject: x\r\n\r\nabc.\r\n"


def test_8bit_and_utf8_bytes_intact(server):
    body = ("Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\nGrüße, 你好, Xin chào\r\n").encode("utf-8")
    body += bytes(range(0x80, 0x100)) + b"\r\n" + b"\x01\x02\x7f tab\there\r\n"
    with server.connect() as c:
        open_transaction(c, mail_params=" BODY=8BITMIME")
        assert_reply(send_data(c, body + b".\r\n"), 250, "2.0.0")
    assert delivered_message(server).message == body


def test_smtputf8_message(server):
    body = "From: jöran@bücher.example\r\nTo: alice@test.example\r\nSubject: Grüße\r\n\r\nhej då\r\n".encode()
    with server.connect() as c:
        assert c.cmd("EHLO client.test.invalid").code == 250
        assert_reply(c.cmd("MAIL FROM:<jöran@bücher.example> SMTPUTF8 BODY=8BITMIME"), 250, "2.1.0")
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250, "2.1.5")
        assert_reply(send_data(c, body + b".\r\n"), 250, "2.0.0")
    d = delivered_message(server)
    assert d.return_path == "Return-Path: <jöran@bücher.example>".encode()
    assert d.message == body


def test_data_over_size_limit_rejected_after_dot(server):
    line = b"x" * 98 + b"\r\n"
    body = b"Subject: big\r\n\r\n" + line * ((MAX_MESSAGE_SIZE // len(line)) + 20)
    assert len(body) > MAX_MESSAGE_SIZE + 1000
    with server.connect() as c:
        open_transaction(c)
        assert_reply(send_data(c, body + b".\r\n"), 552, "5.3.4")
        # the session goes on, and the transaction is over
        assert_reply(c.cmd("NOOP"), 250, "2.0.0")
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 503, "5.5.1")
        sentinel(server, c)
    assert server.all_delivered().keys() == {"postmaster"}


def test_data_far_over_size_limit(server):
    """A message 50x the limit: the server keeps reading to the dot and answers once."""
    chunk = (b"y" * 998 + b"\r\n") * 64
    with server.connect() as c:
        open_transaction(c)
        assert_reply(c.cmd("DATA"), 354)
        c.send(b"Subject: huge\r\n\r\n")
        for _ in range(8):
            c.send(chunk)
        c.send(b".\r\n")
        assert_reply(c.reply(timeout=10), 552, "5.3.4")
        assert_reply(c.cmd("NOOP"), 250, "2.0.0")
        assert c.nothing_pending() == b""


def test_data_just_under_size_limit_accepted(server):
    line = b"z" * 98 + b"\r\n"
    body = b"Subject: fits\r\n\r\n" + line * ((MAX_MESSAGE_SIZE - 200) // len(line))
    assert MAX_MESSAGE_SIZE - 300 < len(body) <= MAX_MESSAGE_SIZE
    with server.connect() as c:
        open_transaction(c)
        assert_reply(send_data(c, body + b".\r\n"), 250, "2.0.0")
    assert delivered_message(server).message == body


@pytest.mark.parametrize("wire", [
    b"Subject: lf\r\n\r\nbare\nLF\r\n.\r\n",
    b"Subject: cr\r\n\r\nbare\rCR\r\n.\r\n",
    b"Subject: lf-header\nX: y\r\n\r\nbody\r\n.\r\n",
    b"Subject: lfcr\r\n\r\nodd\n\rorder\r\n.\r\n",
    b"Subject: crcr\r\n\r\ndouble\r\r\n.\r\n",
    b"Subject: trailing\r\n\r\nends with bare LF\n\r\n.\r\n",
    b"Subject: trailing-cr\r\n\r\nends with bare CR\r\r\n.\r\n",
], ids=["lf-body", "cr-body", "lf-header", "lf-cr", "cr-crlf", "lf-before-end", "cr-before-end"])
def test_bare_cr_or_lf_rejected(server, wire):
    with server.connect() as c:
        open_transaction(c)
        assert_reply(send_data(c, wire), 554, "5.6.0")
        assert c.nothing_pending() == b""
        assert_reply(c.cmd("NOOP"), 250, "2.0.0")
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 503, "5.5.1")
        sentinel(server, c)
    assert server.all_delivered().keys() == {"postmaster"}


def test_line_over_1000_octets_rejected(server):
    long_line = b"L" * 999 + b"\r\n"   # 1001 octets including CRLF
    with server.connect() as c:
        open_transaction(c)
        assert_reply(send_data(c, b"Subject: long\r\n\r\n" + long_line + b"after\r\n.\r\n"), 554, "5.6.0")
        assert_reply(c.cmd("NOOP"), 250, "2.0.0")
        sentinel(server, c)
    assert server.all_delivered().keys() == {"postmaster"}


def test_long_header_line_rejected(server):
    with server.connect() as c:
        open_transaction(c)
        assert_reply(send_data(c, b"Subject: " + b"h" * 1200 + b"\r\n\r\nbody\r\n.\r\n"), 554, "5.6.0")
        assert_reply(c.cmd("NOOP"), 250, "2.0.0")


def test_line_of_exactly_1000_octets_accepted(server):
    line = b"K" * 998 + b"\r\n"
    stuffed = b"." + b"." + b"D" * 997 + b"\r\n"   # 1001 on the wire, 1000 after unstuffing
    body = b"Subject: edge\r\n\r\n" + line + stuffed
    with server.connect() as c:
        open_transaction(c)
        assert_reply(send_data(c, body + b".\r\n"), 250, "2.0.0")
    assert delivered_message(server).message == b"Subject: edge\r\n\r\n" + line + b"." + b"D" * 997 + b"\r\n"


def test_data_split_in_odd_places(server):
    """The end-of-data marker and CRLFs split across TCP writes."""
    with server.connect() as c:
        open_transaction(c)
        assert_reply(c.cmd("DATA"), 354)

        for piece in (b"Subject: split\r", b"\n\r", b"\nbody\r\n", b"..dot\r\n", b"\r", b"\n.", b"\r", b"\n"):
            c.send(piece)
            time.sleep(0.02)
        assert_reply(c.reply(), 250, "2.0.0")
    assert delivered_message(server).message == b"Subject: split\r\n\r\nbody\r\n.dot\r\n\r\n"


def test_smtplib_sendmail_with_dots(server):
    msg = b"Subject: smtplib\r\n\r\n.starts with a dot\r\n.\r\nend\r\n"
    client = server.smtplib()
    try:
        client.ehlo()
        assert client.sendmail("a@remote.example", ["alice@test.example"], msg) == {}
    finally:
        client.quit()
    assert delivered_message(server).message == msg


# ---------------------------------------------------------------------------------------------- BDAT

def test_bdat_single_chunk(server):
    msg = b"Subject: bdat\r\n\r\none chunk\r\n"
    with server.connect() as c:
        open_transaction(c)
        c.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
        r = c.reply()
        assert_reply(r, 250, "2.0.0", contains="queued as ")
        assert_reply(c.cmd("QUIT"), 221, "2.0.0")
    assert delivered_message(server).message == msg


def test_bdat_chunks_are_raw_bytes(server):
    """No dot-stuffing and no end-of-data marker inside BDAT: '..' and CRLF.CRLF stay as they are."""
    chunks = [b"Subject: raw\r\n\r\n..two dots stay\r\n.\r\n",
              b"MAIL FROM:<evil@remote.example>\r\nRCPT TO:<bob@test.example>\r\n",
              b"the end\r\n"]
    with server.connect() as c:
        open_transaction(c)
        for i, ch in enumerate(chunks):
            last = b" LAST" if i == len(chunks) - 1 else b""
            c.send(b"BDAT %d%s\r\n" % (len(ch), last) + ch)
            r = c.reply()
            assert_reply(r, 250, "2.0.0")
            if last:
                assert "queued as " in r.text, str(r)
        assert_reply(c.cmd("NOOP"), 250, "2.0.0")
    assert delivered_message(server).message == b"".join(chunks)
    assert "bob" not in server.all_delivered()


def test_bdat_zero_last(server):
    msg = b"Subject: zero\r\n\r\nbody\r\n"
    with server.connect() as c:
        open_transaction(c)
        c.send(b"BDAT %d\r\n" % len(msg) + msg)
        assert_reply(c.reply(), 250, "2.0.0")
        c.send(b"BDAT 0 LAST\r\n")
        assert_reply(c.reply(), 250, "2.0.0", contains="queued as ")
    assert delivered_message(server).message == msg


def test_bdat_pipelined_with_chunks_split_oddly(server):
    msg = b"Subject: piped bdat\r\n\r\n" + "8-bit: é\r\n".encode() + (b"x" * 298 + b"\r\n") * 10
    a, b = msg[:1000], msg[1000:]
    with server.connect() as c:
        open_transaction(c)
        wire = b"BDAT %d\r\n" % len(a) + a + b"BDAT %d LAST\r\n" % len(b) + b + b"NOOP\r\n"
        # split the wire at arbitrary places, including inside the BDAT command lines

        for i in range(0, len(wire), 777):
            c.send(wire[i:i + 777])
            time.sleep(0.005)
        assert_reply(c.reply(), 250, "2.0.0")
        assert_reply(c.reply(), 250, "2.0.0", contains="queued as ")
        assert_reply(c.reply(), 250, "2.0.0")
    assert delivered_message(server).message == msg


def test_bdat_then_new_transaction(server):
    msg = b"Subject: first\r\n\r\n1\r\n"
    with server.connect() as c:
        open_transaction(c)
        c.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
        assert_reply(c.reply(), 250, "2.0.0")
        assert_reply(c.cmd("MAIL FROM:<b@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd("RCPT TO:<bob@test.example>"), 250, "2.1.5")
        assert_reply(send_data(c, b"Subject: second\r\n\r\n2\r\n.\r\n"), 250, "2.0.0")
    assert delivered_message(server, "alice").message == msg
    assert delivered_message(server, "bob").message == b"Subject: second\r\n\r\n2\r\n"


def test_bdat_over_size_limit(server):
    part = b"Subject: big\r\n\r\n" + (b"w" * 98 + b"\r\n") * 59 + b"w" * 82 + b"\r\n"
    assert len(part) == 6000
    with server.connect() as c:
        open_transaction(c)
        c.send(b"BDAT 6000\r\n" + part)
        assert_reply(c.reply(), 250, "2.0.0")
        c.send(b"BDAT 6000 LAST\r\n" + (b"v" * 98 + b"\r\n") * 60)
        assert_reply(c.reply(), 552, "5.3.4")
        assert_reply(c.cmd("NOOP"), 250, "2.0.0")
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 503, "5.5.1")
        sentinel(server, c)
    assert server.all_delivered().keys() == {"postmaster"}


def test_bdat_bare_lf_rejected(server):
    msg = b"Subject: bare\r\n\r\nbare\nLF\r\n"
    with server.connect() as c:
        open_transaction(c)
        c.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
        assert_reply(c.reply(), 554, "5.6.0")
        assert_reply(c.cmd("NOOP"), 250, "2.0.0")
        sentinel(server, c)
    assert server.all_delivered().keys() == {"postmaster"}


def test_bdat_before_rcpt_swallows_chunk(server):
    """BDAT out of sequence is refused, and its chunk bytes are never read as commands."""
    chunk = b"RSET\r\nMAIL FROM:<evil@remote.example>\r\n"
    with server.connect() as c:
        assert c.cmd("EHLO client.test.invalid").code == 250
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")
        c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        r = c.reply()
        assert r.code == 503, str(r)
        assert_reply(r, 503, "5.5.1")
        assert_reply(c.cmd("NOOP"), 250, "2.0.0")
        assert c.nothing_pending() == b""


def test_data_after_bdat_is_out_of_sequence(server):
    with server.connect() as c:
        open_transaction(c)
        c.send(b"BDAT 5\r\nabc\r\n")
        assert_reply(c.reply(), 250, "2.0.0")
        assert_reply(c.cmd("DATA"), 503, "5.5.1")


@pytest.mark.parametrize("command", [b"BDAT", b"BDAT x", b"BDAT -1", b"BDAT 5 FIRST"])
def test_bdat_syntax_error(server, command):
    with server.connect() as c:
        open_transaction(c)
        r = c.cmd(command)
        # a syntax error in the arguments: 501 with a 5.5.x enhanced code (5.5.4 / 5.5.2)
        assert r.code == 501 and r.lines[0].startswith("5.5."), str(r)
        assert_reply(c.cmd("NOOP"), 250, "2.0.0")
