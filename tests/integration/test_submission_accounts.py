"""Account changes made with the CLI while the server runs take effect at the next AUTH, without a restart:
`user passwd`, `user del`, `app-password add|list|revoke`, `user require-app-password`. Every refusal is the
same 535 5.7.8 the client sees for any bad credentials.
"""
from __future__ import annotations

import pytest

from helpers import ScramClient, assert_reply, b64, b64d, challenge_of, plain_response


def plain(srv, user, password, port_kind="submission"):
    conn = srv.submission_tls() if port_kind == "submission" else srv.submissions()
    with conn as c:
        return c.cmd("AUTH PLAIN " + plain_response(user, password))


def login(srv, user, password):
    with srv.submissions() as c:
        r = c.cmd("AUTH LOGIN")
        assert r.code == 334, r
        r = c.cmd(b64(user))
        assert r.code == 334, r
        return c.cmd(b64(password))


def scram(srv, user, password):
    with srv.submission_tls() as c:
        client = ScramClient(user, password)
        r = c.cmd("AUTH SCRAM-SHA-256 " + b64(client.client_first()))
        if r.code != 334:
            return r
        r = c.cmd(b64(client.client_final(b64d(challenge_of(r)).decode())))
        if r.code == 334:
            client.verify_server_final(b64d(challenge_of(r)).decode())
            r = c.cmd("")
        return r


def test_passwd_takes_effect_at_next_auth(subserver):
    assert_reply(plain(subserver, "alice", "alice-secret-1"), 235, "2.7.0")
    subserver.cli("user", "passwd", "alice", input="a-brand-new-password\n", check=True)
    for check in (plain, login, scram):
        assert_reply(check(subserver, "alice", "alice-secret-1"), 535, "5.7.8")
        assert_reply(check(subserver, "alice", "a-brand-new-password"), 235, "2.7.0")


def test_user_added_while_running_can_log_in(subserver):
    assert_reply(plain(subserver, "carol", "carol-pass-4"), 535, "5.7.8")
    subserver.add_user("carol", "carol-pass-4")
    assert_reply(plain(subserver, "carol", "carol-pass-4"), 235, "2.7.0")
    assert_reply(scram(subserver, "carol", "carol-pass-4"), 235, "2.7.0")


def test_deleted_user_gets_535(subserver):
    assert_reply(plain(subserver, "bob", "bob-secret-2"), 235, "2.7.0")
    subserver.del_user("bob")
    r = plain(subserver, "bob", "bob-secret-2")
    assert_reply(r, 535, "5.7.8")
    assert r.raw == plain(subserver, "nosuchuser", "x").raw
    assert_reply(scram(subserver, "bob", "bob-secret-2"), 535, "5.7.8")


def test_app_password_add_list_revoke(subserver):
    pw = subserver.app_password_add("alice", "phone")
    assert pw != "alice-secret-1" and len(pw) >= 12, f"weak or odd app password {pw!r}"
    assert_reply(plain(subserver, "alice", pw), 235, "2.7.0")
    assert_reply(plain(subserver, "alice", pw, "submissions"), 235, "2.7.0")
    assert_reply(login(subserver, "alice", pw), 235, "2.7.0")
    # The main password still works (require-app-password is off by default).
    assert_reply(plain(subserver, "alice", "alice-secret-1"), 235, "2.7.0")
    # An app password is alice's only.
    assert_reply(plain(subserver, "bob", pw), 535, "5.7.8")

    laptop = subserver.app_password_add("alice", "laptop")
    assert laptop != pw
    listing = subserver.cli("app-password", "list", "alice", check=True).stdout
    lines = {line.split()[0]: line for line in listing.splitlines() if line.strip()}
    assert set(lines) == {"phone", "laptop"}, listing
    assert pw not in listing and laptop not in listing, "app-password list shows the secret"
    assert "active" in lines["phone"], listing

    subserver.cli("app-password", "revoke", "alice", "phone", check=True)
    r = plain(subserver, "alice", pw)
    assert_reply(r, 535, "5.7.8")
    assert r.raw == plain(subserver, "alice", "wrong").raw
    assert_reply(login(subserver, "alice", pw), 535, "5.7.8")
    # The other app password and the main password are untouched.
    assert_reply(plain(subserver, "alice", laptop), 235, "2.7.0")
    assert_reply(plain(subserver, "alice", "alice-secret-1"), 235, "2.7.0")
    listing = subserver.cli("app-password", "list", "alice", check=True).stdout
    phone = [line for line in listing.splitlines() if line.startswith("phone")]
    assert phone and "revoked" in phone[0], listing


def test_require_app_password(subserver):
    pw = subserver.app_password_add("alice", "mailer")
    subserver.cli("user", "require-app-password", "alice", "on", check=True)
    assert_reply(plain(subserver, "alice", "alice-secret-1"), 535, "5.7.8")
    assert_reply(login(subserver, "alice", "alice-secret-1"), 535, "5.7.8")
    assert_reply(scram(subserver, "alice", "alice-secret-1"), 535, "5.7.8")
    assert_reply(plain(subserver, "alice", pw), 235, "2.7.0")
    assert_reply(login(subserver, "alice", pw), 235, "2.7.0")
    # Other users are not affected.
    assert_reply(plain(subserver, "bob", "bob-secret-2"), 235, "2.7.0")
    subserver.cli("user", "require-app-password", "alice", "off", check=True)
    assert_reply(plain(subserver, "alice", "alice-secret-1"), 235, "2.7.0")
    assert_reply(plain(subserver, "alice", pw), 235, "2.7.0")


def test_app_password_sends_as_the_user(subserver):
    pw = subserver.app_password_add("bob", "scanner")
    with subserver.submission_tls() as c:
        assert_reply(c.cmd("AUTH PLAIN " + plain_response("bob", pw)), 235, "2.7.0")
        assert_reply(c.cmd("MAIL FROM:<alice@test.example>"), 553, "5.7.1")
        assert_reply(c.cmd("MAIL FROM:<bob@test.example>"), 250)
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250)
        assert_reply(c.cmd("DATA"), 354)
        assert_reply(c.cmd(b"Subject: scan\r\n\r\nscanned\r\n."), 250)
    files = subserver.wait_for_maildir("alice", 1)
    assert b"(authenticated user bob)" in files[0].read_bytes().replace(b"\r\n\t", b" ").replace(b"\r\n ", b" ")


@pytest.mark.parametrize("args", [("app-password", "add", "nosuchuser", "x"),
                                  ("app-password", "revoke", "alice", "never-made")])
def test_app_password_cli_errors(subserver, args):
    r = subserver.cli(*args)
    assert r.returncode != 0, f"{args} succeeded: {r.stdout} {r.stderr}"
    assert r.stdout.strip() == "", f"{args} printed on stdout: {r.stdout!r}"
