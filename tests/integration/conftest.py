"""Fixtures for the Postern integration tests.

The binary is taken from $POSTERN_BIN (default: <repo>/build/postern). Each test that asks for
`server` gets its own process on a free 127.0.0.1 port, with its own temp data dir and config, and the
users alice, bob and postmaster. `make_server(...)` starts one with other settings. A server's stderr
is captured to a file and attached to the report of any test that fails.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from helpers import RawSMTP

REPO = Path(__file__).resolve().parents[2]
DIALOGS_DIR = REPO / "tests" / "dialogs"
HOSTNAME = "mx.test.example"
LOCAL_DOMAINS = ["test.example", "other.example"]
MAX_MESSAGE_SIZE = 10240
MAX_RECIPIENTS = 3
DEFAULT_USERS = {"alice": "alice-secret-1", "bob": "bob-secret-2", "postmaster": "pm-secret-3"}
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
CLI_TIMEOUT = 20.0
NO_DNS_RESOLVER = "127.0.0.1:9"  # nothing answers DNS there


def postern_bin() -> Path:
    return Path(os.environ.get("POSTERN_BIN", REPO / "build" / "postern")).resolve()


@pytest.fixture(scope="session")
def postern_path() -> Path:
    path = postern_bin()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"postern binary not found at {path}; build it or set POSTERN_BIN=/abs/path/build/postern",
                    pytrace=False)
    return path


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    s = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def render_config(hostname: str, data_dir: Path, local_domains, listeners, limits: dict, auth: dict,
                  extra_top: dict | None = None) -> str:
    out = [f"hostname = {toml_value(hostname)}",
           f"data_dir = {toml_value(str(data_dir))}",
           f"local_domains = {toml_value(list(local_domains))}"]
    for key, value in (extra_top or {}).items():
        out.append(f"{key} = {toml_value(value)}")
    for lst in listeners:
        out.append("")
        out.append("[[listeners]]")
        for key, value in lst.items():
            out.append(f"{key} = {toml_value(value)}")
    out.append("")
    out.append("[limits]")
    for key, value in limits.items():
        out.append(f"{key} = {toml_value(value)}")
    out.append("")
    out.append("[auth]")
    for key, value in auth.items():
        out.append(f"{key} = {toml_value(value)}")
    # Remote recipients are delivered by MX lookups: point them at a loopback port where no DNS server answers,
    # so that no test ever asks the machine's resolver (remote mail just stays queued). The queue tests
    # (queue_support.QueuePostern) replace this table with their own dnsmasq.
    out.append("")
    out.append("[dns]")
    out.append(f"resolver = {toml_value(NO_DNS_RESOLVER)}")
    return "\n".join(out) + "\n"


class Postern:
    """One `postern serve` process plus the paths and CLI around it."""

    def __init__(self, binary: Path, workdir: Path, *, host: str = "127.0.0.1", limits: dict | None = None,
                 auth: dict | None = None, hostname: str = HOSTNAME, local_domains=None):
        self.binary = binary
        self.workdir = workdir
        self.host = host
        self.port = free_port(host)
        self.hostname = hostname
        self.local_domains = list(local_domains if local_domains is not None else LOCAL_DOMAINS)
        self.data_dir = workdir / "data"
        self.config_path = workdir / "postern.toml"
        self.stderr_path = workdir / "postern.stderr"
        self.stdout_path = workdir / "postern.stdout"
        self.limits = {"max_message_size": MAX_MESSAGE_SIZE, "max_recipients": MAX_RECIPIENTS,
                       "command_timeout": "2s", "data_timeout": "2s", "idle_timeout": "2s"}
        self.limits.update(limits or {})
        self.auth = {"argon2_ops": 1, "argon2_mem_kib": 8192}
        self.auth.update(auth or {})
        self.proc: subprocess.Popen | None = None
        self.cli_log: list[str] = []
        self.write_config()

    # -- config
    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        text = render_config(self.hostname, self.data_dir, self.local_domains,
                             [{"mode": "mx", "address": self.address}], self.limits, self.auth)
        self.config_path.write_text(text)

    # -- CLI
    def cli(self, *args: str, input: str | None = None, check: bool = False) -> subprocess.CompletedProcess:
        argv = [str(self.binary), *args, "--config", str(self.config_path)]
        proc = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=CLI_TIMEOUT,
                              cwd=self.workdir)
        self.cli_log.append(f"$ {' '.join(argv)}\n-> exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}")
        if check:
            assert proc.returncode == 0, f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr}"
        return proc

    def add_user(self, name: str, password: str) -> None:
        self.cli("user", "add", name, input=password + "\n", check=True)

    def del_user(self, name: str) -> None:
        self.cli("user", "del", name, check=True)

    def list_users(self) -> list[str]:
        """The user names `postern user list` prints, one per line (first field of each line)."""
        return [line.split()[0] for line in self.cli("user", "list", check=True).stdout.splitlines() if line.strip()]

    # -- process
    def start(self) -> "Postern":
        assert self.proc is None
        self._stderr = open(self.stderr_path, "wb")
        self._stdout = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen([str(self.binary), "serve", "--config", str(self.config_path)],
                                     stdin=subprocess.DEVNULL, stdout=self._stdout, stderr=self._stderr,
                                     cwd=self.workdir)
        self.wait_listening()
        return self

    def wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"postern serve exited with {self.proc.returncode} before listening:\n"
                                     f"{self.stderr()}")
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(1.0)
                try:
                    s.connect((self.host, self.port))
                    return
                except OSError:
                    pass
            time.sleep(0.02)
        raise AssertionError(f"postern did not accept connections on {self.address} within {START_TIMEOUT}s:\n"
                             f"{self.stderr()}")

    def stop(self) -> int | None:
        """SIGTERM, wait up to STOP_TIMEOUT, then SIGKILL. Returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        status = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                status = self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
                status = None
        else:
            status = self.proc.returncode
        self._stderr.close()
        self._stdout.close()
        return status

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- clients
    def connect(self, **kw) -> RawSMTP:
        return RawSMTP(self.host, self.port, **kw)

    def smtplib(self, **kw):
        import smtplib
        client = smtplib.SMTP(timeout=kw.pop("timeout", 5), local_hostname="client.test.invalid", **kw)
        client.connect(self.host, self.port)
        return client

    # -- Maildir
    def maildir(self, user: str) -> Path:
        return self.data_dir / "mail" / user / "Maildir"

    def maildir_files(self, user: str, sub: str = "new") -> list[Path]:
        d = self.maildir(user) / sub
        if not d.is_dir():
            return []
        return sorted((p for p in d.iterdir() if p.is_file()), key=lambda p: (p.stat().st_mtime_ns, p.name))

    def wait_for_maildir(self, user: str, n: int, timeout: float = 5.0) -> list[Path]:
        """Poll until `user` has at least n files in Maildir/new; returns them (oldest first)."""
        deadline = time.monotonic() + timeout
        while True:
            files = self.maildir_files(user)
            if len(files) >= n:
                return files
            if time.monotonic() > deadline:
                raise AssertionError(f"{user}: expected {n} message(s) in {self.maildir(user) / 'new'}, "
                                     f"found {len(files)} after {timeout}s")
            time.sleep(0.02)

    def all_delivered(self) -> dict[str, list[Path]]:
        root = self.data_dir / "mail"
        if not root.is_dir():
            return {}
        return {u.name: self.maildir_files(u.name) for u in root.iterdir() if self.maildir_files(u.name)}

    def spool_files(self) -> list[Path]:
        root = self.data_dir / "spool"
        if not root.is_dir():
            return []
        return sorted(p for p in root.rglob("*") if p.is_file())


