#!/usr/bin/env python3
"""The two-node failover lab: network namespaces on one bridge (a client, node-a, node-b and
three backends), lbd + vrrpd on both nodes with the configs from conf/node-a and conf/node-b, a
bounded client load against the VIP, a kill on the master (lbd and vrrpd, lbd alone, or its link),
its restart, and a timeline and summary of what clients saw, with the requests failed at the
failover and at the switch-back (node-a taking the VIP back) counted apart. Everything it creates is torn down at exit, also on Ctrl-C or error; it stops
only the processes it started, by PID. Needs root."""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

VIP4 = "192.0.2.10"
VIP6 = "2001:db8::10"
NODES = {"node-a": ("192.0.2.11", "2001:db8::11"), "node-b": ("192.0.2.12", "2001:db8::12")}
BACKENDS = {"be1": "192.0.2.21", "be2": "192.0.2.22", "be3": "192.0.2.23"}
CLIENT = "192.0.2.100"
SOURCE_ADDRS = [f"192.0.2.{i}" for i in range(101, 109)]


def sh(cmd, check=True, capture=True):
    r = subprocess.run(cmd, shell=True, text=True, capture_output=capture)
    if check and r.returncode != 0:
        raise RuntimeError(f"command failed ({r.returncode}): {cmd}\n{r.stdout}{r.stderr}")
    return r


def parse_interval(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)", text)
    if not m:
        raise argparse.ArgumentTypeError("interval like 10ms, 100ms, 1s")
    value = float(m.group(1)) * (1 if m.group(2) == "s" else 0.001)
    return value


