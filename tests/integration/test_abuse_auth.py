"""Authentication abuse: the per-IP ban after auth_failures_per_ip failed AUTHs (535 5.7.8, then 421 4.7.0 and
close; refused at the greeting while banned; `postern ban list` / `ban remove`), no password checked while
banned, failure history not wiped by a success, the per-account lockout (454 4.7.0 even with the right
password; other accounts unaffected), and allow_networks winning over both.

AUTH runs on submission after STARTTLS (and on mx after STARTTLS / submissions with implicit TLS);
failure_delay is "0s".
"""
from __future__ import annotations

import signal
import time

import pytest

from abuse_support import ALICE, BOB, Client, expect_refused_greeting, make_abuse_server  # noqa: F401
from helpers import assert_reply

WRONG = "not-the-password"


def ban_server(make_abuse_server, n: int, **extra_limits):
    limits = {"auth_failures_per_ip": n, "auth_failure_window": "1h", "auth_ban_time": "10m"}
    limits.update(extra_limits)
    return make_abuse_server(limits=limits)


def fail_until_banned(c: Client, n: int, user: str = "alice") -> None:
    """n wrong passwords: n-1 plain 535s, then 535 5.7.8 followed by 421 4.7.0 and close."""
    for _ in range(n - 1):
        assert_reply(c.auth_plain(user, WRONG), 535, "5.7.8")
    assert_reply(c.auth_plain(user, WRONG), 535, "5.7.8")
    assert_reply(c.reply(), 421, "4.7.0")
    assert c.closed_after(), "connection not closed after the ban"


@pytest.mark.parametrize("n", [1, 3])
def test_failures_end_with_535_then_421_and_ban(make_abuse_server, n):
    srv = ban_server(make_abuse_server, n)
    with srv.submission_tls() as c:
        fail_until_banned(c, n)
    # Refused at the greeting on every listener while banned.
    with srv.mx() as c:
        expect_refused_greeting(c, "4.7.0")
    with srv.submission() as c:
        expect_refused_greeting(c, "4.7.0")
    with srv.submissions(greeting=True) as c:
        expect_refused_greeting(c, "4.7.0")


def test_ban_list_and_remove(make_abuse_server):
    srv = ban_server(make_abuse_server, 2)
    with srv.submission_tls() as c:
        fail_until_banned(c, 2)
    out = srv.cli("ban", "list", check=True).stdout
    assert "127.0.0.1" in out, f"ban list does not show the banned address:\n{out}"
    with srv.submission() as c:
        expect_refused_greeting(c, "4.7.0")

    srv.cli("ban", "remove", "127.0.0.1", check=True)
    assert "127.0.0.1" not in srv.cli("ban", "list", check=True).stdout
    with srv.submission_tls() as c:
        assert_reply(c.greeting, 220)
        assert_reply(c.auth_plain(*ALICE), 235, "2.7.0")
    # Removing it again: nothing to remove is an error.
    assert srv.cli("ban", "remove", "127.0.0.1").returncode != 0


def test_ban_is_per_address(make_abuse_server):
    srv = ban_server(make_abuse_server, 2)
    with srv.submission_tls(source="127.0.0.2") as c:
        fail_until_banned(c, 2)
    with srv.submission(source="127.0.0.2") as c:
        expect_refused_greeting(c, "4.7.0")
    with srv.login(*ALICE, source="127.0.0.3") as c:
        assert_reply(c.cmd("MAIL FROM:<alice@test.example>"), 250)
    out = srv.cli("ban", "list", check=True).stdout
    assert "127.0.0.2" in out and "127.0.0.3" not in out, out
    srv.cli("ban", "remove", "ip:127.0.0.2", check=True)
    with srv.submission(source="127.0.0.2") as c:
        assert_reply(c.greeting, 220)


def test_failures_across_sessions_and_mechanisms(make_abuse_server):
    """Failures count per address, not per session: 2 on mx (after STARTTLS), 1 on submissions with LOGIN."""
    srv = ban_server(make_abuse_server, 4)
    with srv.mx() as c:
        c.ehlo_starttls()
        assert_reply(c.auth_plain("alice", WRONG), 535, "5.7.8")
        assert_reply(c.auth_plain("nosuchuser", WRONG), 535, "5.7.8")
    with srv.submissions() as c:
        assert_reply(c.greeting, 220)
        c.ehlo()
        assert_reply(c.auth_login("bob", WRONG), 535, "5.7.8")
    with srv.submission_tls() as c:
        assert_reply(c.auth_plain("bob", WRONG), 535, "5.7.8")
        assert_reply(c.reply(), 421, "4.7.0")
        assert c.closed_after()
    with srv.submission() as c:
        expect_refused_greeting(c, "4.7.0")


