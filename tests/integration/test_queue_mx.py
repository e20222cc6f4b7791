"""Remote delivery found by MX records that a loopback dnsmasq serves: a second Postern (or a scripted SMTP
server) on 127.0.0.1 plays the internet, [delivery] smtp_port points at it. Submission on 587 → MX → the remote
Maildir, DKIM-signed (verified by dkimpy); MX preference and fallback, A/AAAA fallback, null MX and NXDOMAIN,
4xx then recovery, 5xx with a DSN in the sender's Maildir, connection reuse, the per-destination limit, the
delay warning and the queue lifetime."""
from __future__ import annotations

import threading
import time

import dkim
import pytest

from conftest import DEFAULT_USERS
from queue_support import (Dnsmasq, QueuePostern, ScriptedSMTP, dsn_fields, parse_message, submit,
                           wait_until)

MESSAGE = (b"From: Alice <alice@test.example>\r\n"
           b"To: Bob <bob@remote.example>\r\n"
           b"Subject: over the internet\r\n"
           b"\r\n"
           b"Hello, remote world.\r\n"
           b"..a line that starts with a dot\r\n")


@pytest.fixture
def dns(tmp_path):
    d = Dnsmasq(tmp_path / "dns")
    yield d
    d.stop()


@pytest.fixture
def make_queue_server(postern_path, tmp_path, request, default_users_data_dir):
    """QueuePostern factory; its DNS is `dns` (started here if not yet) and its MX port `smtp_port`."""
    import shutil
    from conftest import _attach
    servers = []

    def factory(*, dns: Dnsmasq, smtp_port: int, sections: dict | None = None, start: bool = True, **kw):
        merged = {"dns": {"resolver": dns.address, "timeout": "3s"},
                  "delivery": {"smtp_port": smtp_port, "connect_timeout": "2s", "command_timeout": "5s"},
                  "queue": {"retry_schedule": ["1s"], "delivery_threads": 4}}
        for name, values in (sections or {}).items():
            merged.setdefault(name, {}).update(values)
        srv = QueuePostern(postern_path, tmp_path / f"q{len(servers)}", sections=merged, **kw)
        servers.append(srv)
        _attach(request, srv)
        shutil.copytree(default_users_data_dir, srv.data_dir)
        if start:
            srv.start()
        return srv

    yield factory
    for srv in servers:
        srv.stop()


def remote_mx(make_server):
    """A second Postern that is the MX of remote.example (users alice, bob, postmaster there)."""
    return make_server(local_domains=["remote.example"], hostname="mx.remote.example")


def wait_delivered(srv, user, n=1, timeout=15.0):
    return srv.wait_for_maildir(user, n, timeout=timeout)


def dkim_dns(records: dict[str, str]):
    def lookup(name, timeout=5):
        key = name.decode() if isinstance(name, bytes) else name
        value = records.get(key.rstrip("."))
        return value.encode() if value else None
    return lookup


def keygen(srv, domain, *extra) -> tuple[str, str]:
    out = srv.cli("dkim", "keygen", domain, *extra, check=True).stdout.strip()
    name, _, rest = out.partition(". IN TXT ")
    value = "".join(part for part in rest.split('"')[1::2])
    return name, value


def test_submission_reaches_remote_mx_dkim_signed(make_server, make_queue_server, dns):
    remote = remote_mx(make_server)
    dns.mx("remote.example", "mx1.remote.example", 10).a("mx1.remote.example").start()
    srv = make_queue_server(dns=dns, smtp_port=remote.port)
    rsa_name, rsa_value = keygen(srv, "test.example")
    ed_name, ed_value = keygen(srv, "test.example", "--selector", "ed", "--algorithm", "ed25519")
    assert rsa_name == "postern._domainkey.test.example" and rsa_value.startswith("v=DKIM1; k=rsa; p=")
    assert ed_name == "ed._domainkey.test.example" and ed_value.startswith("v=DKIM1; k=ed25519; p=")

    submit(srv, "alice@test.example", ["bob@remote.example"], MESSAGE)
    files = wait_delivered(remote, "bob")
    data = files[0].read_bytes()
    msg = parse_message(data)
    assert msg["Return-Path"] == "<alice@test.example>"
    hop = " ".join(msg.get_all("Received")[0].split())
    assert "with ESMTPS" in hop and "TLS" in hop, f"opportunistic STARTTLS not used: {hop}"
    assert msg["Message-ID"] and msg["Date"], "submission adds Message-ID and Date (RFC 6409 §8)"
    assert b"\r\n.a line that starts with a dot\r\n" in data
    assert len(msg.get_all("DKIM-Signature")) == 2
    lookup = dkim_dns({rsa_name: rsa_value, ed_name: ed_value})
    # Verify every signature independently (dkimpy), after the receiving server's own trace headers.
    for i in range(2):
        d = dkim.DKIM(data)
        assert d.verify(idx=i, dnsfunc=lookup), f"signature {i} does not verify: {d.domain} {d.selector}"
    sigs = {s.split("s=")[1].split(";")[0] for s in msg.get_all("DKIM-Signature")}
    assert sigs == {"postern", "ed"}
    wait_until(lambda: not srv.spool_files(), what="empty spool")


