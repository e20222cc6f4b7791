"""AUTH (RFC 4954) as a raw client sees it: PLAIN, LOGIN and SCRAM-SHA-256 (RFC 5802 / 7677), initial
responses on the AUTH line or after a "334 " challenge, "=" for an empty initial response, and every
reply code: 235 2.7.0, 535 5.7.8 (the same for an unknown user), 504 5.5.4, 501 5.5.2, 501 5.0.0,
503 5.5.1, 500 5.5.6, 538 5.7.11; the failure delay, without blocking other sessions.
"""
from __future__ import annotations

import threading
import time

import pytest

from helpers import (ScramClient, TlsSMTP, assert_reply, b64, b64d, challenge_of, plain_response)

ALICE = ("alice", "alice-secret-1")


def auth_plain(c, user, password, authzid=""):
    return c.cmd("AUTH PLAIN " + plain_response(user, password, authzid))


def auth_login(c, user, password):
    r = c.cmd("AUTH LOGIN")
    if r.code != 334:
        return r
    r = c.cmd(b64(user))
    if r.code != 334:
        return r
    return c.cmd(b64(password))


def auth_scram(c, user, password, *, initial: bool = True):
    """Runs a SCRAM-SHA-256 exchange; returns (final reply, ScramClient, list of all replies)."""
    scram = ScramClient(user, password)
    replies = []
    if initial:
        r = c.cmd("AUTH SCRAM-SHA-256 " + b64(scram.client_first()))
    else:
        r = c.cmd("AUTH SCRAM-SHA-256")
        replies.append(r)
        assert challenge_of(r) == "", f"expected an empty '334 ' challenge, got {r!s}"
        r = c.cmd(b64(scram.client_first()))
    replies.append(r)
    if r.code != 334:
        return r, scram, replies
    r = c.cmd(b64(scram.client_final(b64d(challenge_of(r)).decode())))
    replies.append(r)
    if r.code == 334:
        scram.verify_server_final(b64d(challenge_of(r)).decode())
        r = c.cmd("")
        replies.append(r)
    return r, scram, replies


def assert_authenticated(c):
    """After 235, MAIL as the user is accepted."""
    assert_reply(c.cmd("MAIL FROM:<alice@test.example>"), 250)
    assert_reply(c.cmd("RSET"), 250)


# ---------------------------------------------------------------------------------------------
# Successful exchanges

def test_plain_initial_response(subserver):
    with subserver.submission_tls() as c:
        assert_reply(auth_plain(c, *ALICE), 235, "2.7.0")
        assert_authenticated(c)


def test_plain_after_empty_challenge(subserver):
    with subserver.submission_tls() as c:
        r = c.cmd("AUTH PLAIN")
        assert r.raw == b"334 \r\n", f"expected '334 ' (empty challenge), got {r.raw!r}"
        assert_reply(c.cmd(plain_response(*ALICE)), 235, "2.7.0")
        assert_authenticated(c)


def test_plain_mechanism_name_is_case_insensitive(subserver):
    with subserver.submission_tls() as c:
        assert_reply(c.cmd("auth plain " + plain_response(*ALICE)), 235, "2.7.0")


def test_plain_with_authzid_equal_to_user(subserver):
    with subserver.submission_tls() as c:
        assert_reply(auth_plain(c, *ALICE, authzid="alice"), 235, "2.7.0")


def test_plain_with_other_authzid_is_535(subserver):
    with subserver.submission_tls() as c:
        assert_reply(auth_plain(c, *ALICE, authzid="bob"), 535, "5.7.8")
        assert_reply(c.cmd("MAIL FROM:<alice@test.example>"), 530, "5.7.0")
        assert_reply(auth_plain(c, *ALICE), 235, "2.7.0")


def test_login(subserver):
    with subserver.submission_tls() as c:
        r = c.cmd("AUTH LOGIN")
        assert r.code == 334, r
        r = c.cmd(b64("alice"))
        assert r.code == 334, r
        assert_reply(c.cmd(b64("alice-secret-1")), 235, "2.7.0")
        assert_authenticated(c)


def test_login_with_initial_response(subserver):
    with subserver.submission_tls() as c:
        r = c.cmd("AUTH LOGIN " + b64("alice"))
        assert r.code == 334, r
        assert_reply(c.cmd(b64("alice-secret-1")), 235, "2.7.0")
        assert_authenticated(c)


@pytest.mark.parametrize("initial", [True, False], ids=["initial-response", "after-334"])
def test_scram_sha_256(subserver, initial):
    with subserver.submissions() as c:
        final, scram, replies = auth_scram(c, *ALICE, initial=initial)
        assert_reply(final, 235, "2.7.0")
        assert scram.server_signature is not None
        assert_authenticated(c)