# ---------------------------------------------------------------------------------------------
# Fixtures

def _attach(request, server: Postern) -> None:
    request.node.stash.setdefault(_SERVERS_KEY, []).append(server)


_SERVERS_KEY = pytest.StashKey[list]()


@pytest.fixture(scope="session")
def default_users_data_dir(postern_path, tmp_path_factory) -> Path:
    """A data dir in which `postern user add` has created DEFAULT_USERS, made once per run; servers
    with the default users start from a copy of it (saves three CLI runs per test)."""
    srv = Postern(postern_path, tmp_path_factory.mktemp("users-template"))
    for name, password in DEFAULT_USERS.items():
        srv.add_user(name, password)
    assert sorted(srv.list_users()) == sorted(DEFAULT_USERS), srv.cli_log
    return srv.data_dir


def _server_factory(cls, prefix, postern_path, tmp_path, request, default_users_data_dir):
    """Yields factory(users=None, start=True, **kw) -> cls; stops every server it made at teardown.
    users=None means alice, bob and postmaster (copied from the template data dir)."""
    servers: list = []

    def factory(*, users: dict | None = None, start: bool = True, **kw):
        srv = cls(postern_path, tmp_path / f"{prefix}{len(servers)}", **kw)
        servers.append(srv)
        _attach(request, srv)
        if users is None:
            shutil.copytree(default_users_data_dir, srv.data_dir)
        else:
            for name, password in users.items():
                srv.add_user(name, password)
        if start:
            srv.start()
        return srv

    yield factory
    for srv in servers:
        srv.stop()


