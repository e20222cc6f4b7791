"""Helpers for the queue and delivery tests: a loopback DNS server (dnsmasq), a Dovecot LMTP server, a
scripted SMTP server, and QueuePostern (a SubmissionPostern with [queue], [delivery], [dns], [relay], [lmtp]
and [dkim] sections). Everything listens on 127.0.0.1; every wait is bounded."""
from __future__ import annotations

import email
import email.policy
import getpass
import grp
import os
import pwd
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from conftest import SubmissionPostern, free_port, toml_value
from helpers import assert_reply, plain_response

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
WAIT = 10.0


def free_udp_port() -> int:
    """A port free on 127.0.0.1 for both UDP and TCP (dnsmasq listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                    return port
                except OSError:
                    continue
    raise AssertionError("no free port for dnsmasq")


def wait_until(pred, timeout: float = WAIT, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def dns_query(port: int, name: str, qtype: int = 15) -> int:
    """One UDP query to 127.0.0.1:port; returns the rcode (raises on timeout)."""
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    packet = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        s.sendto(packet, ("127.0.0.1", port))
        data = s.recv(4096)
    return struct.unpack(">H", data[2:4])[0] & 0xF


class Dnsmasq:
    """dnsmasq answering for *.example (and *.test) from its command line only: no upstream, no /etc/hosts."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_udp_port()
        self.args: list[str] = []
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / "dnsmasq.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def mx(self, domain: str, host: str, preference: int = 10) -> "Dnsmasq":
        self.args.append(f"--mx-host={domain},{host},{preference}")
        return self

    def a(self, name: str, ip: str = "127.0.0.1") -> "Dnsmasq":
        self.args.append(f"--host-record={name},{ip}")
        return self

    def null_mx(self, domain: str) -> "Dnsmasq":
        self.args.append(f"--dns-rr={domain},15,000000")  # RFC 7505: preference 0, root name
        return self

    def start(self) -> "Dnsmasq":
        for attempt in range(5):  # another process may take the port between the probe and dnsmasq's bind
            try:
                return self._start()
            except AssertionError:
                if attempt == 4:
                    raise
                self.port = free_udp_port()
        return self

    def _start(self) -> "Dnsmasq":
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                "--no-poll", f"--port={self.port}", "--listen-address=127.0.0.1", "--bind-interfaces",
                "--pid-file=", f"--log-facility={self.log_path}", "--log-queries", "--local=/example/",
                "--local=/test/", "--local-ttl=0", *self.args]
        if os.getuid() == 0:
            argv += [f"--user={getpass.getuser()}", f"--group={grp.getgrgid(os.getgid()).gr_name}"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.workdir / "dnsmasq.stderr", "wb"))

        def answers():
            if self.proc.poll() is not None:
                raise AssertionError(f"dnsmasq exited: {(self.workdir / 'dnsmasq.stderr').read_text()}")
            try:
                dns_query(self.port, "probe.example")
                return True
            except OSError:
                return False
        wait_until(answers, what="dnsmasq to answer")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class Dovecot:
    """A Dovecot with only LMTP (unix socket and 127.0.0.1 TCP), users from a passwd-file, Maildirs under root."""

    def __init__(self, users: list[str]):
        # Outside pytest's 0700 tmp dir: Dovecot delivers as an unprivileged uid when run as root.
        self.root = Path(tempfile.mkdtemp(prefix="postern-dovecot-"))
        os.chmod(self.root, 0o755)
        self.mail = self.root / "mail"
        self.mail.mkdir()
        self.run = self.root / "run"
        self.run.mkdir()
        self.port = free_port()
        self.users = users
        if os.getuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self.uid, self.gid = nobody.pw_uid, nobody.pw_gid
            os.chmod(self.mail, 0o777)
            self.service_user = "root"
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
            self.service_user = getpass.getuser()
        self.proc: subprocess.Popen | None = None

    @property
    def socket_path(self) -> Path:
        return self.run / "lmtp"

    def start(self) -> "Dovecot":
        me = getpass.getuser()
        group = grp.getgrgid(os.getgid()).gr_name
        users = self.root / "users"
        users.write_text("".join(f"{u}::{self.uid}:{self.gid}::{self.mail / u}::\n" for u in self.users))
        conf = self.root / "dovecot.conf"
        conf.write_text(f"""
base_dir = {self.run}
state_dir = {self.run}/state
instance_name = postern-test-{self.port}
protocols = lmtp
listen = 127.0.0.1
log_path = {self.root}/dovecot.log
info_log_path = {self.root}/dovecot.log
ssl = no
default_login_user = {me}
default_internal_user = {me}
default_internal_group = {group}
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:{self.mail}/%n/Maildir
auth_username_format = %Ln
lmtp_save_to_detail_mailbox = no
passdb {{
  driver = passwd-file
  args = {users}
}}
userdb {{
  driver = passwd-file
  args = {users}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.port}
  }}
  unix_listener lmtp {{
    mode = 0666
  }}
  user = {self.service_user}
}}
service anvil {{
  chroot =
}}
service stats {{
  user = {me}
}}
service auth {{
  user = {me}
}}
service auth-worker {{
  user = {me}
}}
service log {{
  user = {me}
}}
""")
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdin=subprocess.DEVNULL,
                                     stdout=open(self.root / "dovecot.out", "wb"), stderr=subprocess.STDOUT)

        def listening():
            if self.proc.poll() is not None:
                raise AssertionError(f"dovecot exited: {(self.root / 'dovecot.out').read_text()} {self.log()}")
            if not self.socket_path.exists():
                return False
            with socket.socket() as s:
                s.settimeout(0.5)
                try:
                    s.connect(("127.0.0.1", self.port))
                    return True
                except OSError:
                    return False
        wait_until(listening, what="dovecot lmtp")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)

    def messages(self, user: str) -> list[bytes]:
        new = self.mail / user / "Maildir" / "new"
        if not new.is_dir():
            return []
        return [p.read_bytes() for p in sorted(new.iterdir()) if p.is_file()]

    def log(self) -> str:
        try:
            return (self.root / "dovecot.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""


class ScriptedSMTP:
    """A plain SMTP server on 127.0.0.1 whose replies a test decides: script(stage, argument, connection_number)
    returns a reply line or None for the default (stage: "greeting", "ehlo", "mail", "rcpt", "data", "end").
    Accepted messages are kept in .messages as (sender, [recipients], bytes)."""

    def __init__(self, script=None, idle_close: float | None = None):
        self.script = script or (lambda stage, arg, n: None)
        self.idle_close = idle_close  # after each message: wait this long, send 421 and close (an idle timeout)
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.transactions: list[dict] = []
        self.connections = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 10

            def reply(self, stage, arg, default):
                line = outer.script(stage, arg, self.n) or default
                self.wfile.write(line.encode() + b"\r\n")
                self.wfile.flush()
                return line

            def handle(self):
                with outer.lock:
                    outer.connections += 1
                    self.n = outer.connections
                if not self.reply("greeting", "", "220 scripted.test ESMTP").startswith("220"):
                    return
                sender, rcpts = None, []
                while True:
                    raw = self.rfile.readline(4096)
                    if not raw:
                        return
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    verb = line.split(" ", 1)[0].upper()
                    arg = line[len(verb):].strip()
                    if verb == "EHLO":
                        self.reply("ehlo", arg, "250-scripted.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 1000000")
                    elif verb == "HELO":
                        self.reply("ehlo", arg, "250 scripted.test")
                    elif verb == "MAIL":
                        r = self.reply("mail", arg, "250 2.1.0 Ok")
                        if r.startswith("250"):
                            sender, rcpts = arg.split(":", 1)[1].split(" ")[0].strip("<>"), []
                        if r.startswith("421"):
                            return
                    elif verb == "RCPT":
                        address = arg.split(":", 1)[1].strip().strip("<>")
                        r = self.reply("rcpt", address, "250 2.1.5 Ok")
                        if r.startswith("250"):
                            rcpts.append(address)
                        if r.startswith("421"):
                            return
                    elif verb == "DATA":
                        r = self.reply("data", "", "354 go ahead")
                        if not r.startswith("354"):
                            continue
                        data = b""
                        while True:
                            chunk = self.rfile.readline(65536)
                            if not chunk:
                                return
                            if chunk == b".\r\n":
                                break
                            data += chunk[1:] if chunk.startswith(b".") else chunk
                        r = self.reply("end", "", "250 2.0.0 Ok: queued")
                        with outer.lock:
                            outer.transactions.append({"sender": sender, "rcpts": rcpts, "reply": r, "data": data})
                            if r.startswith("250"):
                                outer.messages.append((sender, list(rcpts), data))
                        sender, rcpts = None, []
                        if outer.idle_close is not None:
                            time.sleep(outer.idle_close)
                            self.wfile.write(b"421 4.4.2 scripted.test idle timeout\r\n")
                            self.wfile.flush()
                            return
                    elif verb == "RSET":
                        sender, rcpts = None, []
                        self.reply("rset", "", "250 2.0.0 Ok")
                    elif verb == "NOOP":
                        self.reply("noop", "", "250 2.0.0 Ok")
                    elif verb == "QUIT":
                        self.reply("quit", "", "221 2.0.0 Bye")
                        return
                    else:
                        self.reply("other", line, "502 5.5.1 not implemented")

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class QueuePostern(SubmissionPostern):
    """A SubmissionPostern with extra config tables, e.g. sections={"dns": {"resolver": "127.0.0.1:5353"},
    "queue": {"retry_schedule": ["1s"]}}. Its [dns] replaces the conftest's dead-end resolver."""

    def __init__(self, binary: Path, workdir: Path, *, sections: dict | None = None, **kw):
        self.sections = sections or {}
        super().__init__(binary, workdir, **kw)

    def write_config(self) -> None:
        super().write_config()
        if not hasattr(self, "sub_port") or not hasattr(self, "sections"):
            return
        text = self.config_path.read_text()
        # Drop the conftest's default [dns] table when this server has its own.
        if "dns" in self.sections and "\n[dns]\n" in text:
            head, _, tail = text.partition("\n[dns]\n")
            rest = tail.split("\n[", 1)
            text = head + ("\n[" + rest[1] if len(rest) > 1 else "\n")
        for name, values in self.sections.items():
            text += f"\n[{name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in values.items())
        self.config_path.write_text(text)

    def queue(self, *args: str, check: bool = True):
        return self.cli("queue", *args, check=check)

    def queue_ids(self) -> list[str]:
        out = self.queue("list").stdout
        return [line.split()[0] for line in out.splitlines() if line and not line.startswith(" ")
                and not line.endswith("messages") and not line.endswith("message")]


def submit(srv: SubmissionPostern, sender: str, recipients: list[str], message: bytes,
           user: str = "alice", password: str = "alice-secret-1") -> str:
    """Submission on the 587-role port with STARTTLS + AUTH PLAIN; returns the queue id from the 250 reply."""
    with srv.submission_tls() as c:
        assert_reply(c.cmd("AUTH PLAIN " + plain_response(user, password)), 235)
        assert_reply(c.cmd(f"MAIL FROM:<{sender}>"), 250)
        for r in recipients:
            assert_reply(c.cmd(f"RCPT TO:<{r}>"), 250)
        assert_reply(c.cmd("DATA"), 354)
        r = c.cmd(message + b".")
        assert_reply(r, 250)
        c.cmd("QUIT")
        return r.text.rsplit(" ", 1)[-1]


def send_mx(srv, sender: str, recipients: list[str], message: bytes) -> str:
    """Unauthenticated mail to the mx port (local recipients); returns the queue id."""
    with srv.mx() as c:
        c.ehlo()
        assert_reply(c.cmd(f"MAIL FROM:<{sender}>"), 250)
        for r in recipients:
            assert_reply(c.cmd(f"RCPT TO:<{r}>"), 250)
        assert_reply(c.cmd("DATA"), 354)
        r = c.cmd(message + b".")
        assert_reply(r, 250)
        c.cmd("QUIT")
        return r.text.rsplit(" ", 1)[-1]


def parse_message(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def dsn_fields(data: bytes) -> tuple[email.message.EmailMessage, list[dict[str, str]]]:
    """The DSN and its per-recipient fields (lower-case names) from the message/delivery-status part."""
    msg = parse_message(data)
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status"
    boundary = msg.get_param("boundary")
    text = data.decode("ascii").replace("\r\n", "\n")
    status = [p for p in text.split("--" + boundary) if "Content-Type: message/delivery-status" in p]
    assert len(status) == 1, "expected one message/delivery-status part"
    body = status[0].split("\n\n", 1)[1]
    groups = [g for g in body.split("\n\n") if g.strip()]
    recipients = []
    for g in groups[1:]:
        fields: dict[str, str] = {}
        for line in g.replace("\n ", " ").replace("\n\t", " ").splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                fields[k.strip().lower()] = v.strip()
        recipients.append(fields)
    return msg, recipients
