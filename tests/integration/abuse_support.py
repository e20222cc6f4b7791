"""Support for the abuse-protection tests (test_abuse_*.py).

`AbusePostern` is a `Postern` with three listeners (mx on `port`, submission on `sub_port`, submissions on
`subs_port`, a self-signed certificate made by the server), any [limits] and a [greylist] section, and
`failure_delay = "0s"`. Unless a test sets them, the abuse limits that would get in the way of other checks
(tarpit, auth-failure bans and lockouts, connection rate) are off; every test sets the ones it checks.

`Client` is `RawSMTP` that can bind a chosen loopback source address (127.0.0.x: several "client IPs" on one
host), switch to TLS (STARTTLS or implicit) and authenticate. The readiness probe of `start()` connects from
PROBE_SOURCE, so it never counts against the addresses the tests use, and `start()` returns only once the
server has no session left (checked over its control socket).

Only 127.0.0.0/8 literals are used; every wait is bounded.
"""
from __future__ import annotations

import base64
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (START_TIMEOUT, STOP_TIMEOUT, Postern, _attach, free_port, render_config, toml_value)
from helpers import IO_TIMEOUT, RawSMTP, Reply, assert_reply

PROBE_SOURCE = "127.0.0.250"
ALICE = ("alice", "alice-secret-1")
BOB = ("bob", "bob-secret-2")

# Off unless a test sets them (the server's defaults would otherwise tarpit, ban or rate-limit the tests).
NEUTRAL_LIMITS = {"error_delay": "0s", "auth_failures_per_ip": 0, "auth_failures_per_account": 0,
                  "connections_per_minute_per_ip": 0}


def tls_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def plain(user: str, password: str) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")


class Client(RawSMTP):
    """RawSMTP with an optional source address and TLS."""

    def __init__(self, host: str, port: int, *, source: str | None = None, timeout: float = IO_TIMEOUT,
                 greeting: bool = True, implicit_tls: bool = False):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if source is not None:
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.buf = b""
        self.timeout = timeout
        self.greeting = None
        if implicit_tls:
            self.starttls()
        if greeting:
            self.greeting = self.reply()

    def starttls(self) -> None:
        assert self.buf == b"", f"bytes after the last reply, before the TLS handshake: {self.buf!r}"
        self.sock.settimeout(self.timeout)
        self.sock = tls_context().wrap_socket(self.sock, server_hostname=None)

    def ehlo(self, name: str = "client.test.invalid") -> Reply:
        r = self.cmd(f"EHLO {name}")
        assert_reply(r, 250)
        return r

    def ehlo_starttls(self) -> "Client":
        """EHLO, STARTTLS (220 checked), handshake, EHLO again."""
        assert self.greeting is not None and self.greeting.code == 220, f"greeting: {self.greeting}"
        self.ehlo()
        assert_reply(self.cmd("STARTTLS"), 220, "2.0.0")
        self.starttls()
        self.ehlo()
        return self

    def auth_plain(self, user: str, password: str) -> Reply:
        return self.cmd("AUTH PLAIN " + plain(user, password))

    def auth_login(self, user: str, password: str) -> Reply:
        r = self.cmd("AUTH LOGIN")
        if r.code != 334:
            return r
        r = self.cmd(base64.b64encode(user.encode()).decode())
        if r.code != 334:
            return r
        return self.cmd(base64.b64encode(password.encode()).decode())

    def closed_after(self, timeout: float = 3.0) -> bool:
        """True when the server closes the connection within `timeout` without sending anything more."""
        return self.expect_closed(timeout=timeout) == b""

    def send_message(self, sender: str, rcpts: list[str], body: bytes = b"Subject: t\r\n\r\nhello\r\n") -> Reply:
        """MAIL, RCPT..., DATA, body, dot; every step must succeed; returns the final reply."""
        assert_reply(self.cmd(f"MAIL FROM:<{sender}>"), 250, "2.1.0")
        for r in rcpts:
            assert_reply(self.cmd(f"RCPT TO:<{r}>"), 250, "2.1.5")
        assert_reply(self.cmd("DATA"), 354)
        self.send(body + b".\r\n")
        return self.reply()


def expect_refused_greeting(c: Client, enhanced: str = "4.7.0", contains: str | None = None) -> None:
    """The greeting is a 421 with `enhanced` and the server closes the connection right after it."""
    assert c.greeting is not None
    assert_reply(c.greeting, 421, enhanced, contains)
    assert c.closed_after(), "server sent more after its 421 greeting"


