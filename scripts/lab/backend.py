#!/usr/bin/env python3
"""A lab backend: a small HTTP/1.1 server that answers with its own name and with the address of
the proxy that connected to it, so the lab knows which backend and which lbd node served each
request. /login also sets an application session cookie (JSESSIONID) for learned persistence."""
import argparse
import http.server
import socketserver
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 (http.server API)
            body = f"{args.name} peer={self.client_address[0]}\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Backend", args.name)
            if self.path.startswith("/login"):
                self.send_header("Set-Cookie", f"JSESSIONID={args.name}-{id(self):x}; Path=/")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *unused):
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    Server(("0.0.0.0", args.port), Handler).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
