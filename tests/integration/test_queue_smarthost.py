"""Smarthost relay ([relay]): a second Postern's submission port plays a provider's relay that requires
STARTTLS and AUTH. Delivered with STARTTLS verified against its certificate and AUTH PLAIN; a wrong password,
an untrusted certificate, or a relay without STARTTLS keep the message deferred, never sent in the clear."""
from __future__ import annotations

import shutil

import pytest

from conftest import _attach
from queue_support import QueuePostern, ScriptedSMTP, parse_message, submit, wait_until

MESSAGE = (b"From: Alice <alice@test.example>\r\n"
           b"To: Bob <bob@remote.example>\r\n"
           b"Subject: through the smarthost\r\n"
           b"\r\n"
           b"Relayed.\r\n")


@pytest.fixture
def relay(make_submission_server):
    """The provider's relay: a Postern whose users (alice...) may relay; bob@remote.example is local there."""
    return make_submission_server(hostname="relay.test.example", local_domains=["remote.example", "test.example"])


@pytest.fixture
def make_relay_client(postern_path, tmp_path, request, default_users_data_dir):
    servers = []

    def factory(relay_section: dict):
        srv = QueuePostern(postern_path, tmp_path / f"c{len(servers)}",
                           sections={"relay": relay_section, "queue": {"retry_schedule": ["1s"]},
                                     "delivery": {"connect_timeout": "2s", "command_timeout": "5s"}})
        servers.append(srv)
        _attach(request, srv)
        shutil.copytree(default_users_data_dir, srv.data_dir)
        srv.start()
        return srv

    yield factory
    for srv in servers:
        srv.stop()


def relay_settings(relay, **over):
    s = {"host": "127.0.0.1", "port": relay.sub_port, "starttls": "required",
         "ca_file": str(relay.tls_dir / "cert.pem"), "tls_name": "relay.test.example",
         "username": "alice", "password": "alice-secret-1"}
    s.update(over)
    return s


def test_smarthost_with_starttls_and_auth(relay, make_relay_client):
    srv = make_relay_client(relay_settings(relay))
    submit(srv, "alice@test.example", ["bob@remote.example"], MESSAGE)
    files = relay.wait_for_maildir("bob", 1, timeout=15)
    msg = parse_message(files[0].read_bytes())
    received = msg.get_all("Received")
    relay_hop = " ".join(received[0].split())
    assert "with ESMTPSA" in relay_hop, relay_hop
    assert "TLS" in relay_hop and "alice" in relay_hop
    assert any("by mx.test.example" in r for r in received[1:]), "our own trace header went along"
    assert msg["Subject"] == "through the smarthost"
    wait_until(lambda: not srv.spool_files(), what="empty spool")
    assert "relay=127.0.0.1" in srv.stderr()


def test_smarthost_refuses_our_password_message_stays_queued(relay, make_relay_client):
    srv = make_relay_client(relay_settings(relay, password="wrong-password"))
    qid = submit(srv, "alice@test.example", ["bob@remote.example"], MESSAGE)
    wait_until(lambda: f"queue deferred id={qid}" in srv.stderr(), what="a deferral")
    listing = srv.queue("list").stdout
    assert qid in listing and "relay refused our credentials: 535 5.7.8" in listing
    assert relay.all_delivered() == {}
    assert srv.all_delivered() == {}, "an authentication failure is not a bounce"


def test_smarthost_certificate_must_verify(relay, make_relay_client):
    settings = relay_settings(relay)
    del settings["ca_file"]  # the system CAs do not know the relay's self-signed certificate
    srv = make_relay_client(settings)
    qid = submit(srv, "alice@test.example", ["bob@remote.example"], MESSAGE)
    wait_until(lambda: f"queue deferred id={qid}" in srv.stderr(), what="a deferral")
    assert "certificate" in srv.queue("show", qid).stdout
    assert relay.all_delivered() == {}


def test_required_starttls_missing_nothing_sent(make_relay_client):
    plain = ScriptedSMTP()
    try:
        srv = make_relay_client({"host": "127.0.0.1", "port": plain.port, "starttls": "required",
                                 "username": "alice", "password": "alice-secret-1"})
        qid = submit(srv, "alice@test.example", ["bob@remote.example"], MESSAGE)
        wait_until(lambda: f"queue deferred id={qid}" in srv.stderr(), what="a deferral")
        assert "does not offer STARTTLS, which is required" in srv.queue("list").stdout
        assert plain.transactions == [] and plain.connections >= 1
    finally:
        plain.stop()


def test_opportunistic_relay_without_tls_and_without_credentials(make_relay_client):
    plain = ScriptedSMTP()
    try:
        srv = make_relay_client({"host": "127.0.0.1", "port": plain.port, "starttls": "opportunistic"})
        submit(srv, "alice@test.example", ["bob@remote.example", "carol@elsewhere.example"], MESSAGE)
        wait_until(lambda: plain.messages, what="relayed message")
        sender, rcpts, data = plain.messages[0]
        assert sender == "alice@test.example"
        assert sorted(rcpts) == ["bob@remote.example", "carol@elsewhere.example"], "one transaction for both"
        assert b"Subject: through the smarthost" in data
    finally:
        plain.stop()