def test_correct_password_does_not_get_in_while_banned(make_abuse_server):
    """A session opened before the ban, already in TLS, tries the right password after it: no 235 (no password
    is checked for a banned address); a new connection with the right password is refused at the greeting."""
    srv = ban_server(make_abuse_server, 2)
    early = srv.submission_tls()
    try:
        with srv.submission_tls() as c:
            fail_until_banned(c, 2)
        r = early.auth_plain(*ALICE)
        assert r.code != 235, "a banned address got in with the right password"
        assert_reply(r, 421, "4.7.0")
        assert early.closed_after()
    finally:
        early.close()
    with srv.submission() as c:
        expect_refused_greeting(c, "4.7.0")
    with srv.submissions(greeting=True) as c:
        expect_refused_greeting(c, "4.7.0")


def test_success_does_not_wipe_failure_history(make_abuse_server):
    """auth_failures_per_ip = 3: fail twice, log in, fail once more -> banned."""
    srv = ban_server(make_abuse_server, 3)
    with srv.submission_tls() as c:
        assert_reply(c.auth_plain("alice", WRONG), 535, "5.7.8")
        assert_reply(c.auth_plain("alice", WRONG), 535, "5.7.8")
        assert_reply(c.auth_plain(*ALICE), 235, "2.7.0")
        assert_reply(c.cmd("QUIT"), 221)
    with srv.login(*BOB) as c:
        assert_reply(c.cmd("QUIT"), 221)
    with srv.submission_tls() as c:
        assert_reply(c.auth_plain("alice", WRONG), 535, "5.7.8")
        assert_reply(c.reply(), 421, "4.7.0")
        assert c.closed_after()
    with srv.submission() as c:
        expect_refused_greeting(c, "4.7.0")


def test_ban_expires(make_abuse_server):
    srv = ban_server(make_abuse_server, 1, auth_ban_time="1s")
    with srv.submission_tls() as c:
        fail_until_banned(c, 1)
    with srv.submission() as c:
        expect_refused_greeting(c, "4.7.0")
    time.sleep(1.3)
    with srv.login(*ALICE) as c:
        assert_reply(c.cmd("QUIT"), 221)


def test_failures_outside_the_window_are_forgotten(make_abuse_server):
    """auth_failure_window = "1s", auth_failures_per_ip = 2: a failure, 2.5 s of quiet, a failure: not banned;
    a third failure right after it: banned."""
    srv = make_abuse_server(limits={"auth_failures_per_ip": 2, "auth_failure_window": "1s",
                                    "auth_ban_time": "10m", "command_timeout": "10s", "idle_timeout": "10s"})
    with srv.submission_tls() as c:
        assert_reply(c.auth_plain("alice", WRONG), 535, "5.7.8")
        time.sleep(2.5)
        assert_reply(c.auth_plain("alice", WRONG), 535, "5.7.8")
        assert_reply(c.cmd("NOOP"), 250)
        assert_reply(c.auth_plain("alice", WRONG), 535, "5.7.8")
        assert_reply(c.reply(), 421, "4.7.0")
        assert c.closed_after()


def test_ban_survives_reload(make_abuse_server):
    srv = ban_server(make_abuse_server, 1)
    with srv.submission_tls() as c:
        fail_until_banned(c, 1)
    srv.cli("reload", check=True)
    srv.signal(signal.SIGHUP)
    time.sleep(0.3)
    with srv.submission() as c:
        expect_refused_greeting(c, "4.7.0")
    assert "127.0.0.1" in srv.cli("ban", "list", check=True).stdout


def test_allow_networks_are_never_banned(make_abuse_server):
    srv = make_abuse_server(limits={"auth_failures_per_ip": 2, "auth_failure_window": "1h",
                                    "allow_networks": ["127.0.0.1/32"]})
    with srv.submission_tls() as c:
        for _ in range(4):
            assert_reply(c.auth_plain("alice", WRONG), 535, "5.7.8")
        assert_reply(c.auth_plain(*ALICE), 235, "2.7.0")
    with srv.submission() as c:
        assert_reply(c.greeting, 220)
    assert "127.0.0.1" not in srv.cli("ban", "list", check=True).stdout