def connect_refused(host: str, port: int) -> bool:
    """True when a TCP connect to host:port is refused (nothing listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(2.0)
        try:
            s.connect((host, port))
        except ConnectionRefusedError:
            return True
        return False


class AbusePostern(Postern):
    def __init__(self, binary: Path, workdir: Path, *, limits: dict | None = None, greylist: dict | None = None,
                 auth: dict | None = None, **kw):
        ports: set[int] = set()
        while len(ports) < 3:
            ports.add(free_port("127.0.0.1"))
        self._ports = sorted(ports)
        self.greylist = dict(greylist or {})
        merged_limits = dict(NEUTRAL_LIMITS)
        merged_limits.update(limits or {})
        merged_auth = {"failure_delay": "0s"}
        merged_auth.update(auth or {})
        super().__init__(binary, workdir, limits=merged_limits, auth=merged_auth, **kw)
        self.port, self.sub_port, self.subs_port = self._ports
        self.write_config()

    def _addr(self, port: int) -> str:
        return f"{self.host}:{port}"

    def write_config(self) -> None:
        if not hasattr(self, "sub_port"):
            return  # Postern.__init__ calls this before the ports are chosen
        self.workdir.mkdir(parents=True, exist_ok=True)
        listeners = [{"mode": "mx", "address": self._addr(self.port)},
                     {"mode": "submission", "address": self._addr(self.sub_port)},
                     {"mode": "submissions", "address": self._addr(self.subs_port)}]
        text = render_config(self.hostname, self.data_dir, self.local_domains, listeners, self.limits, self.auth)
        if self.greylist:
            text += "\n[greylist]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in self.greylist.items())
        self.config_path.write_text(text)

    # -- process
    def wait_listening(self) -> None:
        for port in (self.port, self.sub_port, self.subs_port):
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                if self.proc.poll() is not None:
                    raise AssertionError(f"postern serve exited with {self.proc.returncode}:\n{self.stderr()}")
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    s.settimeout(1.0)
                    try:
                        s.bind((PROBE_SOURCE, 0))
                        s.connect((self.host, port))
                        break
                    except OSError:
                        pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"postern did not accept connections on port {port}:\n{self.stderr()}")
                time.sleep(0.02)
        self.wait_sessions(0)

    def restart(self) -> "AbusePostern":
        self.stop()
        self.proc = None
        return self.start()

    def signal(self, signo: int) -> None:
        self.proc.send_signal(signo)

    def wait_exit(self, timeout: float = STOP_TIMEOUT) -> int:
        """Waits for the process to exit by itself; returns its status (SIGKILL and fail after timeout)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)
            raise AssertionError(f"postern did not exit within {timeout}s:\n{self.stderr()[-3000:]}")

    # -- control socket (the CLI's own channel; used here only to wait for the server to settle)
    def control(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(3.0)
            s.connect(str(self.data_dir / "control.sock"))
            s.sendall(line.encode() + b"\n")
            out = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    return out.decode()
                out += chunk

    def sessions(self) -> int:
        for line in self.control("status").splitlines():
            if line.startswith("sessions "):
                return int(line.split()[1])
        raise AssertionError("control status without a sessions line")

    def wait_sessions(self, n: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.sessions() == n:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not get to {n} live sessions within {timeout}s")
            time.sleep(0.02)

    # -- config changes
    def set_limits(self, **limits) -> None:
        self.limits.update(limits)
        self.write_config()

    # -- clients
    def mx(self, **kw) -> Client:
        return Client(self.host, self.port, **kw)

    def submission(self, **kw) -> Client:
        return Client(self.host, self.sub_port, **kw)

    def submission_tls(self, **kw) -> Client:
        return Client(self.host, self.sub_port, **kw).ehlo_starttls()

    def submissions(self, **kw) -> Client:
        c = Client(self.host, self.subs_port, implicit_tls=True, **kw)
        return c

    def login(self, user: str, password: str, **kw) -> Client:
        """Submission over STARTTLS, authenticated (235 checked)."""
        c = self.submission_tls(**kw)
        assert_reply(c.auth_plain(user, password), 235, "2.7.0")
        return c


@pytest.fixture
def make_abuse_server(postern_path, tmp_path, request, default_users_data_dir):
    """make_abuse_server(limits=..., greylist=..., auth=..., start=True) -> AbusePostern with alice, bob and
    postmaster."""
    servers: list[AbusePostern] = []

    def factory(*, start: bool = True, **kw) -> AbusePostern:
        srv = AbusePostern(postern_path, tmp_path / f"abuse{len(servers)}", **kw)
        servers.append(srv)
        _attach(request, srv)
        shutil.copytree(default_users_data_dir, srv.data_dir)
        if start:
            srv.start()
        return srv

    yield factory
    for srv in servers:
        srv.stop()
