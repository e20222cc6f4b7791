"""TLS on the three listener modes: certificates (configured, or self-signed in <data_dir>/tls and reused),
the TLS 1.2 floor, server cipher preference, implicit TLS on the submissions port (RFC 8314), STARTTLS
(RFC 3207) replies and session reset, EHLO keywords before and after TLS, and the CVE-2011-0411 class of
injection: cleartext pipelined after STARTTLS is never executed after the upgrade.
"""
from __future__ import annotations

import os
import select
import socket
import ssl
import subprocess
import threading
import time
import warnings
from pathlib import Path

import pytest

from helpers import TlsSMTP, assert_reply, ehlo_keywords, plain_response, tls_client_context

MECHANISMS = ["PLAIN", "LOGIN", "SCRAM-SHA-256"]
OPENSSL_TIMEOUT = 10.0


def der_of(pem_path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem_path.read_text())


def cert_text(pem_path: Path) -> str:
    return subprocess.run(["openssl", "x509", "-in", str(pem_path), "-noout", "-subject", "-ext", "subjectAltName"],
                          capture_output=True, text=True, timeout=OPENSSL_TIMEOUT, check=True).stdout


def presented_certs(srv) -> dict[str, bytes]:
    """DER of the certificate each listener presents: submission and mx via STARTTLS, submissions implicit."""
    out = {}
    for name, conn in (("submission", srv.submission_tls(ehlo=None)), ("submissions", srv.submissions(ehlo=None)),
                       ("mx", srv.mx_tls(ehlo=None))):
        with conn:
            out[name] = conn.sock.getpeercert(binary_form=True)
    return out


# ---------------------------------------------------------------------------------------------
# Certificates

def test_self_signed_certificate_made_on_first_start_and_reused(subserver):
    cert, key = subserver.tls_dir / "cert.pem", subserver.tls_dir / "key.pem"
    assert cert.is_file() and key.is_file(), f"expected {cert} and {key} after the first start"
    assert key.stat().st_mode & 0o077 == 0, f"private key {key} is readable by group/others: {oct(key.stat().st_mode)}"
    assert "mx.test.example" in cert_text(cert), f"certificate is not for the hostname:\n{cert_text(cert)}"
    first_pem = cert.read_bytes()
    first_der = der_of(cert)
    assert presented_certs(subserver) == {"submission": first_der, "submissions": first_der, "mx": first_der}

    subserver.restart()
    assert cert.read_bytes() == first_pem, "the self-signed certificate was replaced on restart"
    assert presented_certs(subserver) == {"submission": first_der, "submissions": first_der, "mx": first_der}


def test_configured_certificate_and_key_are_used(make_submission_server, tmp_path):
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=configured.test.example"],
                   capture_output=True, timeout=OPENSSL_TIMEOUT, check=True)
    srv = make_submission_server(tls_cert=cert, tls_key=key)
    der = der_of(cert)
    assert presented_certs(srv) == {"submission": der, "submissions": der, "mx": der}
    # A client that trusts exactly this certificate verifies the chain.
    ctx = tls_client_context()
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=str(cert))
    with srv.submissions(context=ctx) as c:
        assert c.greeting.code == 220


# ---------------------------------------------------------------------------------------------
# Protocol floor and cipher preference

def _tls11_context(server_side: bool = False) -> ssl.SSLContext:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    if not server_side:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _control_tls11_server(cert: Path, key: Path) -> tuple[int, threading.Thread, list]:
    """A one-shot local TLS 1.1 server, to prove this client really can complete a TLS 1.1 handshake here."""
    ctx = _tls11_context(server_side=True)
    ctx.load_cert_chain(str(cert), str(key))
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.settimeout(5)
    result: list = []

    def run():
        try:
            conn, _ = lsock.accept()
            conn.settimeout(5)
            with ctx.wrap_socket(conn, server_side=True) as tls:
                result.append(tls.version())
        except Exception as e:  # reported by the caller
            result.append(e)
        finally:
            lsock.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return lsock.getsockname()[1], t, result


def test_tls_1_1_client_fails_the_handshake_tls_1_2_succeeds(subserver):
    cert, key = subserver.tls_dir / "cert.pem", subserver.tls_dir / "key.pem"
    port, thread, result = _control_tls11_server(cert, key)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with _tls11_context().wrap_socket(raw) as tls:
            assert tls.version() == "TLSv1.1"
    thread.join(5)
    assert result == ["TLSv1.1"], f"control TLS 1.1 server: {result}"

    # Same client, against postern: implicit TLS, and STARTTLS on submission and mx.
    with pytest.raises((ssl.SSLError, ConnectionError)):
        TlsSMTP.implicit_tls_connect(subserver.host, subserver.subs_port, context=_tls11_context())
    for port in (subserver.sub_port, subserver.port):
        with TlsSMTP(subserver.host, port) as c:
            c.ehlo()
            assert_reply(c.cmd("STARTTLS"), 220, "2.0.0")
            with pytest.raises((ssl.SSLError, ConnectionError)):
                c.starttls(_tls11_context())

    tls12 = tls_client_context(max_version=ssl.TLSVersion.TLSv1_2)
    with subserver.submissions(context=tls12) as c:
        assert c.tls_version == "TLSv1.2"
    with subserver.submission_tls(context=tls12) as c:
        assert c.tls_version == "TLSv1.2"