def test_mx_preference_order_and_fallback_to_next_host(make_server, make_queue_server, dns):
    remote = remote_mx(make_server)
    # The preferred MX has an address where nothing listens: connection refused, so the next one is used.
    dns.mx("remote.example", "dead.remote.example", 5).a("dead.remote.example", "127.0.0.2")
    dns.mx("remote.example", "mx2.remote.example", 20).a("mx2.remote.example").start()
    srv = make_queue_server(dns=dns, smtp_port=remote.port)
    submit(srv, "alice@test.example", ["bob@remote.example"], MESSAGE)
    wait_delivered(remote, "bob")
    log = dns.log()
    assert log.index("dead.remote.example") < log.index("mx2.remote.example"), "MX hosts not tried in order"
    assert "delivery trying next host" in srv.stderr()


def test_domain_without_mx_gets_its_address_record(make_server, make_queue_server, dns):
    remote = remote_mx(make_server)
    dns.a("remote.example").start()  # no MX at all: RFC 5321 §5.1 implicit MX
    srv = make_queue_server(dns=dns, smtp_port=remote.port)
    submit(srv, "alice@test.example", ["bob@remote.example"], MESSAGE)
    wait_delivered(remote, "bob")


@pytest.mark.parametrize("case", ["null_mx", "nxdomain"])
def test_null_mx_and_unknown_domain_bounce_at_once(make_queue_server, dns, case):
    if case == "null_mx":
        dns.null_mx("nomail.example")
    dns.start()
    srv = make_queue_server(dns=dns, smtp_port=9, sections={"queue": {"retry_schedule": ["1h"]}})
    submit(srv, "alice@test.example", ["bob@nomail.example"], MESSAGE)
    files = wait_delivered(srv, "alice")
    msg, rcpts = dsn_fields(files[0].read_bytes())
    assert msg["From"] == "Mail Delivery System <MAILER-DAEMON@mx.test.example>"
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert rcpts[0]["final-recipient"] == "rfc822; bob@nomail.example"
    assert rcpts[0]["action"] == "failed"
    assert rcpts[0]["status"] == ("5.1.10" if case == "null_mx" else "5.1.2")
    parsed = parse_message(files[0].read_bytes())
    assert parsed["Return-Path"] == "<>", "a DSN comes from the null path"
    wait_until(lambda: not srv.spool_files(), what="empty spool")


def test_4xx_is_retried_until_the_destination_recovers(make_queue_server, dns):
    dns.mx("remote.example", "mx.remote.example").a("mx.remote.example").start()
    remote = ScriptedSMTP(lambda stage, arg, n: "451 4.7.1 greylisted, try again" if stage == "rcpt" and n <= 2 else None)
    try:
        srv = make_queue_server(dns=dns, smtp_port=remote.port,
                                sections={"delivery": {"connection_cache_time": "0s"}})
        qid = submit(srv, "alice@test.example", ["bob@remote.example"], MESSAGE)
        wait_until(lambda: remote.messages, timeout=20, what="delivery after the 4xx")
        assert remote.connections >= 3
        sender, rcpts, data = remote.messages[0]
        assert (sender, rcpts) == ("alice@test.example", ["bob@remote.example"])
        assert b"Subject: over the internet" in data
        assert f"queue deferred id={qid}" in srv.stderr()
        wait_until(lambda: not srv.spool_files(), what="empty spool")
        assert srv.all_delivered() == {}, "no bounce for a recovered delivery"
    finally:
        remote.stop()


