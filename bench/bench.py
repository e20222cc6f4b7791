#!/usr/bin/env python3
"""Postern side by side with Postfix and smtp-sink, in one run on one machine. Run it with `make bench`.

Starts, under one temp directory on the same filesystem:
  - Postern (build/postern) with a generated config: mx, submission and submissions listeners on free
    loopback ports, every abuse limit off, one account `bench`;
  - a private Postfix instance (its own config_directory, queue_directory and data_directory), durable as
    shipped (cleanup fsyncs the queue file before smtpd says 250), delivering to discard: (and, for one
    column, to a Maildir through virtual(8)), with STARTTLS and Cyrus SASL (sasldb) on a submission port;
  - smtp-sink, which stores nothing: the upper bound of the protocol exchange with the same client.
Loads them with Postfix's smtp-source, and with bench/smtpload (our client) for TLS, AUTH and latency.
Prints one line per figure and writes bench/RESULTS.md. Every load is bounded in count and time, every
address is 127.0.0.1, and the whole run is kept under --budget seconds (cases left over are reported as
skipped). Benchmarks print figures; they never assert times.
"""
import argparse
import datetime
import json
import os
import platform
import pwd
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POSTERN = os.environ.get("POSTERN_BIN", os.path.join(ROOT, "build", "postern"))
SMTPLOAD = os.environ.get("SMTPLOAD_BIN", os.path.join(ROOT, "build-bench", "smtpload"))
IDLE = os.path.join(ROOT, "bench", "idle_conns.py")
SMTP_SOURCE = "/usr/sbin/smtp-source"
SMTP_SINK = "/usr/sbin/smtp-sink"
PASSWORD = "bench-password-1"
SENDER = "sender@example.org"
RCPT = "bench@bench.test"
RCPT_MAILDIR = "bench@maildir.test"  # Postfix only: delivered into a Maildir by virtual(8)

START = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - START:6.1f}s] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_greeting(port, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(512).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, 65536), hard))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def files_under(*dirs):
    n = 0
    for d in dirs:
        for _, _, files in os.walk(d):
            n += len(files)
    return n


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_times(pid):
    """(ppid, utime+stime, cutime+cstime) of a process in seconds, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK, (int(fields[13]) + int(fields[14])) / CLK_TCK


def tree_cpu(pid):
    """CPU seconds (user+system) of a process, its live children and the children it has reaped."""
    me = proc_times(pid)
    if me is None:
        return 0.0
    total = me[1] + me[2]
    for p in os.listdir("/proc"):
        if p.isdigit() and int(p) != pid:
            t = proc_times(int(p))
            if t and t[0] == pid:
                total += t[1]
    return total


def rollup_kib(pid):
    """(Rss, Pss, Private) of a process in KiB, from smaps_rollup."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                out[parts[0][:-1]] = int(parts[1])
    return out.get("Rss", 0), out.get("Pss", 0), out.get("Private_Clean", 0) + out.get("Private_Dirty", 0)


# ---------------------------------------------------------------------------------------------- servers


class Postern:
    def __init__(self, base, name, low_cost=True):
        self.name = name
        self.dir = os.path.join(base, name)
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.data, exist_ok=True)
        self.mx, self.sub, self.subs = free_port(), free_port(), free_port()
        self.config = os.path.join(self.dir, "postern.toml")
        auth = ('argon2_ops = 1\nargon2_mem_kib = 1024\n' if low_cost else '') + 'failure_delay = "0s"\n'
        with open(self.config, "w") as f:
            f.write(f'''hostname = "bench.test"
data_dir = "{self.data}"
local_domains = ["bench.test"]
io_threads = 0

[[listeners]]
mode = "mx"
address = "127.0.0.1:{self.mx}"

[[listeners]]
mode = "submission"
address = "127.0.0.1:{self.sub}"

[[listeners]]
mode = "submissions"
address = "127.0.0.1:{self.subs}"

[limits]
max_connections = 0
max_connections_per_ip = 0
connections_per_minute_per_ip = 0
max_errors = 0
messages_per_hour_per_user = 0
recipients_per_hour_per_user = 0
messages_per_hour_per_ip = 0
recipients_per_hour_per_ip = 0
auth_failures_per_ip = 0
auth_failures_per_account = 0
min_data_rate = 0
allow_networks = ["127.0.0.0/8"]

[auth]
{auth}''')
        run([POSTERN, "check-config", "--config", self.config])
        run([POSTERN, "user", "add", "bench", "--config", self.config], input=PASSWORD + "\n")
        self.proc = None

    def start(self):
        self.logf = open(os.path.join(self.dir, "server.log"), "ab")
        self.proc = subprocess.Popen([POSTERN, "serve", "--config", self.config], stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf, preexec_fn=raise_nofile)
        if not wait_greeting(self.mx):
            raise RuntimeError(f"{self.name} did not start; see {self.dir}/server.log")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cpu(self):
        return tree_cpu(self.proc.pid) if self.proc else 0.0

    def pending(self):
        spool = os.path.join(self.data, "spool")
        return files_under(os.path.join(spool, "incoming"), os.path.join(spool, "queue"))

    def clean(self):
        for sub in ("new", "cur", "tmp"):
            d = os.path.join(self.data, "mail", "bench", "Maildir", sub)
            if os.path.isdir(d):
                for name in os.listdir(d):
                    try:
                        os.unlink(os.path.join(d, name))
                    except OSError:
                        pass


