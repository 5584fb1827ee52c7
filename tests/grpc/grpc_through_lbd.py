#!/usr/bin/env python3
"""gRPC end to end through lbd: a grpcio server on 127.0.0.x behind lbd (pool protocol = "h2",
h2c), a grpcio client through lbd's h2c listener. Generic handlers with raw bytes (Debian has no
grpc_tools code generator). Each check prints "ok: ..." or raises.

Usage: grpc_through_lbd.py LBD_BINARY
Exit 0: every check passed; 77: skipped (grpcio or nghttp missing); anything else: failed.
"""
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures

try:
    import grpc
except ImportError:
    print("skipped: python3-grpcio is not installed for", sys.executable)
    sys.exit(77)

SERVICE = "lbpair.test.Echo"


# ---- the backend ------------------------------------------------------------------------------

def unary(request, context):
    md = dict(context.invocation_metadata())
    context.set_trailing_metadata((("x-echo-trailer", "t:" + md.get("x-client", "")),))
    return request


def server_stream(request, context):
    for i in range(int(request.decode())):
        yield b"part-%d" % i


def client_stream(request_iterator, context):
    return b"|".join(request_iterator)


def bidi(request_iterator, context):
    for message in request_iterator:
        yield b"echo:" + message


def fail(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing: " + request.decode())


def time_left(request, context):
    # What grpc-timeout told the server (it came through lbd), then sleep past it.
    remaining = context.time_remaining()
    time.sleep(float(request.decode()))
    return b"%.3f" % (remaining if remaining is not None else -1.0)


def start_backend(address):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "TimeLeft": grpc.unary_unary_rpc_method_handler(time_left),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port(address + ":0")
    server.start()
    return server, port


# ---- lbd --------------------------------------------------------------------------------------

def free_port(ip):
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def wait_listening(ip, port, deadline_s=10.0):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            socket.create_connection((ip, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"lbd does not listen on {ip}:{port}")


def start_lbd(binary, workdir, ip, port, backend_ip, backend_port):
    conf = os.path.join(workdir, "lbd.toml")
    with open(conf, "w") as f:
        f.write(f"""[global]
workers = 1
[timeouts]
connect = "1s"
[[listener]]
name = "grpc"
bind = ["{ip}:{port}"]
mode = "http"
pool = "grpc"
h2c = true
[[pool]]
name = "grpc"
protocol = "h2"
connect_retries = 0
[[pool.server]]
name = "g1"
address = "{backend_ip}:{backend_port}"
""")
    log = open(os.path.join(workdir, "lbd.log"), "w")
    proc = subprocess.Popen([binary, "-c", conf], stdout=log, stderr=subprocess.STDOUT)
    wait_listening(ip, port)
    return proc


# ---- checks -----------------------------------------------------------------------------------

def method(channel, kind, name):
    return getattr(channel, kind)(f"/{SERVICE}/{name}")


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print("ok:", what)


def run_checks(channel, backend):
    reply, call = method(channel, "unary_unary", "Unary").with_call(
        b"hello", metadata=(("x-client", "c1"),), timeout=5)
    check(reply == b"hello" and call.code() == grpc.StatusCode.OK, "unary call echoes its request")
    trailers = dict(call.trailing_metadata())
    check(trailers.get("x-echo-trailer") == "t:c1",
          "request metadata reaches the server and its trailing metadata reaches the client")

    parts = list(method(channel, "unary_stream", "ServerStream")(b"5", timeout=5))
    check(parts == [b"part-%d" % i for i in range(5)], "server streaming delivers every message")

    big = [bytes([i % 251]) * 40000 for i in range(20)]  # 800 kB: several windows' worth
    joined = method(channel, "stream_unary", "ClientStream")(iter(big), timeout=10)
    check(joined == b"|".join(big), "client streaming delivers every message (800 kB)")

    # Bidirectional, lock-step: the next request is sent only after the previous answer came
    # back, which needs lbd to relay both directions of one stream at once.
    outgoing = []
    cond = threading.Condition()

    def requests():
        for i in range(5):
            with cond:
                while len(outgoing) < i:
                    if not cond.wait(timeout=5):
                        return
            yield b"m%d" % i

    answers = []
    for answer in method(channel, "stream_stream", "Bidi")(requests(), timeout=10):
        answers.append(answer)
        with cond:
            outgoing.append(answer)
            cond.notify_all()
    check(answers == [b"echo:m%d" % i for i in range(5)],
          "bidirectional streaming works in lock step (full duplex)")

    try:
        method(channel, "unary_unary", "Fail")(b"x%1", timeout=5)
        check(False, "Fail returned")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.NOT_FOUND and e.details() == "no such thing: x%1",
              "a server error arrives as its code and message (grpc-status, grpc-message)")

    started = time.monotonic()
    try:
        method(channel, "unary_unary", "TimeLeft")(b"1.5", timeout=0.4)
        check(False, "TimeLeft returned")
    except grpc.RpcError as e:
        elapsed = time.monotonic() - started
        check(e.code() == grpc.StatusCode.DEADLINE_EXCEEDED and elapsed < 1.2,
              f"a client deadline ends the call in time ({elapsed:.2f} s)")
    left = float(method(channel, "unary_unary", "TimeLeft")(b"0", timeout=3))
    check(0.5 < left <= 3.1, f"grpc-timeout reaches the server ({left:.2f} s left of 3)")

    # Many concurrent calls share lbd's few upstream connections.
    with futures.ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(
            lambda i: method(channel, "unary_unary", "Unary")(b"c%d" % i, timeout=10), range(200)))
    check(results == [b"c%d" % i for i in range(200)], "200 concurrent unary calls all succeed")

    backend.stop(grace=None).wait()
    started = time.monotonic()
    try:
        method(channel, "unary_unary", "Unary")(b"x", timeout=5)
        check(False, "a call to a stopped backend returned")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.UNAVAILABLE and time.monotonic() - started < 4,
              f"a stopped backend gives UNAVAILABLE ({e.details()})")