class Lab:
    def __init__(self, args):
        self.args = args
        self.prefix = f"lab{os.getpid() % 100000}"
        self.namespaces = []
        self.procs = {}  # name -> Popen
        self.run_dir = tempfile.mkdtemp(prefix="lbpair-lab-")
        self.events = []  # (time, text)
        self.vip_log = []  # (time, holders tuple)
        self.monitors = []  # `ip monitor` processes

    # ---- topology -------------------------------------------------------------------------
    def ns(self, host):
        return f"{self.prefix}-{host}"

    def up(self):
        sw = self.ns("sw")
        sh(f"ip netns add {sw}")
        self.namespaces.append(sw)
        sh(f"ip -n {sw} link set lo up && ip -n {sw} link add br0 type bridge && "
           f"ip -n {sw} link set br0 type bridge forward_delay 0 stp_state 0 && "
           f"ip -n {sw} link set br0 up")
        hosts = {"client": [f"{CLIENT}/24"] + [f"{a}/24" for a in SOURCE_ADDRS] + ["2001:db8::100/64"]}
        for node, (v4, v6) in NODES.items():
            hosts[node] = [f"{v4}/24", f"{v6}/64"]
        for be, v4 in BACKENDS.items():
            hosts[be] = [f"{v4}/24"]
        for i, (host, addrs) in enumerate(hosts.items()):
            name = self.ns(host)
            sh(f"ip netns add {name}")
            self.namespaces.append(name)
            sh(f"ip netns exec {name} sysctl -qw net.ipv6.conf.all.accept_dad=0 "
               f"net.ipv6.conf.default.accept_dad=0 net.ipv4.ip_nonlocal_bind=0")
            sh(f"ip -n {name} link set lo up && "
               f"ip -n {sw} link add p{i} type veth peer name eth0 netns {name} && "
               f"ip -n {sw} link set p{i} master br0 && ip -n {sw} link set p{i} up && "
               f"ip -n {name} link set eth0 up")
            for a in addrs:
                sh(f"ip -n {name} addr add {a} dev eth0 nodad")
        self.ports = {host: f"p{i}" for i, host in enumerate(hosts)}

    def down(self):
        for proc in self.monitors:
            proc.kill()
            proc.wait(timeout=3)
        for name, proc in list(self.procs.items()):
            self.stop_proc(name, sig=signal.SIGKILL)
        for ns in reversed(self.namespaces):
            pids = sh(f"ip netns pids {ns}", check=False).stdout.split()
            for pid in pids:  # only processes inside our own, uniquely named namespaces
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            sh(f"ip netns delete {ns}", check=False)
        self.namespaces.clear()

    # ---- processes ------------------------------------------------------------------------
    def start_proc(self, name, host, argv):
        log = open(os.path.join(self.run_dir, f"{name}.log"), "ab")
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns(host)] + argv, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        self.procs[name] = proc
        return proc

    def stop_proc(self, name, sig=signal.SIGTERM, wait=3.0):
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=3)

    def kill_now(self, names):
        """SIGKILL several of our processes as close together as possible."""
        procs = [self.procs.pop(n) for n in names if n in self.procs]
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
        for p in procs:
            p.wait(timeout=5)

    def node_configs(self, node):
        """Copies conf/<node>/ into the run dir, with the lab's advert interval and control
        sockets in the run dir (unix socket paths are not per namespace: the configs' shared
        /run/lbpair paths would collide between the two nodes of one machine)."""
        src = os.path.join(self.args.conf_dir, node)
        dst = os.path.join(self.run_dir, node)
        shutil.copytree(src, dst, dirs_exist_ok=True)
        lbd_sock, vrrpd_sock = self.sockets(node)
        vrrpd = os.path.join(dst, "vrrpd.toml")
        text = open(vrrpd).read()
        ms = int(round(self.args.advert * 1000))
        text = re.sub(r'(?m)^advert_interval\s*=.*$', f'advert_interval = "{ms}ms"', text)
        # The soak and the forward lab build their args without this option.
        drain = getattr(self.args, "handover_drain", None)
        if drain is not None:
            text = re.sub(r'(?m)^handover_drain\s*=.*\n', '', text)
            text = re.sub(r'(?m)^(advert_interval\s*=.*)$', f'\\1\nhandover_drain = "{drain}"',
                          text)
        text = re.sub(r'(?m)^control_socket\s*=.*$', f'control_socket = "{vrrpd_sock}"', text)
        text = re.sub(r'(?m)^lbd_control_socket\s*=.*$', f'lbd_control_socket = "{lbd_sock}"',
                      text)
        open(vrrpd, "w").write(text)
        lbd = os.path.join(dst, "lbd.toml")
        text = open(lbd).read()
        text = re.sub(r'(?m)^control_socket\s*=.*$', f'control_socket = "{lbd_sock}"', text)
        open(lbd, "w").write(text)
        return dst

    def handover_drain(self):
        """node-b's handover_drain in seconds (what node-a's switch-back leaves it): the lab's
        override, else the config's, else vrrpd's default of 10 s."""
        text = getattr(self.args, "handover_drain", None)
        if text is None:
            m = re.search(r'(?m)^handover_drain\s*=\s*"([^"]*)"',
                          open(os.path.join(self.args.conf_dir, "node-b", "vrrpd.toml")).read())
            text = m.group(1) if m else "10s"
        m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", text)
        return 10.0 if not m else float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[m.group(2)]

    def sockets(self, node):
        """The lbd and vrrpd control sockets of `node` in this lab."""
        return (os.path.join(self.run_dir, node, "lbd.sock"),
                os.path.join(self.run_dir, node, "vrrpd.sock"))

    def admin_address(self, node):
        """host:port of the [admin] listener in conf/<node>/lbd.toml; None without one."""
        text = open(os.path.join(self.args.conf_dir, node, "lbd.toml")).read()
        table = re.search(r'(?ms)^\[admin\][ \t]*$(.*?)(?=^\[|\Z)', text)
        listen = table and re.search(r'(?m)^listen\s*=\s*"([^"]+)"', table.group(1))
        return listen.group(1) if listen else None

    def lbd_role(self, node):
        """The role lbd on `node` reports in its /metrics (lbpair_lbd_role: what vrrpd told it),
        scraped inside the node's namespace; None when the admin listener did not answer."""
        address = self.admin_address(node)
        if address is None:
            return None
        r = sh(f"ip netns exec {self.ns(node)} curl -sf --max-time 1 http://{address}/metrics",
               check=False)
        if r.returncode != 0:
            return None
        m = re.search(r'(?m)^lbpair_lbd_role\{role="(\w+)"\} 1(?:\.0*)?$', r.stdout)
        return m.group(1) if m else "?"

    def start_node(self, node, lbd_only=False):
        conf = self.node_configs(node)
        self.start_proc(f"lbd-{node}", node, [self.args.lbd, "-c", os.path.join(conf, "lbd.toml")])
        if not lbd_only:
            self.start_proc(f"vrrpd-{node}", node,
                            [self.args.vrrpd, "-c", os.path.join(conf, "vrrpd.toml")])

    # ---- observation ----------------------------------------------------------------------
    def vip_holders(self):
        holders = []
        for node in NODES:
            out = sh(f"ip -n {self.ns(node)} -o addr show dev eth0", check=False).stdout
            if f" {VIP4}/" in out:
                holders.append(node)
        return tuple(holders)

    def watch_vip(self):
        """Follows VIP changes on both nodes from `ip monitor address` (events, not polling), and
        keeps a log of (time, holders)."""
        held = {node: node in self.vip_holders() for node in NODES}
        lock = threading.Lock()
        self.vip_log.append((time.time(), tuple(n for n in NODES if held[n])))

        def follow(node):
            proc = subprocess.Popen(["ip", "-n", self.ns(node), "monitor", "address"],
                                    stdout=subprocess.PIPE, text=True, bufsize=1)
            self.monitors.append(proc)
            for line in proc.stdout:
                if f" {VIP4}/" not in line:
                    continue
                now = time.time()
                with lock:
                    held[node] = not line.startswith("Deleted")
                    self.vip_log.append((now, tuple(n for n in NODES if held[n])))

        for node in NODES:
            threading.Thread(target=follow, args=(node,), daemon=True).start()

    def event(self, text):
        self.events.append((time.time(), text))
        if not self.args.quiet:
            print(f"  {time.strftime('%H:%M:%S')} {text}", flush=True)

    def wait_for(self, predicate, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return True
            time.sleep(0.01)
        raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")

    def wait_serving_and_in_sync(self):
        """Both lbds answer on their own address, and each has logged "in sync" (it holds the
        peer's full resync): what the load needs before it starts."""
        for node in NODES:
            self.wait_for(lambda n=node: sh(
                f"ip netns exec {self.ns('client')} curl -s -o /dev/null -w '%{{http_code}}' "
                f"--max-time 1 http://{NODES[n][0]}:80/", check=False).stdout == "200",
                10, f"lbd on {node} to answer")
        for node in NODES:
            log = os.path.join(self.run_dir, f"lbd-{node}.log")
            self.wait_for(lambda p=log: "in sync: received" in open(p, errors="replace").read(),
                          15, f"lbd on {node} to be in sync with its peer")

    def holders_at(self, t):
        h = ()
        for when, holders in self.vip_log:
            if when > t:
                break
            h = holders
        return h

    def first_vip_change_after(self, t, predicate):
        for when, holders in self.vip_log:
            if when > t and predicate(holders):
                return when
        return None


def overlap(vip_log, start, end):
    """Seconds within [start, end) during which both nodes held the VIP."""
    total = 0.0
    for (w, h), nxt in zip(vip_log, vip_log[1:] + [(end, ())]):
        lo, hi = max(w, start), min(nxt[0], end)
        if len(h) > 1 and hi > lo:
            total += hi - lo
    return total


def analyze(lab, records, t_kill, t_restart, t_end):
    node_by_ip = {v4: n for n, (v4, _) in NODES.items()}
    for r in records:
        r["node"] = node_by_ip.get(r.get("peer", ""), "")
    probes = [r for r in records if r["kind"] == "probe"]
    records = [r for r in records if r["kind"] != "probe"]
    report = {}
    adv = lab.args.advert
    # Failover
    t_vip_b = lab.first_vip_change_after(t_kill, lambda h: "node-b" in h)
    # When the VIP answered again: the first probe (a new request every few ms) that node-b served.
    first_ok_b = next((r["t"] for r in probes if r["t"] >= t_kill and r["ok"]
                       and r["node"] == "node-b"), None)
    # Requests started before the switch completed may still be waiting for their timeout.
    settle = (first_ok_b or t_kill) + 2 * lab.args.request_timeout
    during = [r for r in records if t_kill <= r["t"] < (first_ok_b or t_restart)]
    after = [r for r in records if settle <= r["t"] < t_restart]
    report["failover"] = {
        "detect_ms": None if t_vip_b is None else round((t_vip_b - t_kill) * 1000, 1),
        "first_ok_via_b_ms": None if first_ok_b is None else round((first_ok_b - t_kill) * 1000, 1),
        "failed_during_switch": sum(not r["ok"] for r in during),
        "failed_after_switch": sum(not r["ok"] for r in after),
        "requests_after_switch": len(after),
        "vip_holders_after": list(lab.holders_at(t_restart - 0.001)),
        "double_holder_ms": round(overlap(lab.vip_log, t_kill, t_restart) * 1000, 3),
        "master_down_interval_ms": round((3 * adv + (256 - 100) / 256 * adv) * 1000, 1),
        "skew_time_ms": round((256 - 100) / 256 * adv * 1000, 1),
    }
    # Stickiness across the failover: last backend before the kill vs first after it.
    kept = {"cookie": [0, 0], "source": [0, 0], "plain": [0, 0], "h2": [0, 0]}
    clients = sorted({r["client"] for r in records})
    for cid in clients:
        mine = [r for r in records if r["client"] == cid and r["ok"]]
        before = [r for r in mine if r["t"] < t_kill]
        afterk = [r for r in mine if t_kill <= r["t"] < t_restart and r["node"] == "node-b"]
        if not before or not afterk:
            continue
        kind = before[-1]["kind"]
        kept[kind][1] += 1
        kept[kind][0] += before[-1]["backend"] == afterk[0]["backend"]
    report["kept_backend"] = {k: f"{v[0]}/{v[1]}" for k, v in kept.items()}
    # A terminating proxy cannot move TCP connections: every plain client's keep-alive
    # connection through node-a died with it and had to reconnect.
    report["failover"]["connections_lost"] = len({
        r["client"] for r in records
        if r["kind"] == "plain" and not r["ok"] and t_kill <= r["t"] < t_restart})
    report["kept_backend_raw"] = kept
    # Switch back (preemption to node-a after its restart).
    if t_restart:
        t_vip_a = lab.first_vip_change_after(t_restart, lambda h: "node-a" in h)
        first_ok_a = next((r["t"] for r in probes if r["t"] >= t_restart and r["ok"]
                           and r["node"] == "node-a"), None)
        back = [r for r in records if t_restart <= r["t"] < t_end]
        report["switch_back"] = {
            "vip_on_a_ms_after_restart": None if t_vip_a is None else round((t_vip_a - t_restart) * 1000, 1),
            "first_ok_via_a_ms_after_restart": None if first_ok_a is None else round((first_ok_a - t_restart) * 1000, 1),
            "failed": sum(not r["ok"] for r in back),
            "requests": len(back),
            "vip_holders_at_end": list(lab.holders_at(t_end)),
            "double_holder_ms": round(overlap(lab.vip_log, t_restart, t_end) * 1000, 3),
            # node-b keeps the VIP unannounced while it drains its connections (handover_drain)
            "old_master_draining_at_end": t_vip_a is not None and "node-b" in lab.holders_at(t_end)
            and t_end - t_vip_a < lab.handover_drain() + 0.5,
        }
        # Stickiness across the switch-back: the last backend node-b gave each client before the
        # restart vs the first one node-a gives it after (node-a must know node-b's tables).
        kept_back = {"cookie": [0, 0], "source": [0, 0], "plain": [0, 0], "h2": [0, 0]}
        for cid in clients:
            mine = [r for r in records if r["client"] == cid and r["ok"]]
            on_b = [r for r in mine if t_kill <= r["t"] < t_restart and r["node"] == "node-b"]
            on_a = [r for r in mine if r["t"] >= t_restart and r["node"] == "node-a"]
            if not on_b or not on_a:
                continue
            kind = on_b[-1]["kind"]
            kept_back[kind][1] += 1
            kept_back[kind][0] += on_b[-1]["backend"] == on_a[0]["backend"]
        report["switch_back"]["kept_backend"] = {k: f"{v[0]}/{v[1]}" for k, v in kept_back.items()}
    report["requests_total"] = len(records)
    report["failed_total"] = sum(not r["ok"] for r in records)
    # The two episodes apart: a request started up to one timeout before the kill may fail
    # because of it; everything from the restart on belongs to the switch-back.
    report["failed_at_failover"] = sum(
        not r["ok"] for r in records if t_kill - lab.args.request_timeout <= r["t"] < t_restart)
    report["failed_at_switch_back"] = sum(
        not r["ok"] for r in records if t_restart <= r["t"] < t_end)
    report["reset_at_switch_back"] = sum(
        is_reset(r) for r in records if t_restart <= r["t"] < t_end)
    if "switch_back" in report and t_vip_a is not None:
        # A request started up to one timeout before the episode's end may fail because of
        # what follows (the switchover): it is not this episode's.
        report["switch_back"].update(
            split_at_switch(lab, records, t_vip_a, t_end - lab.args.request_timeout))
    return report


def split_at_switch(lab, records, t_switch, t_end):
    """The failures of an episode at the switch itself (requests started from one request
    timeout before it to 2 s after) apart from the later ones (the end of the old master's
    handover_drain window, where L4 connections that outlived it are reset)."""
    lo, hi = t_switch - lab.args.request_timeout, t_switch + 2.0
    failed = [r for r in records if not r["ok"] and r["kind"] != "probe"]
    at = [r for r in failed if lo <= r["t"] < hi]
    later = [r for r in failed if hi <= r["t"] < t_end]
    return {"failed_at_switch": len(at), "reset_at_switch": sum(map(is_reset, at)),
            "failed_later": len(later), "reset_later": sum(map(is_reset, later))}


def control_request(path, request, timeout=2.0):
    """One JSON-lines request on a daemon's control socket (what lbctl does)."""
    import socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall((json.dumps(request) + "\n").encode())
        data = b""
        while not data.endswith(b"\n") and len(data) < 1 << 20:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data or b"{}")


