"""What an authenticated (or not) client may do on each listener: sender ownership (553 5.7.1), aliases,
relay (554 5.7.1 unauthenticated on mx; any domain after AUTH), durable queueing of remote recipients in
<data_dir>/spool/queue/ (still there after a restart), Maildir delivery of local ones, and the Received
header: "with ESMTPSA" / "ESMTPS", the TLS version and cipher, and the authenticated user.
"""
from __future__ import annotations

import time

import pytest

from helpers import assert_reply, parse_delivered, plain_response, unfold

# With Date: and Message-ID: present, submission adds nothing (RFC 6409 §8) and the bytes arrive unchanged.
MESSAGE = (b"From: Alice <alice@test.example>\r\n"
           b"To: someone\r\n"
           b"Subject: submission test\r\n"
           b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
           b"Message-ID: <submission-test@test.example>\r\n"
           b"\r\n"
           b"Hello over TLS.\r\n"
           b"..a line that starts with a dot\r\n")
DELIVERED_BODY = MESSAGE.replace(b"\r\n..a line", b"\r\n.a line")


def login(c, user="alice", password="alice-secret-1"):
    assert_reply(c.cmd("AUTH PLAIN " + plain_response(user, password)), 235, "2.7.0")


def send(c, sender: str, recipients: list[str], data: bytes = MESSAGE):
    assert_reply(c.cmd(f"MAIL FROM:<{sender}>"), 250)
    for rcpt in recipients:
        assert_reply(c.cmd(f"RCPT TO:<{rcpt}>"), 250)
    assert_reply(c.cmd("DATA"), 354)
    r = c.cmd(data + b".")
    assert_reply(r, 250)
    return r


def queue_files(srv) -> list[str]:
    root = srv.data_dir / "spool" / "queue"
    if not root.is_dir():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def received_of(srv, user: str, n: int = 1):
    files = srv.wait_for_maildir(user, n)
    d = parse_delivered(files[n - 1].read_bytes(), files[n - 1])
    return d, unfold(d.received)


# ---------------------------------------------------------------------------------------------
# Sender ownership

def test_sender_must_be_owned_by_the_user(subserver):
    with subserver.submission_tls() as c:
        login(c)
        for sender in ("alice@test.example", "alice@other.example", "alice@TEST.EXAMPLE"):
            assert_reply(c.cmd(f"MAIL FROM:<{sender}>"), 250)
            assert_reply(c.cmd("RSET"), 250)
        for sender in ("bob@test.example", "postmaster@test.example", "alice@remote.example",
                       "alice@mx.test.example", "someone@other.example"):
            assert_reply(c.cmd(f"MAIL FROM:<{sender}>"), 553, "5.7.1")
        assert_reply(c.cmd("MAIL FROM:<>"), 553, "5.7.1")
        # After the refusals a good sender still works.
        assert_reply(c.cmd("MAIL FROM:<alice@test.example>"), 250)


def test_sender_ownership_on_submissions_and_authenticated_mx(subserver):
    with subserver.submissions() as c:
        login(c, "bob", "bob-secret-2")
        assert_reply(c.cmd("MAIL FROM:<alice@test.example>"), 553, "5.7.1")
        assert_reply(c.cmd("MAIL FROM:<bob@other.example>"), 250)
    with subserver.mx_tls() as c:
        login(c)
        assert_reply(c.cmd("MAIL FROM:<bob@test.example>"), 553, "5.7.1")
        assert_reply(c.cmd("MAIL FROM:<>"), 553, "5.7.1")
        assert_reply(c.cmd("MAIL FROM:<alice@test.example>"), 250)


def test_alias_added_with_cli_can_send_and_receives(subserver):
    with subserver.submission_tls() as c:
        login(c)
        assert_reply(c.cmd("MAIL FROM:<sales@test.example>"), 553, "5.7.1")
    subserver.cli("user", "address", "add", "alice", "sales@test.example", check=True)
    listed = subserver.cli("user", "address", "list", "alice", check=True).stdout
    assert "sales@test.example" in listed, listed

    with subserver.submission_tls() as c:
        login(c)
        send(c, "sales@test.example", ["bob@test.example"])
    d, _ = received_of(subserver, "bob")
    assert d.return_path == b"Return-Path: <sales@test.example>"

    with subserver.submission_tls() as c:
        login(c, "bob", "bob-secret-2")
        assert_reply(c.cmd("MAIL FROM:<sales@test.example>"), 553, "5.7.1")  # not bob's
        send(c, "bob@test.example", ["sales@test.example"])
    d, _ = received_of(subserver, "alice")
    assert d.message == DELIVERED_BODY

    # Unauthenticated mail from outside reaches the alias too (mx).
    with subserver.mx() as c:
        c.ehlo()
        send(c, "someone@remote.example", ["sales@test.example"])
    received_of(subserver, "alice", 2)


