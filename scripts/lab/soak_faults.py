"""The chaos soak's faults, injected into a running failover lab (failover_lab.Lab) and undone.
node-a is the master whenever it is up (higher priority, preempt), so every fault that moves the
VIP hits node-a; node-b's daemons are never killed and live through the whole soak, which is
where a leak across failovers shows. Each kind states its failover windows (see
soak_report.FaultKind); the numbers are bounds for adverts every 100 ms, lbd tracked every 200 ms
(fall 2) and health checks every 1 s (fall 3, fast interval 500 ms), the node configs' values."""
import json
import os
import re
import signal

from failover_lab import BACKENDS, HERE, sh
from soak_report import FaultKind

# Fault windows: the failover takes Skew_Time (guard: priority-0 advert) to Master_Down_Interval
# (361 ms) or the lbd tracker's fall (2 x 200 ms + 150 ms timeout), plus in-flight requests that
# wait for their 0.5 s timeout. Restore windows: the restarted daemons start (lbd under 1 s on a
# loaded box), the tracker rises (2 x 200 ms), node-a preempts after Master_Down_Interval, and
# node-b's open connections (plain keep-alive) die with the switch back.
KINDS = [
    FaultKind("kill-both", "SIGKILL lbd + vrrpd on the master; restart both", 2.0, 3.0,
              ("node-b",)),
    FaultKind("kill-lbd", "SIGKILL lbd on the master; restart it", 2.0, 3.0, ("node-b",)),
    FaultKind("kill-vrrpd", "SIGKILL vrrpd on the master (its guard stays); restart it", 2.0, 3.0,
              ("node-b",)),
    FaultKind("link", "the master's link down; up again", 2.0, 3.0, ("node-b",)),
    FaultKind("partition", "drop every frame between the two nodes (nft, both ways); heal", 2.0,
              3.0, None),
    FaultKind("hup", "SIGHUP lbd + vrrpd on both nodes with a changed config", 0.0, 0.0,
              ("node-a",)),
    FaultKind("backend", "SIGKILL a backend; restart it", 4.0, 2.0, ("node-a",)),
]
KIND_BY_NAME = {k.name: k for k in KINDS}

MASTER = "node-a"
PEER = {"node-a": "node-b", "node-b": "node-a"}
PARTITION_TABLE = "lbpair_soak"


class Chaos:
    """Injects and undoes the faults on `lab`; remembers what it killed on purpose so that any
    other exit of a daemon counts as a crash."""

    def __init__(self, lab):
        self.lab = lab
        self.hups = 0
        self.backend_turn = 0

    # ---- processes --------------------------------------------------------------------------
    def start_lbd(self, node):
        conf = os.path.join(self.lab.run_dir, node, "lbd.toml")
        self.lab.start_proc(f"lbd-{node}", node, [self.lab.args.lbd, "-c", conf])

    def start_vrrpd(self, node):
        conf = os.path.join(self.lab.run_dir, node, "vrrpd.toml")
        self.lab.start_proc(f"vrrpd-{node}", node, [self.lab.args.vrrpd, "-c", conf])

    def start_backend(self, be):
        self.lab.start_proc(be, be, [self.lab.args.python, os.path.join(HERE, "backend.py"),
                                     "--name", be])

    def restart(self, name):
        """Starts `name` again after it died (a crash: the soak keeps going)."""
        if name.startswith("lbd-"):
            self.start_lbd(name[4:])
        elif name.startswith("vrrpd-"):
            self.start_vrrpd(name[6:])
        elif name in BACKENDS:
            self.start_backend(name)

    # ---- faults -----------------------------------------------------------------------------
    def inject(self, kind):
        """Injects one fault of `kind`; returns its target (what it hit) for the report."""
        lab, m = self.lab, MASTER
        if kind == "kill-both":
            lab.kill_now([f"vrrpd-{m}", f"lbd-{m}"])
            return m
        if kind == "kill-lbd":
            lab.kill_now([f"lbd-{m}"])
            return m
        if kind == "kill-vrrpd":
            lab.kill_now([f"vrrpd-{m}"])
            return m
        if kind == "link":
            sh(f"ip -n {lab.ns('sw')} link set {lab.ports[m]} down")
            return m
        if kind == "partition":
            for node in PEER:
                self.drop_from(node, self.mac(PEER[node]))
            return "node-a/node-b"
        if kind == "hup":
            self.hups += 1
            for node in PEER:
                self.change_configs(node, self.hups)
                for daemon in ("lbd", "vrrpd"):
                    lab.procs[f"{daemon}-{node}"].send_signal(signal.SIGHUP)
            return f"weight={self.weight(self.hups)}"
        if kind == "backend":
            be = sorted(BACKENDS)[self.backend_turn % len(BACKENDS)]
            self.backend_turn += 1
            lab.kill_now([be])
            return be
        raise ValueError(kind)

    def restore(self, kind, target):
        lab, m = self.lab, MASTER
        if kind == "kill-both":
            self.start_lbd(m)
            self.start_vrrpd(m)
        elif kind == "kill-lbd":
            self.start_lbd(m)
        elif kind == "kill-vrrpd":
            self.start_vrrpd(m)
        elif kind == "link":
            sh(f"ip -n {lab.ns('sw')} link set {lab.ports[m]} up")
        elif kind == "partition":
            for node in PEER:
                sh(f"ip netns exec {lab.ns(node)} nft delete table netdev {PARTITION_TABLE}")
        elif kind == "backend":
            self.start_backend(target)

    @staticmethod
    def has_restore(kind):
        return kind != "hup"

    # ---- helpers ----------------------------------------------------------------------------
    def mac(self, node):
        out = sh(f"ip -n {self.lab.ns(node)} -j link show dev eth0").stdout
        return json.loads(out)[0]["address"]

    def drop_from(self, node, mac):
        """Drops every frame from `mac` at `node`'s eth0 ingress (IPv4, IPv6 and ARP: VRRP
        adverts, replication, neighbour discovery), before anything else sees it."""
        rules = (f"add table netdev {PARTITION_TABLE}\n"
                 f"add chain netdev {PARTITION_TABLE} in "
                 f"{{ type filter hook ingress device eth0 priority -500 ; }}\n"
                 f"add rule netdev {PARTITION_TABLE} in ether saddr {mac} drop\n")
        path = os.path.join(self.lab.run_dir, f"partition-{node}.nft")
        with open(path, "w") as f:
            f.write(rules)
        sh(f"ip netns exec {self.lab.ns(node)} nft -f {path}")

    @staticmethod
    def weight(n):
        return 2 if n % 2 else 1

    def change_configs(self, node, n):
        """The n-th config change: be3's weight in every pool flips between 1 and 2 (lbd), and
        the lbd tracker's interval between 200 and 250 ms (vrrpd: a changed tracker starts over;
        the instances are untouched, so no transition)."""
        lbd = os.path.join(self.lab.run_dir, node, "lbd.toml")
        text = open(lbd).read()
        text = re.sub(r'(address = "192\.0\.2\.23:8080"\n)(weight = \d+\n)?',
                      rf'\g<1>weight = {self.weight(n)}\n', text)
        open(lbd, "w").write(text)
        vrrpd = os.path.join(self.lab.run_dir, node, "vrrpd.toml")
        text = open(vrrpd).read()
        ms = 250 if n % 2 else 200
        text = re.sub(r'(?ms)^(\[track_lbd\].*?^interval\s*=\s*)"[^"]*"', rf'\g<1>"{ms}ms"', text)
        open(vrrpd, "w").write(text)
