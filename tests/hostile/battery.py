#!/usr/bin/env python3
"""Hostile-client battery against one lbd worker.

Starts lbd (one worker) in front of a small HTTP/1.1 backend on 127.0.0.1, then runs each attack
in turn with N attacking connections for T seconds while an honest client sends GETs at a fixed
rate. For each attack it reports lbd's peak RSS over its idle baseline, lbd's CPU, the honest
client's errors and p99 latency, and how the attacking connections ended (the status lbd
answered, closed without a status, or still open when the attack stopped).

Each attack is one function `attack_<name>(ctx, sock, index)` returning a generator of
(bytes_to_send, pause_seconds) steps; add a function and list it in ATTACKS to extend the battery.

  tests/hostile/battery.py --lbd build/lbd/lbd                     # full: 1000 conns, 20 s each
  tests/hostile/battery.py --lbd build/lbd/lbd --connections 50 --duration 5 --check   # ctest

With --check it exits 1 when a bound is broken: RSS over baseline + 64 KiB per attacking
connection, an honest error, or an attacker left open past its deadlines.
"""
import argparse
import http.server
import os
import resource
import selectors
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

KIB = 1024
MAX_HEADER = 16 * KIB  # lbd's default limits.max_header_size


# ---- attacks: each yields (bytes, pause) steps for one connection ----------------------------

def attack_slowloris_headers(ctx):
    yield b"GET / HTTP/1.1\r\nHost: h\r\n", 1.0
    while True:
        yield b"X-Slow: a\r\n", 1.0


def attack_slow_post_body(ctx):
    yield b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n\r\n", 1.0
    while True:
        yield b"a", 1.0


def attack_endless_chunk_extension(ctx):
    yield b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;e=", 0
    while True:
        yield b"a" * 4096, 0


def attack_endless_trailers(ctx):
    yield b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n", 0
    while True:
        yield b"X-Trailer: aaaaaaaaaaaaaaaaaaaa\r\n" * 100, 0


def attack_many_tiny_headers(ctx):
    yield b"GET / HTTP/1.1\r\nHost: h\r\n", 0
    for _ in range(1000):  # 100,000 headers of 4 bytes
        yield b"a:b\r\n" * 100, 0
    yield b"\r\n", 0


def attack_header_over_limit(ctx):
    yield b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * MAX_HEADER + b"\r\n\r\n", 0


def attack_pipelining_flood(ctx):
    # Requests as fast as possible, never reading a response.
    batch = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n" * 100
    while True:
        yield batch, 0


ATTACKS = [
    attack_slowloris_headers,
    attack_slow_post_body,
    attack_endless_chunk_extension,
    attack_endless_trailers,
    attack_many_tiny_headers,
    attack_header_over_limit,
    attack_pipelining_flood,
]


# ---- the backend ---------------------------------------------------------------------------