def _s_client(args: list[str], stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", "s_client", *args], input=stdin, capture_output=True,
                          timeout=OPENSSL_TIMEOUT)


def test_openssl_s_client_tls1_1_refused(subserver):
    seclevel0 = ["-cipher", "DEFAULT:@SECLEVEL=0"]
    implicit = _s_client(["-connect", f"127.0.0.1:{subserver.subs_port}", "-tls1_1", *seclevel0])
    out = implicit.stdout.decode(errors="replace") + implicit.stderr.decode(errors="replace")
    assert implicit.returncode != 0 and "Cipher is (NONE)" in out, out
    assert "no protocols available" not in out, f"the client did not even try TLS 1.1:\n{out}"

    starttls = _s_client(["-starttls", "smtp", "-connect", f"127.0.0.1:{subserver.sub_port}", "-tls1_1", *seclevel0])
    out = starttls.stdout.decode(errors="replace") + starttls.stderr.decode(errors="replace")
    assert starttls.returncode != 0 and "Cipher is (NONE)" in out, out

    ok = _s_client(["-connect", f"127.0.0.1:{subserver.subs_port}", "-tls1_2"])
    out = ok.stdout.decode(errors="replace")
    assert ok.returncode == 0 and "Protocol  : TLSv1.2" in out, out + ok.stderr.decode(errors="replace")


def test_server_cipher_preference(subserver):
    suites = ["ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
              "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384",
              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"]
    chosen = set()
    for rotation in range(len(suites)):
        order = suites[rotation:] + suites[:rotation]
        ctx = tls_client_context(max_version=ssl.TLSVersion.TLSv1_2, ciphers=":".join(order))
        with subserver.submissions(context=ctx, ehlo=None) as c:
            chosen.add(c.tls_cipher)
        with subserver.submission_tls(context=ctx, ehlo=None) as c:
            chosen.add(c.tls_cipher)
    assert len(chosen) == 1, f"the chosen cipher follows the client's order, not the server's: {chosen}"


# ---------------------------------------------------------------------------------------------
# Implicit TLS (submissions)

def test_submissions_is_tls_from_the_first_byte(subserver):
    with TlsSMTP(subserver.host, subserver.subs_port, greeting=False) as c:
        assert c.nothing_pending(0.3) == b"", "submissions port sent cleartext before a TLS handshake"
        c.send(b"EHLO client.test.invalid\r\n")
        try:
            got = c.expect_closed(timeout=3)
        except TimeoutError:
            pytest.fail("submissions port kept a cleartext client open")
        assert not got[:1].isdigit() and b"250" not in got, f"cleartext SMTP answer on the submissions port: {got!r}"


def test_submissions_session_policy(subserver):
    with subserver.submissions(ehlo=None) as c:
        assert c.greeting.lines[0].startswith("mx.test.example "), c.greeting
        kw = ehlo_keywords(c.ehlo())
        assert "STARTTLS" not in kw, f"STARTTLS offered inside TLS: {c.ehlo_reply!s}"
        assert kw.get("AUTH") == MECHANISMS, f"AUTH line: {c.ehlo_reply!s}"
        assert_reply(c.cmd("STARTTLS"), 503, "5.5.1")
        assert_reply(c.cmd("MAIL FROM:<alice@test.example>"), 530, "5.7.0")
        assert_reply(c.cmd("AUTH PLAIN " + plain_response("alice", "alice-secret-1")), 235, "2.7.0")
        assert_reply(c.cmd("MAIL FROM:<alice@test.example>"), 250)
        assert_reply(c.cmd("QUIT"), 221, "2.0.0")


# ---------------------------------------------------------------------------------------------
# EHLO keywords before / after TLS

@pytest.mark.parametrize("listener", ["submission", "mx"])
def test_ehlo_offers_starttls_then_auth_only_after_tls(subserver, listener):
    port = subserver.sub_port if listener == "submission" else subserver.port
    with TlsSMTP(subserver.host, port) as c:
        kw = ehlo_keywords(c.ehlo())
        assert "STARTTLS" in kw, f"STARTTLS not offered in cleartext: {c.ehlo_reply!s}"
        assert "AUTH" not in kw, f"AUTH offered before TLS: {c.ehlo_reply!s}"
        assert_reply(c.cmd("STARTTLS"), 220, "2.0.0")
        c.starttls()
        kw = ehlo_keywords(c.ehlo())
        assert "STARTTLS" not in kw, f"STARTTLS offered again after TLS: {c.ehlo_reply!s}"
        assert kw.get("AUTH") == MECHANISMS, f"AUTH after TLS: {c.ehlo_reply!s}"


def test_submission_mail_before_auth_is_530(subserver):
    with subserver.submission() as c:
        c.ehlo()
        assert_reply(c.cmd("MAIL FROM:<alice@test.example>"), 530, "5.7.0")
    with subserver.submission_tls() as c:
        assert_reply(c.cmd("MAIL FROM:<alice@test.example>"), 530, "5.7.0")
        assert_reply(c.cmd("MAIL FROM:<>"), 530, "5.7.0")


# ---------------------------------------------------------------------------------------------
# STARTTLS replies and reset (RFC 3207)

def test_starttls_reply_and_session_reset(subserver):
    with subserver.mx() as c:
        c.ehlo()
        r = c.cmd("STARTTLS")
        assert_reply(r, 220, "2.0.0")
        c.starttls()
        # RFC 3207 4.2: everything learnt before TLS is forgotten; EHLO first.
        assert_reply(c.cmd("MAIL FROM:<someone@remote.example>"), 503, "5.5.1")
        c.ehlo()
        assert_reply(c.cmd("MAIL FROM:<someone@remote.example>"), 250)
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250)
        assert_reply(c.cmd("QUIT"), 221, "2.0.0")


