#!/usr/bin/env python3
"""Hostile clients at lbd's connection edge, one function per attack, against one lbd worker
while an honest client sends 200 requests per second to another listener of the same lbd.

Each attack opens N connections (1,000 by default) that start something and stall: a PROXY
header, a ClientHello on an SNI-routed tcp listener, a TLS handshake (silent, or after part of a
ClientHello), a request to the admin listener, a connection to the replication port (from a
stranger, and from the peer's own address while the real peer, a second lbd, restarts and must
get back in). The report per attack: lbd's RSS and CPU while the attackers hold their
connections, the honest client's errors and p99 latency, and how the attackers were ended (closed
by lbd at which time after they stalled, or still open when the run ended).

    tests/hostile/edge_attacks.py --lbd build/lbd/lbd [--connections 1000] [--seconds 12]
        [--only baseline,replication_stranger]

Traffic stays on 127.0.0.0/8 (the peer lbd is 127.0.0.2, the stranger 127.0.0.3); both lbd are
started here and stopped by their PIDs. Bounded: every attack
holds at most --connections sockets for at most --seconds.
"""
import argparse
import http.client
import http.server
import json
import os
import resource
import select
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HEADER_TIMEOUT_S = 5  # timeouts.request_header of the lbd under test
PEER_ADDRESS = "127.0.0.2"  # the replication peer (a second lbd)
STRANGER_ADDRESS = "127.0.0.3"  # a host that is not the peer
REPLICATION_SECRET = "hostile-battery-replication-secret-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Backend(http.server.ThreadingHTTPServer):
    daemon_threads = True


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def make_certificate(directory):
    cert, key = os.path.join(directory, "a.pem"), os.path.join(directory, "a.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj",
                    "/CN=a.example.com", "-addext", "subjectAltName=DNS:a.example.com",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def client_hello():
    """The first flight of a real TLS client (Python's ssl), as bytes."""
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="a.example.com")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def replication_section(node, peer, listen, connect_to):
    return f"""
[replication]
node_id = "{node}"
peer_id = "{peer}"
listen = "{listen}"
peer = "{connect_to}"
secret = "{REPLICATION_SECRET}"
handshake_timeout = "{HEADER_TIMEOUT_S}s"
reconnect_interval = "100ms"
reconnect_max_interval = "200ms"
"""


def peer_config(ports, backend, control_socket):
    """The real replication peer: an lbd on 127.0.0.2 with one listener."""
    return f"""
[global]
workers = 1
log_level = "error"
control_socket = "{control_socket}"
[[listener]]
name = "peer"
bind = "{PEER_ADDRESS}:{ports['peer_http']}"
mode = "http"
pool = "app"
[[pool]]
name = "app"
[[pool.server]]
name = "a"
address = "127.0.0.1:{backend}"
""" + replication_section("b", "a", f"{PEER_ADDRESS}:{ports['peer_replication']}",
                          f"127.0.0.1:{ports['replication']}")


def lbd_config(ports, backend, cert, key, password_hash, control_socket, trust_list=True):
    trust = 'proxy_protocol_from = ["127.0.0.0/8"]' if trust_list else ""
    return f"""
[global]
workers = 1
log_level = "error"
control_socket = "{control_socket}"
[timeouts]
request_header = "{HEADER_TIMEOUT_S}s"
[limits]
max_connections = 20000
[[listener]]
name = "honest"
bind = "127.0.0.1:{ports['honest']}"
mode = "http"
pool = "app"
[[listener]]
name = "proxied"
bind = "127.0.0.1:{ports['proxied']}"
mode = "http"
pool = "app"
accept_proxy_protocol = true
{trust}
[[listener]]
name = "sni"
bind = "127.0.0.1:{ports['sni']}"
mode = "tcp"
pool = "app"
[[listener.sni_route]]
server_name = "a.example.com"
pool = "app"
[[listener]]
name = "tls"
bind = "127.0.0.1:{ports['tls']}"
mode = "http"
pool = "app"
[listener.tls]
[[listener.tls.certificate]]
cert = "{cert}"
key = "{key}"
[[pool]]
name = "app"
[[pool.server]]
name = "a"
address = "127.0.0.1:{backend}"
[admin]
listen = "127.0.0.1:{ports['admin']}"
auth_user = "ops"
auth_password_hash = "{password_hash}"
""" + replication_section("a", "b", f"127.0.0.1:{ports['replication']}",
                          f"{PEER_ADDRESS}:{ports['peer_replication']}")


