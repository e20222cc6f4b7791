"""`postern queue list|show|flush|delete|hold|release` against a running server (over <data_dir>/queue.sock)
and, with the server stopped, on the spool files; the states active, deferred and held; resuming on start."""
from __future__ import annotations

import shutil
import threading
import time

import pytest

from conftest import _attach
from queue_support import Dnsmasq, QueuePostern, ScriptedSMTP, submit, wait_until

MESSAGE = (b"From: Alice <alice@test.example>\r\n"
           b"Subject: queue commands\r\n"
           b"\r\n"
           b"Waiting in the queue.\r\n")


@pytest.fixture
def world(tmp_path):
    state = {"accept": False}
    lock = threading.Lock()

    def script(stage, arg, n):
        with lock:
            if stage == "rcpt" and not state["accept"]:
                return "451 4.3.2 system not accepting network messages"
        return None

    dns = Dnsmasq(tmp_path / "dns").mx("remote.example", "mx.remote.example").a("mx.remote.example").start()
    remote = ScriptedSMTP(script)

    def accept(flag: bool):
        with lock:
            state["accept"] = flag

    yield dns, remote, accept
    remote.stop()
    dns.stop()


@pytest.fixture
def srv(postern_path, tmp_path, request, default_users_data_dir, world):
    dns, remote, _ = world
    s = QueuePostern(postern_path, tmp_path / "q", sections={
        "dns": {"resolver": dns.address}, "delivery": {"smtp_port": remote.port, "connection_cache_time": "0s"},
        "queue": {"retry_schedule": ["1h"]}})
    _attach(request, s)
    shutil.copytree(default_users_data_dir, s.data_dir)
    s.start()
    yield s
    s.stop()


def deferred(srv, qid):
    return wait_until(lambda: f"queue deferred id={qid}" in srv.stderr(), what=f"{qid} deferred")


def line_of(listing: str, qid: str) -> str:
    return next(line for line in listing.splitlines() if line.startswith(qid))


def test_list_show_hold_release(srv, world):
    _, remote, accept = world
    qid = submit(srv, "alice@test.example", ["bob@remote.example"], MESSAGE)
    deferred(srv, qid)
    listing = srv.queue("list").stdout
    fields = line_of(listing, qid).split()
    assert fields[1] == "deferred" and fields[4] == "<alice@test.example>" and int(fields[2]) > len(MESSAGE)
    assert "    <bob@remote.example> (451 4.3.2 system not accepting network messages)" in listing
    assert listing.rstrip().endswith("1 message")

    show = srv.queue("show", qid).stdout
    assert f"id: {qid}\nstate: deferred\n" in show
    assert "attempts: 1" in show and "next attempt: " in show
    assert "recipient: <bob@remote.example> pending (451 4.3.2" in show
    assert "Subject: queue commands" in show

    assert srv.queue("hold", qid).stdout.strip() == f"{qid} held"
    assert line_of(srv.queue("list").stdout, qid).split()[1] == "held"
    accept(True)
    before = remote.connections
    assert "0 messages" in srv.queue("flush").stdout, "flush leaves held mail alone"
    time.sleep(0.5)
    assert remote.connections == before and remote.messages == []

    assert srv.queue("release", qid).stdout.strip() == f"{qid} released"
    wait_until(lambda: remote.messages, what="delivery after release")
    wait_until(lambda: "0 messages" in srv.queue("list").stdout, what="an empty queue")


def test_flush_and_delete(srv, world):
    _, remote, accept = world
    qid = submit(srv, "alice@test.example", ["bob@remote.example"], MESSAGE)
    deferred(srv, qid)
    tries = remote.connections
    assert srv.queue("flush", qid).stdout.strip() == "1 message scheduled now"
    wait_until(lambda: remote.connections > tries, what="a new attempt after flush")
    wait_until(lambda: "attempts: 2" in srv.queue("show", qid).stdout, what="second attempt recorded")
    assert srv.queue("delete", qid).stdout.strip() == f"{qid} deleted"
    assert "0 messages" in srv.queue("list").stdout
    assert srv.spool_files() == []
    time.sleep(0.3)
    assert srv.all_delivered() == {}, "delete sends no bounce"

    for cmd in ("show", "hold", "release", "delete"):
        r = srv.queue(cmd, "0123456789ABCDEF", check=False)
        assert r.returncode == 1 and "no such message" in r.stderr
    r = srv.queue("show", "../etc", check=False)
    assert r.returncode == 1


def test_offline_commands_and_resume_on_start(srv, world):
    _, remote, accept = world
    q1 = submit(srv, "alice@test.example", ["bob@remote.example"], MESSAGE)
    q2 = submit(srv, "alice@test.example", ["carol@remote.example"], MESSAGE)
    deferred(srv, q1)
    deferred(srv, q2)
    srv.stop()
    srv.proc = None
    assert not (srv.data_dir / "queue.sock").exists()
    listing = srv.queue("list").stdout  # no server: read from the spool
    assert line_of(listing, q1).split()[1] == "deferred" and "2 messages" in listing
    assert srv.queue("hold", q1).stdout.strip() == f"{q1} held"
    assert "will go out when the server starts" in srv.queue("flush", q2).stdout
    accept(True)
    srv.start()
    wait_until(lambda: any(m[1] == ["carol@remote.example"] for m in remote.messages), what="q2 after start")
    time.sleep(0.5)
    assert not any(m[1] == ["bob@remote.example"] for m in remote.messages), "held mail stays held over a restart"
    assert line_of(srv.queue("list").stdout, q1).split()[1] == "held"
    srv.queue("release", q1)
    wait_until(lambda: any(m[1] == ["bob@remote.example"] for m in remote.messages), what="q1 after release")