def is_reset(record):
    """A request that failed because its connection was reset or closed under it (not a
    timeout): what a client sees when a node that has no socket for its flow answers RST."""
    err = record.get("err", "")
    return not record["ok"] and any(k in err for k in (
        "ConnectionReset", "RemoteDisconnected", "BrokenPipe", "ConnectionAborted"))


def analyze_switchover(lab, records, t_switch, t_end):
    """The operator's `lbctl vrrp switchover` on node-a (VIP to node-b) after the switch-back."""
    during = [r for r in records if t_switch <= r["t"] < t_end and r["kind"] != "probe"]
    return split_at_switch(lab, records, t_switch, t_end) | {
        "vip_on_b_ms": None if (t := lab.first_vip_change_after(
            t_switch, lambda h: h == ("node-b",))) is None else round((t - t_switch) * 1000, 1),
        "failed": sum(not r["ok"] for r in during),
        "reset": sum(is_reset(r) for r in during),
        "requests": len(during),
        "vip_holders_at_end": list(lab.holders_at(t_end)),
    }


def print_summary(lab, report, t0):
    print("\nTimeline (seconds from the start of the load):")
    lines = list(lab.events)
    lines += [(w, f"VIP {VIP4} held by: {', '.join(h) or 'nobody'}") for w, h in lab.vip_log
              if w >= t0]
    for when, text in sorted(lines, key=lambda x: x[0]):
        print(f"  {when - t0:8.3f}  {text}")
    f = report["failover"]
    what = {"both": "SIGKILL of lbd and vrrpd", "lbd": "SIGKILL of lbd alone",
            "node": "link down"}[lab.args.kill]
    print(f"\nFailover ({what} on node-a):")
    print(f"  time to detect (VIP on node-b)        {f['detect_ms']} ms "
          f"(Master_Down_Interval {f['master_down_interval_ms']} ms)")
    print(f"  until the VIP answered from node-b    {f['first_ok_via_b_ms']} ms")
    print(f"  requests failed during the switch     {f['failed_during_switch']}")
    print(f"  requests failed after it completed    {f['failed_after_switch']} of {f['requests_after_switch']}")
    print(f"  VIP holders after the kill            {', '.join(f['vip_holders_after']) or 'nobody'} "
          f"(both nodes at once: {f['double_holder_ms']} ms)")
    print(f"  client connections lost (reconnected) {f['connections_lost']}")
    k = report["kept_backend"]
    print(f"  kept their backend: cookie {k['cookie']}, source IP {k['source']}, "
          f"plain via connection table {k['plain']}, HTTP/2 cookie {k['h2']}")
    if "switch_back" in report:
        b = report["switch_back"]
        back = {"both": "lbd and vrrpd restarted", "lbd": "lbd restarted",
                "node": "link up again"}[lab.args.kill]
        print(f"\nSwitch back (node-a {back}, preemption):")
        print(f"  VIP back on node-a                    {b['vip_on_a_ms_after_restart']} ms after restart")
        kb = b["kept_backend"]
        print(f"  kept their backend at the switch-back: cookie {kb['cookie']}, source IP "
              f"{kb['source']}, connection table {kb['plain']}, HTTP/2 cookie {kb['h2']}")
        print(f"  first answer via node-a               {b['first_ok_via_a_ms_after_restart']} ms after restart")
        print(f"  requests failed                       {b['failed']} of {b['requests']}")
        if "failed_at_switch" in b:
            print(f"    at the switch / later (drain end)   {b['failed_at_switch']} "
                  f"({b['reset_at_switch']} reset) / {b['failed_later']} ({b['reset_later']} reset)")
        print(f"  VIP holders at the end                {', '.join(b['vip_holders_at_end']) or 'nobody'} "
              f"(both nodes at once: {b['double_holder_ms']} ms"
              f"{', node-b draining unannounced' if b['old_master_draining_at_end'] else ''})")
    roles = report.get("lbd_roles_at_end")
    if roles:
        print("\nRole in each lbd's /metrics at the end: " +
              ", ".join(f"{n} {r or 'no answer'}" for n, r in roles.items()))
    so = report.get("switchover")
    if so:
        print("\nSwitchover (lbctl vrrp switchover on node-a):")
        print(f"  VIP on node-b only                    {so['vip_on_b_ms']} ms after the command")
        print(f"  requests failed                       {so['failed']} of {so['requests']} "
              f"(connection reset: {so['reset']})")
        print(f"    at the switch / later (drain end)   {so['failed_at_switch']} "
              f"({so['reset_at_switch']} reset) / {so['failed_later']} ({so['reset_later']} reset)")
        print(f"  VIP holders at the end                {', '.join(so['vip_holders_at_end']) or 'nobody'}")
    if "reset_at_switch_back" in report:
        print(f"\nConnections reset at the switch-back: {report['reset_at_switch_back']}")
    print(f"\nRequests: {report['requests_total']}, failed: {report['failed_total']} "
          f"(at the failover {report['failed_at_failover']}, "
          f"at the switch-back {report['failed_at_switch_back']}). "
          f"Logs and raw results: {lab.run_dir}")