def proc_stats(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss_kib = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss_kib = int(line.split()[1])
    return cpu_s, rss_kib


class HonestClient:
    """`rate` GET / per second for `seconds`, spread over 4 threads with keep-alive connections;
    a failed request counts as an error and reconnects. Requests that fall behind their slot are
    sent late, never dropped, until the time is up."""

    THREADS = 4

    def __init__(self, port, rate, seconds):
        self.port, self.rate, self.seconds = port, rate, seconds
        self.latencies, self.errors, self.lock = [], 0, threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(self.THREADS)]

    def start(self):
        self.started = time.monotonic()
        for t in self.threads:
            t.start()

    def join(self):
        for t in self.threads:
            t.join()

    def run(self, index):
        conn = None
        per_thread = self.rate / self.THREADS
        end = self.started + self.seconds
        i = 0
        while True:
            due = self.started + (i + index / self.THREADS) / per_thread
            i += 1
            if due >= end or time.monotonic() >= end:
                break
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/")
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except OSError:
                ok, conn = False, None
            with self.lock:
                self.latencies.append(time.monotonic() - t0)
                self.errors += 0 if ok else 1

    def p99_ms(self):
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def open_attackers(port, prefix, count, source=None):
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.setblocking(True)
        try:
            if source:
                s.bind((source, 0))
            s.connect(("127.0.0.1", port))
            if prefix:
                s.sendall(prefix)
        except OSError:
            s.close()
            continue
        s.setblocking(False)
        socks.append(s)
    return socks


def watch_closes(socks, started, seconds):
    """Seconds after `started` at which lbd closed each socket (None = still open)."""
    closed = {}
    pending = {s.fileno(): s for s in socks}
    poller = select.poll()
    for fd in pending:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    deadline = started + seconds
    while pending and time.monotonic() < deadline:
        for fd, _ in poller.poll(100):
            s = pending.get(fd)
            if s is None:
                continue
            try:
                data = s.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if data:
                continue  # an answer (admin 408/429, TLS alert): wait for the close
            closed[fd] = time.monotonic() - started
            poller.unregister(fd)
            del pending[fd]
    return [closed.get(s.fileno()) for s in socks]


def run_attack(name, lbd_pid, honest_port, attack_port, prefix, args, source=None, during=None):
    honest = HonestClient(honest_port, 200, args.seconds)
    honest.start()
    time.sleep(1)
    cpu0, rss_before_kib = proc_stats(lbd_pid)
    t0 = time.monotonic()
    socks = open_attackers(attack_port, prefix, args.connections, source)
    opened = time.monotonic()
    result = {}
    if during:
        result.update(during())
    watcher = threading.Thread(
        target=lambda: result.update(closes=watch_closes(socks, opened, args.seconds - 2)))
    watcher.start()
    time.sleep(2)
    cpu1, rss_kib = proc_stats(lbd_pid)
    watcher.join()
    closes = result["closes"]
    honest.join()
    for s in socks:
        s.close()
    ended = [c for c in closes if c is not None]
    extra = {k: v for k, v in result.items() if k != "closes"}
    return extra | {
        "attack": name,
        "attackers": len(socks),
        "open_s": round(opened - t0, 2),
        "lbd_rss_before_mib": round(rss_before_kib / 1024, 1),
        "lbd_rss_mib": round(rss_kib / 1024, 1),
        "lbd_cpu_ms_2s": round(1000 * (cpu1 - cpu0)),
        "honest_requests": len(honest.latencies),
        "honest_errors": honest.errors,
        "honest_p99_ms": round(honest.p99_ms() or 0, 1),
        "closed_by_lbd": len(ended),
        "closed_after_s": (round(min(ended), 2), round(max(ended), 2)) if ended else None,
    }


