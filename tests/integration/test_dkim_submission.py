"""Submission hygiene (RFC 6409 §8) and DKIM at acceptance: an authenticated user's message gets Date: and
Message-ID: only when missing and is signed for the envelope sender's domain when it has a key (verified with
dkimpy); mail that arrives unauthenticated on the mx port is left as it came."""
from __future__ import annotations

import dkim

from queue_support import parse_message, send_mx, submit
from test_queue_mx import dkim_dns, keygen

BARE = b"From: Alice <alice@test.example>\r\nTo: bob@test.example\r\nSubject: bare\r\n\r\nNo date, no id.\r\n"
DATED = (b"From: Alice <alice@test.example>\r\nTo: bob@test.example\r\nSubject: dated\r\n"
         b"Date: Tue, 01 Dec 2026 08:00:00 +0100\r\nMessage-ID: <mine@test.example>\r\n\r\nKept.\r\n")


def test_missing_date_and_message_id_are_added_for_authenticated_users(subserver):
    submit(subserver, "alice@test.example", ["bob@test.example"], BARE)
    submit(subserver, "alice@test.example", ["bob@test.example"], DATED)
    files = subserver.wait_for_maildir("bob", 2)
    bare = parse_message(files[0].read_bytes())
    assert bare["Subject"] == "bare"
    assert bare["Date"] and bare["Date"].datetime is not None
    assert bare["Message-ID"].endswith("@mx.test.example>")
    dated = parse_message(files[1].read_bytes())
    assert dated.get_all("Date") == ["Tue, 01 Dec 2026 08:00:00 +0100"]
    assert dated.get_all("Message-ID") == ["<mine@test.example>"]
    assert "DKIM-Signature" not in dated, "no key, no signature"


def test_signed_for_the_sender_domain_with_a_key_only(make_submission_server):
    srv = make_submission_server()
    name, value = keygen(srv, "test.example", "--selector", "s1")
    submit(srv, "alice@test.example", ["bob@test.example"], BARE)
    submit(srv, "alice@other.example", ["bob@test.example"], BARE)  # other.example has no key
    send_mx(srv, "someone@test.example", ["bob@test.example"], BARE)  # not authenticated: not signed
    files = srv.wait_for_maildir("bob", 3)
    signed = files[0].read_bytes()
    assert dkim.verify(signed, dnsfunc=dkim_dns({name: value}))
    sig = parse_message(signed)["DKIM-Signature"]
    assert "d=test.example" in sig and "s=s1" in sig and "a=rsa-sha256" in sig
    assert "DKIM-Signature" not in parse_message(files[1].read_bytes())
    unsigned = parse_message(files[2].read_bytes())
    assert "DKIM-Signature" not in unsigned and "Date" not in unsigned
    # Tampering breaks the signature.
    assert not dkim.verify(signed.replace(b"No date, no id.", b"Changed."), dnsfunc=dkim_dns({name: value}))