# ---------------------------------------------------------------------------------------------
# Relay and the queue

@pytest.mark.parametrize("tls", [False, True], ids=["cleartext", "starttls"])
def test_mx_unauthenticated_relay_is_554(subserver, tls):
    with (subserver.mx_tls() if tls else subserver.mx()) as c:
        if not tls:
            c.ehlo()
        assert_reply(c.cmd("MAIL FROM:<someone@remote.example>"), 250)
        assert_reply(c.cmd("RCPT TO:<victim@elsewhere.example>"), 554, "5.7.1")
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250)


def test_mx_authenticated_client_may_relay(subserver):
    with subserver.mx_tls() as c:
        login(c)
        send(c, "alice@test.example", ["friend@remote.example"])
    assert queue_files(subserver), "no spool file in spool/queue for the relayed message"


def test_remote_recipients_are_queued_durably(subserver):
    assert queue_files(subserver) == []
    with subserver.submission_tls() as c:
        login(c)
        r = send(c, "alice@test.example", ["friend@remote.example", "other@elsewhere.example"])
        assert_reply(r, 250, "2.0.0")
    queued = queue_files(subserver)
    assert queued, "250 given but nothing in <data_dir>/spool/queue/"
    contents = b"".join((subserver.data_dir / "spool" / "queue" / q).read_bytes() for q in queued)
    assert DELIVERED_BODY in contents or MESSAGE in contents, "the message text is not in the queue files"
    assert b"friend@remote.example" in contents and b"other@elsewhere.example" in contents

    subserver.restart()
    time.sleep(0.3)  # whatever the queue does at start, the remote message stays queued
    assert queue_files(subserver) == queued, "queued message lost or changed by a restart"
    assert subserver.all_delivered() == {}


def test_local_and_remote_recipients_in_one_message(subserver):
    with subserver.submissions() as c:
        login(c)
        send(c, "alice@other.example", ["bob@test.example", "friend@remote.example", "postmaster@other.example"])
    d, _ = received_of(subserver, "bob")
    assert d.message == DELIVERED_BODY
    received_of(subserver, "postmaster")
    deadline = time.monotonic() + 3
    while not queue_files(subserver) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert queue_files(subserver), "the remote recipient is not queued"


def test_any_recipient_domain_after_auth(subserver):
    with subserver.submission_tls() as c:
        login(c)
        assert_reply(c.cmd("MAIL FROM:<alice@test.example>"), 250)
        for rcpt in ("a@remote.example", "b@[192.0.2.1]", "c@sub.domain.example"):
            assert_reply(c.cmd(f"RCPT TO:<{rcpt}>"), 250)


# ---------------------------------------------------------------------------------------------
# Received header

def test_received_header_esmtpsa_on_submission(subserver):
    with subserver.submission_tls() as c:
        login(c)
        version, cipher = c.tls_version, c.tls_cipher
        send(c, "alice@test.example", ["bob@test.example"])
    d, received = received_of(subserver, "bob")
    assert d.message == DELIVERED_BODY
    assert " with ESMTPSA " in received, received
    assert f"(using {version} {cipher})" in received, received
    assert "(authenticated user alice)" in received, received


def test_received_header_esmtpsa_on_submissions(subserver):
    with subserver.submissions() as c:
        login(c, "bob", "bob-secret-2")
        version, cipher = c.tls_version, c.tls_cipher
        send(c, "bob@test.example", ["alice@test.example"])
    d, received = received_of(subserver, "alice")
    assert " with ESMTPSA " in received, received
    assert f"(using {version} {cipher})" in received, received
    assert "(authenticated user bob)" in received, received


def test_received_header_esmtps_on_mx_without_auth(subserver):
    with subserver.mx_tls() as c:
        version, cipher = c.tls_version, c.tls_cipher
        send(c, "someone@remote.example", ["alice@test.example"])
    d, received = received_of(subserver, "alice")
    assert d.message == DELIVERED_BODY
    assert " with ESMTPS " in received, received
    assert f"(using {version} {cipher})" in received, received
    assert "authenticated" not in received, received


def test_received_header_tls12_cipher_named(subserver):
    import ssl

    from helpers import tls_client_context
    ctx = tls_client_context(max_version=ssl.TLSVersion.TLSv1_2)
    with subserver.submissions(context=ctx) as c:
        login(c)
        assert c.tls_version == "TLSv1.2"
        cipher = c.tls_cipher
        send(c, "alice@test.example", ["bob@test.example"])
    _, received = received_of(subserver, "bob")
    assert f"(using TLSv1.2 {cipher})" in received, received