def check(report, args):
    """Returns a list of failed expectations (empty = pass)."""
    problems = []
    f = report["failover"]
    if f["detect_ms"] is None or f["first_ok_via_b_ms"] is None:
        return ["the pair did not fail over"]
    if f["vip_holders_after"] != ["node-b"]:
        problems.append(f"after the kill the VIP is on {f['vip_holders_after']}, not node-b only")
    if f["double_holder_ms"] > 0:
        problems.append(f"both nodes held the VIP for {f['double_holder_ms']} ms after the kill")
    if not args.strict:
        return problems
    bound = f["master_down_interval_ms"] + 200
    if args.kill == "both" and f["detect_ms"] > bound:
        problems.append(f"VIP moved after {f['detect_ms']} ms > Master_Down_Interval + 200 ms")
    # vrrpd outlives lbd and learns of its death from the watch stream at once: the VIP moves
    # after node-b's Skew_Time (priority-0 advert), not after failed health polls.
    skew_bound = f["skew_time_ms"] + 200
    if args.kill == "lbd" and f["detect_ms"] > skew_bound:
        problems.append(f"VIP moved after {f['detect_ms']} ms > Skew_Time + 200 ms")
    if f["failed_after_switch"]:
        problems.append(f"{f['failed_after_switch']} requests failed after the failover completed")
    kinds = ("cookie", "source", "plain") + (("h2",) if args.h2_clients else ())
    for kind in kinds:
        kept, total = report["kept_backend_raw"][kind]
        if total == 0 or kept != total:
            problems.append(f"{kind} clients kept their backend {kept}/{total}")
    b = report.get("switch_back")
    if b and b["vip_holders_at_end"] != ["node-a"] and not (
            b["vip_holders_at_end"] == ["node-a", "node-b"] and b["old_master_draining_at_end"]):
        problems.append(f"after the restart the VIP is on {b['vip_holders_at_end']}, not node-a "
                        "(nor node-b still in its handover_drain window)")
    roles = report.get("lbd_roles_at_end")
    if b and roles and roles != {"node-a": "master", "node-b": "backup"}:
        problems.append(f"lbd roles in /metrics at the end are {roles}, not node-a master and "
                        "node-b backup")
    return problems