@pytest.mark.parametrize("listener", ["submission", "mx"])
def test_starttls_twice_is_503(subserver, listener):
    port = subserver.sub_port if listener == "submission" else subserver.port
    with TlsSMTP.starttls_connect(subserver.host, port) as c:
        assert_reply(c.cmd("STARTTLS"), 503, "5.5.1")
        assert_reply(c.cmd("NOOP"), 250)
    with TlsSMTP.starttls_connect(subserver.host, port, ehlo=None) as c:
        assert_reply(c.cmd("STARTTLS"), 503, "5.5.1")


@pytest.mark.parametrize("listener", ["submission", "mx"])
def test_starttls_with_arguments_is_501(subserver, listener):
    port = subserver.sub_port if listener == "submission" else subserver.port
    with TlsSMTP(subserver.host, port) as c:
        c.ehlo()
        r = c.cmd("STARTTLS now")
        assert r.code == 501, f"expected 501, got {r!s}"
        # Still cleartext and still usable: a plain STARTTLS now works.
        assert_reply(c.cmd("STARTTLS"), 220, "2.0.0")
        c.starttls()
        c.ehlo()


# ---------------------------------------------------------------------------------------------
# CVE-2011-0411: cleartext pipelined after STARTTLS must be discarded

@pytest.mark.parametrize("listener", ["mx", "submission"])
@pytest.mark.parametrize("injected", [b"MAIL FROM:<x@y>\r\n",
                                      b"EHLO evil.example\r\nMAIL FROM:<spoof@evil.example>\r\n",
                                      b"RSET\r\nMAIL FROM:<spoof@evil.example>\r\nRCPT TO:<alice@test.example>\r\n"])
def test_plaintext_pipelined_after_starttls_is_discarded(subserver, listener, injected):
    port = subserver.sub_port if listener == "submission" else subserver.port
    with TlsSMTP(subserver.host, port) as c:
        c.ehlo()
        c.send(b"STARTTLS\r\n" + injected)  # one write
        assert_reply(c.reply(), 220, "2.0.0")
        time.sleep(0.1)  # give a vulnerable server time to answer the injected lines in cleartext
        c.starttls()     # fails if anything was sent in cleartext after the 220
        assert c.nothing_pending(0.3) == b"", "stray reply right after the TLS handshake"
        c.ehlo()         # a 250 to EHLO; a stray reply here would be the injected MAIL's
        r = c.cmd("RCPT TO:<alice@test.example>")
        if listener == "mx":
            assert_reply(r, 503, "5.5.1")  # no MAIL was executed
        else:
            assert r.code in (503, 530), f"RCPT without MAIL: {r!s}"
        assert_reply(c.cmd("NOOP"), 250)
        assert c.nothing_pending(0.2) == b"", "stray reply after the session"
    delivered = subserver.all_delivered()
    assert delivered == {}, f"something was delivered: {delivered}"


