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