def test_scram_on_submission_after_starttls(subserver):
    with subserver.submission_tls() as c:
        final, _, _ = auth_scram(c, "bob", "bob-secret-2")
        assert_reply(final, 235, "2.7.0")
        assert_reply(c.cmd("MAIL FROM:<bob@other.example>"), 250)


# ---------------------------------------------------------------------------------------------
# Failures: the same 535 for a wrong password and an unknown user

def test_bad_password_and_unknown_user_get_the_same_535(subserver):
    raws = []
    with subserver.submission_tls() as c:
        for user, password in (("alice", "wrong"), ("nosuchuser", "wrong"), ("alice", "")):
            r = auth_plain(c, user, password)
            assert_reply(r, 535, "5.7.8")
            raws.append(r.raw)
        for user, password in (("alice", "wrong"), ("nosuchuser", "wrong")):
            r = auth_login(c, user, password)
            assert_reply(r, 535, "5.7.8")
            raws.append(r.raw)
        assert len(set(raws)) == 1, f"different replies for a bad password and an unknown user: {raws}"
        # still usable afterwards
        assert_reply(auth_plain(c, *ALICE), 235, "2.7.0")


def test_scram_bad_password_and_unknown_user(subserver):
    with subserver.submission_tls() as c:
        final, _, replies_bad = auth_scram(c, "alice", "wrong")
        assert_reply(final, 535, "5.7.8")
        final2, _, replies_unknown = auth_scram(c, "nosuchuser", "wrong")
        assert_reply(final2, 535, "5.7.8")
        assert final.raw == final2.raw
        # An unknown user is not revealed early: the server-first message comes as for a real user.
        assert [r.code for r in replies_unknown] == [r.code for r in replies_bad] == [334, 535], \
            f"known user: {[str(r) for r in replies_bad]}, unknown: {[str(r) for r in replies_unknown]}"
        final3, _, _ = auth_scram(c, *ALICE)
        assert_reply(final3, 235, "2.7.0")


def test_empty_initial_response_equals_sign(subserver):
    # RFC 4954 4: "=" is an initial response of zero length (not bad base64, not a missing response).
    # An empty PLAIN message carries no credentials, so it is refused as bad credentials.
    with subserver.submission_tls() as c:
        assert_reply(c.cmd("AUTH PLAIN ="), 535, "5.7.8")
        assert_reply(auth_plain(c, *ALICE), 235, "2.7.0")


# ---------------------------------------------------------------------------------------------
# Protocol errors

@pytest.mark.parametrize("mechanism", ["CRAM-MD5", "DIGEST-MD5", "XOAUTH2", "SCRAM-SHA-1", "ANONYMOUS"])
def test_unknown_mechanism_is_504(subserver, mechanism):
    with subserver.submission_tls() as c:
        assert_reply(c.cmd(f"AUTH {mechanism}"), 504, "5.5.4")
        assert_reply(auth_plain(c, *ALICE), 235, "2.7.0")


def test_bad_base64_is_501_5_5_2(subserver):
    with subserver.submission_tls() as c:
        assert_reply(c.cmd("AUTH PLAIN not*base64!"), 501, "5.5.2")
        r = c.cmd("AUTH LOGIN")
        assert r.code == 334, r
        assert_reply(c.cmd("@@@@"), 501, "5.5.2")
        r = c.cmd("AUTH PLAIN")
        assert r.code == 334, r
        assert_reply(c.cmd("AAA"), 501, "5.5.2")  # truncated base64
        assert_reply(auth_plain(c, *ALICE), 235, "2.7.0")


def test_client_cancel_is_501_5_0_0(subserver):
    with subserver.submission_tls() as c:
        assert c.cmd("AUTH PLAIN").code == 334
        assert_reply(c.cmd("*"), 501, "5.0.0")
        assert c.cmd("AUTH LOGIN").code == 334
        assert c.cmd(b64("alice")).code == 334
        assert_reply(c.cmd("*"), 501, "5.0.0")
        scram = ScramClient(*ALICE)
        assert c.cmd("AUTH SCRAM-SHA-256 " + b64(scram.client_first())).code == 334
        assert_reply(c.cmd("*"), 501, "5.0.0")
        assert_reply(c.cmd("MAIL FROM:<alice@test.example>"), 530, "5.7.0")
        assert_reply(auth_plain(c, *ALICE), 235, "2.7.0")