@pytest.fixture
def make_server(postern_path, tmp_path, request, default_users_data_dir):
    """Factory: make_server(users=..., limits=..., start=True, host=...) -> Postern."""
    yield from _server_factory(Postern, "srv", postern_path, tmp_path, request, default_users_data_dir)


@pytest.fixture
def server(make_server) -> Postern:
    """A running server with the default config and users alice, bob, postmaster."""
    return make_server()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when in ("call", "setup", "teardown") and report.failed:
        for i, srv in enumerate(item.stash.get(_SERVERS_KEY, [])):
            report.sections.append((f"postern[{i}] stderr ({srv.address})", srv.stderr()[-20000:] or "(empty)"))
            if srv.cli_log:
                report.sections.append((f"postern[{i}] CLI calls", "\n".join(srv.cli_log)[-10000:]))


# ---------------------------------------------------------------------------------------------
# Servers with TLS listeners (submission / submissions / mx), used by test_submission_*.py

from helpers import TlsSMTP  # noqa: E402


# Abuse-protection limits (a separate feature: tarpit delay after errors, auth-failure bans, connection rate)
# would get in the way of these tests, which make several failed AUTHs and many connections per server. Each is
# switched off when this build knows the key; an unknown key is a config error, so each is probed once.
_POLICY_OFF = {"error_delay": "0s", "auth_failures_per_ip": 0, "auth_failures_per_account": 0,
               "connections_per_minute_per_ip": 0}
_policy_probe: dict[str, bool] = {}


def policy_off_limits(binary: Path, workdir: Path) -> dict:
    for key, value in _POLICY_OFF.items():
        if key not in _policy_probe:
            probe = workdir / f"probe-{key}.toml"
            probe.parent.mkdir(parents=True, exist_ok=True)
            probe.write_text(f"hostname = {toml_value(HOSTNAME)}\ndata_dir = {toml_value(str(workdir / 'probe'))}\n"
                             f"\n[limits]\n{key} = {toml_value(value)}\n")
            proc = subprocess.run([str(binary), "check-config", "--config", str(probe)], capture_output=True,
                                  timeout=CLI_TIMEOUT, stdin=subprocess.DEVNULL)
            _policy_probe[key] = proc.returncode == 0
    return {key: value for key, value in _POLICY_OFF.items() if _policy_probe[key]}


