#!/usr/bin/env python3
"""Hostile clients at lbd's connection edge, one function per attack, against one lbd worker
while an honest client sends 200 requests per second to another listener of the same lbd.

Each attack opens N connections (1,000 by default) that start something and stall: a PROXY
header, a ClientHello on an SNI-routed tcp listener, a TLS handshake, a request to the admin
listener. The report per attack: lbd's RSS and CPU while the attackers hold their connections,
the honest client's errors and p99 latency, and how the attackers were ended (closed by lbd at
which time after they stalled, or still open when the run ended).

    tests/hostile/edge_attacks.py --lbd build/lbd/lbd [--connections 1000] [--seconds 12]

Traffic stays on 127.0.0.1; lbd is started here and stopped by its PID. Bounded: every attack
holds at most --connections sockets for at most --seconds.
"""
import argparse
import http.client
import http.server
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


def lbd_config(ports, backend, cert, key, password_hash, trust_list=True):
    trust = 'proxy_protocol_from = ["127.0.0.0/8"]' if trust_list else ""
    return f"""
[global]
workers = 1
log_level = "error"
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
"""


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


def open_attackers(port, prefix, count):
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.setblocking(True)
        try:
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


def run_attack(name, lbd_pid, honest_port, attack_port, prefix, args):
    honest = HonestClient(honest_port, 200, args.seconds)
    honest.start()
    time.sleep(1)
    cpu0, _ = proc_stats(lbd_pid)
    t0 = time.monotonic()
    socks = open_attackers(attack_port, prefix, args.connections)
    opened = time.monotonic()
    result = {}
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
    return {
        "attack": name,
        "attackers": len(socks),
        "open_s": round(opened - t0, 2),
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


def admin_slowloris(ctx, args):
    return run_attack("admin slowloris on /metrics", ctx["pid"], ctx["ports"]["honest"],
                      ctx["ports"]["admin"], b"GET /metrics HTTP/1.1\r\nHost: a\r\n", args)


ATTACKS = [baseline, stalled_proxy_header, stalled_client_hello, idle_tls_handshake, admin_slowloris]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lbd", required=True)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=12)
    parser.add_argument("--no-trust-list", action="store_true",
                        help="omit proxy_protocol_from (an lbd older than that key, to compare)")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    backend = Backend(("127.0.0.1", 0), Handler)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="lbpair-hostile-") as directory:
        cert, key = make_certificate(directory)
        password_hash = subprocess.run(["openssl", "passwd", "-6", "correct horse"], check=True,
                                       capture_output=True, text=True).stdout.strip()
        ports = {n: free_port() for n in ("honest", "proxied", "sni", "tls", "admin")}
        path = os.path.join(directory, "lbd.toml")
        with open(path, "w") as f:
            f.write(lbd_config(ports, backend.server_address[1], cert, key, password_hash,
                               not args.no_trust_list))
        lbd = subprocess.Popen([args.lbd, "-c", path], stdout=subprocess.DEVNULL,
                               stderr=open(os.path.join(directory, "lbd.log"), "w"))
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", ports["honest"]), 0.1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            ctx = {"pid": lbd.pid, "ports": ports}
            _, idle_rss = proc_stats(lbd.pid)
            print(f"lbd idle RSS {idle_rss / 1024:.1f} MiB; request_header = {HEADER_TIMEOUT_S}s; "
                  f"{args.connections} attackers per attack; honest 200 req/s")
            for attack in ATTACKS:
                print(attack(ctx, args), flush=True)
        finally:
            lbd.terminate()
            try:
                lbd.wait(5)
            except subprocess.TimeoutExpired:
                lbd.kill()
                lbd.wait()
    backend.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
