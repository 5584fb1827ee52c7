#!/usr/bin/env python3
"""Bounded client load for the failover lab, run inside the client namespace. Three kinds of
clients hit the VIP and every request's outcome is written as one JSON line:
  cookie  – keeps the persistence cookie lbd inserts (listener :80), new connection per request;
  source  – each client has its own source address (listener :81, source-IP persistence);
  plain   – no persistence (listener :82), one keep-alive connection reused until it breaks, so a
            failover shows whether the connection table sent it back to the same backend;
  probe   – a new short-timeout request every few ms (listener :82): when the VIP answers again,
            independent of the other clients' request timeouts;
  h2      – HTTP/2 with prior knowledge (listener :80, h2c) on one connection reused for every
            request, one stream each, keeping the persistence cookie like the cookie clients; a
            GOAWAY sends the streams it did not take again on a new connection (python3-h2).
Stops by itself after --duration seconds (and every request has a timeout)."""
import argparse
import http.client
import json
import socket
import threading
import time


def parse_backend(body: bytes):
    parts = body.decode(errors="replace").split()
    name = parts[0] if parts else ""
    peer = parts[1].split("=", 1)[1] if len(parts) > 1 and "=" in parts[1] else ""
    return name, peer


class Recorder:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.out = open(path, "w", buffering=1)

    def write(self, record):
        with self.lock:
            self.out.write(json.dumps(record) + "\n")


def error_text(e):
    return type(e).__name__ + (f": {e}" if str(e) else "")


def write_and_pace(rec, record, start, interval):
    """Records the request's latency and outcome, then waits for the client's next turn."""
    record["lat"] = time.time() - start
    rec.write(record)
    time.sleep(max(0.0, interval - (time.time() - start)))


def run_client(kind, cid, vip, port, source, deadline, interval, timeout, rec):
    cookie = None
    conn = None
    while time.time() < deadline:
        start = time.time()
        record = {"t": start, "client": cid, "kind": kind, "ok": False}
        try:
            if conn is None or kind != "plain":
                if conn is not None:
                    conn.close()
                conn = http.client.HTTPConnection(vip, port, timeout=timeout,
                                                  source_address=(source, 0) if source else None)
            headers = {"Connection": "keep-alive" if kind == "plain" else "close"}
            if cookie:
                headers["Cookie"] = cookie
            conn.request("GET", "/", headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            record["status"] = resp.status
            set_cookie = resp.getheader("Set-Cookie")
            if set_cookie and kind == "cookie":
                cookie = set_cookie.split(";", 1)[0]
            backend, peer = parse_backend(body)
            record.update(ok=resp.status == 200, backend=backend, peer=peer)
            if kind != "plain":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            record["err"] = error_text(e)
            if conn is not None:
                conn.close()
            conn = None
        write_and_pace(rec, record, start, interval)
    if conn is not None:
        conn.close()


def run_h2_client(cid, vip, port, deadline, interval, timeout, rec):
    from h2_client import H2Client, StreamRefused  # python3-h2, only when h2 clients run
    import h2.exceptions
    cookie, conn = None, None
    while time.time() < deadline:
        start = time.time()
        record = {"t": start, "client": cid, "kind": "h2", "ok": False}
        try:
            for attempt in (1, 2):
                if conn is None or conn.going_away:
                    if conn is not None:
                        conn.close()
                    conn = H2Client(vip, port, timeout)
                try:
                    status, fields, body = conn.get("/", {"cookie": cookie} if cookie else {})
                    break
                except StreamRefused:
                    conn.close()
                    conn = None
                    record["retried"] = True
                    if attempt == 2:
                        raise
            record["status"] = status
            if "set-cookie" in fields:
                cookie = fields["set-cookie"].split(";", 1)[0]
            backend, peer = parse_backend(body)
            record.update(ok=status == 200, backend=backend, peer=peer)
        except (OSError, StreamRefused, h2.exceptions.H2Error) as e:
            record["err"] = error_text(e)
            if conn is not None:
                conn.sock.close()
            conn = None
        write_and_pace(rec, record, start, interval)
    if conn is not None:
        conn.close()


def main(max_duration=600, interval=0.02, probe_interval=0.005):
    """Runs every client until --duration (at most max_duration seconds) has passed; the
    defaults of --interval and --probe-interval are the caller's."""
    p = argparse.ArgumentParser()
    p.add_argument("--vip", required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--cookie-clients", type=int, default=4)
    p.add_argument("--h2-clients", type=int, default=0)
    p.add_argument("--source-addrs", default="", help="comma list; one source client each")
    p.add_argument("--plain-addrs", default="",
                   help="comma list; one plain client each (the connection table keys on the "
                        "client address, so each plain client needs its own)")
    p.add_argument("--interval", type=float, default=interval)
    p.add_argument("--probe-interval", type=float, default=probe_interval)
    p.add_argument("--probe-timeout", type=float, default=0.05)
    p.add_argument("--timeout", type=float, default=0.5)
    a = p.parse_args()
    deadline = time.time() + min(a.duration, max_duration)
    rec = Recorder(a.out)
    threads = []
    specs = [("cookie", f"cookie-{i}", 80, None) for i in range(a.cookie_clients)]
    specs += [("source", f"source-{s}", 81, s) for s in a.source_addrs.split(",") if s]
    specs += [("plain", f"plain-{s}", 82, s) for s in a.plain_addrs.split(",") if s]
    specs += [("probe", "probe", 82, None)]
    specs += [("h2", f"h2-{i}", 80, None) for i in range(a.h2_clients)]
    for kind, cid, port, source in specs:
        probe = kind == "probe"
        interval = a.probe_interval if probe else a.interval
        timeout = a.probe_timeout if probe else a.timeout
        if kind == "h2":
            target, args = run_h2_client, (cid, a.vip, port, deadline, interval, timeout, rec)
        else:
            target, args = run_client, (kind, cid, a.vip, port, source, deadline, interval,
                                        timeout, rec)
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join(timeout=max(1.0, deadline - time.time() + 2 * a.timeout + 1))


if __name__ == "__main__":
    socket.setdefaulttimeout(2)
    main()
