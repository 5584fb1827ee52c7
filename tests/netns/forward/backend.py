#!/usr/bin/env python3
"""Test backend for the forward-mode namespace tests: greets each client with its name and the
client address it sees ("NAME IP:PORT\n"), then echoes every byte back. Runs until killed."""
import socket
import sys
import threading

name, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])


def serve(conn, peer):
    with conn:
        try:
            conn.sendall(f"{name} {peer[0]}:{peer[1]}\n".encode())
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data)
        except OSError:
            return


# "::" listens on IPv6 and (dual stack) IPv4; any other host by its own family.
srv = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((host, port))
srv.listen(512)
print("ready", flush=True)
while True:
    c, p = srv.accept()
    threading.Thread(target=serve, args=(c, p), daemon=True).start()
