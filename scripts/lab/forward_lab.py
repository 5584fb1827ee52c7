#!/usr/bin/env python3
"""The forward-mode failover lab: the failover lab's namespaces (a client, node-a, node-b and
three backends on one bridge), lbd with a forward listener (kernel DNAT + SNAT to a floating
backend-side address) and replication on both nodes, vrrpd moving the VIP and the SNAT address
together. 100 long-lived flows through node-a (80 echo a line every 50 ms, 20 keep 64 KiB in
flight), then a SIGKILL of lbd and vrrpd on node-a (or --kill node: its link goes down; or --kill
switchover: the operator's planned `lbctl vrrp switchover` on node-a): reports how many flows
survived on node-b (with the conntrack entries lbd streamed to it) and each flow's largest pause.
--restart-after S brings node-a back S seconds after the fault, so that it takes the VIP back
(the switch-back) while the same flows keep running: they must survive both moves.
--no-replication runs the same without [replication]. Everything it creates is torn down at exit; it stops only
the processes it started, by PID. Needs root."""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import failover_lab  # noqa: E402  (the lab's topology and process handling)

VIP = failover_lab.VIP4
SNAT = "192.0.2.254"
FWD = os.path.join(ROOT, "tests", "netns", "forward")


def lbd_toml(lab, node, replicate, algorithm):
    own, _ = failover_lab.NODES[node]
    peer_node = "node-b" if node == "node-a" else "node-a"
    peer, _ = failover_lab.NODES[peer_node]
    servers = "".join(f'[[pool.server]]\nname = "{be}"\naddress = "{ip}:8080"\n'
                      for be, ip in failover_lab.BACKENDS.items())
    text = f"""[global]
workers = 1
log_level = "info"
control_socket = "{lab.sockets(node)[0]}"
[[listener]]
name = "fwd"
bind = "{VIP}:80"
mode = "forward"
pool = "app"
forward_slots = 1021
snat_address = "{SNAT}"
[[pool]]
name = "app"
algorithm = "{algorithm}"
[pool.health]
type = "tcp"
interval = "1s"
{servers}"""
    if replicate:
        text += f"""[replication]
node_id = "{node}"
peer_id = "{peer_node}"
listen = "{own}:7400"
peer = "{peer}:7400"
secret = "lab-only-replication-secret-0123456789"
heartbeat_interval = "200ms"
dead_peer_timeout = "1s"
"""
    return text


def vrrpd_toml(lab, node, advert_ms):
    lbd_sock, vrrpd_sock = lab.sockets(node)
    return f"""[global]
log_level = "info"
control_socket = "{vrrpd_sock}"
lbd_control_socket = "{lbd_sock}"
[track_lbd]
interval = "200ms"
timeout = "150ms"
rise = 2
fall = 2
weight = 0
[[instance]]
name = "fwd4"
vrid = 52
interface = "eth0"
priority = {150 if node == "node-a" else 100}
advert_interval = "{advert_ms}ms"
preempt = true
vips = ["{VIP}/24", "{SNAT}/24"]
"""


def start_node(lab, node, args):
    conf = os.path.join(lab.run_dir, node)
    os.makedirs(conf, exist_ok=True)
    with open(os.path.join(conf, "lbd.toml"), "w") as f:
        f.write(lbd_toml(lab, node, not args.no_replication, args.algorithm))
    with open(os.path.join(conf, "vrrpd.toml"), "w") as f:
        f.write(vrrpd_toml(lab, node, int(round(args.advert * 1000))))
    failover_lab.sh(f"ip netns exec {lab.ns(node)} sysctl -qw net.ipv4.ip_forward=1 "
                    "net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0")
    lab.start_proc(f"lbd-{node}", node, [args.lbd, "-c", os.path.join(conf, "lbd.toml")])
    lab.start_proc(f"vrrpd-{node}", node, [args.vrrpd, "-c", os.path.join(conf, "vrrpd.toml")])


def lbctl(lab, node, *words):
    r = failover_lab.sh(f"{lab.args.lbctl} --lbd-socket {lab.sockets(node)[0]} --json "
                        + " ".join(words), check=False)
    try:
        return json.loads(r.stdout)
    except ValueError:
        return {}


def ct_held(lab, node):
    for t in lbctl(lab, node, "show", "replication").get("replication", {}).get("tables", []):
        if t.get("name") == "@conntrack":
            return t.get("remote_entries", 0)
    return 0


