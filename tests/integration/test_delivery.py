"""Delivery to Maildir: the file's exact bytes, one file per recipient, real clients (smtplib, swaks,
curl), and an empty spool afterwards."""
from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time

import pytest

from helpers import assert_reply, parse_delivered

MESSAGE = (b"From: Sender <sender@remote.example>\r\n"
           b"To: Alice <alice@test.example>\r\n"
           b"Subject: delivery test\r\n"
           b"Message-ID: <delivery-1@remote.example>\r\n"
           b"\r\n"
           b"Hello Alice,\r\n"
           b".a line that starts with a dot\r\n"
           b"\r\n"
           b"Bye.\r\n")


def check_file(path, sender: str, message: bytes):
    data = path.read_bytes()
    d = parse_delivered(data, path)
    assert d.return_path == f"Return-Path: <{sender}>".encode(), d.return_path
    assert d.message == message
    assert b"\n" not in data.replace(b"\r\n", b""), "delivered file has bare LF line endings"
    return d


def wait_spool_empty(server, timeout=5.0):
    deadline = time.monotonic() + timeout
    while server.spool_files():
        if time.monotonic() > deadline:
            raise AssertionError(f"spool not empty after delivery: {server.spool_files()}")
        time.sleep(0.05)


def test_smtplib_delivery_exact_bytes(server):
    client = server.smtplib()
    try:
        client.ehlo()
        assert client.sendmail("sender@remote.example", ["alice@test.example"], MESSAGE) == {}
    finally:
        client.quit()
    (f,) = server.wait_for_maildir("alice", 1)
    d = check_file(f, "sender@remote.example", MESSAGE)
    # Received names the client's HELO and our host
    unfolded = re.sub(rb"\r\n[ \t]+", b" ", d.received)
    assert b"client.test.invalid" in unfolded, d.received
    assert b"mx.test.example" in unfolded, d.received
    assert unfolded.endswith(b"\r\n") and unfolded.count(b"\r\n") == 1
    wait_spool_empty(server)


def test_maildir_layout(server):
    client = server.smtplib()
    try:
        client.sendmail("sender@remote.example", ["alice@test.example"], MESSAGE)
    finally:
        client.quit()
    (f,) = server.wait_for_maildir("alice", 1)
    md = server.maildir("alice")
    for sub in ("new", "cur", "tmp"):
        assert (md / sub).is_dir(), f"Maildir/{sub} missing"
    assert server.maildir_files("alice", "tmp") == []
    assert ":2," not in f.name, f"a file in new/ carries no info suffix: {f.name}"
    m = re.search(r",S=([0-9]+)", f.name)
    if m:  # Dovecot-style size in the name must be the real size
        assert int(m.group(1)) == f.stat().st_size, f.name
    assert not f.name.startswith(".")


def test_swaks_delivery(server, tmp_path):
    assert shutil.which("swaks"), "swaks is not installed"
    body = MESSAGE[:-2]  # swaks appends CRLF to data that does not end with a newline
    msg = tmp_path / "swaks.eml"
    msg.write_bytes(body)
    proc = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(server.port),
                           "--helo", "swaks.test.invalid", "--from", "swaks@remote.example",
                           "--to", "alice@test.example", "--data", f"@{msg}", "--timeout", "5"],
                          capture_output=True, text=True, timeout=20)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"<-  250 2\.0\.0 .*queued as \S+", proc.stdout), proc.stdout
    assert "<-  221 2.0.0" in proc.stdout, proc.stdout
    (f,) = server.wait_for_maildir("alice", 1)
    check_file(f, "swaks@remote.example", MESSAGE)
    wait_spool_empty(server)


def test_swaks_pipelining_multiple_recipients(server, tmp_path):
    msg = tmp_path / "swaks.eml"
    msg.write_bytes(b"Subject: piped\r\n\r\nto three")
    proc = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(server.port), "--pipeline",
                           "--helo", "swaks.test.invalid", "--from", "swaks@remote.example",
                           "--to", "alice@test.example,bob@other.example,postmaster@test.example",
                           "--data", f"@{msg}", "--timeout", "5"],
                          capture_output=True, text=True, timeout=20)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for user in ("alice", "bob", "postmaster"):
        (f,) = server.wait_for_maildir(user, 1)
        check_file(f, "swaks@remote.example", b"Subject: piped\r\n\r\nto three\r\n")