def baseline(ctx, args):
    """The honest client alone, for comparison."""
    quiet = argparse.Namespace(**{**vars(args), "connections": 0})
    return run_attack("none (honest client only)", ctx["pid"], ctx["ports"]["honest"],
                      ctx["ports"]["honest"], b"", quiet)


def stalled_proxy_header(ctx, args):
    return run_attack("stalled PROXY header", ctx["pid"], ctx["ports"]["honest"],
                      ctx["ports"]["proxied"], b"PROXY TCP4 ", args)


def stalled_client_hello(ctx, args):
    hello = client_hello()
    return run_attack("stalled ClientHello (SNI routes)", ctx["pid"], ctx["ports"]["honest"],
                      ctx["ports"]["sni"], hello[: len(hello) // 2], args)


def idle_tls_handshake(ctx, args):
    return run_attack("idle TLS handshake", ctx["pid"], ctx["ports"]["honest"],
                      ctx["ports"]["tls"], b"", args)


def partial_client_hello(ctx, args):
    """The 5-byte record header of a real ClientHello and 10 bytes of it, then nothing."""
    return run_attack("partial ClientHello (TLS listener)", ctx["pid"], ctx["ports"]["honest"],
                      ctx["ports"]["tls"], client_hello()[:15], args)


def admin_slowloris(ctx, args):
    return run_attack("admin slowloris on /metrics", ctx["pid"], ctx["ports"]["honest"],
                      ctx["ports"]["admin"], b"GET /metrics HTTP/1.1\r\nHost: a\r\n", args)


def control(socket_path, command):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(2)
        s.connect(socket_path)
        s.sendall(json.dumps({"cmd": command}).encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    return json.loads(reply)


def replication_status(ctx):
    try:
        return control(ctx["control"], "show replication")["replication"]
    except (OSError, ValueError, KeyError):
        return {}


def in_sync(ctx):
    return replication_status(ctx).get("in_sync", False)


def wait_in_sync(ctx, seconds, sessions_before=-1):
    """Seconds until the pair is in sync in a session newer than `sessions_before`, or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        status = replication_status(ctx)
        if status.get("in_sync", False) and status.get("sessions", 0) > sessions_before:
            return round(time.monotonic() - t0, 2)
        time.sleep(0.05)
    return None


def replication_stranger(ctx, args):
    """Connections to the replication port from a host that is not the peer: closed at accept."""
    r = run_attack("replication port, from a stranger", ctx["pid"], ctx["ports"]["honest"],
                   ctx["ports"]["replication"], b"", args, source=STRANGER_ADDRESS)
    return r | {"pair_in_sync_after": in_sync(ctx)}


def replication_from_peer_address(ctx, args):
    """Stalled handshakes from the peer's own address (an on-path attacker can use it) while the
    real peer restarts: the pending handshakes are bounded per source and the newest replaces the
    oldest, so the real peer's handshake gets through."""
    def restart_peer():
        sessions = replication_status(ctx).get("sessions", 0)
        ctx["restart_peer"]()
        return {"peer_back_in_sync_s": wait_in_sync(ctx, args.seconds - 3, sessions)}

    return run_attack("replication port, stalled handshakes from the peer's address",
                      ctx["pid"], ctx["ports"]["honest"], ctx["ports"]["replication"], b"", args,
                      source=PEER_ADDRESS, during=restart_peer)


# Memory an attacking connection may cost lbd, beyond the idle baseline. A TLS client gets no TLS
# stream (its ~90 KiB of buffers) until its first record is wholly queued in its socket: one that
# sends nothing, or part of a ClientHello, costs its socket and a pending wait.
RSS_BOUND_KIB = {"idle_tls_handshake": 16, "partial_client_hello": 16}
RSS_BOUND_DEFAULT_KIB = 64
RSS_SLACK_KIB = 1024  # the honest client's own connections and buffers


def violations(name, r):
    """The bounds every attack must keep: no honest error, lbd's memory within its bound, every
    attacker ended by lbd within the run, and the replication pair back in sync."""
    found = []
    if r["honest_errors"]:
        found.append(f"{name}: {r['honest_errors']} honest requests failed")
    # Freed memory stays in lbd's heap, so each attack is measured from the RSS just before it.
    bound_kib = (r["lbd_rss_before_mib"] * 1024 + RSS_SLACK_KIB
                 + RSS_BOUND_KIB.get(name, RSS_BOUND_DEFAULT_KIB) * r["attackers"])
    if r["lbd_rss_mib"] * 1024 > bound_kib:
        found.append(f"{name}: lbd RSS {r['lbd_rss_mib']} MiB over {bound_kib / 1024:.1f} MiB")
    if r["closed_by_lbd"] < r["attackers"]:
        found.append(f"{name}: {r['attackers'] - r['closed_by_lbd']} attackers still open")
    if r.get("pair_in_sync_after") is False:
        found.append(f"{name}: the replication pair is not in sync after the attack")
    if "peer_back_in_sync_s" in r and r["peer_back_in_sync_s"] is None:
        found.append(f"{name}: the restarted peer did not get back in sync")
    return found


ATTACKS = [baseline, stalled_proxy_header, stalled_client_hello, idle_tls_handshake,
           partial_client_hello, admin_slowloris, replication_stranger,
           replication_from_peer_address]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lbd", required=True)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=12)
    parser.add_argument("--no-trust-list", action="store_true",
                        help="omit proxy_protocol_from (an lbd older than that key, to compare)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when an attack breaks a bound (see violations())")
    parser.add_argument("--only", default="",
                        help="comma-separated attack names (functions of this file), e.g. "
                             "baseline,replication_stranger")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    backend = Backend(("127.0.0.1", 0), Handler)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="lbpair-hostile-") as directory:
        cert, key = make_certificate(directory)
        password_hash = subprocess.run(["openssl", "passwd", "-6", "correct horse"], check=True,
                                       capture_output=True, text=True).stdout.strip()
        ports = {n: free_port() for n in ("honest", "proxied", "sni", "tls", "admin",
                                          "replication", "peer_replication", "peer_http")}
        control_socket = os.path.join(directory, "lbd.sock")
        path = os.path.join(directory, "lbd.toml")
        with open(path, "w") as f:
            f.write(lbd_config(ports, backend.server_address[1], cert, key, password_hash,
                               control_socket, not args.no_trust_list))
        peer_path = os.path.join(directory, "peer.toml")
        with open(peer_path, "w") as f:
            f.write(peer_config(ports, backend.server_address[1],
                                os.path.join(directory, "peer.sock")))
        started = []

        def start(config, log):
            p = subprocess.Popen([args.lbd, "-c", config], stdout=subprocess.DEVNULL,
                                 stderr=open(os.path.join(directory, log), "a"))
            started.append(p)
            return p

        lbd = start(path, "lbd.log")
        peer = {"process": start(peer_path, "peer.log")}

        def restart_peer():
            peer["process"].terminate()
            peer["process"].wait(10)
            peer["process"] = start(peer_path, "peer.log")

        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", ports["honest"]), 0.1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            ctx = {"pid": lbd.pid, "ports": ports, "control": control_socket,
                   "restart_peer": restart_peer}
            if wait_in_sync(ctx, 10) is None:
                print("the replication pair did not get in sync", file=sys.stderr)
                return 1
            _, idle_rss = proc_stats(lbd.pid)
            print(f"lbd idle RSS {idle_rss / 1024:.1f} MiB; request_header = {HEADER_TIMEOUT_S}s; "
                  f"{args.connections} attackers per attack; honest 200 req/s")
            only = set(filter(None, args.only.split(",")))
            problems = []
            for attack in ATTACKS:
                if not only or attack.__name__ in only:
                    result = attack(ctx, args)
                    print(result, flush=True)
                    problems += violations(attack.__name__, result)
            for p in (lbd, peer["process"]):
                if p.poll() is not None:
                    problems.append(f"lbd (pid {p.pid}) exited with {p.returncode}")
            for problem in problems:
                print("VIOLATION:", problem, flush=True)
            if args.check and problems:
                return 1
        finally:
            for p in started:
                if p.poll() is None:
                    p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
    backend.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
