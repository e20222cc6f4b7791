"""`postern probe`: a real SMTP session against a running Postern and a private Postfix, each exchange explained,
and a verdict in plain words. Everything stays on 127.0.0.1."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import CLI_TIMEOUT, DEFAULT_USERS, free_port

PROBE_TIMEOUT = 60


def run_probe(binary: Path, *args: str, lang: str = "en") -> subprocess.CompletedProcess:
    argv = [str(binary), "probe", *args, "--lang", lang, "--timeout", "10"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT, stdin=subprocess.DEVNULL)


def verdict(proc: subprocess.CompletedProcess, label: str = "Verdict") -> str:
    """The verdict paragraph at the end of the transcript, its wrapped lines joined with single spaces."""
    out = proc.stdout
    assert "\n" + label in out, f"no verdict in\n{out}\n{proc.stderr}"
    return " ".join(out[out.rindex("\n" + label) + 1:].split())


@pytest.fixture
def pwfile(tmp_path):
    def make(password: str) -> Path:
        p = tmp_path / f"pw-{abs(hash(password))}"
        p.write_text(password + "\n")
        p.chmod(0o600)
        return p
    return make


# ---------------------------------------------------------------------------------------------
# Against Postern

def test_starttls_and_auth_on_submission_ends_with_an_ok_verdict(subserver, postern_path, pwfile):
    proc = run_probe(postern_path, f"127.0.0.1:{subserver.sub_port}", "--starttls", "--user", "alice",
                     "--password-file", str(pwfile(DEFAULT_USERS["alice"])))
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "S: 220 mx.test.example ESMTP Postern" in out
    assert "220 Service ready" in out                      # the explanation under the greeting
    assert "C: EHLO probe.postern.invalid" in out
    assert "S: 250-STARTTLS" in out or "STARTTLS" in out
    assert "C: STARTTLS" in out and "S: 220 2.0.0 Ready to start TLS" in out
    assert "TLS is on: TLSv1." in out and "certificate not verified" in out
    assert "C: AUTH PLAIN (hidden)" in out
    assert "S: 235 2.7.0 Authentication successful" in out
    assert "235 Authentication succeeded: the login worked" in out
    assert "S: 221 2.0.0" in out
    assert DEFAULT_USERS["alice"] not in out
    assert verdict(proc).startswith("Verdict: everything worked: greeting, EHLO, STARTTLS, TLS handshake, login (AUTH).")


def test_test_message_is_delivered(subserver, postern_path, pwfile):
    proc = run_probe(postern_path, f"127.0.0.1:{subserver.sub_port}", "--starttls", "--user", "alice",
                     "--password-file", str(pwfile(DEFAULT_USERS["alice"])),
                     "--from", "alice@test.example", "--to", "bob@test.example")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "C: MAIL FROM:<alice@test.example>" in proc.stdout
    assert "S: 250 2.1.5 Recipient ok" in proc.stdout
    assert "S: 354 " in proc.stdout and "(test message, " in proc.stdout
    assert "S: 250 2.0.0 Ok: queued as " in proc.stdout
    assert "message (DATA)" in verdict(proc)
    files = subserver.wait_for_maildir("bob", 1)
    assert b"Subject: Postern probe test message" in files[0].read_bytes()


def test_implicit_tls_on_submissions(subserver, postern_path, pwfile):
    proc = run_probe(postern_path, f"127.0.0.1:{subserver.subs_port}", "--tls", "--user", "bob",
                     "--password-file", str(pwfile(DEFAULT_USERS["bob"])))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.index("TLS is on") < proc.stdout.index("S: 220 mx.test.example")
    assert "everything worked: TLS handshake, greeting, EHLO, login (AUTH)." in verdict(proc)


def test_wrong_password_verdict_is_about_the_credentials(subserver, postern_path, pwfile):
    proc = run_probe(postern_path, f"127.0.0.1:{subserver.sub_port}", "--starttls", "--user", "alice",
                     "--password-file", str(pwfile("not-the-password")))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "S: 535 5.7.8 Authentication credentials invalid" in proc.stdout
    assert "535 Authentication credentials invalid: the login failed" in proc.stdout
    assert "5.7.8 Authentication credentials invalid (permanent failure; security or policy)" in proc.stdout
    v = verdict(proc)
    assert "the server refused the credentials (535 5.7.8)" in v
    assert "check the user name, the password or app password, and the mechanism" in v
    assert "S: 221" in proc.stdout  # the probe still says goodbye
    assert "not-the-password" not in proc.stdout


@pytest.mark.parametrize("lang,words", [("vi", "Kết luận: máy chủ từ chối thông tin đăng nhập (535 5.7.8)"),
                                        ("zh", "结论：服务器拒绝了登录凭据（535 5.7.8）")])
def test_verdict_in_vietnamese_and_chinese(subserver, postern_path, pwfile, lang, words):
    proc = run_probe(postern_path, f"127.0.0.1:{subserver.sub_port}", "--starttls", "--user", "alice",
                     "--password-file", str(pwfile("wrong")), lang=lang)
    assert proc.returncode == 1
    label = {"vi": "Kết luận", "zh": "结论"}[lang]
    assert verdict(proc, label).startswith(words), proc.stdout


def test_mail_before_auth_gets_530_explained(subserver, postern_path):
    proc = run_probe(postern_path, f"127.0.0.1:{subserver.sub_port}", "--starttls",
                     "--from", "alice@test.example", "--to", "bob@test.example")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "S: 530 5.7.0 Authentication required" in proc.stdout
    assert "530 Authentication required: log in first" in proc.stdout
    assert "the server wants a login before it takes mail (530 5.7.0): give --user and --password-file" in verdict(proc)


def test_relay_and_unknown_user_on_the_mx_port(subserver, postern_path):
    proc = run_probe(postern_path, f"127.0.0.1:{subserver.port}", "--from", "x@client.example",
                     "--to", "someone@elsewhere.example")
    assert proc.returncode == 1
    assert "S: 554 5.7.1 Relay access denied" in proc.stdout
    assert "does not relay mail to <someone@elsewhere.example> for you (554 5.7.1)" in verdict(proc)

    proc = run_probe(postern_path, f"127.0.0.1:{subserver.port}", "--from", "x@client.example",
                     "--to", "nobody@test.example")
    assert proc.returncode == 1
    assert "S: 550 5.1.1 No such user here" in proc.stdout
    assert "there is no mailbox <nobody@test.example> at this server (550 5.1.1)" in verdict(proc)


def test_verify_refuses_a_self_signed_certificate(subserver, postern_path):
    proc = run_probe(postern_path, f"127.0.0.1:{subserver.sub_port}", "--starttls", "--verify")
    assert proc.returncode == 1, proc.stdout
    v = verdict(proc)
    assert "the TLS handshake failed: certificate verify failed." in v, v
    proc = run_probe(postern_path, f"127.0.0.1:{subserver.sub_port}", "--starttls")  # the default: not verified
    assert proc.returncode == 0 and "certificate not verified (add --verify to check it)" in proc.stdout


def test_auth_is_not_offered_before_tls(subserver, postern_path, pwfile):
    proc = run_probe(postern_path, f"127.0.0.1:{subserver.sub_port}", "--user", "alice",
                     "--password-file", str(pwfile(DEFAULT_USERS["alice"])))
    assert proc.returncode == 1
    assert "C: AUTH" not in proc.stdout  # no password over a plain connection
    assert "does not offer AUTH on this unencrypted connection" in verdict(proc)
    assert "add --starttls" in verdict(proc)


def test_json_transcript(subserver, postern_path, pwfile):
    proc = run_probe(postern_path, f"127.0.0.1:{subserver.sub_port}", "--starttls", "--user", "alice",
                     "--password-file", str(pwfile(DEFAULT_USERS["alice"])), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["verdict"]["ok"] is True and doc["verdict"]["step"] is None
    codes = [x["code"] for x in doc["exchanges"]]
    assert codes[0] == 220 and 235 in codes and codes[-1] == 221
    assert any("TLSv1" in x.get("note", "") for x in doc["exchanges"])
    auth = next(x for x in doc["exchanges"] if x["code"] == 235)
    assert auth["client"] == "AUTH PLAIN (hidden)" and auth["enhanced"] == "2.7.0"
    assert auth["explanation"].startswith("235 Authentication succeeded")


def test_connection_refused_and_tls_on_a_plain_port(server, postern_path):
    port = free_port()
    proc = run_probe(postern_path, f"127.0.0.1:{port}")
    assert proc.returncode == 1
    assert f"could not connect to 127.0.0.1:{port}" in verdict(proc)

    proc = run_probe(postern_path, f"127.0.0.1:{server.port}", "--tls")
    assert proc.returncode == 1
    assert "the TLS handshake failed" in verdict(proc)


@pytest.mark.parametrize("args", [["nohostport"], ["127.0.0.1:0"], ["127.0.0.1:25", "--user", "a"],
                                  ["127.0.0.1:25", "--from", "a@b.example"], ["127.0.0.1:25", "--starttls", "--tls"],
                                  ["127.0.0.1:25", "--lang", "fr"]])
def test_bad_usage_exits_2(postern_path, args):
    proc = subprocess.run([str(postern_path), "probe", *args], capture_output=True, text=True, timeout=CLI_TIMEOUT,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("postern: ")


def test_missing_password_file_exits_2(postern_path, tmp_path):
    proc = subprocess.run([str(postern_path), "probe", "127.0.0.1:25", "--user", "a", "--password-file",
                           str(tmp_path / "nope")], capture_output=True, text=True, timeout=CLI_TIMEOUT,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert "cannot read the password file" in proc.stderr


# ---------------------------------------------------------------------------------------------
# Against a private Postfix instance on loopback (its own config, queue and data directories)

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
SASLPASSWD2 = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"
POSTFIX_HOST = "postfix.test.example"
CAROL_PASSWORD = "carol-postfix-pw"

MASTER_SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PrivatePostfix:
    """Postfix started with `postfix -c DIR start` on two free 127.0.0.1 ports: `mx_port` (STARTTLS offered, no
    AUTH, relays only to relay.test) and `sub_port` (TLS required, AUTH PLAIN/LOGIN from a private sasldb, relay
    for authenticated users). Every message is discarded; no DNS is used."""

    def __init__(self, root: Path):
        self.root = root
        self.conf = root / "etc"
        self.queue = root / "queue"
        self.data = root / "data"
        self.mx_port = free_port()
        self.sub_port = free_port()
        while self.sub_port == self.mx_port:
            self.sub_port = free_port()

    def write(self) -> None:
        self.conf.mkdir(parents=True)
        (self.conf / "sasl").mkdir()
        self.queue.mkdir()  # root-owned; `postfix start` makes its subdirectories with their owners
        self.data.mkdir()
        shutil.chown(self.data, "postfix", "postfix")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-subj", f"/CN={POSTFIX_HOST}", "-days", "2", "-keyout", str(self.conf / "key.pem"),
                        "-out", str(self.conf / "cert.pem")], check=True, capture_output=True, timeout=CLI_TIMEOUT)
        sasldb = self.conf / "sasl" / "sasldb2"
        subprocess.run([SASLPASSWD2, "-c", "-p", "-f", str(sasldb), "-u", POSTFIX_HOST, "carol"],
                       input=CAROL_PASSWORD, text=True, check=True, capture_output=True, timeout=CLI_TIMEOUT)
        shutil.chown(sasldb, "postfix", "postfix")
        (self.conf / "sasl" / "smtpd.conf").write_text(
            f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\nsasldb_path: {sasldb}\n")
        (self.conf / "main.cf").write_text(f"""\
