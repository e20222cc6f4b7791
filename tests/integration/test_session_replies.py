"""Reply codes and enhanced status codes of the basic session (mx listener, no auth)."""
from __future__ import annotations

import smtplib

import pytest

from conftest import HOSTNAME, MAX_MESSAGE_SIZE
from helpers import assert_reply


def ehlo(c, name="client.test.invalid"):
    r = c.cmd(f"EHLO {name}")
    assert r.code == 250, str(r)
    return r


def test_greeting(server):
    with server.connect() as c:
        g = c.greeting
        assert g.code == 220
        assert len(g.lines) == 1, str(g)
        assert g.first.startswith(f"220 {HOSTNAME} ESMTP Postern"), str(g)


def test_ehlo_lists_extensions(server):
    with server.connect() as c:
        r = ehlo(c)
        assert r.lines[0].split(" ")[0] == HOSTNAME, str(r)
        keywords = {line.split(" ", 1)[0].upper(): line for line in r.lines[1:]}
        for ext in ("PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING", "SIZE"):
            assert ext in keywords, f"EHLO does not list {ext}: {r}"
        assert keywords["SIZE"] == f"SIZE {MAX_MESSAGE_SIZE}", str(r)


def test_ehlo_via_smtplib(server):
    client = server.smtplib()
    try:
        code, _ = client.ehlo()
        assert code == 250
        for ext in ("pipelining", "8bitmime", "smtputf8", "enhancedstatuscodes", "chunking"):
            assert client.has_extn(ext), ext
        assert client.esmtp_features["size"] == str(MAX_MESSAGE_SIZE)
    finally:
        client.close()


def test_helo(server):
    with server.connect() as c:
        r = c.cmd("HELO client.test.invalid")
        assert r.code == 250 and len(r.lines) == 1, str(r)
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")


@pytest.mark.parametrize("command,code,enhanced", [
    ("NOOP", 250, "2.0.0"),
    ("RSET", 250, "2.0.0"),
    ("VRFY alice", 252, "2.5.0"),
    ("VRFY nosuchuser@test.example", 252, "2.5.0"),
    ("HELP", 214, "2.0.0"),
])
def test_simple_commands(server, command, code, enhanced):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd(command), code, enhanced)
        # the session carries on
        assert_reply(c.cmd("NOOP"), 250, "2.0.0")


def test_simple_commands_before_ehlo(server):
    with server.connect() as c:
        assert_reply(c.cmd("NOOP"), 250, "2.0.0")
        assert_reply(c.cmd("RSET"), 250, "2.0.0")
        assert_reply(c.cmd("HELP"), 214, "2.0.0")


def test_commands_are_case_insensitive(server):
    with server.connect() as c:
        assert c.cmd("ehlo client.test.invalid").code == 250
        assert_reply(c.cmd("mail from:<a@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd("rcpt to:<alice@test.example>"), 250, "2.1.5")
        assert_reply(c.cmd("noop"), 250, "2.0.0")
        assert_reply(c.cmd("rset"), 250, "2.0.0")


def test_quit_closes(server):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("QUIT"), 221, "2.0.0")
        assert c.expect_closed() == b""


def test_quit_before_ehlo(server):
    with server.connect() as c:
        assert_reply(c.cmd("QUIT"), 221, "2.0.0")
        assert c.expect_closed() == b""


def test_transaction_replies(server):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("MAIL FROM:<sender@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250, "2.1.5")
        assert_reply(c.cmd("DATA"), 354)
        c.send(b"Subject: t\r\n\r\nhello\r\n.\r\n")
        r = c.reply()
        assert_reply(r, 250, "2.0.0")
        assert "queued as " in r.text, str(r)
        # a second transaction on the same connection
        assert_reply(c.cmd("MAIL FROM:<sender@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd("RCPT TO:<bob@test.example>"), 250, "2.1.5")
        assert_reply(c.cmd("QUIT"), 221, "2.0.0")
    server.wait_for_maildir("alice", 1)


def test_null_sender_accepted(server):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("MAIL FROM:<>"), 250, "2.1.0")
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250, "2.1.5")


def test_unknown_command(server):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("FROBNICATE now"), 500, "5.5.1")
        assert_reply(c.cmd("XYZZY"), 500, "5.5.1")
        assert_reply(c.cmd("NOOP"), 250, "2.0.0")


def test_unknown_command_before_ehlo(server):
    with server.connect() as c:
        assert_reply(c.cmd("FROBNICATE"), 500, "5.5.1")


def test_command_line_too_long_session_continues(server):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("NOOP " + "x" * 3000), 500, "5.5.2")
        assert_reply(c.cmd("NOOP"), 250, "2.0.0")
        # the transaction state is unharmed, and a long MAIL line does not start a transaction
        assert_reply(c.cmd("MAIL FROM:<" + "a" * 3000 + "@remote.example>"), 500, "5.5.2")
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 503, "5.5.1")
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")


