"""Server life cycle around abuse protection: graceful draining on SIGTERM (listeners closed, idle sessions
421 4.3.2, a transaction in DATA finishes with 250, exit status 0, the message on disk), drain_timeout
(421 4.3.2 for a transaction that does not finish), maintenance mode over the control socket (`postern
maintenance on --message ... | off | status`), and configuration reload by SIGHUP and by `postern reload`
(sessions kept, new sessions see the new limits).
"""
from __future__ import annotations

import signal
import time

import pytest

from abuse_support import Client, connect_refused, expect_refused_greeting, make_abuse_server  # noqa: F401
from helpers import assert_reply

MESSAGE_HEAD = b"Subject: drain\r\nFrom: <s@remote.example>\r\n\r\nfirst half of the message\r\n"
MESSAGE_TAIL = b"second half, sent after SIGTERM\r\n"


def start_data(srv) -> Client:
    c = srv.mx()
    c.ehlo()
    assert_reply(c.cmd("MAIL FROM:<s@remote.example>"), 250)
    assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250)
    assert_reply(c.cmd("DATA"), 354)
    c.send(MESSAGE_HEAD)
    return c


def wait_refused(srv, port: int, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not connect_refused(srv.host, port):
        assert time.monotonic() < deadline, f"port {port} still accepts connections after SIGTERM"
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# Draining

def test_sigterm_drains(make_abuse_server):
    srv = make_abuse_server(limits={"drain_timeout": "10s", "data_timeout": "10s", "command_timeout": "10s",
                                    "idle_timeout": "10s"})
    sender = start_data(srv)
    idle = srv.mx()
    idle.ehlo()
    in_mail = srv.submission()      # after EHLO only: not in a transaction either
    in_mail.ehlo()
    time.sleep(0.2)

    srv.signal(signal.SIGTERM)
    # Idle sessions: 421 4.3.2 and closed.
    for c in (idle, in_mail):
        assert_reply(c.reply(timeout=3), 421, "4.3.2")
        assert c.closed_after()
        c.close()
    # New connections: refused (listeners closed), on every port.
    for port in (srv.port, srv.sub_port, srv.subs_port):
        wait_refused(srv, port)
    assert srv.proc.poll() is None, "server exited while a transaction was in DATA"

    # The DATA client finishes and gets 250; then it is let go with 421 4.3.2.
    sender.send(MESSAGE_TAIL + b".\r\n")
    assert_reply(sender.reply(timeout=3), 250, "2.0.0")
    after = sender.reply(timeout=3)
    assert_reply(after, 421, "4.3.2")
    assert sender.closed_after()
    sender.close()

    assert srv.wait_exit(5) == 0
    files = srv.maildir_files("alice")
    if not files:                    # still in the spool: delivered after a restart
        assert srv.spool_files(), "message neither in the Maildir nor in the spool"
        srv.restart()
        files = srv.wait_for_maildir("alice", 1)
    assert len(files) == 1
    assert files[0].read_bytes().endswith(MESSAGE_HEAD + MESSAGE_TAIL)


def test_sigterm_with_no_sessions_exits_at_once(make_abuse_server):
    srv = make_abuse_server(limits={"drain_timeout": "10s"})
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    assert srv.wait_exit(5) == 0
    assert time.monotonic() - t0 < 2.0


def test_sigint_drains_too(make_abuse_server):
    srv = make_abuse_server()
    idle = srv.mx()
    srv.signal(signal.SIGINT)
    assert_reply(idle.reply(timeout=3), 421, "4.3.2")
    assert idle.closed_after()
    idle.close()
    assert srv.wait_exit(5) == 0


def test_drain_timeout(make_abuse_server):
    """drain_timeout = "1s": a transaction that does not finish gets 421 4.3.2 after about a second (long
    before data_timeout); nothing is delivered; the server exits 0."""
    srv = make_abuse_server(limits={"drain_timeout": "1s", "data_timeout": "20s", "command_timeout": "20s",
                                    "idle_timeout": "20s"})
    sender = start_data(srv)
    time.sleep(0.2)
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    r = sender.reply(timeout=5)
    elapsed = time.monotonic() - t0
    assert_reply(r, 421, "4.3.2")
    assert 0.7 <= elapsed <= 3.0, f"421 4.3.2 after {elapsed:.2f}s; drain_timeout is 1s"
    assert sender.closed_after()
    sender.close()
    assert srv.wait_exit(5) == 0
    assert srv.all_delivered() == {}


def test_drain_timeout_mail_transaction_without_data(make_abuse_server):
    """A session between MAIL and DATA is a transaction too: it may continue during the drain, and gets
    421 4.3.2 at drain_timeout if it stalls."""
    srv = make_abuse_server(limits={"drain_timeout": "1s", "command_timeout": "20s", "idle_timeout": "20s"})
    c = srv.mx()
    c.ehlo()
    assert_reply(c.cmd("MAIL FROM:<s@remote.example>"), 250)
    srv.signal(signal.SIGTERM)
    time.sleep(0.3)
    assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250)
    r = c.reply(timeout=5)
    assert_reply(r, 421, "4.3.2")
    assert c.closed_after()
    c.close()
    assert srv.wait_exit(5) == 0


# ---------------------------------------------------------------------------------------------
# Maintenance

