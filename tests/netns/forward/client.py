#!/usr/bin/env python3
"""Test client for the forward-mode namespace tests. Every wait is bounded.

  client.py names VIP PORT N
      opens N connections one after the other, prints the backend name each was greeted with
      ("-" when the connection failed), one per line.
  client.py hold VIP PORT ECHO BULK SECONDS [READY_FILE]
      opens ECHO flows that send a 32-byte line every 50 ms and expect it back, and BULK flows that
      keep 64 KiB in flight; after SECONDS prints one JSON object: per flow its backend, whether it
      survived (no error, no RST, echoes kept coming back until the end), its largest pause
      between answers in ms and its error. Touches READY_FILE once every flow is established."""
import json
import select
import socket
import sys
import time


def connect(vip, port):
    s = socket.create_connection((vip, port), timeout=3)
    f = s.makefile("rb")
    line = f.readline(200).decode().strip()
    return s, f, line.split(" ")[0] if line else "-"


def names(vip, port, n):
    for _ in range(n):
        try:
            s, f, name = connect(vip, port)
            print(name, flush=True)
            f.close()
            s.close()
        except OSError:
            print("-", flush=True)


def hold(vip, port, echo, bulk, seconds, ready_file):
    flows = []
    for i in range(echo + bulk):
        s, f, name = connect(vip, port)
        f.close()  # the greeting line was read whole; the rest goes through recv
        s.setblocking(False)
        flows.append({"sock": s, "backend": name, "bulk": i >= echo, "error": "",
                      "pending": 0, "last": time.monotonic(), "max_pause_ms": 0.0,
                      "received": 0})
    if ready_file:
        open(ready_file, "w").close()
    payload = b"x" * 31 + b"\n"
    chunk = b"y" * 65536
    end = time.monotonic() + seconds
    next_tick = time.monotonic()
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_tick:
            next_tick = now + 0.05
            for fl in flows:
                if fl["error"]:
                    continue
                try:
                    if fl["bulk"]:
                        if fl["pending"] < 65536:
                            fl["pending"] += fl["sock"].send(chunk)
                    elif fl["pending"] == 0:
                        fl["pending"] += fl["sock"].send(payload)
                except BlockingIOError:
                    pass
                except OSError as e:
                    fl["error"] = type(e).__name__
        live = [fl["sock"] for fl in flows if not fl["error"]]
        if not live:
            break
        readable, _, _ = select.select(live, [], [], max(0.0, min(0.01, next_tick - now)))
        now = time.monotonic()
        for fl in flows:
            if fl["sock"] in readable and not fl["error"]:
                try:
                    data = fl["sock"].recv(262144)
                    if not data:
                        fl["error"] = "closed"
                        continue
                    fl["pending"] -= len(data)
                    fl["received"] += len(data)
                    fl["max_pause_ms"] = max(fl["max_pause_ms"], (now - fl["last"]) * 1000)
                    fl["last"] = now
                except BlockingIOError:
                    pass
                except OSError as e:
                    fl["error"] = type(e).__name__
    now = time.monotonic()
    out = []
    for fl in flows:
        pause = max(fl["max_pause_ms"], (now - fl["last"]) * 1000)
        # Survived: no error and answers came back within the last second of the run.
        alive = not fl["error"] and now - fl["last"] < 1.0
        out.append({"backend": fl["backend"], "bulk": fl["bulk"], "survived": alive,
                    "max_pause_ms": round(pause, 1), "error": fl["error"],
                    "received": fl["received"]})
        fl["sock"].close()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "names":
        names(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        hold(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
             float(sys.argv[6]), sys.argv[7] if len(sys.argv) > 7 else "")