class Postfix:
    def __init__(self, base):
        self.dir = os.path.join(base, "postfix")
        self.etc = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "queue")
        self.data = os.path.join(self.dir, "data")
        self.vmail = os.path.join(self.dir, "vmail")
        for d in (self.etc, self.queue, self.data, self.vmail, os.path.join(self.etc, "sasl")):
            os.makedirs(d, exist_ok=True)
        pw = pwd.getpwnam("postfix")
        os.chown(self.data, pw.pw_uid, pw.pw_gid)
        os.chown(self.vmail, pw.pw_uid, pw.pw_gid)
        self.mx, self.sub = free_port(), free_port()
        cert, key = os.path.join(self.etc, "cert.pem"), os.path.join(self.etc, "key.pem")
        # The same key type as Postern's self-signed certificate (EC P-256).
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=bench.test"])
        sasldb = os.path.join(self.etc, "sasl", "sasldb2")
        with open(os.path.join(self.etc, "sasl", "smtpd.conf"), "w") as f:
            f.write(f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\n"
                    f"sasldb_path: {sasldb}\n")
        run(["saslpasswd2", "-p", "-c", "-f", sasldb, "-u", "bench.test", "bench"], input=PASSWORD + "\n")
        os.chown(sasldb, pw.pw_uid, pw.pw_gid)
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(f"""# Private benchmark instance. Durability as shipped: cleanup fsyncs each queue file before 250.
compatibility_level = 3.6
config_directory = {self.etc}
queue_directory = {self.queue}
data_directory = {self.data}
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.test
mydomain = bench.test
myorigin = bench.test
mydestination = bench.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
local_recipient_maps =
alias_maps =
alias_database =
local_transport = discard:
default_transport = discard:
relay_transport = discard:
virtual_mailbox_domains = maildir.test
virtual_transport = virtual
virtual_mailbox_base = {self.vmail}
virtual_mailbox_maps = static:bench/Maildir/
virtual_uid_maps = static:{pw.pw_uid}
virtual_gid_maps = static:{pw.pw_gid}
smtp_dns_support_level = disabled
disable_dns_lookups = yes
biff = no
maillog_file = {self.dir}/maillog
maillog_file_prefixes = {self.dir}
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = may
cyrus_sasl_config_path = {self.etc}/sasl
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
""")
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(f"""# service type  private unpriv  chroot  wakeup  maxproc command
127.0.0.1:{self.mx} inet n - n - - smtpd
127.0.0.1:{self.sub} inet n - n - - smtpd
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
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
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
""")

    def start(self):
        run(["postfix", "-c", self.etc, "check"])
        run(["postfix", "-c", self.etc, "start"])
        if not wait_greeting(self.mx):
            raise RuntimeError(f"postfix did not start; see {self.dir}/maillog")
        return self

    def stop(self):
        subprocess.run(["postfix", "-c", self.etc, "stop"], capture_output=True, timeout=60)

    def master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def smtpd_pids(self, port):
        """The smtpd processes of this instance that hold an established connection on `port`."""
        inodes = set()
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
                    inodes.add(fields[9])
        master = self.master_pid()
        pids = []
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open(f"/proc/{p}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{p}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm != "smtpd" or int(fields[1]) != master or fields[0] == "Z":
                continue
            try:
                links = {os.readlink(f"/proc/{p}/fd/{fd}") for fd in os.listdir(f"/proc/{p}/fd")}
            except OSError:
                continue
            if any(f"socket:[{i}]" in links for i in inodes):
                pids.append(int(p))
        return pids

    def cpu(self):
        master = self.master_pid()
        return tree_cpu(master) if master else 0.0

    def pending(self):
        return files_under(*(os.path.join(self.queue, d) for d in ("maildrop", "incoming", "active", "deferred")))

    def clean(self):
        for sub in ("new", "cur", "tmp"):
            d = os.path.join(self.vmail, "bench", "Maildir", sub)
            if os.path.isdir(d):
                for name in os.listdir(d):
                    try:
                        os.unlink(os.path.join(d, name))
                    except OSError:
                        pass


class Sink:
    def __init__(self, base):
        self.dir = os.path.join(base, "sink")
        os.makedirs(self.dir, exist_ok=True)
        self.mx = free_port()
        self.proc = None

    def start(self):
        self.logf = open(os.path.join(self.dir, "sink.log"), "ab")
        self.proc = subprocess.Popen([SMTP_SINK, "-u", "postfix", f"127.0.0.1:{self.mx}", "1024"],
                                     stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf,
                                     preexec_fn=raise_nofile)
        if not wait_greeting(self.mx):
            raise RuntimeError("smtp-sink did not start")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cpu(self):
        return tree_cpu(self.proc.pid) if self.proc else 0.0

    def pending(self):
        return 0

    def clean(self):
        pass


# ---------------------------------------------------------------------------------------------- loads


def source_cmd(port, sessions, count, size, reuse, to):
    cmd = [SMTP_SOURCE, "-4", "-s", str(sessions), "-m", str(count), "-l", str(size), "-f", SENDER, "-t", to,
           "-M", "client.bench.test"]
    if reuse:
        cmd.append("-d")
    return cmd + [f"127.0.0.1:{port}"]


def run_source(port, sessions, count, size, reuse, to, timeout):
    cmd = source_cmd(port, sessions, count, size, reuse, to)
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    secs = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError(f"smtp-source failed ({p.returncode}): {(p.stderr or p.stdout).strip()[:300]}")
    return {"ok": count, "seconds": secs, "rate": count / secs}


def load_cmd(port, sessions, count, size, per_connection=False, tls="", auth="", rate=0.0, time_limit=20.0,
             sender=SENDER, to=RCPT):
    cmd = [SMTPLOAD, "--port", str(port), "--sessions", str(sessions), "--messages", str(count), "--size",
           str(size), "--time-limit", str(time_limit), "--from", sender, "--to", to]
    if per_connection:
        cmd.append("--per-connection")
    if tls:
        cmd += ["--tls", tls]
    if auth:
        cmd += ["--auth", auth]
    if rate:
        cmd += ["--rate", f"{rate:.1f}"]
    return cmd


def run_load(cmd, timeout):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    try:
        r = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError(f"smtpload: {p.stderr.strip()[:300]}")
    if r["failed"]:
        raise RuntimeError(f"smtpload: {r['failed']} failed, first: {r['error']}")
    return r


# ---------------------------------------------------------------------------------------------- the bench


class Bench:
    def __init__(self, args):
        self.args = args
        self.deadline = START + args.budget
        self.lines = []  # (case, {server: median rate}, {server: [rates]})
        self.costs = []  # (case, {server: (median CPU us per message, median drain seconds)})
        self.commands = []
        self.notes = []
        self.servers = {}

    def time_left(self):
        return self.deadline - time.monotonic()

    def settle(self, servers):
        """Waits (at most 60 s) until the servers have delivered what they accepted, then empties the Maildirs."""
        t0 = time.monotonic()
        while time.monotonic() < t0 + 60 and any(s.pending() for s in servers):
            time.sleep(0.02)
        drained = time.monotonic() - t0
        for s in servers:
            s.clean()
        return drained

    def target(self, name):
        """(port, recipient, server object) of a column."""
        pf, sk = self.servers["postfix"], self.servers["sink"]
        if name.startswith("postern"):
            return self.servers[name].mx, RCPT, self.servers[name]
        return {
            "postfix": (pf.mx, RCPT, pf),
            "postfix-maildir": (pf.mx, RCPT_MAILDIR, pf),
            "sink": (sk.mx, RCPT, sk),
        }[name]

    def throughput_case(self, case):
        """Median messages/s per column; each repetition runs every column back to back, in rotating order."""
        cols = case["columns"]
        case["loadavg"] = loadavg().split()[0]
        case["sync"] = "{:.2f} / {:.2f}".format(*fsync_probe(self.work))
        rates = {c: [] for c in cols}
        extra = {c: [] for c in cols}
        counts = {}
        cmds = {}
        calib = case.get("calibrate", 600 if case["sessions"] > 1 else 200)
        for c in cols:  # calibration run (also a warm-up): sizes the measured runs to ~target seconds
            counts[c] = self.one(case, c, calib, calibrate=True)
        reps = self.args.reps
        for rep in range(reps):
            order = cols[rep % len(cols):] + cols[:rep % len(cols)]
            for c in order:
                if self.time_left() < 20:
                    break
                r, cmd = self.one(case, c, counts[c])
                rates[c].append(r["rate"])
                extra[c].append(r)
                cmds[c] = cmd
        med = {c: (statistics.median(v) if v else None) for c, v in rates.items()}
        cost = {c: (statistics.median(x["cpu_us"] for x in v), statistics.median(x["drain"] for x in v))
                for c, v in extra.items() if v}
        self.lines.append((case, med, rates))
        self.costs.append((case, cost))
        self.commands.append((case, cmds))
        print(format_line(case, med), flush=True)

    def one(self, case, col, count, calibrate=False):
        port, to, server = self.target(col)
        self.settle([server])
        cpu0 = server.cpu()
        timeout = max(10.0, min(60.0, self.time_left() - 5))
        if case["tool"] == "smtp-source":
            r = run_source(port, case["sessions"], count, case["size"], case["reuse"], to, timeout)
            cmd = source_cmd(port, case["sessions"], count, case["size"], case["reuse"], to)
        else:
            kw = dict(case.get("load", {}))
            if col == "postfix":
                kw["auth"] = kw.get("auth", "").replace("bench:", "bench@bench.test:")
                port = self.servers["postfix"].sub if kw.get("tls") else port
            elif col.startswith("postern"):
                pt = self.servers[col]
                port = pt.sub if kw.get("tls") == "starttls" else pt.mx
            cmd = load_cmd(port, case["sessions"], count, case["size"], time_limit=case.get("time_limit", 20.0),
                           **kw)
            r = run_load(cmd, timeout)
        if calibrate:
            rate = r["ok"] / r["seconds"]
            n = int(rate * self.args.target_seconds)
            return max(case.get("min_count", 100), min(n, 200000))
        # What the server spent on these messages: CPU from the first byte until everything accepted was
        # delivered (Postern: Maildir; Postfix: discard or Maildir), and how long that delivery lagged behind.
        drain = self.settle([server])
        cpu_us = (server.cpu() - cpu0) / max(r["ok"], 1) * 1e6
        log(f"{case['id']:<14} {col:<16} {r['ok']:>6} msgs {r['seconds']:6.2f}s {r['rate']:9.1f}/s "
            f"cpu {cpu_us:6.0f} us/msg drain {drain:5.2f}s load {loadavg().split()[0]}")
        return {"rate": r["rate"], "cpu_us": cpu_us, "drain": drain}, cmd

    def latency(self):
        """p50/p99 from connect to the 250 after the data, one connection per message, 4 KiB, paced at half of
        each server's own peak (measured just before with the same client, 20 sessions)."""
        out = []
        for col in ("postern", "postfix", "sink"):
            if self.time_left() < 30:
                out.append((col, None))
                continue
            port, to, server = self.target(col)
            self.settle([server])
            peak_cmd = load_cmd(port, 20, 100000, 4096, per_connection=True, time_limit=2.0, to=to)
            peak = run_load(peak_cmd, 30)["rate"]
            rate = peak / 2
            n = int(rate * self.args.latency_seconds)
            self.settle([server])
            cmd = load_cmd(port, 64, n, 4096, per_connection=True, rate=rate,
                           time_limit=self.args.latency_seconds + 2, to=to)
            r = run_load(cmd, 60)
            r["peak"] = peak
            r["cmd"] = cmd
            r["peak_cmd"] = peak_cmd
            log(f"latency {col:<8} peak {peak:.0f}/s, at {r['rate']:.0f}/s: p50 {r['p50_ms']:.2f} ms, "
                f"p99 {r['p99_ms']:.2f} ms, late {r['late']}")
            out.append((col, r))
        self.latency_results = out
        print(format_latency(out), flush=True)

    def idle(self, port, count, mode):
        """Starts idle_conns.py; returns (process, opened, failed) once its connections are up."""
        p = subprocess.Popen([sys.executable, IDLE, "--port", str(port), "--count", str(count), "--mode", mode,
                              "--hold", "120"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, preexec_fn=raise_nofile)
        line = p.stdout.readline().split()
        if not line or line[0] != "ready":
            p.kill()
            raise RuntimeError(f"idle_conns: {p.stderr.read()[:300]}")
        return p, int(line[1]), int(line[2])

    def release(self, p):
        p.stdin.close()
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()

    def memory(self):
        n = self.args.idle_count
        res = {}
        pt = self.servers["postern"]
        for mode, port_of in (("plain", lambda s: s.mx), ("TLS (implicit, 465 role)", lambda s: s.subs)):
            if self.time_left() < 40:
                res[mode] = None
                continue
            pt.stop()
            pt.start()  # a fresh process for each figure: no arena left over from an earlier run
            time.sleep(0.5)
            before = rss_kib(pt.proc.pid)
            t0 = time.monotonic()
            p, opened, failed = self.idle(port_of(pt), n, "implicit" if mode.startswith("TLS") else "plain")
            secs = time.monotonic() - t0
            time.sleep(1.0)
            after = rss_kib(pt.proc.pid)
            fds = len(os.listdir(f"/proc/{pt.proc.pid}/fd"))
            self.release(p)
            per = (after - before) / max(opened, 1)
            res[mode] = dict(before=before, after=after, opened=opened, failed=failed, per=per, fds=fds, secs=secs)
            log(f"memory postern {mode}: {opened} open ({failed} failed) in {secs:.1f}s, VmRSS {before} -> {after} KiB, "
                f"{per:.1f} KiB/conn")
        pt.stop()
        pt.start()
        # Postfix: one smtpd process per connection (default_process_limit 100): hold a few, measure each.
        pf = self.servers["postfix"]
        k = self.args.postfix_idle
        for mode, port, how in (("plain", pf.mx, "plain"), ("TLS (STARTTLS, 587 role)", pf.sub, "starttls")):
            if self.time_left() < 20:
                res["postfix " + mode] = None
                continue
            p, opened, failed = self.idle(port, k, how)
            time.sleep(1.0)
            stats = [rollup_kib(pid) for pid in pf.smtpd_pids(port)]
            self.release(p)
            if not stats:
                res["postfix " + mode] = None
                continue
            m = len(stats)
            res["postfix " + mode] = dict(opened=opened, procs=m, rss=sum(s[0] for s in stats) / m,
                                          pss=sum(s[1] for s in stats) / m, private=sum(s[2] for s in stats) / m)
            log(f"memory postfix {mode}: {opened} open, {m} smtpd, per process RSS {res['postfix ' + mode]['rss']:.0f} "
                f"PSS {res['postfix ' + mode]['pss']:.0f} private {res['postfix ' + mode]['private']:.0f} KiB")
            time.sleep(1.0)
        self.memory_results = res
        print(format_memory(res, n), flush=True)


def fmt_rate(v):
    return "skipped" if v is None else f"{v:,.0f}/s"


def ratio(a, b):
    return "n/a" if a is None or not b else f"{a / b:.2f}"


def format_line(case, med):
    pt = med.get(case.get("postern_col", "postern"))
    parts = [f"{case['label']:<58}"]
    names = {"postern": "Postern", "postern-default": "Postern", "postfix": "Postfix",
             "postfix-maildir": "Postfix→Maildir", "sink": "smtp-sink", "postern-tmpfs": "Postern(tmpfs)"}
    for c in case["columns"]:
        parts.append(f"{names[c]} {fmt_rate(med[c])}")
    if "postfix" in med:
        parts.append(f"Postern/Postfix {ratio(pt, med['postfix'])}")
    if "sink" in med:
        parts.append(f"Postern/smtp-sink {ratio(pt, med['sink'])}")
    return " | ".join(parts)


def format_latency(out):
    parts = []
    for col, r in out:
        if r is None:
            parts.append(f"{col}: skipped")
        else:
            parts.append(f"{col}: p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms at {r['rate']:.0f}/s")
    return "latency connect→250, 4 KiB, half of own peak | " + " | ".join(parts)


def format_memory(res, n):
    parts = []
    for k, v in res.items():
        if v is None:
            parts.append(f"{k}: skipped")
        elif "per" in v:
            parts.append(f"Postern {k}: {v['per']:.1f} KiB/conn ({v['opened']} conns)")
        else:
            parts.append(f"{k}: {v['private']:.0f} KiB private, {v['pss']:.0f} KiB PSS, {v['rss']:.0f} KiB RSS per smtpd")
    return "memory per idle connection | " + " | ".join(parts)


def cases(tmpfs=False):
    cs = []
    for size, sname in ((4096, "4 KiB"), (102400, "100 KiB")):
        for reuse in (True, False):
            for sessions in (1, 20):
                cols = ["postern", "postfix", "sink"]
                if size == 4096 and reuse:
                    cols = ["postern", "postfix", "postfix-maildir", "sink"]
                if tmpfs:
                    cols = cols[:1] + ["postern-tmpfs"] + cols[1:]
                cs.append(dict(
                    id=f"{size // 1024}k-s{sessions}-{'reuse' if reuse else 'conn'}",
                    label=f"{sname}, {sessions:>2} session{'s' if sessions > 1 else ''}, "
                          f"{'reused connections' if reuse else 'one connection per message'}",
                    tool="smtp-source", size=size, sessions=sessions, reuse=reuse, columns=cols))
    cs.append(dict(id="sub-s20", label="submission STARTTLS+AUTH once, 4 KiB, 20 sessions, reused",
                   tool="smtpload", size=4096, sessions=20, reuse=True, columns=["postern", "postfix"],
                   load=dict(tls="starttls", auth=f"bench:{PASSWORD}", sender=RCPT)))
    cs.append(dict(id="auth-s20", label="AUTH+send: STARTTLS+AUTH per message, 4 KiB, 20 sessions",
                   tool="smtpload", size=4096, sessions=20, reuse=False, columns=["postern", "postfix"],
                   load=dict(tls="starttls", auth=f"bench:{PASSWORD}", sender=RCPT, per_connection=True)))
    cs.append(dict(id="auth-default", label="AUTH+send as above, Postern at default argon2 cost",
                   tool="smtpload", size=4096, sessions=20, reuse=False, columns=["postern-default", "postfix"],
                   postern_col="postern-default", calibrate=40, min_count=20, time_limit=8.0,
                   load=dict(tls="starttls", auth=f"bench:{PASSWORD}", sender=RCPT, per_connection=True)))
    cs.append(dict(id="4k-s20-own", label="4 KiB, 20 sessions, reused (bench/smtpload, cross-check)",
                   tool="smtpload", size=4096, sessions=20, reuse=True, columns=["postern", "postfix", "sink"]))
    return cs


def fsync_probe(workdir, n=20):
    """What one durable file costs here right now: median ms of create+write 4 KiB+fdatasync+close, and of
    rename+directory fsync. On a shared disk this moves with the neighbours' load, and so do the figures."""
    d = tempfile.mkdtemp(prefix="fsync-probe-", dir=workdir)
    files, dirs = [], []
    dfd = os.open(d, os.O_RDONLY)
    try:
        for i in range(n):
            t0 = time.perf_counter()
            fd = os.open(os.path.join(d, str(i)), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, b"x" * 4096)
            os.fdatasync(fd)
            os.close(fd)
            t1 = time.perf_counter()
            os.rename(os.path.join(d, str(i)), os.path.join(d, f"r{i}"))
            os.fsync(dfd)
            t2 = time.perf_counter()
            files.append((t1 - t0) * 1000)
            dirs.append((t2 - t1) * 1000)
    finally:
        os.close(dfd)
        shutil.rmtree(d, ignore_errors=True)
    return statistics.median(files), statistics.median(dirs)


def parallel_sync_probe(workdir, threads, n):
    """fdatasyncs per second of new 4 KiB files with `threads` threads syncing at once: whether the disk's
    sync cost is latency (more in flight helps) or a cap on operations (it does not)."""
    import threading
    d = tempfile.mkdtemp(prefix="sync-par-", dir=workdir)

    def worker(k):
        for i in range(n):
            fd = os.open(os.path.join(d, f"{k}.{i}"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, b"x" * 4096)
            os.fdatasync(fd)
            os.close(fd)
    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    rate = threads * n / (time.perf_counter() - t0)
    shutil.rmtree(d, ignore_errors=True)
    return rate


def machine_info(workdir):
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info["cores"] = os.cpu_count()
    with open("/proc/meminfo") as f:
        info["memory"] = f"{int(f.readline().split()[1]) / 1024 / 1024:.1f} GiB"
    info["kernel"] = platform.release()
    try:
        with open("/etc/os-release") as f:
            info["os"] = next(l.split("=", 1)[1].strip().strip('"') for l in f if l.startswith("PRETTY_NAME="))
    except (OSError, StopIteration):
        pass
    fm = subprocess.run(["findmnt", "-n", "-T", workdir, "-o", "SOURCE,FSTYPE,OPTIONS"], capture_output=True, text=True)
    info["filesystem"] = fm.stdout.strip()
    per_file, per_dir = fsync_probe(workdir, 100)
    info["fsync"] = (f"create+write 4 KiB+fdatasync {per_file:.2f} ms; rename+directory fsync {per_dir:.2f} ms "
                     "(medians at the start; the *sync* column below: the same probe at each case's start)")
    info["parallel"] = (f"{parallel_sync_probe(workdir, 1, 40):,.0f} fdatasync/s from 1 thread, "
                        f"{parallel_sync_probe(workdir, 20, 10):,.0f}/s from 20 threads at once")
    info["postfix"] = subprocess.run(["postconf", "-d", "-h", "mail_version"], capture_output=True,
                                     text=True).stdout.strip()
    if os.environ.get("POSTERN_REV"):  # set by whoever points POSTERN_BIN at another build
        info["postern"] = os.environ["POSTERN_REV"]
    else:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "CMakeLists.txt"],
                               capture_output=True, text=True)
        info["postern"] = rev.stdout.strip() + (" + uncommitted changes in src/" if dirty.stdout.strip() else "")
    built = datetime.datetime.fromtimestamp(os.path.getmtime(POSTERN), datetime.timezone.utc)
    info["postern"] += f" (binary {os.path.relpath(POSTERN, ROOT) if POSTERN.startswith(ROOT) else POSTERN}, " \
                       f"built {built:%Y-%m-%d %H:%M} UTC)"
    info["nofile"] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    info["nice"] = f"{os.nice(0)} for the servers and the clients alike"
    return info


def become_subreaper():
    """Orphans of the servers (Postfix's daemons outlive their master for a moment) are re-parented to us,
    and reaped at the end, rather than left as zombies under a PID 1 that may not reap them."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def reap_orphans(wait=3.0):
    end = time.monotonic() + wait
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() > end:
                return
            time.sleep(0.1)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def write_results(path, bench, info, started, load_before, load_after, elapsed):
    a = bench.args
    L = []
    L.append("# Benchmark: Postern, Postfix and smtp-sink side by side\n")
    L.append(f"Written by `make bench` (bench/run → bench/bench.py) on {started} UTC, in {elapsed:.0f} s. "
             "Figures are medians of "
             f"{a.reps} runs of ~{a.target_seconds:g} s each (after one calibration run per column), every column "
             "run back to back within each repetition, in rotating order. Benchmarks print figures; nothing here "
             "is asserted.\n")
    L.append("## Machine\n")
    L.append("| | |\n|---|---|")
    for k in ("cpu", "cores", "memory", "os", "kernel", "filesystem", "fsync", "parallel", "postfix", "postern", "nofile",
              "nice"):
        if k in info:
            label = {"fsync": "durable file here", "parallel": "syncs in parallel", "postfix": "Postfix", "postern": "Postern (git)",
                     "nofile": "fd limit (ulimit -n)", "nice": "priority (nice)"}.get(k, k)
            L.append(f"| {label} | {info[k]} |")
    L.append(f"| load average | {load_before} before, {load_after} after (other work on the machine shares its "
             f"{info.get('cores')} cores) |")
    L.append("")
    L.append("## Throughput: durable acceptance (messages/s until the 250 after DATA)\n")
    tmp = a.tmpfs
    L.append("| case | Postern | Postfix (discard) | Postfix → Maildir | smtp-sink | Postern/Postfix | "
             "Postern/smtp-sink | runs (Postern; Postfix) | load | sync ms |" + (" Postern on tmpfs (not durable) |" if tmp else ""))
    L.append("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|" + ("---:|" if tmp else ""))
    for case, med, rates in bench.lines:
        pcol = case.get("postern_col", "postern")
        pt = med.get(pcol)

        def cell(c):
            return fmt_rate(med[c]) if c in med else "—"
        runs = "; ".join(", ".join(f"{x:.0f}" for x in rates.get(c, [])) for c in (pcol, "postfix") if c in rates)
        L.append(f"| {case['label']} | {cell(pcol)} | {cell('postfix')} | {cell('postfix-maildir')} | {cell('sink')} "
                 f"| {ratio(pt, med.get('postfix'))} | {ratio(pt, med.get('sink')) if 'sink' in med else '—'} "
                 f"| {runs} | {case.get('loadavg', '')} | {case.get('sync', '')} |" +
                 (f" {cell('postern-tmpfs')} |" if tmp else ""))
    L.append("")
    L.append("*load*: the machine's 1-minute load average when the case began (it has "
             f"{info.get('cores')} cores; anything above that is other work competing with the run). *sync ms*: "
             "at the same moment, the median cost of one durable 4 KiB file (create+write+fdatasync) / of one "
             "rename+directory fsync on the bench's filesystem — the disk is shared, and what it costs moves the "
             "figures of every durable server.\n")
    L.append("Goal: Postern/Postfix ≥ 5 (then 10) on every line.\n")
    L.append("## Cost per message\n")
    L.append("CPU time (user+system) of the server's processes per message, from the first connection of a run "
             "until everything it accepted was delivered (Postern: into the Maildir; Postfix: discard, or virtual(8) "
             "into a Maildir) — Postern is one process; Postfix is its master and every child, reaped or alive; "
             "smtp-sink is one process. *Drain*: how long after the client finished the server's queue took to "
             "empty (delivery lagging behind acceptance). Medians over the runs above.\n")
    L.append("| case | Postern CPU/msg | Postern drain | Postfix CPU/msg | Postfix → Maildir CPU/msg | "
             "smtp-sink CPU/msg |" + (" Postern on tmpfs CPU/msg |" if tmp else ""))
    L.append("|---|---:|---:|---:|---:|---:|" + ("---:|" if tmp else ""))
    for case, cost in bench.costs:
        pcol = case.get("postern_col", "postern")

        def us(c):
            return f"{cost[c][0]:,.0f} µs" if c in cost else "—"
        drain = f"{cost[pcol][1]:.2f} s" if pcol in cost else "—"
        L.append(f"| {case['label']} | {us(pcol)} | {drain} | {us('postfix')} | {us('postfix-maildir')} | "
                 f"{us('sink')} |" + (f" {us('postern-tmpfs')} |" if tmp else ""))
    L.append("")
    if getattr(bench, "latency_results", None):
        L.append("## Latency: connect → 250 after DATA (one connection per message, 4 KiB)\n")
        L.append("Paced (open loop, 64 client threads) at half of each server's own peak, the peak measured just "
                 "before with the same client at 20 sessions.\n")
        L.append("| server | peak | paced at | p50 | p90 | p99 | max | late starts |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for col, r in bench.latency_results:
            name = {"postern": "Postern", "postfix": "Postfix", "sink": "smtp-sink"}[col]
            if r is None:
                L.append(f"| {name} | skipped | | | | | | |")
            else:
                late = r["late"]
                if late > 0.05 * max(r["ok"], 1):  # the client could not keep the pace: say so
                    late = f"{late} of {r['ok']} (the client fell behind: this line measures it, not the server)"
                L.append(f"| {name} | {r['peak']:,.0f}/s | {r['rate']:,.0f}/s | {r['p50_ms']:.2f} ms | "
                         f"{r['p90_ms']:.2f} ms | {r['p99_ms']:.2f} ms | {r['max_ms']:.2f} ms | {late} |")
        L.append("")
    if getattr(bench, "memory_results", None):
        res = bench.memory_results
        L.append("## Memory per idle connection\n")
        L.append(f"Postern: VmRSS of a freshly started server before and after {a.idle_count:,} idle connections "
                 "(greeting read, then silence), divided by the connections. Goal: under 30 KiB per plain "
                 f"connection. Postfix runs one smtpd process per connection: {a.postfix_idle} idle connections "
                 "held, each smtpd process measured from /proc/PID/smaps_rollup (RSS counts the shared libraries "
                 "in every process; PSS shares them out; private is what each extra connection really adds).\n")
        L.append("| server | connections | before | after | per connection |")
        L.append("|---|---:|---:|---:|---:|")
        for k, v in res.items():
            if v is None:
                L.append(f"| {k} | skipped | | | |")
            elif "per" in v:
                L.append(f"| Postern, {k} | {v['opened']:,} ({v['failed']} failed) | {v['before']:,} KiB | "
                         f"{v['after']:,} KiB | **{v['per']:.1f} KiB** |")
            else:
                L.append(f"| {k[0].upper() + k[1:]} | {v['opened']} ({v['procs']} smtpd) | | | "
                         f"**{v['private']:.0f} KiB private**, {v['pss']:.0f} KiB PSS, {v['rss']:.0f} KiB RSS |")
        L.append("")
    L.append("## Setup\n")
    L.append("- **Postern**: `build/postern serve --config T/postern/postern.toml` — listeners mx, submission, "
             "submissions on free 127.0.0.1 ports; every abuse limit 0 (off) and `allow_networks = "
             "[\"127.0.0.0/8\"]`; `min_data_rate = 0`; account `bench` made with `build/postern user add` at argon2 "
             "ops 1 / 1 MiB (the *default argon2 cost* line uses a second instance with the default [auth] cost, "
             "ops 2 / 64 MiB). Logs to a file. Durable acceptance: the spool's group commit; delivery into "
             "`data/mail/bench/Maildir` happens after the 250 and runs during the measurement.")
    L.append("- **Postfix** (Debian package, private instance): `postfix -c T/postfix/etc start` with a generated "
             "main.cf/master.cf (own config_directory, queue_directory, data_directory; smtpd on a 127.0.0.1 high "
             "port; no chroot; `mydestination = bench.test`, local/default/relay transport `discard:`; "
             "`maildir.test` delivered by virtual(8) into a Maildir for the *Postfix → Maildir* column; "
             "`maillog_file` logging like Postern's log file; DNS off). Queue-file fsync before 250 as shipped. "
             "Submission port: `smtpd_tls_security_level=encrypt`, Cyrus SASL with sasldb (plaintext secrets).")
    L.append("- **smtp-sink**: `smtp-sink -u postfix 127.0.0.1:PORT 1024` — stores nothing; the upper bound "
             "for the protocol exchange with the same client on this machine. No TLS, so no TLS lines.")
    L.append("- Between runs the harness waits until each server's queue is empty (Postern's spool, Postfix's "
             "incoming/active/deferred) and empties the Maildirs, so a run never pays for the previous one.")
    L.append("- Load: Postfix's `smtp-source` (lockstep, no pipelining) for the plain cases; `bench/smtpload` "
             "(ours, also lockstep, one thread per session, C++/OpenSSL, full TLS handshake every connection) "
             "where smtp-source cannot: STARTTLS, AUTH, paced latency. Message: smtp-source `-l SIZE` payload "
             "plus its headers; smtpload SIZE octets of 78-octet lines plus 4 headers.")
    L.append("")
    L.append("## Commands\n")
    L.append("Run everything: `make bench` (= `scripts/setup`, build, `bench/run`). `bench/run --quick` is a "
             "shorter pass. Ports below are the ones of this run.\n")
    L.append("```")
    for case, cmds in bench.commands:
        L.append(f"# {case['label']}")
        for c, cmd in cmds.items():
            L.append(f"{c}: {' '.join(cmd)}")
    if getattr(bench, "latency_results", None):
        L.append("# latency")
        for col, r in bench.latency_results:
            if r:
                L.append(f"{col} peak: {' '.join(r['peak_cmd'])}")
                L.append(f"{col}: {' '.join(r['cmd'])}")
    L.append(f"# memory: {sys.executable} bench/idle_conns.py --port PORT --count N --mode plain|implicit|starttls")
    L.append("```")
    if bench.notes:
        L.append("\n## Notes from this run\n")
        L.extend(f"- {n}" for n in bench.notes)
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--target-seconds", type=float, default=1.5, help="length of one measured run")
    ap.add_argument("--latency-seconds", type=float, default=4.0)
    ap.add_argument("--idle-count", type=int, default=10000)
    ap.add_argument("--postfix-idle", type=int, default=50)
    ap.add_argument("--budget", type=float, default=540, help="seconds for the whole run")
    ap.add_argument("--only", default="", help="comma-separated case ids (and 'latency', 'memory')")
    ap.add_argument("--quick", action="store_true", help="1 run per figure, 1,000 idle connections")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "RESULTS.md"))
    ap.add_argument("--keep", action="store_true", help="keep the temp directory")
    ap.add_argument("--tmpfs", action="store_true",
                    help="diagnostic column: Postern with its data in /dev/shm (fsync free, not durable)")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.target_seconds, args.latency_seconds, args.idle_count = 1, 1.0, 2.0, 1000
    raise_nofile()

    def on_term(signum, frame):  # stop the servers on the way out (the finally below), as for Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    become_subreaper()
    for tool in (POSTERN, SMTPLOAD, SMTP_SOURCE, SMTP_SINK):
        if not os.access(tool, os.X_OK):
            sys.exit(f"bench: {tool} missing (run `make bench`)")

    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    # Same filesystem for every server's queue; world-traversable, for Postfix's unprivileged daemons.
    work = tempfile.mkdtemp(prefix="postern-bench-", dir=os.environ.get("BENCH_TMP", "/tmp"))
    os.chmod(work, 0o755)
    bench = Bench(args)
    bench.work = work
    cleanup_dirs = [work]
    info = machine_info(work)
    load_before = loadavg()
    log(f"work dir {work}; load average {load_before}")
    try:
        bench.servers["postern"] = Postern(work, "postern").start()
        bench.servers["postern-default"] = Postern(work, "postern-default", low_cost=False)
        if args.tmpfs:  # diagnostic: the same server with its data in RAM, where fsync costs nothing
            shm = tempfile.mkdtemp(prefix="postern-bench-", dir="/dev/shm")
            cleanup_dirs.append(shm)
            bench.servers["postern-tmpfs"] = Postern(shm, "postern-tmpfs").start()
        bench.servers["postfix"] = Postfix(work).start()
        bench.servers["sink"] = Sink(work).start()
        only = set(filter(None, args.only.split(",")))
        for case in cases(args.tmpfs):
            if only and case["id"] not in only:
                continue
            if bench.time_left() < 30:
                bench.notes.append(f"skipped for time: {case['label']}")
                continue
            try:
                if "postern-default" in case["columns"]:
                    bench.servers["postern-default"].start()
                bench.throughput_case(case)
            except Exception as e:  # noqa: BLE001 - reported in RESULTS.md, the other cases go on
                bench.notes.append(f"{case['label']}: {e}")
                log(f"{case['id']} failed: {e}")
            finally:
                bench.servers["postern-default"].stop()
        if not only or "latency" in only:
            try:
                bench.latency()
            except Exception as e:  # noqa: BLE001
                bench.notes.append(f"latency: {e}")
        if not only or "memory" in only:
            try:
                bench.memory()
            except Exception as e:  # noqa: BLE001
                bench.notes.append(f"memory: {e}")
    finally:
        for s in bench.servers.values():
            try:
                s.stop()
            except Exception as e:  # noqa: BLE001 - best effort on the way out
                log(f"stop: {e}")
        reap_orphans()
        elapsed = time.monotonic() - START
        load_after = loadavg()
        write_results(args.out, bench, info, started, load_before, load_after, elapsed)
        log(f"wrote {args.out} ({elapsed:.0f} s)")
        if not args.keep:
            for d in cleanup_dirs:
                shutil.rmtree(d, ignore_errors=True)
        else:
            log(f"kept {work}")


if __name__ == "__main__":
    main()