def test_maintenance_on_status_off(make_abuse_server):
    srv = make_abuse_server()
    before = srv.mx()
    before.ehlo()

    srv.cli("maintenance", "on", "--message", "Back soon", check=True)
    status = srv.cli("maintenance", "status", check=True).stdout
    assert "maintenance on" in status, status
    assert "Back soon" in status, status

    for c in (srv.mx(), srv.submission(), srv.submissions(greeting=True)):
        with c:
            assert_reply(c.greeting, 421, "4.3.2", contains="Back soon")
            assert c.closed_after()

    # A reload does not end maintenance.
    srv.cli("reload", check=True)
    time.sleep(0.2)
    with srv.mx() as c:
        assert_reply(c.greeting, 421, "4.3.2", contains="Back soon")
    # The session already open carries on.
    assert_reply(before.send_message("s@remote.example", ["alice@test.example"]), 250, "2.0.0")
    assert_reply(before.cmd("QUIT"), 221)
    before.close()
    assert len(srv.wait_for_maildir("alice", 1)) == 1

    srv.cli("maintenance", "off", check=True)
    status = srv.cli("maintenance", "status", check=True).stdout
    assert "maintenance off" in status, status
    with srv.mx() as c:
        assert_reply(c.greeting, 220)
        assert_reply(c.cmd("QUIT"), 221)


def test_maintenance_default_message(make_abuse_server):
    srv = make_abuse_server()
    srv.cli("maintenance", "on", check=True)
    with srv.mx() as c:
        assert_reply(c.greeting, 421, "4.3.2")
        assert len(c.greeting.text.split()) > 2, f"421 without an explanation: {c.greeting}"
        assert c.closed_after()


def test_maintenance_wins_over_allow_networks(make_abuse_server):
    """Maintenance is the operator's switch: allow-listed clients get 421 4.3.2 as well."""
    srv = make_abuse_server(limits={"allow_networks": ["127.0.0.0/8"]})
    srv.cli("maintenance", "on", "--message", "Upgrading", check=True)
    with srv.mx() as c:
        assert_reply(c.greeting, 421, "4.3.2", contains="Upgrading")


def test_control_commands_without_server_fail(make_abuse_server):
    srv = make_abuse_server(start=False)
    for args in (("maintenance", "status"), ("ban", "list"), ("reload",)):
        p = srv.cli(*args)
        assert p.returncode != 0, f"{args} without a running server exited 0"
        assert p.stderr.strip(), f"{args} failed without a message"


# ---------------------------------------------------------------------------------------------
# Reload

def new_session_gets(srv, code: int, timeout: float = 3.0) -> None:
    """Polls until a new mx session's greeting has `code` (the reload is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        with srv.mx() as c:
            got = c.greeting.code
        if got == code:
            return
        assert time.monotonic() < deadline, f"new sessions still get {got}, expected {code} after reload"
        time.sleep(0.1)


@pytest.mark.parametrize("how", ["sighup", "cli"])
def test_reload_changes_limits_and_keeps_sessions(make_abuse_server, how):
    srv = make_abuse_server(limits={"max_connections_per_ip": 1})

    def reload():
        if how == "sighup":
            srv.signal(signal.SIGHUP)
        else:
            srv.cli("reload", check=True)

    first = srv.mx()
    assert_reply(first.greeting, 220)
    first.ehlo()
    assert_reply(first.cmd("MAIL FROM:<s@remote.example>"), 250)
    with srv.mx() as c:
        expect_refused_greeting(c, "4.7.0")

    srv.set_limits(max_connections_per_ip=5)
    reload()
    new_session_gets(srv, 220)
    # The session in progress was not dropped: its transaction completes.
    assert_reply(first.cmd("RCPT TO:<alice@test.example>"), 250)
    assert_reply(first.cmd("DATA"), 354)
    first.send(b"Subject: reload\r\n\r\nkept\r\n.\r\n")
    assert_reply(first.reply(), 250, "2.0.0")

    held = [srv.mx() for _ in range(3)]
    for c in held:
        assert_reply(c.greeting, 220)
    # Back down to 2 (4 open now): new sessions refused, open ones untouched.
    srv.set_limits(max_connections_per_ip=2)
    reload()
    new_session_gets(srv, 421)
    for c in held + [first]:
        assert_reply(c.cmd("NOOP"), 250)
    assert_reply(first.cmd("QUIT"), 221)
    first.close()
    for c in held:
        c.close()
    assert srv.proc.poll() is None
    assert len(srv.wait_for_maildir("alice", 1)) == 1


def test_reload_enables_greylisting(make_abuse_server):
    srv = make_abuse_server()
    with srv.mx() as c:
        c.ehlo()
        assert_reply(c.cmd("MAIL FROM:<s@remote.example>"), 250)
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250)
    srv.greylist = {"enabled": True, "delay": "1m"}
    srv.write_config()
    srv.signal(signal.SIGHUP)
    deadline = time.monotonic() + 3
    while True:
        with srv.mx() as c:
            c.ehlo()
            assert_reply(c.cmd("MAIL FROM:<new@remote.example>"), 250)
            r = c.cmd("RCPT TO:<alice@test.example>")
        if r.code == 451:
            assert_reply(r, 451, "4.7.1")
            break
        assert time.monotonic() < deadline, f"greylisting not enabled by SIGHUP: {r}"
        time.sleep(0.1)


def test_reload_with_broken_config_keeps_running(make_abuse_server):
    srv = make_abuse_server(limits={"max_connections_per_ip": 1})
    srv.config_path.write_text(srv.config_path.read_text() + "\n[limits2]\nbogus = 1\n")
    srv.cli("reload")   # the CLI may refuse the file itself; either way the server keeps running
    time.sleep(0.3)
    assert srv.proc.poll() is None, "a bad config on reload stopped the server"
    # The running configuration is kept.
    with srv.mx() as a:
        assert_reply(a.greeting, 220)
        with srv.mx() as b:
            expect_refused_greeting(b, "4.7.0")
    srv.signal(signal.SIGHUP)
    time.sleep(0.3)
    assert srv.proc.poll() is None
    with srv.mx() as a:
        assert_reply(a.greeting, 220)