def test_very_long_command_line_gets_one_reply(server):
    with server.connect() as c:
        ehlo(c)
        c.send(b"NOOP " + b"y" * 100_000 + b"\r\nNOOP\r\n")
        assert_reply(c.reply(), 500, "5.5.2")
        assert_reply(c.reply(), 250, "2.0.0")
        assert c.nothing_pending() == b""


def test_command_line_at_limit_is_accepted(server):
    # 2048 octets including CRLF is the limit; NOOP takes an optional string argument (RFC 5321 4.1.1.9)
    line = b"NOOP " + b"z" * (2048 - 5 - 2)
    assert len(line) + 2 == 2048
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd(line), 250, "2.0.0")
        assert_reply(c.cmd(line + b"z"), 500, "5.5.2")


def test_mail_before_helo(server):
    with server.connect() as c:
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 503, "5.5.1")
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 503, "5.5.1")
        assert_reply(c.cmd("DATA"), 503, "5.5.1")
        ehlo(c)
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")


def test_rcpt_before_mail(server):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 503, "5.5.1")


def test_data_before_mail(server):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("DATA"), 503, "5.5.1")
        assert_reply(c.cmd("NOOP"), 250, "2.0.0")


def test_data_before_rcpt(server):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd("DATA"), 503, "5.5.1")
        # the transaction is still open
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250, "2.1.5")


def test_data_after_only_rejected_rcpts(server):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd("RCPT TO:<nobody@test.example>"), 550, "5.1.1")
        # RFC 5321 3.3 allows either 503 (out of sequence) or 554 (no valid recipients) here
        r = c.cmd("DATA")
        assert r.code in (503, 554), str(r)
        assert_reply(r, r.code, "5.5.1")
        assert_reply(c.cmd("NOOP"), 250, "2.0.0")


def test_nested_mail(server):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd("MAIL FROM:<b@remote.example>"), 503, "5.5.1")


def test_rset_ends_transaction(server):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250, "2.1.5")
        assert_reply(c.cmd("RSET"), 250, "2.0.0")
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 503, "5.5.1")
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")


def test_ehlo_again_resets_transaction(server):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")
        ehlo(c)
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 503, "5.5.1")
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")


@pytest.mark.parametrize("sender", [
    "<alice@@remote.example>",
    "<a b@remote.example>",
    "<alice@remote..example>",
    "<@>",
])
def test_bad_sender_syntax(server, sender):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd(f"MAIL FROM:{sender}"), 501, "5.1.7")
        # no transaction was started
        assert_reply(c.cmd("MAIL FROM:<ok@remote.example>"), 250, "2.1.0")


@pytest.mark.parametrize("rcpt", [
    "<bob@@test.example>",
    "<b ob@test.example>",
    "<bob@test..example>",
    "<>",
])
def test_bad_recipient_syntax(server, rcpt):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd(f"RCPT TO:{rcpt}"), 501, "5.1.3")
        assert_reply(c.cmd("RCPT TO:<bob@test.example>"), 250, "2.1.5")


def test_unknown_mail_parameter(server):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("MAIL FROM:<a@remote.example> FROBNICATE=YES"), 555, "5.5.4")
        assert_reply(c.cmd("MAIL FROM:<a@remote.example> XYZZY"), 555, "5.5.4")
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")


def test_unknown_rcpt_parameter(server):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd("RCPT TO:<alice@test.example> FROBNICATE=YES"), 555, "5.5.4")
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250, "2.1.5")


@pytest.mark.parametrize("params", ["BODY=8BITMIME", "BODY=7BIT", "SMTPUTF8", f"SIZE={MAX_MESSAGE_SIZE}",
                                    "SIZE=100 BODY=8BITMIME SMTPUTF8", "size=100 body=8bitmime"])
def test_known_mail_parameters(server, params):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd(f"MAIL FROM:<a@remote.example> {params}"), 250, "2.1.0")