def test_auth_when_already_authenticated_is_503(subserver):
    with subserver.submission_tls() as c:
        assert_reply(auth_plain(c, *ALICE), 235, "2.7.0")
        assert_reply(auth_plain(c, *ALICE), 503, "5.5.1")
        assert_reply(c.cmd("AUTH LOGIN"), 503, "5.5.1")
        assert_reply(c.cmd("MAIL FROM:<alice@test.example>"), 250)


def test_auth_inside_mail_transaction_is_503(subserver):
    with subserver.mx_tls() as c:
        assert_reply(c.cmd("MAIL FROM:<someone@remote.example>"), 250)
        assert_reply(auth_plain(c, *ALICE), 503, "5.5.1")
        assert_reply(c.cmd("RSET"), 250)
        assert_reply(auth_plain(c, *ALICE), 235, "2.7.0")


def test_exchange_line_over_12288_octets_is_500_5_5_6(subserver):
    with subserver.submission_tls() as c:
        # Within the limit (RFC 4954 4: AUTH lines up to 12288 octets, room for 8192 octets of initial
        # response): parsed, and refused only as bad credentials.
        long_ok = plain_response("alice", "x" * 8900)
        assert len("AUTH PLAIN " + long_ok) + 2 < 12288
        assert_reply(c.cmd("AUTH PLAIN " + long_ok), 535, "5.7.8")
        # Over the limit, on the AUTH line and on a continuation line.
        assert_reply(c.cmd("AUTH PLAIN " + "QUFB" * 3100), 500, "5.5.6")
        assert c.cmd("AUTH PLAIN").code == 334
        assert_reply(c.cmd("QUFB" * 3100), 500, "5.5.6")
        assert c.cmd("AUTH LOGIN").code == 334
        assert_reply(c.cmd("QUFB" * 5000), 500, "5.5.6")
        # The session goes on.
        assert_reply(auth_plain(c, *ALICE), 235, "2.7.0")


@pytest.mark.parametrize("listener", ["submission", "mx"])
def test_auth_in_cleartext_is_538(subserver, listener):
    port = subserver.sub_port if listener == "submission" else subserver.port
    with TlsSMTP(subserver.host, port) as c:
        c.ehlo()
        assert_reply(auth_plain(c, *ALICE), 538, "5.7.11")
        assert_reply(c.cmd("AUTH LOGIN"), 538, "5.7.11")
        assert_reply(c.cmd("AUTH SCRAM-SHA-256"), 538, "5.7.11")
        assert_reply(c.cmd("AUTH PLAIN"), 538, "5.7.11")
        # and the client can still upgrade and log in
        assert_reply(c.cmd("STARTTLS"), 220, "2.0.0")
        c.starttls()
        c.ehlo()
        assert_reply(auth_plain(c, *ALICE), 235, "2.7.0")


# ---------------------------------------------------------------------------------------------
# Failure delay

def test_failure_delay_does_not_block_other_sessions(make_submission_server):
    srv = make_submission_server(io_threads=1, auth={"failure_delay": "1s"})
    slow = srv.submission_tls()
    fast = srv.submission_tls()
    try:
        # A successful AUTH is not delayed.
        t0 = time.monotonic()
        assert_reply(auth_plain(fast, "bob", "bob-secret-2"), 235, "2.7.0")
        assert time.monotonic() - t0 < 0.8, "a successful AUTH was delayed"

        result = {}

        def fail_auth():
            start = time.monotonic()
            result["reply"] = auth_plain(slow, "alice", "wrong-password")
            result["elapsed"] = time.monotonic() - start

        worker = threading.Thread(target=fail_auth)
        worker.start()
        time.sleep(0.2)  # the failed AUTH is now waiting out its delay
        noop_times = []
        for _ in range(3):
            t0 = time.monotonic()
            assert_reply(fast.cmd("NOOP"), 250)
            noop_times.append(time.monotonic() - t0)
        with srv.submissions() as third:   # a new TLS session completes meanwhile too
            assert_reply(third.cmd("NOOP"), 250)
        during = "reply" not in result
        worker.join(5)
        assert during, "the NOOPs were only answered after the failed AUTH"
        assert max(noop_times) < 0.5, f"NOOP on another session took {noop_times}: the delay blocks the I/O thread"
        assert_reply(result["reply"], 535, "5.7.8")
        assert result["elapsed"] >= 0.9, f"535 came after {result['elapsed']:.3f}s, expected >= 1s failure_delay"
        assert result["elapsed"] < 3.0, f"535 came after {result['elapsed']:.3f}s"
        # Unknown user: delayed the same way.
        t0 = time.monotonic()
        assert_reply(auth_plain(slow, "nosuchuser", "wrong"), 535, "5.7.8")
        assert time.monotonic() - t0 >= 0.9
    finally:
        slow.close()
        fast.close()
