"""Crash safety: clients keep sending while the server is killed with SIGKILL at random moments and restarted.
Every message that got its 250 must arrive, locally (Maildir) and remotely (by MX to a scripted server); a
duplicate is allowed (at-least-once) and counted, a loss never is."""
from __future__ import annotations

import random
import shutil
import signal
import threading
import time

import pytest

from conftest import _attach
from helpers import ServerClosed, TlsSMTP, plain_response
from queue_support import Dnsmasq, QueuePostern, ScriptedSMTP, wait_until

N_MESSAGES = 300
KILLS = 5
SENDERS = 3
SEND_DEADLINE = 60.0


def message(token: str) -> bytes:
    return (f"From: Alice <alice@test.example>\r\nTo: bob@test.example, x@remote.example\r\n"
            f"Subject: crash test {token}\r\n\r\nbody of {token}\r\n").encode()


@pytest.fixture
def world(tmp_path, postern_path, request, default_users_data_dir):
    dns = Dnsmasq(tmp_path / "dns").mx("remote.example", "mx.remote.example").a("mx.remote.example").start()
    remote = ScriptedSMTP()
    srv = QueuePostern(postern_path, tmp_path / "q", sections={
        "dns": {"resolver": dns.address}, "delivery": {"smtp_port": remote.port, "connect_timeout": "2s"},
        "queue": {"retry_schedule": ["1s"]}})
    _attach(request, srv)
    shutil.copytree(default_users_data_dir, srv.data_dir)
    srv.start()
    yield srv, remote
    srv.stop()
    remote.stop()
    dns.stop()


def test_sigkill_loses_no_acknowledged_message(world):
    srv, remote = world
    rng = random.Random(20261123)
    acked: set[str] = set()
    lock = threading.Lock()
    stop_sending = threading.Event()
    counter = iter(range(10 ** 6))
    restarts = []

    def sender(n: int):
        deadline = time.monotonic() + SEND_DEADLINE
        while not stop_sending.is_set() and time.monotonic() < deadline:
            with lock:
                if len(acked) >= N_MESSAGES:
                    return
            try:
                c = TlsSMTP.starttls_connect(srv.host, srv.sub_port, timeout=5)
            except (OSError, ServerClosed, AssertionError):
                time.sleep(0.05)
                continue
            try:
                if c.cmd("AUTH PLAIN " + plain_response("alice", "alice-secret-1")).code != 235:
                    continue
                for _ in range(10):
                    token = f"s{n}-{next(counter)}"
                    if c.cmd("MAIL FROM:<alice@test.example>").code != 250:
                        break
                    if c.cmd("RCPT TO:<bob@test.example>").code != 250 or c.cmd("RCPT TO:<x@remote.example>").code != 250:
                        break
                    if c.cmd("DATA").code != 354:
                        break
                    r = c.cmd(message(token) + b".")
                    if r.code == 250:
                        with lock:
                            acked.add(token)
                    else:
                        break
            except (OSError, ServerClosed, AssertionError):
                pass  # killed mid-session: whatever was not answered 250 may or may not arrive
            finally:
                try:
                    c.close()
                except OSError:
                    pass

    def killer():
        for i in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.5))
            if stop_sending.is_set():
                return
            srv.proc.send_signal(signal.SIGKILL)
            srv.proc.wait(5)
            srv._stderr.close()
            srv._stdout.close()
            shutil.copy(srv.stderr_path, srv.workdir / f"postern.stderr.{i}")
            srv.proc = None
            restarts.append(time.monotonic())
            srv.start()

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(SENDERS)]
    k = threading.Thread(target=killer)
    for t in threads:
        t.start()
    k.start()
    k.join(SEND_DEADLINE + 30)
    for t in threads:
        t.join(SEND_DEADLINE + 30)
    stop_sending.set()
    assert len(restarts) == KILLS
    assert len(acked) >= 20, f"only {len(acked)} messages acknowledged"

    def tokens_local():
        found = []
        for p in srv.maildir_files("bob"):
            for line in p.read_bytes().split(b"\r\n"):
                if line.startswith(b"Subject: crash test "):
                    found.append(line.split(b" ")[-1].decode())
        return found

    def tokens_remote():
        found = []
        for _, _, data in list(remote.messages):
            for line in data.split(b"\r\n"):
                if line.startswith(b"Subject: crash test "):
                    found.append(line.split(b" ")[-1].decode())
        return found

    wait_until(lambda: acked <= set(tokens_local()) and acked <= set(tokens_remote()), timeout=60,
               what="every acknowledged message locally and remotely")
    local, remote_tokens = tokens_local(), tokens_remote()
    dup_local = len(local) - len(set(local))
    dup_remote = len(remote_tokens) - len(set(remote_tokens))
    print(f"\nacknowledged {len(acked)}; delivered local {len(set(local))} (+{dup_local} duplicates), "
          f"remote {len(set(remote_tokens))} (+{dup_remote} duplicates); {KILLS} SIGKILLs")
    wait_until(lambda: not srv.spool_files() or all(p.parent.name == "incoming" for p in srv.spool_files()),
               timeout=30, what="an empty queue")