compatibility_level = 3.6
config_directory = {self.conf}
queue_directory = {self.queue}
data_directory = {self.data}
mail_owner = postfix
setgid_group = postdrop
myhostname = {POSTFIX_HOST}
mydomain = test.example
myorigin = $myhostname
mydestination =
relay_domains = relay.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 192.0.2.0/24
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
local_recipient_maps =
alias_maps =
alias_database =
local_transport = discard:
default_transport = discard:
relay_transport = discard:
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
biff = no
maillog_file = {self.root}/maillog
maillog_file_prefixes = {self.root}
smtpd_tls_cert_file = {self.conf}/cert.pem
smtpd_tls_key_file = {self.conf}/key.pem
smtpd_tls_security_level = may
cyrus_sasl_config_path = {self.conf}/sasl
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
smtpd_sasl_local_domain = {POSTFIX_HOST}
""")
        (self.conf / "master.cf").write_text(f"""\
127.0.0.1:{self.mx_port} inet n - n - - smtpd
127.0.0.1:{self.sub_port} inet n - n - - smtpd
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
""" + MASTER_SERVICES)

    def postfix(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([POSTFIX, "-c", str(self.conf), *args], capture_output=True, text=True,
                              timeout=CLI_TIMEOUT, stdin=subprocess.DEVNULL)

    def start(self) -> None:
        self.write()
        proc = self.postfix("start")
        if proc.returncode != 0:
            raise AssertionError(f"postfix start failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}\n{self.log()}")
        deadline = time.monotonic() + 20
        for port in (self.mx_port, self.sub_port):
            while True:
                with socket.socket() as s:
                    s.settimeout(1)
                    try:
                        s.connect(("127.0.0.1", port))
                        break
                    except OSError:
                        pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"postfix did not listen on {port}:\n{self.log()}")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.postfix("stop").returncode != 0:
            self.postfix("abort")
        # `postfix stop` returns before master has exited: wait for its pid file to go, then for the ports.
        pid_file = self.queue / "pid" / "master.pid"
        deadline = time.monotonic() + 15
        while pid_file.exists() and time.monotonic() < deadline:
            try:
                pid = int(pid_file.read_text().split()[0])
                os.kill(pid, 0)
            except (OSError, ValueError, IndexError):
                break
            time.sleep(0.1)

    def log(self) -> str:
        try:
            return (self.root / "maillog").read_text(errors="replace")[-5000:]
        except FileNotFoundError:
            return "(no maillog)"


@pytest.fixture(scope="module")
def postfix():
    if not Path(POSTFIX).exists():
        pytest.skip("postfix is not installed (scripts/setup installs it)")
    if not Path(SASLPASSWD2).exists():
        pytest.skip("saslpasswd2 is not installed (scripts/setup installs sasl2-bin)")
    if os.geteuid() != 0:
        pytest.skip("a private Postfix instance must be started as root (postfix -c DIR start)")
    # Postfix's daemons run as the postfix user and must reach their directories: pytest's own temp dirs are
    # private to root (0700), so the instance lives in a directory of its own under the system temp dir.
    root = Path(tempfile.mkdtemp(prefix="postern-postfix-"))
    root.chmod(0o755)
    instance = PrivatePostfix(root)
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_postfix_greeting_starttls_and_a_message(postfix, postern_path):
    proc = run_probe(postern_path, f"127.0.0.1:{postfix.mx_port}", "--starttls",
                     "--from", "probe@client.example", "--to", "someone@relay.test")
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr + postfix.log()
    assert f"S: 220 {POSTFIX_HOST} ESMTP Postfix" in out
    assert "220 Service ready" in out
    assert "S: 220 2.0.0 Ready to start TLS" in out and "TLS is on: TLSv1." in out
    assert "S: 250 2.1.0 Ok" in out and "S: 250 2.1.5 Ok" in out
    assert "S: 250 2.0.0 Ok: queued as " in out
    assert "S: 221 2.0.0 Bye" in out
    assert verdict(proc).startswith("Verdict: everything worked: greeting, EHLO, STARTTLS, TLS handshake, "
                                    "sender (MAIL FROM), recipient (RCPT TO), message (DATA).")


def test_postfix_relay_access_denied(postfix, postern_path):
    proc = run_probe(postern_path, f"127.0.0.1:{postfix.mx_port}", "--from", "probe@client.example",
                     "--to", "someone@elsewhere.example")
    assert proc.returncode == 1, proc.stdout
    assert "S: 554 5.7.1 <someone@elsewhere.example>: Relay access denied" in proc.stdout
    assert "554 Transaction failed" in proc.stdout
    assert "does not relay mail to <someone@elsewhere.example> for you (554 5.7.1)" in verdict(proc)


def test_postfix_auth_ok_and_authenticated_relay(postfix, postern_path, pwfile):
    proc = run_probe(postern_path, f"127.0.0.1:{postfix.sub_port}", "--starttls", "--user", "carol",
                     "--password-file", str(pwfile(CAROL_PASSWORD)),
                     "--from", "carol@test.example", "--to", "someone@elsewhere.example")
    assert proc.returncode == 0, proc.stdout + proc.stderr + postfix.log()
    assert "C: AUTH PLAIN (hidden)" in proc.stdout
    assert "S: 235 2.7.0 Authentication successful" in proc.stdout
    assert "S: 250 2.0.0 Ok: queued as " in proc.stdout
    assert CAROL_PASSWORD not in proc.stdout


def test_postfix_wrong_password(postfix, postern_path, pwfile):
    proc = run_probe(postern_path, f"127.0.0.1:{postfix.sub_port}", "--starttls", "--user", "carol",
                     "--password-file", str(pwfile("wrong-password")))
    assert proc.returncode == 1, proc.stdout
    assert "S: 535 5.7.8 Error: authentication failed" in proc.stdout
    v = verdict(proc)
    assert "the server refused the credentials (535 5.7.8)" in v
    assert "check the user name, the password or app password, and the mechanism" in v


def test_postfix_wants_starttls_first(postfix, postern_path):
    proc = run_probe(postern_path, f"127.0.0.1:{postfix.sub_port}", "--from", "carol@test.example",
                     "--to", "someone@elsewhere.example")
    assert proc.returncode == 1, proc.stdout
    assert "S: 530 5.7.0 Must issue a STARTTLS command first" in proc.stdout
    assert "530 Authentication required" in proc.stdout
    assert "wants an encrypted connection before it takes mail (530 5.7.0): add --starttls" in verdict(proc)


def test_postfix_without_sasl_on_the_mx_port(postfix, postern_path, pwfile):
    proc = run_probe(postern_path, f"127.0.0.1:{postfix.mx_port}", "--starttls", "--user", "carol",
                     "--password-file", str(pwfile(CAROL_PASSWORD)), lang="zh")
    assert proc.returncode == 1, proc.stdout
    assert verdict(proc, "结论").startswith("结论：服务器在此连接上不提供 AUTH。")
