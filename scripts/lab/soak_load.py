#!/usr/bin/env python3
"""The chaos soak's client load, run inside the client namespace: the failover lab's clients
(client_load.run_client: cookie, source-IP, plain L4 keep-alive and the new-connection probe) for
as long as the soak runs, which can exceed client_load.py's 10-minute cap. Every request's outcome
is one JSON line. Stops by itself after --duration seconds (at most 2 hours); every request has a
timeout."""
import socket

import client_load

MAX_DURATION = 2 * 3600


if __name__ == "__main__":
    socket.setdefaulttimeout(2)
    client_load.main(max_duration=MAX_DURATION, interval=0.05, probe_interval=0.01)