def test_size_over_limit_at_mail(server):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd(f"MAIL FROM:<a@remote.example> SIZE={MAX_MESSAGE_SIZE + 1}"), 552, "5.3.4")
        assert_reply(c.cmd("MAIL FROM:<a@remote.example> SIZE=1000"), 250, "2.1.0")


def test_size_overflowing_64_bits_is_over_the_limit(server):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("MAIL FROM:<a@remote.example> SIZE=99999999999999999999"), 552, "5.3.4")
        assert_reply(c.cmd("MAIL FROM:<a@remote.example> SIZE=18446744073709551617"), 552, "5.3.4")


def test_too_many_recipients(server):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250, "2.1.5")
        assert_reply(c.cmd("RCPT TO:<bob@test.example>"), 250, "2.1.5")
        assert_reply(c.cmd("RCPT TO:<postmaster@test.example>"), 250, "2.1.5")
        assert_reply(c.cmd("RCPT TO:<alice@other.example>"), 452, "4.5.3")
        assert_reply(c.cmd("RCPT TO:<bob@other.example>"), 452, "4.5.3")
        # the three accepted recipients still get the message
        assert_reply(c.cmd("DATA"), 354)
        c.send(b"Subject: three\r\n\r\nbody\r\n.\r\n")
        assert_reply(c.reply(), 250, "2.0.0")
    server.wait_for_maildir("alice", 1)
    server.wait_for_maildir("bob", 1)
    server.wait_for_maildir("postmaster", 1)


def test_recipient_limit_resets_per_transaction(server):
    with server.connect() as c:
        ehlo(c)
        for _ in range(2):
            assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")
            for r in ("alice@test.example", "bob@test.example", "alice@other.example"):
                assert_reply(c.cmd(f"RCPT TO:<{r}>"), 250, "2.1.5")
            assert_reply(c.cmd("RSET"), 250, "2.0.0")


@pytest.mark.parametrize("rcpt", ["nobody@test.example", "carol@other.example"])
def test_unknown_local_user(server, rcpt):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd(f"RCPT TO:<{rcpt}>"), 550, "5.1.1")


@pytest.mark.parametrize("rcpt", ["alice@remote.example", "alice@test.example.evil.example", "alice@[127.0.0.1]",
                                  "bob@sub.test.example"])
def test_non_local_domain_relay_denied(server, rcpt):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd(f"RCPT TO:<{rcpt}>"), 554, "5.7.1")


def test_domain_is_case_insensitive(server):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd("RCPT TO:<alice@TEST.Example>"), 250, "2.1.5")


@pytest.mark.parametrize("rcpt", ["<postmaster>", "<postmaster@test.example>", "<postmaster@other.example>",
                                  "<Postmaster>", "<POSTMASTER@test.example>"])
def test_postmaster_accepted(server, rcpt):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd(f"RCPT TO:{rcpt}"), 250, "2.1.5")


def test_non_ascii_sender_without_smtputf8(server):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("MAIL FROM:<jöran@remote.example>"), 553, "5.6.7")
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")


def test_non_ascii_recipient_without_smtputf8(server):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd("RCPT TO:<ålice@test.example>"), 553, "5.6.7")
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250, "2.1.5")


def test_utf8_sender_with_smtputf8(server):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("MAIL FROM:<jöran@bücher.example> SMTPUTF8"), 250, "2.1.0")
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250, "2.1.5")


def test_utf8_unknown_recipient_with_smtputf8(server):
    with server.connect() as c:
        ehlo(c)
        assert_reply(c.cmd("MAIL FROM:<a@remote.example> SMTPUTF8"), 250, "2.1.0")
        assert_reply(c.cmd("RCPT TO:<ålice@test.example>"), 550, "5.1.1")
        assert_reply(c.cmd("RCPT TO:<用户@test.example>"), 550, "5.1.1")


def test_smtplib_errors_surface_codes(server):
    client = server.smtplib()
    try:
        client.ehlo()
        with pytest.raises(smtplib.SMTPRecipientsRefused) as exc:
            client.sendmail("a@remote.example", ["nobody@test.example"], b"Subject: x\r\n\r\ny\r\n")
        code, msg = exc.value.recipients["nobody@test.example"]
        assert code == 550 and msg.startswith(b"5.1.1"), (code, msg)
    finally:
        client.close()
