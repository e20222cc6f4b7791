"""Real clients against the submission (STARTTLS, 587 role) and submissions (implicit TLS, 465 role)
listeners: Python smtplib (PLAIN and LOGIN), swaks (--tls / --tlsc, --auth PLAIN / LOGIN), curl
(smtp:// with --ssl-reqd, smtps://) and gsasl as a real SCRAM-SHA-256 client. Messages are checked
byte for byte after the Received header.
"""
from __future__ import annotations

import smtplib
import subprocess

import pytest

from helpers import parse_delivered, tls_client_context, unfold

CLIENT_TIMEOUT = 15.0
# With Date: and Message-ID: present, submission adds nothing (RFC 6409 §8) and the bytes arrive unchanged.
MESSAGE = (b"From: Alice <alice@test.example>\r\n"
           b"To: Bob <bob@test.example>\r\n"
           b"Subject: real client\r\n"
           b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
           b"Message-ID: <real-client-1@test.example>\r\n"
           b"\r\n"
           b"First line.\r\n"
           b".A line starting with a dot.\r\n"
           b"Last line.\r\n")


def delivered(srv, user: str, n: int = 1):
    files = srv.wait_for_maildir(user, n)
    return parse_delivered(files[n - 1].read_bytes(), files[n - 1])


def check_delivered(srv, user: str, auth_user: str, n: int = 1, message: bytes = MESSAGE):
    d = delivered(srv, user, n)
    assert d.message == message, f"message changed in transit:\n{d.message!r}\nvs\n{message!r}"
    received = unfold(d.received)
    assert " with ESMTPSA " in received, received
    assert "(using TLSv1." in received, received
    assert f"(authenticated user {auth_user})" in received, received
    return d


# ---------------------------------------------------------------------------------------------
# Python smtplib

def smtplib_starttls(srv) -> smtplib.SMTP:
    # host given to the constructor: smtplib uses it as the TLS server_hostname
    s = smtplib.SMTP(srv.host, srv.sub_port, local_hostname="client.test.invalid", timeout=5)
    s.ehlo()
    assert s.has_extn("starttls") and not s.has_extn("auth"), s.esmtp_features
    s.starttls(context=tls_client_context())
    s.ehlo()
    assert s.esmtp_features.get("auth", "").split() == ["PLAIN", "LOGIN", "SCRAM-SHA-256"], s.esmtp_features
    return s


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
@pytest.mark.parametrize("initial_response", [True, False], ids=["initial-response", "no-initial-response"])
def test_smtplib_starttls_login_and_send(subserver, mechanism, initial_response):
    s = smtplib_starttls(subserver)
    try:
        s.user, s.password = "alice", "alice-secret-1"
        authobject = s.auth_plain if mechanism == "PLAIN" else s.auth_login
        code, resp = s.auth(mechanism, authobject, initial_response_ok=initial_response)
        assert (code, resp[:6]) == (235, b"2.7.0 "), (code, resp)
        refused = s.sendmail("alice@test.example", ["bob@test.example"], MESSAGE)
        assert refused == {}
        s.quit()
    finally:
        s.close()
    check_delivered(subserver, "bob", "alice")


