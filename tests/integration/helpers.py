"""Small helpers shared by the integration tests: a raw SMTP client, reply parsing,
delivered-file parsing and the dialog-transcript format (see tests/dialogs/README.md).

Everything here talks to 127.0.0.1 / ::1 only and every wait is bounded.
"""
from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

CRLF = b"\r\n"
IO_TIMEOUT = 5.0  # seconds; no single read in the suite waits longer than this


class ServerClosed(AssertionError):
    """The server closed the connection while a reply was expected."""


@dataclass
class Reply:
    code: int
    lines: list[str]  # text after "NNN-" / "NNN ", one per line
    raw: bytes = b""

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def first(self) -> str:
        """First line as 'NNN text' (separator normalised to a space)."""
        return f"{self.code} {self.lines[0]}" if self.lines else str(self.code)

    @property
    def last(self) -> str:
        return f"{self.code} {self.lines[-1]}" if self.lines else str(self.code)

    def __str__(self) -> str:
        return self.raw.decode("utf-8", "replace").rstrip("\r\n") or str(self.code)

    def __repr__(self) -> str:
        return f"Reply({self.raw!r})"


_REPLY_LINE = re.compile(rb"^([2-5][0-9][0-9])([ -])(.*)$", re.S)


class RawSMTP:
    """A byte-exact SMTP client over a plain socket.

    send() writes bytes as given (nothing appended); reply() reads exactly one complete
    (possibly multi-line) reply; nothing is read ahead beyond what the server sent.
    """

    def __init__(self, host: str, port: int, timeout: float = IO_TIMEOUT, greeting: bool = True):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.connect((host, port))
        self.buf = b""
        self.timeout = timeout
        self.greeting = self.reply() if greeting else None

    # -- writing
    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def cmd(self, line: bytes | str) -> Reply:
        """Send one command line (CRLF appended) and return its reply."""
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + CRLF)
        return self.reply()

    # -- reading
    def _fill(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no complete reply within {self.timeout}s; buffered {self.buf[:200]!r}")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError(f"no complete reply within {self.timeout}s; buffered {self.buf[:200]!r}") from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return False
        self.buf += chunk
        return True

    def reply(self, timeout: float | None = None) -> Reply:
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        lines: list[str] = []
        raw = b""
        prev_code = None
        while True:
            while CRLF not in self.buf:
                if not self._fill(deadline):
                    raise ServerClosed(f"server closed the connection; partial reply {raw + self.buf!r}")
            line, self.buf = self.buf.split(CRLF, 1)
            raw += line + CRLF
            m = _REPLY_LINE.match(line)
            if not m:
                raise AssertionError(f"malformed reply line {line!r} (reply so far {raw!r})")
            code = int(m.group(1))
            if prev_code is not None and code != prev_code:
                raise AssertionError(f"multi-line reply changes code: {raw!r}")
            prev_code = code
            lines.append(m.group(3).decode("utf-8", "replace"))
            if m.group(2) == b" ":
                return Reply(code, lines, raw)

    def replies(self, n: int, timeout: float | None = None) -> list[Reply]:
        return [self.reply(timeout) for _ in range(n)]

    def expect_closed(self, timeout: float | None = None) -> bytes:
        """Wait for EOF from the server; returns whatever bytes arrived before it."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while self._fill(deadline):
            pass
        rest, self.buf = self.buf, b""
        return rest

    def nothing_pending(self, wait: float = 0.2) -> bytes:
        """Return any unsolicited bytes that arrive within `wait` seconds (b'' when none)."""
        deadline = time.monotonic() + wait
        try:
            while self._fill(deadline):
                pass
        except TimeoutError:
            pass
        rest, self.buf = self.buf, b""
        return rest

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def assert_reply(reply: Reply, code: int, enhanced: str | None = None, contains: str | None = None) -> None:
    """Check a reply's code and, when given, that its first line's text starts with the enhanced code."""
    assert reply.code == code, f"expected {code}{' ' + enhanced if enhanced else ''}, got {reply!s}"
    if enhanced is not None:
        for line in reply.lines:
            first_word = line.split(" ", 1)[0]
            assert first_word == enhanced, f"expected enhanced code {enhanced} on every line, got {reply!s}"
    if contains is not None:
        assert contains in reply.text, f"expected {contains!r} in {reply!s}"


# ---------------------------------------------------------------------------------------------
# Delivered Maildir files

@dataclass
class Delivered:
    return_path: bytes      # the whole first line without CRLF, e.g. b"Return-Path: <a@b>"
    received: bytes         # the whole Received header including its CRLFs (possibly folded)
    message: bytes          # everything after it: the message exactly as submitted
    path: Path | None = None


def parse_delivered(data: bytes, path: Path | None = None) -> Delivered:
    assert data.startswith(b"Return-Path: "), f"delivered file does not start with Return-Path: {data[:200]!r}"
    first_end = data.index(CRLF)
    return_path = data[:first_end]
    rest = data[first_end + 2:]
    assert rest.startswith(b"Received: from "), f"second header is not 'Received: from ...': {rest[:200]!r}"
    # The Received header ends at the first CRLF not followed by SP or HTAB.
    pos = 0
    while True:
        idx = rest.index(CRLF, pos)
        nxt = rest[idx + 2: idx + 3]
        if nxt in (b" ", b"\t"):
            pos = idx + 2
            continue
        received = rest[: idx + 2]
        message = rest[idx + 2:]
        break
    assert b"\n" not in received.replace(CRLF, b""), f"bare LF in Received header: {received!r}"
    return Delivered(return_path, received, message, path)


# ---------------------------------------------------------------------------------------------
# Dialog transcripts (tests/dialogs/*.dialog), format documented in tests/dialogs/README.md

_ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\", "s": b" ", "0": b"\x00"}


def unescape(text: str) -> bytes:
    out = bytearray()
    raw = text.encode("utf-8")
    i = 0
    while i < len(raw):
        ch = raw[i:i + 1]
        if ch != b"\\":
            out += ch
            i += 1
            continue
        nxt = raw[i + 1:i + 2].decode("ascii", "replace")
        if nxt == "x":
            out.append(int(raw[i + 2:i + 4], 16))
            i += 4
        elif nxt in _ESCAPES:
            out += _ESCAPES[nxt]
            i += 2
        else:
            raise ValueError(f"unknown escape \\{nxt} in {text!r}")
    return bytes(out)


@dataclass
class DialogStep:
    kind: str        # "c" (send bytes), "s" (expect a reply whose first line starts with prefix), "close"
    data: bytes = b""
    prefix: str = ""
    lineno: int = 0


@dataclass
class Dialog:
    path: Path
    steps: list[DialogStep] = field(default_factory=list)


def parse_dialog(path: Path) -> Dialog:
    dialog = Dialog(path)
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("c: "):
            dialog.steps.append(DialogStep("c", data=unescape(line[3:]), lineno=lineno))
        elif line.startswith("s: "):
            dialog.steps.append(DialogStep("s", prefix=line[3:], lineno=lineno))
        elif line.strip() == "close":
            dialog.steps.append(DialogStep("close", lineno=lineno))
        else:
            raise ValueError(f"{path}:{lineno}: cannot parse {line!r}")
    return dialog


# ---------------------------------------------------------------------------------------------
# TLS and SASL helpers (test_submission_*.py)

import base64 as _base64
import hashlib as _hashlib
import hmac as _hmac
import os as _os
import ssl as _ssl


def tls_client_context(*, verify: bool = False, min_version=None, max_version=None,
                       ciphers: str | None = None) -> _ssl.SSLContext:
    """A client context; by default without certificate checks (the test servers are self-signed)."""
    ctx = _ssl.SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = _ssl.CERT_NONE
    if min_version is not None:
        ctx.minimum_version = min_version
    if max_version is not None:
        ctx.maximum_version = max_version
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    return ctx


class TlsSMTP(RawSMTP):
    """RawSMTP that can switch to TLS: after STARTTLS's 220, or from the first byte (implicit TLS)."""

    ehlo_reply: Reply | None = None

    def starttls(self, context: _ssl.SSLContext | None = None) -> None:
        """Wrap the connection in TLS (after the 220 to STARTTLS, or right after connecting for implicit TLS).
        Bytes the server sent in cleartext beyond the last reply read would be a stray reply: that is an
        assertion error here."""
        assert self.buf == b"", f"server sent bytes after its last reply, before the TLS handshake: {self.buf!r}"
        ctx = context or tls_client_context()
        self.sock.settimeout(self.timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=None)

    def ehlo(self, name: str = "client.test.invalid") -> Reply:
        r = self.cmd(f"EHLO {name}")
        assert r.code == 250, f"EHLO refused: {r!s}"
        self.ehlo_reply = r
        return r

    @classmethod
    def starttls_connect(cls, host: str, port: int, *, ehlo: str | None = "client.test.invalid",
                         context: _ssl.SSLContext | None = None, timeout: float = IO_TIMEOUT) -> "TlsSMTP":
        """Connect, EHLO, STARTTLS (220 checked), handshake, then EHLO again unless ehlo is None."""
        c = cls(host, port, timeout=timeout)
        assert c.greeting.code == 220, f"greeting: {c.greeting!s}"
        c.ehlo("client.test.invalid")
        r = c.cmd("STARTTLS")
        assert r.code == 220, f"STARTTLS refused: {r!s}"
        c.starttls(context)
        if ehlo is not None:
            c.ehlo(ehlo)
        return c

    @classmethod
    def implicit_tls_connect(cls, host: str, port: int, *, ehlo: str | None = "client.test.invalid",
                             context: _ssl.SSLContext | None = None, timeout: float = IO_TIMEOUT) -> "TlsSMTP":
        """Connect with TLS from the first byte, read the greeting, then EHLO unless ehlo is None."""
        c = cls(host, port, timeout=timeout, greeting=False)
        c.starttls(context)
        c.greeting = c.reply()
        assert c.greeting.code == 220, f"greeting over TLS: {c.greeting!s}"
        if ehlo is not None:
            c.ehlo(ehlo)
        return c

    @property
    def tls_version(self) -> str:
        return self.sock.version()

    @property
    def tls_cipher(self) -> str:
        return self.sock.cipher()[0]


def ehlo_keywords(reply: Reply) -> dict[str, list[str]]:
    """EHLO reply lines after the first, as {KEYWORD: [params...]} (keywords upper-cased)."""
    out: dict[str, list[str]] = {}
    for line in reply.lines[1:]:
        words = line.split()
        if words:
            out[words[0].upper()] = words[1:]
    return out


def b64(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return _base64.b64encode(data).decode("ascii")


def b64d(text: str) -> bytes:
    return _base64.b64decode(text.encode("ascii"), validate=True)


def plain_response(user: str, password: str, authzid: str = "") -> str:
    return b64(f"{authzid}\0{user}\0{password}")


def challenge_of(reply: Reply) -> str:
    """The base64 text of a 334 reply ("334 <b64>"); '' for a bare "334 "."""
    assert reply.code == 334, f"expected a 334 challenge, got {reply!s}"
    return reply.raw.decode("ascii").rstrip("\r\n")[4:]


class ScramClient:
    """A SCRAM-SHA-256 client (RFC 5802 / 7677), without channel binding (gs2 header "n,,")."""

    def __init__(self, user: str, password: str, nonce: str | None = None):
        self.user = user
        self.password = password
        self.nonce = nonce or _base64.b64encode(_os.urandom(18)).decode("ascii")
        self.client_first_bare = f"n={self._saslname(user)},r={self.nonce}"
        self.server_signature: bytes | None = None

    @staticmethod
    def _saslname(name: str) -> str:
        return name.replace("=", "=3D").replace(",", "=2C")

    def client_first(self) -> str:
        return "n,," + self.client_first_bare

    def client_final(self, server_first: str) -> str:
        attrs = dict(item.split("=", 1) for item in server_first.split(","))
        nonce, salt, iterations = attrs["r"], _base64.b64decode(attrs["s"]), int(attrs["i"])
        assert nonce.startswith(self.nonce) and len(nonce) > len(self.nonce), f"bad server nonce in {server_first!r}"
        salted = _hashlib.pbkdf2_hmac("sha256", self.password.encode("utf-8"), salt, iterations)
        client_key = _hmac.new(salted, b"Client Key", "sha256").digest()
        stored_key = _hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={nonce}"
        auth_message = f"{self.client_first_bare},{server_first},{without_proof}".encode("utf-8")
        client_signature = _hmac.new(stored_key, auth_message, "sha256").digest()
        proof = bytes(a ^ b for a, b in zip(client_key, client_signature))
        server_key = _hmac.new(salted, b"Server Key", "sha256").digest()
        self.server_signature = _hmac.new(server_key, auth_message, "sha256").digest()
        return f"{without_proof},p={_base64.b64encode(proof).decode('ascii')}"

    def verify_server_final(self, server_final: str) -> None:
        assert server_final.startswith("v="), f"server-final is not a verifier: {server_final!r}"
        assert _base64.b64decode(server_final[2:]) == self.server_signature, "server signature does not verify"


def unfold(header: bytes) -> str:
    """A header field unfolded (RFC 5322 2.2.3) with whitespace runs squeezed to one space."""
    text = header.decode("utf-8", "replace").replace("\r\n", "")
    return re.sub(r"[ \t]+", " ", text).strip()
