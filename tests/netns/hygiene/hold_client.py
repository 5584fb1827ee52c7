#!/usr/bin/env python3
"""Opens one connection per ADDRESS:PORT argument, checks each echoes a line, prints "ready",
then reports each end of file ("closed ADDRESS:PORT") and exits after at most 60 s."""
import selectors
import socket
import sys
import time

sel = selectors.DefaultSelector()
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(b"hi\n")
    assert s.recv(16) == b"hi\n"
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, target)
print("ready", flush=True)
deadline = time.monotonic() + 60
while sel.get_map() and time.monotonic() < deadline:
    for key, _ in sel.select(timeout=1):
        try:
            data = key.fileobj.recv(4096)
        except OSError:
            data = b""
        if not data:
            print("closed", key.data, flush=True)
            sel.unregister(key.fileobj)
