"""`postern check-config`, `postern serve` on bad configs, and `postern user add|del|list`."""
from __future__ import annotations

import re
import socket
import subprocess

import pytest

from conftest import CLI_TIMEOUT, free_port, render_config

GOOD_LIMITS = {"max_message_size": 10240, "max_recipients": 3, "command_timeout": "2s",
               "data_timeout": "2s", "idle_timeout": "2s"}
GOOD_AUTH = {"argon2_ops": 1, "argon2_mem_kib": 8192}


def run(binary, *args, input=None, cwd=None):
    return subprocess.run([str(binary), *args], input=input, capture_output=True, text=True,
                          timeout=CLI_TIMEOUT, cwd=cwd)


def good_config(tmp_path, **overrides) -> str:
    return render_config(overrides.get("hostname", "mx.test.example"), tmp_path / "data",
                         ["test.example", "other.example"],
                         [{"mode": "mx", "address": f"127.0.0.1:{free_port()}"}],
                         overrides.get("limits", GOOD_LIMITS), GOOD_AUTH)


def line_of(text: str, needle: str) -> int:
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in config")


def names_line(stderr: str, lineno: int) -> bool:
    """`file:N:` / `file:N:M:` (compiler style) or `line N`."""
    return bool(re.search(rf"(:{lineno}:|\bline {lineno}\b)", stderr))


def assert_names_line(stderr: str, lineno: int):
    assert names_line(stderr, lineno), f"stderr does not name line {lineno} (as ':{lineno}:' or 'line {lineno}'): {stderr!r}"