def check_trailers_only(ip, port):
    """The UNAVAILABLE answer is a trailers-only response: one HEADERS frame with END_STREAM,
    :status 200 and grpc-status 14 (seen with nghttp -v)."""
    nghttp = shutil.which("nghttp")
    if not nghttp:
        print("note: nghttp missing, trailers-only frame check left out")
        return
    out = subprocess.run(
        [nghttp, "-nv", "-H", "content-type: application/grpc", "-H", "te: trailers",
         "-d", "/dev/null", f"http://{ip}:{port}/{SERVICE}/Unary"],
        capture_output=True, text=True, timeout=10).stdout
    frames = [line for line in out.splitlines() if "recv HEADERS frame" in line]
    check(len(frames) == 1 and "END_STREAM" in out.split("recv HEADERS frame", 1)[1].split("\n")[1]
          and "grpc-status: 14" in out and ":status: 200" in out,
          "the UNAVAILABLE answer is trailers-only (one HEADERS frame, END_STREAM, grpc-status 14)")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    binary = sys.argv[1]
    rnd = random.Random()
    ip = f"127.0.{rnd.randint(1, 250)}.{rnd.randint(2, 250)}"
    backend_ip = f"127.0.{rnd.randint(1, 250)}.{rnd.randint(2, 250)}"
    workdir = tempfile.mkdtemp(prefix="lbd-grpc-")
    backend, backend_port = start_backend(backend_ip)
    port = free_port(ip)
    lbd = start_lbd(binary, workdir, ip, port, backend_ip, backend_port)
    ok = False
    try:
        with grpc.insecure_channel(f"{ip}:{port}") as channel:
            run_checks(channel, backend)
        check_trailers_only(ip, port)
        ok = True
    finally:
        backend.stop(grace=None)
        lbd.send_signal(signal.SIGTERM)
        try:
            lbd.wait(timeout=10)
        except subprocess.TimeoutExpired:
            lbd.kill()
            lbd.wait()
        if lbd.returncode != 0:  # e.g. a sanitizer report, or no clean stop
            print(f"lbd exited with {lbd.returncode}")
            ok = False
        if not ok:
            with open(os.path.join(workdir, "lbd.log")) as f:
                print("---- lbd log\n" + f.read())
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