def test_smtplib_login_default_and_failures(subserver):
    # Before STARTTLS the server offers no AUTH, so smtplib refuses to log in at all.
    s = smtplib.SMTP(subserver.host, subserver.sub_port, local_hostname="client.test.invalid", timeout=5)
    try:
        with pytest.raises(smtplib.SMTPNotSupportedError):
            s.login("alice", "alice-secret-1")
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            s.sendmail("alice@test.example", ["bob@test.example"], MESSAGE)
        assert e.value.smtp_code == 530 and e.value.smtp_error.startswith(b"5.7.0"), e.value
    finally:
        s.close()

    s = smtplib_starttls(subserver)
    try:
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login("alice", "wrong-password")
        assert e.value.smtp_code == 535 and e.value.smtp_error.startswith(b"5.7.8"), e.value
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            s.sendmail("alice@test.example", ["bob@test.example"], MESSAGE)
        assert e.value.smtp_code == 530, e.value
        code, _ = s.login("alice", "alice-secret-1")  # smtplib's own mechanism choice
        assert code == 235
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            s.sendmail("bob@test.example", ["bob@test.example"], MESSAGE)
        assert e.value.smtp_code == 553 and e.value.smtp_error.startswith(b"5.7.1"), e.value
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            s.sendmail("", ["bob@test.example"], MESSAGE)
        assert e.value.smtp_code == 553, e.value
        assert s.sendmail("alice@other.example", ["bob@test.example", "far@remote.example"], MESSAGE) == {}
        s.quit()
    finally:
        s.close()
    check_delivered(subserver, "bob", "alice")


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_smtplib_smtp_ssl_on_submissions(subserver, mechanism):
    s = smtplib.SMTP_SSL(subserver.host, subserver.subs_port, local_hostname="client.test.invalid", timeout=5,
                         context=tls_client_context())
    try:
        s.ehlo()
        assert not s.has_extn("starttls")
        assert s.esmtp_features.get("auth", "").split() == ["PLAIN", "LOGIN", "SCRAM-SHA-256"]
        s.user, s.password = "bob", "bob-secret-2"
        code, _ = s.auth(mechanism, s.auth_plain if mechanism == "PLAIN" else s.auth_login)
        assert code == 235
        assert s.sendmail("bob@test.example", ["alice@test.example"], MESSAGE) == {}
        s.quit()
    finally:
        s.close()
    check_delivered(subserver, "alice", "bob")


# ---------------------------------------------------------------------------------------------
# swaks