def test_curl_delivery(server, tmp_path):
    assert shutil.which("curl"), "curl is not installed"
    msg = tmp_path / "curl.eml"
    msg.write_bytes(MESSAGE)
    proc = subprocess.run(["curl", "-sS", "--max-time", "10",
                           f"smtp://127.0.0.1:{server.port}/curl.test.invalid",
                           "--mail-from", "curl@remote.example", "--mail-rcpt", "alice@test.example",
                           "--mail-rcpt", "bob@test.example", "--upload-file", str(msg)],
                          capture_output=True, text=True, timeout=20)
    assert proc.returncode == 0, f"curl exit {proc.returncode}: {proc.stderr}"
    for user in ("alice", "bob"):
        (f,) = server.wait_for_maildir(user, 1)
        check_file(f, "curl@remote.example", MESSAGE)
    wait_spool_empty(server)


def test_curl_refused_recipient(server, tmp_path):
    msg = tmp_path / "curl.eml"
    msg.write_bytes(MESSAGE)
    proc = subprocess.run(["curl", "-sS", "--max-time", "10", f"smtp://127.0.0.1:{server.port}/curl.test.invalid",
                           "--mail-from", "curl@remote.example", "--mail-rcpt", "nobody@test.example",
                           "--upload-file", str(msg)], capture_output=True, text=True, timeout=20)
    assert proc.returncode != 0
    assert "550" in proc.stderr, proc.stderr


def test_one_file_per_recipient(server):
    client = server.smtplib()
    try:
        refused = client.sendmail("sender@remote.example",
                                  ["alice@test.example", "bob@test.example", "alice@other.example"], MESSAGE)
        assert refused == {}
    finally:
        client.quit()
    time.sleep(0.3)
    alice = server.wait_for_maildir("alice", 1)
    bob = server.wait_for_maildir("bob", 1)
    # alice@test.example and alice@other.example are the same mailbox: one or two copies are
    # defensible (Postfix delivers one); more is not
    assert 1 <= len(alice) <= 2, alice
    assert len(bob) == 1
    for f in alice + bob:
        check_file(f, "sender@remote.example", MESSAGE)


def test_other_local_domain(server):
    client = server.smtplib()
    try:
        client.sendmail("sender@remote.example", ["bob@other.example"], MESSAGE)
    finally:
        client.quit()
    (f,) = server.wait_for_maildir("bob", 1)
    check_file(f, "sender@remote.example", MESSAGE)