# ---------------------------------------------------------------------------------------------
# Per-account lockout

def lockout_server(make_abuse_server, k: int, **extra):
    limits = {"auth_failures_per_ip": 0, "auth_failures_per_account": k, "auth_failure_window": "1h",
              "account_lockout_time": "10m"}
    limits.update(extra)
    return make_abuse_server(limits=limits)


def test_account_lockout(make_abuse_server):
    """auth_failures_per_account = 3 (no per-IP ban): after 3 failures AUTH for alice gets 454 4.7.0 even with
    the right password, from any address and with PLAIN or LOGIN; bob is unaffected; the session survives."""
    srv = lockout_server(make_abuse_server, 3)
    with srv.submission_tls() as c:
        for _ in range(3):
            assert_reply(c.auth_plain("alice", WRONG), 535, "5.7.8")
        assert_reply(c.auth_plain(*ALICE), 454, "4.7.0")
        assert_reply(c.cmd("NOOP"), 250)
        assert_reply(c.auth_plain(*BOB), 235, "2.7.0")
    with srv.submission_tls(source="127.0.0.2") as c:
        assert_reply(c.auth_plain(*ALICE), 454, "4.7.0")
        assert_reply(c.auth_login(*ALICE), 454, "4.7.0")
        assert_reply(c.auth_plain("ALICE", ALICE[1]), 454, "4.7.0")
    with srv.submissions() as c:
        c.ehlo()
        assert_reply(c.auth_plain(*ALICE), 454, "4.7.0")
    with srv.login(*BOB) as c:
        assert_reply(c.cmd("MAIL FROM:<bob@test.example>"), 250)


def test_account_lockout_spread_over_addresses(make_abuse_server):
    srv = lockout_server(make_abuse_server, 2)
    with srv.submission_tls(source="127.0.0.2") as c:
        assert_reply(c.auth_plain("alice", WRONG), 535, "5.7.8")
    with srv.submission_tls(source="127.0.0.3") as c:
        assert_reply(c.auth_plain("alice", WRONG), 535, "5.7.8")
    with srv.submission_tls() as c:
        assert_reply(c.auth_plain(*ALICE), 454, "4.7.0")


def test_account_lockout_listed_and_lifted(make_abuse_server):
    srv = lockout_server(make_abuse_server, 2)
    with srv.submission_tls() as c:
        for _ in range(2):
            assert_reply(c.auth_plain("alice", WRONG), 535, "5.7.8")
        assert_reply(c.auth_plain(*ALICE), 454, "4.7.0")
    out = srv.cli("ban", "list", check=True).stdout
    assert "alice" in out, out
    srv.cli("ban", "remove", "account:alice", check=True)
    with srv.login(*ALICE) as c:
        assert_reply(c.cmd("QUIT"), 221)


def test_account_lockout_expires(make_abuse_server):
    srv = lockout_server(make_abuse_server, 1, account_lockout_time="1s")
    with srv.submission_tls() as c:
        assert_reply(c.auth_plain("alice", WRONG), 535, "5.7.8")
        assert_reply(c.auth_plain(*ALICE), 454, "4.7.0")
        time.sleep(1.3)
        assert_reply(c.auth_plain(*ALICE), 235, "2.7.0")


def test_allow_networks_win_over_account_lockout(make_abuse_server):
    """DESIGN.md: "an allow-list wins over every ban". An account locked by guesses from elsewhere can still be
    used from an allow-listed network, and failures from there do not lock it."""
    srv = lockout_server(make_abuse_server, 2, allow_networks=["127.0.0.1/32"])
    with srv.submission_tls(source="127.0.0.2") as c:
        for _ in range(2):
            assert_reply(c.auth_plain("alice", WRONG), 535, "5.7.8")
        assert_reply(c.auth_plain(*ALICE), 454, "4.7.0")
    with srv.submission_tls(source="127.0.0.1") as c:
        assert_reply(c.auth_plain(*ALICE), 235, "2.7.0")
    with srv.submission_tls(source="127.0.0.1") as c:
        for _ in range(3):
            assert_reply(c.auth_plain("bob", WRONG), 535, "5.7.8")
    with srv.login(*BOB, source="127.0.0.3") as c:
        assert_reply(c.cmd("QUIT"), 221)