def swaks(srv, port: int, *args: str, data_file=None) -> subprocess.CompletedProcess:
    argv = ["swaks", "--server", srv.host, "--port", str(port), "--helo", "client.test.invalid",
            "--timeout", "10", *args]
    if data_file is not None:
        argv += ["--data", f"@{data_file}"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=CLIENT_TIMEOUT, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
@pytest.mark.parametrize("tls", ["--tls", "--tlsc"])
def test_swaks(subserver, tmp_path, mechanism, tls):
    msg = tmp_path / "msg.eml"
    msg.write_bytes(MESSAGE[:-2])  # swaks appends CRLF to data that does not end with a newline
    port = subserver.sub_port if tls == "--tls" else subserver.subs_port
    r = swaks(subserver, port, tls, "--auth", mechanism, "--auth-user", "alice", "--auth-password", "alice-secret-1",
              "--from", "alice@test.example", "--to", "bob@test.example", data_file=msg)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "<~  235 2.7.0" in r.stdout or "<~ 235 2.7.0" in r.stdout, r.stdout
    check_delivered(subserver, "bob", "alice")


def test_swaks_failures(subserver):
    # wrong password
    r = swaks(subserver, subserver.sub_port, "--tls", "--auth", "PLAIN", "--auth-user", "alice",
              "--auth-password", "nope", "--from", "alice@test.example", "--to", "bob@test.example")
    assert r.returncode != 0
    assert "535 5.7.8" in r.stdout, r.stdout
    # no AUTH: 530 at MAIL
    r = swaks(subserver, subserver.sub_port, "--tls", "--from", "alice@test.example", "--to", "bob@test.example")
    assert r.returncode != 0
    assert "530 5.7.0" in r.stdout, r.stdout
    # someone else's address
    r = swaks(subserver, subserver.subs_port, "--tlsc", "--auth", "LOGIN", "--auth-user", "alice",
              "--auth-password", "alice-secret-1", "--from", "bob@test.example", "--to", "bob@test.example")
    assert r.returncode != 0
    assert "553 5.7.1" in r.stdout, r.stdout
    # AUTH without TLS: swaks sees no AUTH offered
    r = swaks(subserver, subserver.sub_port, "--auth", "PLAIN", "--auth-user", "alice",
              "--auth-password", "alice-secret-1", "--from", "alice@test.example", "--to", "bob@test.example")
    assert r.returncode != 0, r.stdout
    assert subserver.all_delivered() == {}


# ---------------------------------------------------------------------------------------------
# curl

def curl(url: str, *args: str, upload=None) -> subprocess.CompletedProcess:
    argv = ["curl", "-sS", "-k", "--max-time", "10", *args, url]
    if upload is not None:
        argv += ["-T", str(upload)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=CLIENT_TIMEOUT, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("scheme", ["smtp", "smtps"])
@pytest.mark.parametrize("login_options", [None, "AUTH=PLAIN", "AUTH=LOGIN"])
def test_curl(subserver, tmp_path, scheme, login_options):
    msg = tmp_path / "msg.eml"
    msg.write_bytes(MESSAGE)
    port = subserver.sub_port if scheme == "smtp" else subserver.subs_port
    extra = ["--login-options", login_options] if login_options else []
    ssl_reqd = ["--ssl-reqd"] if scheme == "smtp" else []
    r = curl(f"{scheme}://{subserver.host}:{port}/client.test.invalid", *ssl_reqd, *extra,
             "--user", "alice:alice-secret-1", "--mail-from", "alice@test.example",
             "--mail-rcpt", "bob@test.example", upload=msg)
    assert r.returncode == 0, f"curl exit {r.returncode}: {r.stderr}"
    check_delivered(subserver, "bob", "alice")


def test_curl_failures(subserver, tmp_path):
    msg = tmp_path / "msg.eml"
    msg.write_bytes(MESSAGE)
    r = curl(f"smtp://{subserver.host}:{subserver.sub_port}/client.test.invalid", "--ssl-reqd",
             "--user", "alice:wrong", "--mail-from", "alice@test.example", "--mail-rcpt", "bob@test.example",
             upload=msg)
    assert r.returncode == 67, f"expected curl's 'login denied' (67), got {r.returncode}: {r.stderr}"
    r = curl(f"smtps://{subserver.host}:{subserver.subs_port}/client.test.invalid",
             "--user", "alice:alice-secret-1", "--mail-from", "bob@test.example", "--mail-rcpt", "bob@test.example",
             upload=msg)
    assert r.returncode != 0 and "553" in r.stderr, f"curl exit {r.returncode}: {r.stderr}"
    # Without authentication the submission port refuses MAIL.
    r = curl(f"smtp://{subserver.host}:{subserver.sub_port}/client.test.invalid", "--ssl-reqd",
             "--mail-from", "alice@test.example", "--mail-rcpt", "bob@test.example", upload=msg)
    assert r.returncode != 0 and "530" in r.stderr, f"curl exit {r.returncode}: {r.stderr}"
    assert subserver.all_delivered() == {}


# ---------------------------------------------------------------------------------------------
# gsasl: a real SCRAM-SHA-256 client (GNU SASL, GnuTLS)

def gsasl(port: int, user: str, password: str, *extra: str) -> subprocess.CompletedProcess:
    argv = ["gsasl", "--smtp", "--connect", f"127.0.0.1:{port}", "--mechanism", "SCRAM-SHA-256",
            "--authentication-id", user, "--password", password, "--starttls", "--no-cb", "--x509-ca-file=",
            "--verbose", *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=CLIENT_TIMEOUT, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("listener", ["submission", "mx"])
def test_gsasl_scram_sha_256(subserver, listener):
    port = subserver.sub_port if listener == "submission" else subserver.port
    r = gsasl(port, "alice", "alice-secret-1")
    assert r.returncode == 0, f"gsasl exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "AUTH SCRAM-SHA-256" in r.stdout and "235 2.7.0" in r.stdout, r.stdout


def test_gsasl_scram_wrong_password_and_unknown_user(subserver):
    for user, password in (("alice", "wrong-password"), ("nosuchuser", "whatever")):
        r = gsasl(subserver.sub_port, user, password)
        assert r.returncode != 0, f"gsasl logged in as {user} with a wrong password:\n{r.stdout}"
        assert "535 5.7.8" in r.stdout, f"{user}:\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    # and the server is still there for a good login
    r = gsasl(subserver.sub_port, "bob", "bob-secret-2")
    assert r.returncode == 0, r.stdout + r.stderr