def test_check_config_ok(postern_path, tmp_path):
    cfg = tmp_path / "ok.toml"
    cfg.write_text(good_config(tmp_path))
    proc = run(postern_path, "check-config", "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr


def test_check_config_ipv6_listener_ok(postern_path, tmp_path):
    cfg = tmp_path / "ok6.toml"
    cfg.write_text(good_config(tmp_path).replace('address = "127.0.0.1:', 'address = "[::1]:'))
    proc = run(postern_path, "check-config", "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr


# (description, original substring, replacement, key that must be named)
BAD = [
    ("wrong type", "max_recipients = 3", 'max_recipients = "many"', "max_recipients"),
    ("negative size", "max_message_size = 10240", "max_message_size = -5", "max_message_size"),
    ("bad duration", 'command_timeout = "2s"', 'command_timeout = "2 fortnights"', "command_timeout"),
    ("empty duration", 'data_timeout = "2s"', 'data_timeout = ""', "data_timeout"),
    ("bad listener mode", 'mode = "mx"', 'mode = "carrier-pigeon"', "mode"),
    ("bad listener address", 'address = "127.0.0.1:', 'address = "not-an-address:', "address"),
    ("port out of range", 'address = "127.0.0.1:', 'address = "127.0.0.1:99999', "address"),
    ("local_domains not a list", 'local_domains = ["test.example", "other.example"]',
     'local_domains = "test.example"', "local_domains"),
    ("unknown key (typo)", "max_recipients = 3", "max_recipents = 3", "max_recipents"),
]


@pytest.mark.parametrize("desc,old,new,key", BAD, ids=[b[0] for b in BAD])
@pytest.mark.parametrize("command", ["check-config", "serve"])
def test_bad_config_names_key_and_line(postern_path, tmp_path, desc, old, new, key, command):
    text = good_config(tmp_path)
    assert old in text
    if old.endswith(":"):  # address prefix: replace up to the closing quote
        text = re.sub(re.escape(old) + r"[0-9]+", new, text)
    else:
        text = text.replace(old, new)
    lineno = line_of(text, new)
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    proc = run(postern_path, command, "--config", str(cfg))
    assert proc.returncode == 2, f"{desc}: exit {proc.returncode}, stderr {proc.stderr!r}"
    assert key in proc.stderr, f"{desc}: stderr does not name {key!r}: {proc.stderr!r}"
    assert_names_line(proc.stderr, lineno)


@pytest.mark.parametrize("command", ["check-config", "serve"])
def test_toml_syntax_error(postern_path, tmp_path, command):
    text = good_config(tmp_path) + "\n[limits\nbroken = \n"
    lineno = len(text.rstrip("\n").splitlines()) - 1  # the "[limits" line
    cfg = tmp_path / "syntax.toml"
    cfg.write_text(text)
    proc = run(postern_path, command, "--config", str(cfg))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip(), "no message on stderr"
    assert names_line(proc.stderr, lineno) or names_line(proc.stderr, lineno + 1), proc.stderr


@pytest.mark.parametrize("command", ["check-config", "serve"])
def test_missing_config_file(postern_path, tmp_path, command):
    missing = tmp_path / "does-not-exist.toml"
    proc = run(postern_path, command, "--config", str(missing))
    assert proc.returncode == 2, proc.stderr
    assert "does-not-exist.toml" in proc.stderr, proc.stderr


def test_serve_bad_config_does_not_listen(postern_path, tmp_path):
    port = free_port()
    text = good_config(tmp_path).replace("max_recipients = 3", "max_recipients = \"x\"")
    text = re.sub(r'address = "127\.0\.0\.1:[0-9]+"', f'address = "127.0.0.1:{port}"', text)
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    proc = run(postern_path, "serve", "--config", str(cfg))  # must return by itself (bounded by timeout)
    assert proc.returncode == 2
    with socket.socket() as s:
        s.settimeout(1)
        assert s.connect_ex(("127.0.0.1", port)) != 0


# ------------------------------------------------------------------------------------------ users

@pytest.fixture
def cli(make_server):
    """A configured (not started) server: only its CLI is used."""
    return make_server(users={}, start=False)


def test_user_add_list_del(cli):
    assert cli.list_users() == []
    cli.add_user("alice", "pw-alice")
    cli.add_user("bob", "pw-bob")
    assert sorted(cli.list_users()) == ["alice", "bob"]
    cli.del_user("alice")
    assert cli.list_users() == ["bob"]


def test_user_list_one_name_per_line(cli):
    for name in ("zed", "amy", "mike"):
        cli.add_user(name, "pw")
    out = cli.cli("user", "list", check=True).stdout
    # the contract: one user name per line, nothing else (so that `postern user list | xargs` works)
    assert sorted(out.splitlines()) == ["amy", "mike", "zed"], out


def test_user_add_duplicate_fails(cli):
    cli.add_user("alice", "pw")
    proc = cli.cli("user", "add", "alice", input="other\n")
    assert proc.returncode != 0
    assert proc.stderr.strip()
    assert cli.list_users() == ["alice"]


def test_user_del_missing_fails(cli):
    proc = cli.cli("user", "del", "ghost")
    assert proc.returncode != 0
    assert proc.stderr.strip()


@pytest.mark.parametrize("name", ["bad name", "", "-dash", "a/b", "x" * 65, "ünï"])
def test_user_add_invalid_name(cli, name):
    proc = cli.cli("user", "add", name, input="pw\n")
    assert proc.returncode != 0, f"accepted invalid user name {name!r}"
    assert cli.list_users() == []


def test_user_add_empty_password_fails(cli):
    proc = cli.cli("user", "add", "alice", input="\n")
    assert proc.returncode != 0
    proc = cli.cli("user", "add", "alice", input="")
    assert proc.returncode != 0
    assert cli.list_users() == []


def test_user_cli_uses_configs_data_dir(cli):
    cli.add_user("alice", "pw")
    assert (cli.data_dir).is_dir()
    assert any(cli.data_dir.iterdir()), "user add did not create anything in data_dir"
    assert not (cli.workdir / "var").exists(), "CLI ignored --config and used ./var"


def test_server_on_ipv6_loopback(make_server):
    srv = make_server(host="::1")
    with srv.connect() as c:
        assert c.greeting.code == 220
        assert c.cmd("EHLO client.test.invalid").code == 250
        assert c.cmd("MAIL FROM:<a@remote.example>").code == 250
        assert c.cmd("RCPT TO:<alice@test.example>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: v6\r\n\r\nover ::1\r\n.\r\n")
        assert c.reply().code == 250
    srv.wait_for_maildir("alice", 1)


def test_sigterm_exits_cleanly(make_server):
    srv = make_server(users={})
    with srv.connect() as c:
        assert c.greeting.code == 220
    assert srv.stop() == 0, f"serve did not exit 0 on SIGTERM:\n{srv.stderr()}"