@pytest.mark.parametrize("rcpt", ["postmaster", "postmaster@test.example", "Postmaster@other.example"])
def test_postmaster_delivery(server, rcpt):
    with server.connect() as c:
        assert c.cmd("EHLO client.test.invalid").code == 250
        assert_reply(c.cmd("MAIL FROM:<sender@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd(f"RCPT TO:<{rcpt}>"), 250, "2.1.5")
        assert_reply(c.cmd("DATA"), 354)
        c.send(MESSAGE.replace(b"\r\n.a", b"\r\n..a") + b".\r\n")
        assert_reply(c.reply(), 250, "2.0.0")
    (f,) = server.wait_for_maildir("postmaster", 1)
    check_file(f, "sender@remote.example", MESSAGE)


def test_null_sender_return_path(server):
    with server.connect() as c:
        assert c.cmd("EHLO client.test.invalid").code == 250
        assert_reply(c.cmd("MAIL FROM:<>"), 250, "2.1.0")
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250, "2.1.5")
        assert_reply(c.cmd("DATA"), 354)
        c.send(b"Subject: bounce\r\n\r\nundeliverable\r\n.\r\n")
        assert_reply(c.reply(), 250, "2.0.0")
    (f,) = server.wait_for_maildir("alice", 1)
    check_file(f, "", b"Subject: bounce\r\n\r\nundeliverable\r\n")


def test_helo_client_delivery(server):
    """Plain SMTP (HELO, no extensions) still delivers."""
    client = server.smtplib()
    try:
        assert client.helo()[0] == 250
        client.sendmail("sender@remote.example", ["alice@test.example"], MESSAGE)
    finally:
        client.quit()
    (f,) = server.wait_for_maildir("alice", 1)
    check_file(f, "sender@remote.example", MESSAGE)


def test_concurrent_clients(server):
    n = 12
    errors = []

    def send(i):
        try:
            client = server.smtplib()
            try:
                client.sendmail(f"s{i}@remote.example", ["alice@test.example"],
                                b"Subject: concurrent %d\r\n\r\nbody %d\r\n" % (i, i))
            finally:
                client.quit()
        except Exception as e:  # noqa: BLE001 - collected and reported below
            errors.append(f"{i}: {e!r}")

    threads = [threading.Thread(target=send, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    files = server.wait_for_maildir("alice", n, timeout=10)
    assert len(files) == n
    messages = sorted(parse_delivered(f.read_bytes()).message for f in files)
    assert messages == sorted(b"Subject: concurrent %d\r\n\r\nbody %d\r\n" % (i, i) for i in range(n))
    assert len({f.name for f in files}) == n
    wait_spool_empty(server)


def test_user_added_while_running(server):
    with server.connect() as c:
        assert c.cmd("EHLO client.test.invalid").code == 250
        assert_reply(c.cmd("MAIL FROM:<sender@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd("RCPT TO:<carol@test.example>"), 550, "5.1.1")
    server.add_user("carol", "carol-secret")
    client = server.smtplib()
    try:
        assert client.sendmail("sender@remote.example", ["carol@test.example"], MESSAGE) == {}
    finally:
        client.quit()
    (f,) = server.wait_for_maildir("carol", 1)
    check_file(f, "sender@remote.example", MESSAGE)


def test_user_deleted_while_running(server):
    server.del_user("bob")
    with server.connect() as c:
        assert c.cmd("EHLO client.test.invalid").code == 250
        assert_reply(c.cmd("MAIL FROM:<sender@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd("RCPT TO:<bob@test.example>"), 550, "5.1.1")
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250, "2.1.5")


def test_messages_survive_restart_order(make_server):
    """Mail delivered before a restart is still there after it, and new mail adds to it."""
    srv = make_server()
    client = srv.smtplib()
    try:
        client.sendmail("a@remote.example", ["alice@test.example"], b"Subject: one\r\n\r\n1\r\n")
    finally:
        client.quit()
    srv.wait_for_maildir("alice", 1)
    assert srv.stop() == 0, "postern serve did not exit 0 on SIGTERM"
    srv.proc = None
    srv.start()
    client = srv.smtplib()
    try:
        client.sendmail("a@remote.example", ["alice@test.example"], b"Subject: two\r\n\r\n2\r\n")
    finally:
        client.quit()
    files = srv.wait_for_maildir("alice", 2)
    assert sorted(parse_delivered(f.read_bytes()).message for f in files) == [
        b"Subject: one\r\n\r\n1\r\n", b"Subject: two\r\n\r\n2\r\n"]


@pytest.mark.parametrize("how", ["data", "bdat"])
def test_client_vanishing_mid_message_delivers_nothing(server, how):
    """A connection that drops before the end of the message: nothing delivered, nothing left in the spool."""
    c = server.connect()
    try:
        assert c.cmd("EHLO client.test.invalid").code == 250
        assert_reply(c.cmd("MAIL FROM:<a@remote.example>"), 250, "2.1.0")
        assert_reply(c.cmd("RCPT TO:<alice@test.example>"), 250, "2.1.5")
        if how == "data":
            assert_reply(c.cmd("DATA"), 354)
            c.send(b"Subject: cut\r\n\r\nhalf a message\r\n")
        else:
            c.send(b"BDAT 10\r\n0123456789")
            assert_reply(c.reply(), 250, "2.0.0")
            c.send(b"BDAT 100 LAST\r\nonly some")
        time.sleep(0.1)
    finally:
        c.close()
    # a later message on a new connection is delivered; the cut one never is
    client = server.smtplib()
    try:
        client.sendmail("a@remote.example", ["postmaster@test.example"], b"Subject: after\r\n\r\nok\r\n")
    finally:
        client.quit()
    server.wait_for_maildir("postmaster", 1)
    time.sleep(0.3)
    assert server.all_delivered().keys() == {"postmaster"}
    wait_spool_empty(server)