class Backend(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        self.do_GET()

    def log_message(self, *args):
        pass


class ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        pass  # lbd closing an attacker's backend connection is expected


# ---- measurement ---------------------------------------------------------------------------

def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * KIB
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class HonestClient(threading.Thread):
    """GETs at `rate` per second on one keep-alive connection (a new one after an error)."""

    def __init__(self, port, rate, stop):
        super().__init__(daemon=True)
        self.port, self.rate, self.stop = port, rate, stop
        self.latencies, self.errors = [], 0

    def run(self):
        sock, buf = None, b""
        period = 1.0 / self.rate
        next_at = time.monotonic()
        while not self.stop.is_set():
            next_at += period
            start = time.monotonic()
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", self.port), timeout=2)
                    buf = b""
                sock.sendall(b"GET /honest HTTP/1.1\r\nHost: h\r\n\r\n")
                while b"\r\n\r\nok" not in buf:
                    got = sock.recv(4096)
                    if not got:
                        raise ConnectionError("closed")
                    buf += got
                if not buf.startswith(b"HTTP/1.1 200"):
                    raise ConnectionError(buf[:40])
                buf = buf[buf.index(b"\r\n\r\nok") + 6:]
                self.latencies.append(time.monotonic() - start)
            except (OSError, ConnectionError):
                self.errors += 1
                if sock:
                    sock.close()
                sock = None
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()
        if sock:
            sock.close()

    def p99_ms(self):
        if not self.latencies:
            return float("nan")
        s = sorted(self.latencies)
        return 1000 * s[min(len(s) - 1, int(len(s) * 0.99))]


class Attacker:
    """One attacking connection driven by its attack's steps (non-blocking)."""

    def __init__(self, port, steps):
        self.sock = socket.socket()
        self.sock.setblocking(False)
        self.sock.connect_ex(("127.0.0.1", port))
        self.steps, self.pending, self.wake = steps, b"", 0.0
        self.reply, self.ended = b"", None  # ended: "status NNN", "closed", "reset"
        self.closed = False

    def fileno(self):
        return self.sock.fileno()

    def pump(self, now):
        """Sends what is due; returns False once the connection is over."""
        if self.ended:
            return False
        if self.wake == float("inf"):
            return True
        try:
            while now >= self.wake:
                if not self.pending:
                    data, pause = next(self.steps, (None, None))
                    if data is None:
                        self.wake = float("inf")
                        break
                    self.pending, self.wake = data, now + pause
                sent = self.sock.send(self.pending)
                self.pending = self.pending[sent:]
                if self.pending:
                    break  # the socket buffer is full: lbd is not reading
        except BlockingIOError:
            pass
        except OSError:
            self.finish("reset")
        return not self.ended

    def readable(self):
        try:
            got = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            self.finish("reset")
            return
        if not got:
            self.finish("closed")
            return
        self.reply += got
        if self.reply.startswith(b"HTTP/1.1 ") and len(self.reply) >= 12:
            code = self.reply[9:12].decode()
            if code != "200":  # a pipelined 200 keeps the attacker going
                self.finish("status " + code)

    def finish(self, how):
        if not self.ended:
            if how in ("closed", "reset") and self.reply[9:12] and self.reply[9:12] != b"200":
                how = "status " + self.reply[9:12].decode()
            self.ended = how  # the run loop unregisters and closes the socket


def run_attack(attack, port, lbd_pid, connections, duration, rate):
    stop = threading.Event()
    honest = HonestClient(port, rate, stop)
    time.sleep(0.3)
    baseline = rss(lbd_pid)
    cpu0 = cpu_seconds(lbd_pid)
    honest.start()
    sel = selectors.DefaultSelector()
    attackers = []
    peak = baseline
    started = time.monotonic()
    end = started + duration
    last_sample = 0.0
    while time.monotonic() < end:
        now = time.monotonic()
        # Open the connections over the first second.
        due = min(connections, int(connections * (now - started) / 1.0) + 1)
        while len(attackers) < due:
            a = Attacker(port, attack({}))
            attackers.append(a)
            sel.register(a.sock, selectors.EVENT_READ, a)
        for a in attackers:
            a.pump(now)
        for key, _ in sel.select(timeout=0.01):
            key.data.readable()
        for a in attackers:
            if a.ended and not a.closed:
                sel.unregister(a.sock)
                a.sock.close()
                a.closed = True
        if now - last_sample > 0.2:
            peak = max(peak, rss(lbd_pid))
            last_sample = now
    peak = max(peak, rss(lbd_pid))
    outcomes = {}
    for a in attackers:
        how = a.ended or "open at the end"
        outcomes[how] = outcomes.get(how, 0) + 1
        if not a.closed:
            sel.unregister(a.sock)
            a.sock.close()
    stop.set()
    honest.join()
    cpu = cpu_seconds(lbd_pid) - cpu0
    return {
        "attack": attack.__name__[len("attack_"):],
        "baseline_mib": baseline / KIB / KIB,
        "peak_mib": peak / KIB / KIB,
        "over_kib_per_conn": (peak - baseline) / KIB / max(1, connections),
        "cpu_pct": 100 * cpu / duration,
        "honest_requests": len(honest.latencies),
        "honest_errors": honest.errors,
        "honest_p99_ms": honest.p99_ms(),
        "outcomes": outcomes,
    }


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lbd", required=True)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=200.0, help="honest requests per second")
    ap.add_argument("--request-timeout", default="5s",
                    help="timeouts.request_header and request_body for the run")
    ap.add_argument("--only", help="comma-separated attack names")
    ap.add_argument("--check", action="store_true", help="exit 1 when a bound is broken")
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.connections + 256)),
                                                hard))
    backend = ThreadingServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    port = free_port()
    config = f"""[global]
workers = 1
log_level = "error"
[timeouts]
request_header = "{args.request_timeout}"
request_body = "{args.request_timeout}"
[limits]
max_connections = {4 * args.connections + 100}
[[listener]]
name = "web"
bind = "127.0.0.1:{port}"
mode = "http"
pool = "app"
[[pool]]
name = "app"
[[pool.server]]
name = "b"
address = "127.0.0.1:{backend.server_address[1]}"
"""
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "lbd.toml")
        with open(path, "w") as f:
            f.write(config)
        lbd = subprocess.Popen([args.lbd, "-c", path], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or lbd.poll() is not None:
                        sys.exit("lbd did not start")
                    time.sleep(0.05)
            only = set(args.only.split(",")) if args.only else None
            print(f"{'attack':28} {'RSS base→peak MiB':>18} {'KiB/conn':>8} {'CPU %':>6} "
                  f"{'honest ok/err':>13} {'p99 ms':>7}  attackers ended")
            for attack in ATTACKS:
                name = attack.__name__[len("attack_"):]
                if only and name not in only:
                    continue
                r = run_attack(attack, port, lbd.pid, args.connections, args.duration, args.rate)
                ended = ", ".join(f"{k}: {v}" for k, v in sorted(r["outcomes"].items()))
                print(f"{r['attack']:28} {r['baseline_mib']:7.1f} → {r['peak_mib']:7.1f} "
                      f"{r['over_kib_per_conn']:8.1f} {r['cpu_pct']:6.1f} "
                      f"{r['honest_requests']:>7}/{r['honest_errors']:<5} "
                      f"{r['honest_p99_ms']:7.1f}  {ended}", flush=True)
                if r["over_kib_per_conn"] > 64:
                    failures.append(f"{name}: {r['over_kib_per_conn']:.1f} KiB per connection")
                if r["honest_errors"] > 0:
                    failures.append(f"{name}: {r['honest_errors']} honest errors")
                if lbd.poll() is not None:
                    failures.append(f"{name}: lbd exited with {lbd.returncode}")
                    break
        finally:
            if lbd.poll() is None:
                lbd.terminate()
                try:
                    lbd.wait(10)
                except subprocess.TimeoutExpired:
                    lbd.kill()
            backend.shutdown()
    if failures:
        print("bounds broken:\n  " + "\n  ".join(failures))
    if args.check:
        print(f"{0 if failures else 1} passed, {len(failures)} failed")
        if failures:
            sys.exit(1)


if __name__ == "__main__":
    main()
