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


@pytest.fixture
def make_server(postern_path, tmp_path, request, default_users_data_dir):
    """Factory: make_server(users=..., limits=..., start=True, host=...) -> Postern.
    users=None means alice, bob and postmaster (copied from the template data dir)."""
    servers: list[Postern] = []

    def factory(*, users: dict | None = None, start: bool = True, **kw) -> Postern:
        srv = Postern(postern_path, tmp_path / f"srv{len(servers)}", **kw)
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