def load_python(h2_clients):
    """The Python that runs the client load, and how many HTTP/2 clients it runs: those need
    python3-h2 (scripts/deps installs it), which another Python on the PATH may lack."""
    if h2_clients == 0:
        return sys.executable, 0
    for python in (sys.executable, "/usr/bin/python3"):
        if os.path.exists(python) and subprocess.run(
                [python, "-c", "import h2"], capture_output=True).returncode == 0:
            return python, h2_clients
    print("note: python3-h2 is missing (scripts/deps installs it): no HTTP/2 clients this run",
          file=sys.stderr)
    return sys.executable, 0


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--advert", type=parse_interval, default=parse_interval("100ms"),
                   help="VRRP advertisement interval (10ms..1s), default 100ms")
    p.add_argument("--kill", choices=["both", "lbd", "process", "node"], default="both",
                   help="both (or process): SIGKILL lbd and vrrpd on node-a; lbd: SIGKILL lbd "
                        "alone (vrrpd must notice); node: take node-a's link down")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds of load before the kill")
    p.add_argument("--after-kill", type=float, default=8.0, help="seconds before the restart")
    p.add_argument("--after-restart", type=float, default=8.0, help="seconds of load after it")
    p.add_argument("--h2-clients", type=int, default=2,
                   help="HTTP/2 (h2c) clients with the persistence cookie, one connection each")
    p.add_argument("--request-timeout", type=float, default=0.5)
    p.add_argument("--handover-drain", default=None,
                   help="handover_drain for both nodes' instances (e.g. 0s, 10s); default: the "
                        "configs' value")
    p.add_argument("--switchover", type=float, default=0.0,
                   help="after the switch-back, run `lbctl vrrp switchover` on node-a and keep "
                        "the load this many seconds more (0 = no switchover)")
    p.add_argument("--keep", action="store_true", help="leave the lab running and explain it")
    p.add_argument("--strict", action="store_true", help="assert the test's bounds (ctest)")
    p.add_argument("--json", help="write the report here")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--bin-dir", default=os.path.join(ROOT, "build"))
    p.add_argument("--conf-dir", default=os.path.join(ROOT, "conf"))
    args = p.parse_args()
    if args.kill == "process":
        args.kill = "both"
    if os.geteuid() != 0:
        print("failover_lab: needs root (network namespaces)", file=sys.stderr)
        return 2
    args.lbd = shutil.which("lbd", path=f"{args.bin_dir}/lbd:{args.bin_dir}") or ""
    args.vrrpd = shutil.which("vrrpd", path=f"{args.bin_dir}/vrrpd:{args.bin_dir}") or ""
    if not args.lbd or not args.vrrpd:
        print(f"failover_lab: lbd/vrrpd not found under {args.bin_dir}", file=sys.stderr)
        return 2
    # lbctl is only named in the --keep instructions; an older build without it still runs.
    lbctl = shutil.which("lbctl", path=f"{args.bin_dir}/lbctl:{args.bin_dir}")
    args.lbctl = os.path.abspath(lbctl) if lbctl else "lbctl"

    lab = Lab(args)
    interrupted = []

    def on_signal(sig, frame):
        interrupted.append(sig)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        print(f"Lab: namespaces {lab.prefix}-*, VIP {VIP4} / {VIP6}, adverts every "
              f"{args.advert * 1000:g} ms, kill = {args.kill}")
        lab.up()
        for be in BACKENDS:
            lab.start_proc(be, be, [sys.executable, os.path.join(HERE, "backend.py"), "--name", be])
        lab.watch_vip()
        lab.start_node("node-a")
        lab.start_node("node-b")
        lab.wait_for(lambda: lab.vip_holders() == ("node-a",), 10 + 5 * args.advert,
                     "node-a to become master")
        lab.event("node-a is master and holds the VIP")
        lab.wait_serving_and_in_sync()
        lab.event("both lbd are in sync (stick tables and connection tables)")
        # The admin listener ([admin] in the node configs) answers /metrics on each node, and lbd
        # knows its role from vrrpd.
        scraped = [n for n in NODES if lab.admin_address(n)]
        for node in scraped:
            want = "master" if node == "node-a" else "backup"
            lab.wait_for(lambda n=node, w=want: lab.lbd_role(n) == w, 10,
                         f"lbd on {node} to report role {want} in /metrics")
        if scraped:
            lab.event("/metrics of both lbd: node-a master, node-b backup")
        if args.keep:
            print(keep_instructions(lab))
            signal.pause()
            return 0
        results = os.path.join(lab.run_dir, "requests.jsonl")
        total = args.warmup + args.after_kill + args.after_restart + args.switchover + 1
        python, h2_clients = load_python(args.h2_clients)
        args.h2_clients = h2_clients
        load = lab.start_proc("load", "client", [
            python, os.path.join(HERE, "client_load.py"), "--vip", VIP4,
            "--h2-clients", str(h2_clients),
            "--duration", str(total), "--out", results,
            "--source-addrs", ",".join(SOURCE_ADDRS[:4]),
            "--plain-addrs", ",".join(SOURCE_ADDRS[4:8]),
            "--timeout", str(args.request_timeout)])
        t0 = time.time()
        lab.event("client load started")
        time.sleep(args.warmup)
        t_kill = time.time()
        if args.kill == "both":
            lab.kill_now(["vrrpd-node-a", "lbd-node-a"])
            lab.event("SIGKILL lbd and vrrpd on node-a")
        elif args.kill == "lbd":
            lab.kill_now(["lbd-node-a"])
            lab.event("SIGKILL lbd on node-a (vrrpd keeps running)")
        else:
            sh(f"ip -n {lab.ns('sw')} link set {lab.ports['node-a']} down")
            lab.event("node-a's link is down")
        time.sleep(args.after_kill)
        t_restart = time.time()
        if args.kill == "both":
            lab.start_node("node-a")
            lab.event("lbd and vrrpd restarted on node-a")
        elif args.kill == "lbd":
            lab.start_node("node-a", lbd_only=True)
            lab.event("lbd restarted on node-a")
        else:
            sh(f"ip -n {lab.ns('sw')} link set {lab.ports['node-a']} up")
            lab.event("node-a's link is up again")
        time.sleep(args.after_restart)
        t_switch = None
        if args.switchover > 0:
            t_switch = time.time()
            _, vrrpd_sock = lab.sockets("node-a")
            reply = control_request(vrrpd_sock, {"cmd": "switchover"})
            lab.event(f"vrrp switchover on node-a (what `lbctl vrrp switchover` sends): "
                      f"ok={reply.get('ok')}")
            time.sleep(args.switchover)
        load.wait(timeout=30)
        lab.procs.pop("load", None)
        t_end = time.time()
        records = [json.loads(line) for line in open(results)]
        report = analyze(lab, records, t_kill, t_restart, t_switch or t_end)
        if t_switch:
            report["switchover"] = analyze_switchover(lab, records, t_switch, t_end)
        report["lbd_roles_at_end"] = {n: lab.lbd_role(n) for n in NODES if lab.admin_address(n)}
        print_summary(lab, report, t0)
        if args.json:
            with open(args.json, "w") as out:
                json.dump(report, out, indent=2)
        problems = check(report, args)
        if problems:
            print("\nFAILED:\n  " + "\n  ".join(problems))
            return 1
        print("\nOK: the pair failed over" + (" within every bound" if args.strict else ""))
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted: tearing the lab down")
        return 130
    except RuntimeError as e:
        print(f"\nfailover_lab: {e}", file=sys.stderr)
        for name in ("vrrpd-node-a", "vrrpd-node-b", "lbd-node-a", "lbd-node-b"):
            path = os.path.join(lab.run_dir, f"{name}.log")
            if os.path.exists(path):
                print(f"--- {name}.log (last lines)", file=sys.stderr)
                print("".join(open(path, errors="replace").readlines()[-15:]), file=sys.stderr)
        return 1
    finally:
        lab.down()