class SubmissionPostern(Postern):
    """A Postern with three listeners on free ports: mx (`port`, as in Postern), submission (`sub_port`,
    STARTTLS + AUTH) and submissions (`subs_port`, implicit TLS). `tls_cert`/`tls_key` write a [tls] section
    (without them the server makes its self-signed pair in <data_dir>/tls); `io_threads` sets the top-level key.
    [auth] failure_delay defaults to "0s" here so failed AUTHs do not slow the tests down."""

    def __init__(self, binary: Path, workdir: Path, *, tls_cert: Path | None = None, tls_key: Path | None = None,
                 io_threads: int | None = None, auth: dict | None = None, **kw):
        ports: set[int] = set()
        while len(ports) < 2:
            ports.add(free_port(kw.get("host", "127.0.0.1")))
        self.sub_port, self.subs_port = sorted(ports)
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.io_threads = io_threads
        merged_auth = {"failure_delay": "0s"}
        merged_auth.update(auth or {})
        merged_limits = policy_off_limits(binary, workdir)
        merged_limits.update(kw.pop("limits", None) or {})
        super().__init__(binary, workdir, auth=merged_auth, limits=merged_limits, **kw)
        while self.port in ports:
            self.port = free_port(self.host)
        self.write_config()

    def _addr(self, port: int) -> str:
        return f"[{self.host}]:{port}" if ":" in self.host else f"{self.host}:{port}"

    @property
    def tls_dir(self) -> Path:
        return self.data_dir / "tls"

    def write_config(self) -> None:
        if not hasattr(self, "sub_port"):
            return super().write_config()
        self.workdir.mkdir(parents=True, exist_ok=True)
        listeners = [{"mode": "mx", "address": self.address},
                     {"mode": "submission", "address": self._addr(self.sub_port)},
                     {"mode": "submissions", "address": self._addr(self.subs_port)}]
        extra = {"io_threads": self.io_threads} if self.io_threads is not None else None
        text = render_config(self.hostname, self.data_dir, self.local_domains, listeners, self.limits, self.auth,
                             extra_top=extra)
        if self.tls_cert is not None or self.tls_key is not None:
            text += f"\n[tls]\ncert = {toml_value(str(self.tls_cert))}\nkey = {toml_value(str(self.tls_key))}\n"
        self.config_path.write_text(text)

    def wait_listening(self) -> None:
        super().wait_listening()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for port in (self.sub_port, self.subs_port):
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                with socket.socket(family, socket.SOCK_STREAM) as s:
                    s.settimeout(1.0)
                    try:
                        s.connect((self.host, port))
                        break
                    except OSError:
                        pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"postern did not accept connections on port {port}:\n{self.stderr()}")
                time.sleep(0.02)

    def restart(self) -> "SubmissionPostern":
        """Stop (SIGTERM) and start again on the same ports and data dir."""
        self.stop()
        self.proc = None
        return self.start()

    # -- clients
    def mx(self, **kw) -> TlsSMTP:
        """Cleartext connection to the mx port (greeting read); can .starttls() later."""
        return TlsSMTP(self.host, self.port, **kw)

    def submission(self, **kw) -> TlsSMTP:
        """Cleartext connection to the submission (587-role) port (greeting read); can .starttls() later."""
        return TlsSMTP(self.host, self.sub_port, **kw)

    def submission_tls(self, ehlo: str | None = "client.test.invalid", **kw) -> TlsSMTP:
        """Submission port after EHLO + STARTTLS (+ EHLO again unless ehlo is None)."""
        return TlsSMTP.starttls_connect(self.host, self.sub_port, ehlo=ehlo, **kw)

    def submissions(self, ehlo: str | None = "client.test.invalid", **kw) -> TlsSMTP:
        """Implicit-TLS connection to the submissions (465-role) port; greeting read, EHLO sent unless None."""
        return TlsSMTP.implicit_tls_connect(self.host, self.subs_port, ehlo=ehlo, **kw)

    def mx_tls(self, ehlo: str | None = "client.test.invalid", **kw) -> TlsSMTP:
        """mx port after EHLO + STARTTLS (+ EHLO again unless ehlo is None)."""
        return TlsSMTP.starttls_connect(self.host, self.port, ehlo=ehlo, **kw)

    def app_password_add(self, user: str, label: str) -> str:
        out = self.cli("app-password", "add", user, label, check=True).stdout.strip()
        assert out and "\n" not in out, f"app-password add printed {out!r}, expected one password line"
        return out


@pytest.fixture
def make_submission_server(postern_path, tmp_path, request, default_users_data_dir):
    """Factory like make_server, for SubmissionPostern: make_submission_server(users=None, start=True,
    tls_cert=..., tls_key=..., io_threads=..., auth=..., limits=...)."""
    yield from _server_factory(SubmissionPostern, "sub", postern_path, tmp_path, request, default_users_data_dir)


@pytest.fixture
def subserver(make_submission_server) -> SubmissionPostern:
    """A running SubmissionPostern with the default users, self-signed TLS and failure_delay 0s."""
    return make_submission_server()