def test_5xx_bounces_one_recipient_and_delivers_the_others(make_queue_server, dns):
    dns.mx("remote.example", "mx.remote.example").a("mx.remote.example").start()
    remote = ScriptedSMTP(lambda stage, arg, n: "550 5.1.1 <nobody@remote.example>: Recipient address rejected: "
                          "User unknown in virtual mailbox table" if stage == "rcpt" and arg.startswith("nobody") else None)
    try:
        srv = make_queue_server(dns=dns, smtp_port=remote.port)
        qid = submit(srv, "alice@test.example", ["bob@test.example", "carol@remote.example", "nobody@remote.example"],
                     MESSAGE)
        wait_until(lambda: remote.messages, what="remote delivery")
        assert remote.messages[0][1] == ["carol@remote.example"]
        wait_delivered(srv, "bob")
        files = wait_delivered(srv, "alice")
        msg, rcpts = dsn_fields(files[0].read_bytes())
        assert len(rcpts) == 1
        r = rcpts[0]
        assert r["final-recipient"] == "rfc822; nobody@remote.example"
        assert r["action"] == "failed" and r["status"] == "5.1.1"
        assert r["remote-mta"] == "dns; mx.remote.example"
        assert r["diagnostic-code"] == ("smtp; 550 5.1.1 <nobody@remote.example>: Recipient address rejected: "
                                        "User unknown in virtual mailbox table")
        text = files[0].read_bytes().decode()
        assert "host mx.remote.example said: 550 5.1.1" in text
        assert f"X-Postern-Queue-ID: {qid}" in text
        assert "Subject: over the internet" in text, "the original headers are attached"
        wait_until(lambda: not srv.spool_files(), what="empty spool")
        assert len(srv.maildir_files("alice")) == 1
    finally:
        remote.stop()


def test_connection_reuse_and_per_destination_limit(make_queue_server, dns):
    dns.mx("remote.example", "mx.remote.example").a("mx.remote.example").start()
    active = {"now": 0, "max": 0}
    lock = threading.Lock()

    def script(stage, arg, n):
        if stage == "mail":
            with lock:
                active["now"] += 1
                active["max"] = max(active["max"], active["now"])
        if stage == "end":
            time.sleep(0.2)
            with lock:
                active["now"] -= 1
        return None

    remote = ScriptedSMTP(script)
    try:
        srv = make_queue_server(dns=dns, smtp_port=remote.port,
                                sections={"delivery": {"destination_concurrency": 2, "connection_cache_time": "30s"}})
        threads = [threading.Thread(target=submit, args=(srv, "alice@test.example", [f"u{i}@remote.example"],
                                                          MESSAGE)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        wait_until(lambda: len(remote.messages) == 8, timeout=30, what="8 deliveries")
        assert active["max"] <= 2, f"{active['max']} transactions at once to one destination"
        assert remote.connections <= 2, f"{remote.connections} connections for 8 messages: no reuse"
    finally:
        remote.stop()


def test_delay_warning_then_expiry_bounce(make_queue_server, dns):
    dns.mx("remote.example", "mx.remote.example").a("mx.remote.example").start()
    remote = ScriptedSMTP(lambda stage, arg, n: "452 4.2.2 mailbox full" if stage == "rcpt" else None)
    try:
        srv = make_queue_server(dns=dns, smtp_port=remote.port,
                                sections={"queue": {"delay_warning_time": "1s", "max_queue_lifetime": "4s",
                                                    "retry_schedule": ["1s"]}})
        submit(srv, "alice@test.example", ["bob@remote.example"], MESSAGE)
        files = wait_delivered(srv, "alice", 2, timeout=30)
        warn, wr = dsn_fields(files[0].read_bytes())
        assert warn["Subject"] == "Delayed Mail (still being retried)"
        assert wr[0]["action"] == "delayed" and wr[0]["status"] == "4.2.2"
        assert "will-retry-until" in wr[0]
        final, fr = dsn_fields(files[1].read_bytes())
        assert final["Subject"] == "Undelivered Mail Returned to Sender"
        assert fr[0]["action"] == "failed"
        assert fr[0]["status"] == "4.2.2"
        assert "452 4.2.2 mailbox full" in fr[0]["diagnostic-code"]
        wait_until(lambda: not srv.spool_files(), what="empty spool")
        time.sleep(1.5)
        assert len(srv.maildir_files("alice")) == 2, "one warning and one bounce, no more"
    finally:
        remote.stop()


def test_a_cached_session_closed_by_the_server_is_not_a_deferral(make_queue_server, dns):
    dns.mx("remote.example", "mx.remote.example").a("mx.remote.example").start()
    remote = ScriptedSMTP(idle_close=0.1)  # the server ends each session with 421 soon after a message
    try:
        srv = make_queue_server(dns=dns, smtp_port=remote.port,
                                sections={"delivery": {"connection_cache_time": "30s"},
                                          "queue": {"retry_schedule": ["1h"]}})
        submit(srv, "alice@test.example", ["bob@remote.example"], MESSAGE)
        wait_until(lambda: len(remote.messages) == 1, what="first delivery")
        time.sleep(0.5)
        submit(srv, "alice@test.example", ["carol@remote.example"], MESSAGE)
        wait_until(lambda: len(remote.messages) == 2, what="second delivery on a fresh connection")
        assert "queue deferred" not in srv.stderr()
        assert remote.connections == 2
    finally:
        remote.stop()
