#!/usr/bin/env python3
"""The chaos soak's client load, run inside the client namespace: the failover lab's clients
(client_load.run_client: cookie, source-IP, plain L4 keep-alive and the new-connection probe) for
as long as the soak runs, which can exceed client_load.py's 10-minute cap. Every request's outcome
is one JSON line. Stops by itself after --duration seconds (at most 2 hours); every request has a
timeout."""
import argparse
import socket
import threading
import time

import client_load

MAX_DURATION = 2 * 3600


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--vip", required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--cookie-clients", type=int, default=4)
    p.add_argument("--source-addrs", default="")
    p.add_argument("--plain-addrs", default="")
    p.add_argument("--interval", type=float, default=0.05)
    p.add_argument("--probe-interval", type=float, default=0.01)
    p.add_argument("--probe-timeout", type=float, default=0.05)
    p.add_argument("--timeout", type=float, default=0.5)
    a = p.parse_args()
    deadline = time.time() + min(a.duration, MAX_DURATION)
    rec = client_load.Recorder(a.out)
    specs = [("cookie", f"cookie-{i}", 80, None) for i in range(a.cookie_clients)]
    specs += [("source", f"source-{s}", 81, s) for s in a.source_addrs.split(",") if s]
    specs += [("plain", f"plain-{s}", 82, s) for s in a.plain_addrs.split(",") if s]
    specs += [("probe", "probe", 82, None)]
    threads = []
    for kind, cid, port, source in specs:
        probe = kind == "probe"
        t = threading.Thread(target=client_load.run_client, daemon=True,
                             args=(kind, cid, a.vip, port, source, deadline,
                                   a.probe_interval if probe else a.interval,
                                   a.probe_timeout if probe else a.timeout, rec))
        t.start()
        threads.append(t)
    for t in threads:
        t.join(timeout=max(1.0, deadline - time.time() + 2 * a.timeout + 1))


if __name__ == "__main__":
    socket.setdefaulttimeout(2)
    main()