class InjectingProxy:
    """Forwards one TCP connection to (host, port). The client's first line `STARTTLS\\r\\n` is sent upstream in
    one write together with `inject`, as an attacker in the path would (CVE-2011-0411)."""

    def __init__(self, host: str, port: int, inject: bytes):
        self.target = (host, port)
        self.inject = inject
        self.injected = False
        self.error: BaseException | None = None
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1)
        self.lsock.settimeout(OPENSSL_TIMEOUT)
        self.port = self.lsock.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            client, _ = self.lsock.accept()
            upstream = socket.create_connection(self.target, timeout=OPENSSL_TIMEOUT)
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pending = b""
            deadline = time.monotonic() + OPENSSL_TIMEOUT
            with client, upstream:
                while time.monotonic() < deadline:
                    ready, _, _ = select.select([client, upstream], [], [], 0.2)
                    for s in ready:
                        data = s.recv(65536)
                        if not data:
                            return
                        if s is upstream:
                            client.sendall(data)
                        elif self.injected:
                            upstream.sendall(data)
                        else:
                            pending += data
                            marker = pending.find(b"STARTTLS\r\n")
                            if marker >= 0:
                                end = marker + len(b"STARTTLS\r\n")
                                upstream.sendall(pending[:end] + self.inject + pending[end:])
                                self.injected = True
                                pending = b""
                            elif b"\r\n" in pending:
                                cut = pending.rindex(b"\r\n") + 2
                                upstream.sendall(pending[:cut])
                                pending = pending[cut:]
        except BaseException as e:  # reported by the test
            self.error = e
        finally:
            self.lsock.close()


def test_openssl_s_client_with_injected_plaintext_after_starttls(subserver):
    proxy = InjectingProxy(subserver.host, subserver.port,
                           b"EHLO evil.example\r\nMAIL FROM:<spoof@evil.example>\r\n")
    proc = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{proxy.port}",
                           "-quiet", "-nocommands"],
                          input=b"NOOP\r\nRCPT TO:<alice@test.example>\r\nQUIT\r\n",
                          capture_output=True, timeout=OPENSSL_TIMEOUT)
    proxy.thread.join(OPENSSL_TIMEOUT)
    assert proxy.error is None, f"proxy failed: {proxy.error!r}"
    assert proxy.injected, "the proxy never saw STARTTLS"
    lines = proc.stdout.decode(errors="replace").splitlines()
    codes = [line[:3] for line in lines]
    assert codes == ["250", "503", "221"], (f"expected exactly the replies to NOOP, RCPT, QUIT; got:\n{lines}\n"
                                            f"stderr: {proc.stderr.decode(errors='replace')}")
    assert lines[1].startswith("503 5.5.1"), lines
    assert subserver.all_delivered() == {}


class OpenSSLClient:
    """`openssl s_client -starttls smtp -quiet` driven line by line (replies read from its stdout)."""

    def __init__(self, port: int, extra: list[str] | None = None):
        self.proc = subprocess.Popen(["openssl", "s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{port}",
                                      "-quiet", "-nocommands", *(extra or [])],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.buf = b""

    def cmd(self, line: str, timeout: float = 5.0) -> str:
        self.proc.stdin.write(line.encode() + b"\r\n")
        self.proc.stdin.flush()
        return self.reply(timeout)

    def reply(self, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        lines = []
        while True:
            while b"\n" not in self.buf:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no reply from s_client within {timeout}s; have {self.buf!r}"
                ready, _, _ = select.select([self.proc.stdout], [], [], remaining)
                if ready:
                    chunk = os.read(self.proc.stdout.fileno(), 65536)
                    assert chunk, f"s_client ended; have {self.buf!r}; stderr {self.proc.stderr.read()!r}"
                    self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            lines.append(line.rstrip(b"\r").decode(errors="replace"))
            if len(line) >= 4 and line[3:4] == b" ":
                return "\n".join(lines)

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def test_openssl_s_client_starttls_submission(subserver):
    client = OpenSSLClient(subserver.sub_port)
    try:
        assert client.cmd("MAIL FROM:<alice@test.example>").startswith("503 5.5.1")
        ehlo = client.cmd("EHLO client.test.invalid")
        assert ehlo.startswith("250-mx.test.example"), ehlo
        assert "250-STARTTLS" not in ehlo and "250 STARTTLS" not in ehlo, ehlo
        assert "AUTH PLAIN LOGIN SCRAM-SHA-256" in ehlo, ehlo
        assert client.cmd("MAIL FROM:<alice@test.example>").startswith("530 5.7.0")
        assert client.cmd("AUTH PLAIN " + plain_response("alice", "alice-secret-1")).startswith("235 2.7.0")
        assert client.cmd("MAIL FROM:<alice@test.example>").startswith("250")
        assert client.cmd("QUIT").startswith("221 2.0.0")
    finally:
        client.close()