def keep_instructions(lab):
    c = lab.ns("client")
    lbctl = lab.args.lbctl
    lines = []
    for node in NODES:
        lbd_sock, vrrpd_sock = lab.sockets(node)
        lines.append(f"  ip netns exec {lab.ns(node)} {lbctl} --lbd-socket {lbd_sock} show servers")
        lines.append(f"  ip netns exec {lab.ns(node)} {lbctl} --lbd-socket {lbd_sock} "
                     f"show replication")
        lines.append(f"  ip netns exec {lab.ns(node)} {lbctl} --vrrpd-socket {vrrpd_sock} vrrp show")
        if lab.admin_address(node):
            lines.append(f"  ip netns exec {lab.ns(node)} curl -s "
                         f"http://{lab.admin_address(node)}/status.json   # or /metrics")
    a_lbd, a_vrrpd = lab.sockets("node-a")
    return f"""
The lab is running (Ctrl-C tears it down). Try:
  ip netns exec {c} curl -s http://{VIP4}/            # through the VIP (cookie persistence on :80)
  ip netns exec {c} curl -s http://[{VIP6}]/          # IPv6 VIP
  ip -n {lab.ns('node-a')} addr show dev eth0        # who holds the VIP
  ip netns exec {lab.ns('node-a')} kill -9 {lab.procs['vrrpd-node-a'].pid} {lab.procs['lbd-node-a'].pid}   # kill the master by hand
lbctl on each node (control sockets in the lab's run dir):
""" + "\n".join(lines) + f"""
  ip netns exec {lab.ns('node-a')} {lbctl} --lbd-socket {a_lbd} server drain web-cookie/be1
  ip netns exec {lab.ns('node-a')} {lbctl} --vrrpd-socket {a_vrrpd} vrrp switchover   # VIP to node-b
  ip netns exec {lab.ns('node-a')} {lbctl} --vrrpd-socket {a_vrrpd} vrrp resume       # and back
Logs: {lab.run_dir}
"""


if __name__ == "__main__":
    sys.exit(main())