def traffic_seconds(args):
    """How long the client's flows run: through the fault and, with --restart-after, through
    node-a's return and the switch-back."""
    if args.restart_after > 0:
        return args.warmup + args.restart_after + args.after_restart
    return args.warmup + args.after_kill


def bring_back(lab, args):
    """node-a returns: its daemons restart (or its link comes up); vrrpd there preempts once
    lbd is ready and in sync with node-b, which then holds node-a's conntrack entries again."""
    if args.kill == "both":
        start_node(lab, "node-a", args)
        lab.event("lbd and vrrpd restarted on node-a")
    elif args.kill == "node":
        failover_lab.sh(f"ip -n {lab.ns('sw')} link set {lab.ports['node-a']} up")
        lab.event("node-a's link is up again")
    else:
        # A switchover keeps node-a at priority 1 until the operator resumes it; then it
        # preempts node-b as it would after a restart.
        reply = failover_lab.control_request(lab.sockets("node-a")[1], {"cmd": "resume"})
        lab.event(f"vrrp resume on node-a (what `lbctl vrrp resume` sends): ok={reply.get('ok')}")


def vip_back_ms(lab, t_back):
    t = lab.first_vip_change_after(t_back, lambda h: "node-a" in h)
    return None if t is None else round((t - t_back) * 1000, 1)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--advert", type=failover_lab.parse_interval,
                   default=failover_lab.parse_interval("100ms"))
    p.add_argument("--echo", type=int, default=80, help="flows that echo a line every 50 ms")
    p.add_argument("--bulk", type=int, default=20, help="flows that keep 64 KiB in flight")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of traffic before the kill")
    p.add_argument("--after-kill", type=float, default=7.0, help="seconds of traffic after it")
    p.add_argument("--no-replication", action="store_true")
    p.add_argument("--kill", choices=["both", "node", "switchover"], default="both",
                   help="both: SIGKILL lbd and vrrpd on node-a (its kernel keeps forwarding "
                        "until the clients follow the new master's gratuitous ARP); node: take "
                        "node-a's link down; switchover: `lbctl vrrp switchover` on node-a")
    p.add_argument("--restart-after", type=float, default=0.0,
                   help="seconds after the fault at which node-a comes back (daemons "
                        "restarted, link up, or nothing to restart after a switchover) and "
                        "takes the VIP back; 0 = it stays away")
    p.add_argument("--after-restart", type=float, default=6.0,
                   help="seconds of traffic after node-a is back (with --restart-after)")
    p.add_argument("--algorithm", default="maglev",
                   choices=["maglev", "source_hash", "round_robin", "random"],
                   help="the pool's balancing (random shows best what replication prevents: "
                        "without the entries, a flow picked up mid-stream goes to another "
                        "backend half the time)")
    p.add_argument("--json", help="write the report here")
    p.add_argument("--bin-dir", default=os.path.join(ROOT, "build"))
    args = p.parse_args()
    if os.geteuid() != 0:
        print("forward_lab: needs root (network namespaces)", file=sys.stderr)
        return 2
    args.lbd = shutil.which("lbd", path=f"{args.bin_dir}/lbd") or ""
    args.vrrpd = shutil.which("vrrpd", path=f"{args.bin_dir}/vrrpd") or ""
    args.lbctl = shutil.which("lbctl", path=f"{args.bin_dir}/lbctl") or ""
    if not (args.lbd and args.vrrpd and args.lbctl):
        print(f"forward_lab: lbd/vrrpd/lbctl not found under {args.bin_dir}", file=sys.stderr)
        return 2
    args.quiet = False
    lab = failover_lab.Lab(args)
    try:
        print(f"Forward lab: namespaces {lab.prefix}-*, VIP {VIP}, SNAT {SNAT}, adverts every "
              f"{args.advert * 1000:g} ms, algorithm {args.algorithm}, "
              f"replication {'off' if args.no_replication else 'on'}")
        lab.up()
        for be, ip in failover_lab.BACKENDS.items():
            lab.start_proc(be, be, [sys.executable, os.path.join(FWD, "backend.py"), be, ip, "8080"])
        lab.watch_vip()
        start_node(lab, "node-a", args)
        start_node(lab, "node-b", args)
        lab.wait_for(lambda: lab.vip_holders() == ("node-a",), 10 + 5 * args.advert,
                     "node-a to become master")
        lab.event("node-a is master and holds the VIP and the SNAT address")
        if not args.no_replication:
            lab.wait_for(lambda: lbctl(lab, "node-b", "show", "replication")
                         .get("replication", {}).get("in_sync", False), 15,
                         "lbd on node-b to be in sync")
            lab.event("lbd on node-b is in sync with node-a")
        flows = args.echo + args.bulk
        ready = os.path.join(lab.run_dir, "ready")
        client = lab.start_proc("client", "client", [
            sys.executable, os.path.join(FWD, "client.py"), "hold", VIP, "80", str(args.echo),
            str(args.bulk), str(traffic_seconds(args)), ready])
        lab.wait_for(lambda: os.path.exists(ready), 30, "the client's flows to be established")
        t_ready = time.time()
        lab.event(f"{flows} flows established through node-a")
        held = 0
        if not args.no_replication:
            lab.wait_for(lambda: ct_held(lab, "node-b") >= flows, 10,
                         f"node-b to hold {flows} conntrack entries")
            held = ct_held(lab, "node-b")
            lab.event(f"node-b holds {held} conntrack entries "
                      f"({(time.time() - t_ready) * 1000:.0f} ms after the flows were up)")
        time.sleep(max(0.0, args.warmup - (time.time() - t_ready)))
        t_kill = time.time()
        if args.kill == "both":
            lab.kill_now(["vrrpd-node-a", "lbd-node-a"])
            lab.event("SIGKILL lbd and vrrpd on node-a")
        elif args.kill == "node":
            failover_lab.sh(f"ip -n {lab.ns('sw')} link set {lab.ports['node-a']} down")
            lab.event("node-a's link is down")
        else:
            reply = failover_lab.control_request(lab.sockets("node-a")[1], {"cmd": "switchover"})
            lab.event(f"vrrp switchover on node-a (what `lbctl vrrp switchover` sends): "
                      f"ok={reply.get('ok')}")
        t_back = None
        if args.restart_after > 0:
            time.sleep(max(0.0, args.restart_after - (time.time() - t_kill)))
            t_back = time.time()
            bring_back(lab, args)
        client.wait(timeout=traffic_seconds(args) + 60)
        lab.procs.pop("client", None)
        t_vip_b = lab.first_vip_change_after(t_kill, lambda h: "node-b" in h)
        lines = open(os.path.join(lab.run_dir, "client.log")).read().strip().splitlines()
        results = json.loads(lines[-1])
        survived = [r for r in results if r["survived"]]
        pauses = sorted(r["max_pause_ms"] for r in survived)
        fwd_b = lbctl(lab, "node-b", "show", "forward").get("forward", {})
        report = {
            "flows": len(results),
            "survived": len(survived),
            "survived_echo": sum(1 for r in survived if not r["bulk"]),
            "survived_bulk": sum(1 for r in survived if r["bulk"]),
            "reset": sum(1 for r in results if r["error"] == "ConnectionResetError"),
            "errors": sorted({r["error"] for r in results if r["error"]}),
            "detect_ms": None if t_vip_b is None else round((t_vip_b - t_kill) * 1000, 1),
            "largest_pause_ms": {
                "median": statistics.median(pauses) if pauses else None,
                "max": pauses[-1] if pauses else None,
            },
            "held_on_b_before_kill": held,
            "vip_back_on_a_ms": None if t_back is None else vip_back_ms(lab, t_back),
            # A daemon that exited on its own during the run (the lab kills none after start,
            # except for --kill both): name -> exit status (negative: the signal).
            "daemons_exited": {name: proc.poll() for name, proc in lab.procs.items()
                               if name != "client" and proc.poll() is not None},
            "b_committed": fwd_b.get("committed"),
            "b_failed": fwd_b.get("failed"),
        }
        print(json.dumps(report, indent=2))
        if args.json:
            with open(args.json, "w") as out:
                json.dump(report, out, indent=2)
        print(f"Logs: {lab.run_dir}")
        return 0
    except KeyboardInterrupt:
        return 130
    except RuntimeError as e:
        print(f"\nforward_lab: {e}", file=sys.stderr)
        for name in ("vrrpd-node-a", "vrrpd-node-b", "lbd-node-a", "lbd-node-b", "client"):
            path = os.path.join(lab.run_dir, f"{name}.log")
            if os.path.exists(path):
                print(f"--- {name}.log (last lines)", file=sys.stderr)
                print("".join(open(path, errors="replace").readlines()[-15:]), file=sys.stderr)
        return 1
    finally:
        lab.down()


if __name__ == "__main__":
    sys.exit(main())
