#!/usr/bin/env python3
"""Forward mode against lbd's user-space L4 relay on one box: network namespaces with a client,
an lbd node and a backend on one bridge; the backend sends SIZE bytes on each connection and
closes; the client makes COUNT connections in turn through the VIP, once to a mode = "forward"
listener (the kernel forwards, nftables DNAT + SNAT) and once to a mode = "tcp" listener (lbd
relays), and prints transfers/s, MiB/s and lbd's CPU seconds for each. Bounded in count and time;
everything is torn down at exit; stops only what it started. Needs root and a built lbd.
    python3 scripts/lab/forward_bench.py --lbd build/lbd/lbd [--count 300] [--size 1048576]"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

PREFIX = f"fb{os.getpid() % 100000}"
HOSTS = {"client": ["192.0.2.100/24"],
         "lb": ["192.0.2.1/24", "192.0.2.10/24", "198.51.100.1/24", "198.51.100.254/24"],
         "be": ["198.51.100.11/24"]}

BLOB_SERVER = r"""
import socket, sys
size = int(sys.argv[1])
blob = b"z" * size
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.11", 9000)); s.listen(128)
while True:
    c, _ = s.accept()
    try:
        c.sendall(blob)
    except OSError:
        pass
    c.close()
"""

CLIENT = r"""
import socket, sys, time
port, count, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
buf = bytearray(262144)
start = time.monotonic()
ok = 0
for _ in range(count):
    s = socket.create_connection(("192.0.2.10", port), timeout=5)
    got = 0
    while True:
        n = s.recv_into(buf)
        if n == 0:
            break
        got += n
    s.close()
    ok += got == size
    if time.monotonic() - start > 120:
        break
print(ok, time.monotonic() - start)
"""


def sh(cmd):
    return subprocess.run(cmd, shell=True, check=True, text=True, capture_output=True).stdout


def ns(host):
    return f"{PREFIX}-{host}"


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--lbd", required=True)
    p.add_argument("--count", type=int, default=300)
    p.add_argument("--size", type=int, default=1 << 20)
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="lbpair-fwdbench-")
    procs = []
    made = []
    try:
        sw = ns("sw")
        sh(f"ip netns add {sw}")
        made.append(sw)
        sh(f"ip -n {sw} link add br0 type bridge && ip -n {sw} link set br0 up")
        for i, (host, addrs) in enumerate(HOSTS.items()):
            sh(f"ip netns add {ns(host)}")
            made.append(ns(host))
            sh(f"ip -n {sw} link add p{i} type veth peer name eth0 netns {ns(host)} && "
               f"ip -n {sw} link set p{i} master br0 && ip -n {sw} link set p{i} up && "
               f"ip -n {ns(host)} link set lo up && ip -n {ns(host)} link set eth0 up")
            for a in addrs:
                sh(f"ip -n {ns(host)} addr add {a} dev eth0")
        sh(f"ip netns exec {ns('lb')} sysctl -qw net.ipv4.ip_forward=1 "
           f"net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0")
        conf = os.path.join(tmp, "lbd.toml")
        with open(conf, "w") as f:
            f.write("""[global]
workers = 1
[[listener]]
name = "fwd"
bind = "192.0.2.10:80"
mode = "forward"
pool = "blob"
snat_address = "198.51.100.254"
[[listener]]
name = "l4"
bind = "192.0.2.10:81"
mode = "tcp"
pool = "blob"
[[pool]]
name = "blob"
[[pool.server]]
name = "be"
address = "198.51.100.11:9000"
""")
        procs.append(subprocess.Popen(["ip", "netns", "exec", ns("be"), sys.executable, "-c",
                                       BLOB_SERVER, str(args.size)]))
        lbd = subprocess.Popen(["ip", "netns", "exec", ns("lb"), os.path.abspath(args.lbd), "-c", conf],
                               stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "lbd.log"), "w"))
        procs.append(lbd)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = subprocess.run(f"ip netns exec {ns('lb')} nft list table ip lbpair", shell=True,
                               capture_output=True)
            if r.returncode == 0:
                break
            time.sleep(0.05)
        time.sleep(0.5)  # the backend's listen socket and lbd's acceptor
        lbd_pid = lbd.pid  # `ip netns exec` execs lbd: same process
        for name, port in (("forward (kernel)", 80), ("tcp (lbd relay)", 81)):
            before = cpu_seconds(lbd_pid)
            out = sh(f"ip netns exec {ns('client')} {sys.executable} -c '{CLIENT}' {port} "
                     f"{args.count} {args.size}")
            ok, secs = out.split()
            ok, secs = int(ok), float(secs)
            used = cpu_seconds(lbd_pid) - before
            print(f"{name}: {ok}/{args.count} transfers of {args.size} B in {secs:.2f} s = "
                  f"{ok / secs:.1f}/s, {ok * args.size / secs / 2**20:.0f} MiB/s, "
                  f"lbd CPU {used:.2f} s")
    finally:
        for pr in procs:
            pr.terminate()
        for pr in procs:
            try:
                pr.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pr.kill()
        for n in reversed(made):
            subprocess.run(["ip", "netns", "del", n], capture_output=True)


if __name__ == "__main__":
    main()
