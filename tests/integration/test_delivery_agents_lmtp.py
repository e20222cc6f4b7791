"""Local delivery over LMTP (RFC 2033) to a real Dovecot (dovecot-lmtpd) started by the test: on its unix socket
and on 127.0.0.1 TCP; one transaction for several recipients with a reply per recipient, each honoured: a
recipient Dovecot refuses is bounced (the DSN goes back over LMTP too) while the others are delivered."""
from __future__ import annotations

import pytest

from queue_support import Dovecot, QueuePostern, dsn_fields, parse_message, send_mx, submit, wait_until

MESSAGE = (b"From: Bob <bob@test.example>\r\n"
           b"To: Postmaster <postmaster@test.example>\r\n"
           b"Subject: to the mail store\r\n"
           b"\r\n"
           b"Hello, Dovecot.\r\n"
           b"..dot-stuffed line\r\n")


@pytest.fixture
def dovecot():
    d = Dovecot(users=["bob", "postmaster"])  # alice has a Postern account but no mailbox in Dovecot
    d.start()
    yield d
    d.stop()


@pytest.fixture
def make_lmtp_server(postern_path, tmp_path, request, default_users_data_dir):
    import shutil
    from conftest import _attach
    servers = []

    def factory(address: str):
        srv = QueuePostern(postern_path, tmp_path / f"l{len(servers)}",
                           sections={"delivery": {"local": "lmtp"}, "lmtp": {"address": address},
                                     "queue": {"retry_schedule": ["1s"]}})
        servers.append(srv)
        _attach(request, srv)
        shutil.copytree(default_users_data_dir, srv.data_dir)
        srv.start()
        return srv

    yield factory
    for srv in servers:
        srv.stop()


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_local_mail_reaches_dovecot(make_lmtp_server, dovecot, transport):
    address = f"unix:{dovecot.socket_path}" if transport == "unix" else f"127.0.0.1:{dovecot.port}"
    srv = make_lmtp_server(address)
    send_mx(srv, "someone@remote.example", ["bob@test.example", "postmaster@test.example"], MESSAGE)
    wait_until(lambda: dovecot.messages("bob") and dovecot.messages("postmaster"), what="both Dovecot mailboxes")
    for user in ("bob", "postmaster"):
        data = dovecot.messages(user)[0]
        msg = parse_message(data)
        assert msg["Return-Path"] == "<someone@remote.example>"  # Dovecot adds it from MAIL FROM
        assert msg["Subject"] == "to the mail store"
        assert b"\r\n.dot-stuffed line\r\n" in data or b"\n.dot-stuffed line\n" in data
        trace = msg.get_all("Received")
        assert "with LMTP" in trace[0] and any("by mx.test.example" in r for r in trace[1:])
    assert srv.all_delivered() == {}, "nothing in Postern's own Maildirs"
    wait_until(lambda: not srv.spool_files(), what="empty spool")
    assert "saved mail to INBOX" in dovecot.log()


def test_per_recipient_lmtp_replies_are_honoured(make_lmtp_server, dovecot):
    srv = make_lmtp_server(f"unix:{dovecot.socket_path}")
    # alice exists for Postern, not for Dovecot: LMTP refuses her RCPT; postmaster gets the message.
    submit(srv, "bob@test.example", ["alice@test.example", "postmaster@test.example"], MESSAGE,
           user="bob", password="bob-secret-2")
    wait_until(lambda: dovecot.messages("postmaster"), what="postmaster's copy")
    dsns = wait_until(lambda: dovecot.messages("bob"), what="the bounce in bob's Dovecot mailbox")
    msg, rcpts = dsn_fields(dsns[0].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    assert len(rcpts) == 1
    assert rcpts[0]["final-recipient"] == "rfc822; alice@test.example"
    assert rcpts[0]["action"] == "failed"
    assert rcpts[0]["status"].startswith("5.")
    assert rcpts[0]["diagnostic-code"].startswith("smtp; 550")
    assert parse_message(dsns[0])["Return-Path"] == "<>"
    wait_until(lambda: not srv.spool_files(), what="empty spool")


def test_lmtp_down_defers_then_delivers(make_lmtp_server, tmp_path):
    d = Dovecot(users=["bob"])
    srv = make_lmtp_server(f"127.0.0.1:{d.port}")  # nothing listens yet
    try:
        qid = send_mx(srv, "someone@remote.example", ["bob@test.example"], MESSAGE)
        wait_until(lambda: f"queue deferred id={qid}" in srv.stderr(), what="a deferral")
        listing = srv.queue("list").stdout
        assert qid in listing and "Connection refused" in listing
        d.start()
        wait_until(lambda: d.messages("bob"), timeout=15, what="delivery once Dovecot is up")
        wait_until(lambda: not srv.spool_files(), what="empty spool")
    finally:
        d.stop()


def test_a_bounce_that_fails_is_never_bounced(postern_path, tmp_path, request, default_users_data_dir, dovecot):
    """Mail from outside to a user Dovecot refuses: the DSN goes to the remote sender by MX; the remote refuses
    it too (5xx) and that is the end: a message from <> is never bounced."""
    import shutil
    from conftest import _attach
    from queue_support import Dnsmasq, ScriptedSMTP
    dns = Dnsmasq(tmp_path / "dns").mx("remote.example", "mx.remote.example").a("mx.remote.example").start()
    remote = ScriptedSMTP(lambda stage, arg, n: "550 5.1.1 no such sender here" if stage == "rcpt" else None)
    srv = QueuePostern(postern_path, tmp_path / "b", sections={
        "delivery": {"local": "lmtp", "smtp_port": remote.port}, "lmtp": {"address": f"unix:{dovecot.socket_path}"},
        "dns": {"resolver": dns.address}, "queue": {"retry_schedule": ["1s"]}})
    _attach(request, srv)
    shutil.copytree(default_users_data_dir, srv.data_dir)
    try:
        srv.start()
        send_mx(srv, "someone@remote.example", ["alice@test.example"], MESSAGE)
        wait_until(lambda: "no bounce for a message from <>" in srv.stderr(), what="the double bounce dropped")
        wait_until(lambda: not srv.spool_files(), what="empty spool")
        assert remote.connections >= 1 and remote.messages == []
        assert "bounced id=" in srv.stderr()
        assert srv.stderr().count("bounced id=") == 1
    finally:
        srv.stop()
        remote.stop()
        dns.stop()
