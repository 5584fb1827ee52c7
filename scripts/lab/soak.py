#!/usr/bin/env python3
"""The chaos soak: the failover lab's pair (network namespaces, lbd + vrrpd on node-a and node-b
with conf/node-*, three backends) under the lab's steady client load, with one fault every
--period seconds, the kinds in turn (soak_faults.KINDS). It samples the VIP holders (ip monitor
events), every client request, daemon exits, and each daemon's RSS and open fds, and prints a
line per fault and a summary table per fault kind. Exits 1 on any violation, 77 when not root
(ctest counts it as skipped), 2 on a usage error. Bounded: the load and the fault schedule stop
after --minutes; everything is torn down at the end, also on Ctrl-C or error, and only the
processes the soak started are stopped, by PID."""
import argparse
import bisect
import json
import os
import shutil
import signal
import sys
import time
from types import SimpleNamespace

import soak_report as rep
from failover_lab import CLIENT, HERE, NODES, ROOT, SOURCE_ADDRS, VIP4, Lab, parse_interval, sh
from soak_faults import KIND_BY_NAME, KINDS, MASTER, Chaos

DAEMONS = [f"{d}-{n}" for n in NODES for d in ("lbd", "vrrpd")]
# The processes each node's namespace holds once a fault has settled; while a kill lasts node-a
# holds what was not killed, and a killed vrrpd's guard has exited.
EXPECTED_COMMS = ["lbd", "vrrpd", "vrrpd-guard"]
EXPECTED_WHILE_KILLED = {"kill-both": [], "kill-lbd": ["vrrpd", "vrrpd-guard"],
                         "kill-vrrpd": ["lbd"]}
# Growth tolerance between the medians of the first and last quarter of the run: RSS may grow by
# 10 % or 4 MiB (allocator arenas and caches fill as faults come), open fds by 4 (connections in
# flight at the sampling instant).
RSS_REL, RSS_ABS_KB = 0.10, 4096
FD_ABS = 4
# Shorter runs report growth without judging it: their first quarter is the warm-up of the
# daemons' pools (idle upstream connections, allocator arenas).
GROWTH_MIN_MINUTES = 10
# A daemon that crashes more often than this is not restarted again: the soak stops.
MAX_RESTARTS = 3


def bring_up(lab, args):
    """The failover lab's start: topology, backends, both nodes, node-a master, both lbd
    answering and in sync."""
    lab.up()
    for be in ("be1", "be2", "be3"):
        lab.start_proc(be, be, [sys.executable, os.path.join(HERE, "backend.py"), "--name", be])
    lab.watch_vip()
    for node in NODES:
        lab.node_configs(node)
    chaos = Chaos(lab)
    for node in NODES:
        chaos.start_lbd(node)
        chaos.start_vrrpd(node)
    lab.wait_for(lambda: lab.vip_holders() == (MASTER,), 10 + 5 * args.advert,
                 "node-a to become master")
    lab.wait_serving_and_in_sync()
    lab.event("node-a is master, both lbd answer and are in sync")
    return chaos


class Results:
    """Reads the load's JSON lines as they are written and files each request under the fault
    period it started in (-1: before the first fault)."""

    def __init__(self, path):
        self.path = path
        self.file = None
        self.partial = ""
        self.starts = []  # inject time of each fault, in order
        self.buckets = {}

    def poll(self):
        if self.file is None:
            if not os.path.exists(self.path):
                return
            self.file = open(self.path)
        data = self.partial + self.file.read()
        lines = data.split("\n")
        self.partial = lines.pop()
        for line in lines:
            if line:
                r = rep.request_from_json(json.loads(line))
                self.buckets.setdefault(bisect.bisect_right(self.starts, r.t) - 1, []).append(r)


def read_proc(pid):
    """(RSS in KiB, open fds) of `pid`; None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration, ValueError):
        return None


def ns_comms(lab, node):
    """The names of the processes in `node`'s namespace, but the lab's own `ip monitor`."""
    out = []
    mine = {str(m.pid) for m in lab.monitors}
    for pid in sh(f"ip netns pids {lab.ns(node)}", check=False).stdout.split():
        if pid in mine:
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                out.append(f.read().strip())
        except OSError:
            pass
    return out


class Soak:
    def __init__(self, lab, chaos, args):
        self.lab, self.chaos, self.args = lab, chaos, args
        self.faults = []  # soak_report.Fault, filled in as they are injected
        self.per_fault = {}  # index -> dict of results
        self.crashes = []  # (time, name, returncode, log tail)
        self.samples = {name: [] for name in DAEMONS}  # name -> [(t, rss_kb, fds, pid)]
        self.strays = []  # (time, node, comms) while settled
        self.sticky_last = {}
        self.outside = []
        self.warm_sticky = []
        self.sample_log = open(os.path.join(lab.run_dir, "samples.jsonl"), "w", buffering=1)
        # node-b's handover drain: how long after a switch-back it may still hold the VIP
        # (unannounced) and when the connections it still carries are reset.
        self.drain = lab.handover_drain()

    def check_processes(self, now):
        for name, proc in list(self.lab.procs.items()):
            if name == "load" or proc.poll() is None:
                continue
            self.lab.procs.pop(name)
            path = os.path.join(self.lab.run_dir, f"{name}.log")
            tail = "".join(open(path, errors="replace").readlines()[-12:]) \
                if os.path.exists(path) else ""
            self.crashes.append((now, name, proc.returncode, tail))
            if sum(c[1] == name for c in self.crashes) > MAX_RESTARTS:
                raise RuntimeError(f"{name} keeps exiting ({proc.returncode}); last log lines:\n"
                                   f"{tail}")
            self.lab.event(f"CRASH: {name} (pid {proc.pid}) exited with {proc.returncode}; "
                           "restarting it")
            self.chaos.restart(name)

    def sample(self, now):
        for name in DAEMONS:
            proc = self.lab.procs.get(name)
            got = proc and proc.poll() is None and read_proc(proc.pid)
            if got:
                self.samples[name].append((now, got[0], got[1], proc.pid))
                self.sample_log.write(json.dumps({"t": now, "name": name, "pid": proc.pid,
                                                  "rss_kb": got[0], "fds": got[1]}) + "\n")
        f = rep.fault_at(self.faults, now)
        settled = [a for a, b, _ in rep.settled_intervals(f) if a + 1.0 <= now < b] if f else []
        if settled:
            killed = settled[0] < f.t_restore and f.kind.name in EXPECTED_WHILE_KILLED
            for node in NODES:
                want = EXPECTED_WHILE_KILLED[f.kind.name] if killed and node == MASTER \
                    else EXPECTED_COMMS
                comms = ns_comms(self.lab, node)
                if sorted(comms) != sorted(want):
                    self.strays.append((now, node, comms))

    def analyze(self, index, records, results):
        """Verdicts for fault `index` from the requests that started in its period."""
        f = self.faults[index]
        near = self.faults[max(0, index - 1):index + 2]
        probes = [r for r in records if r.kind == "probe"]
        inside, outside = rep.failures(records, near, self.drain)
        end_fault = f.t_restore if f.t_restore > f.t_inject else f.t_next
        k = f.kind
        res = {
            "answered_fault_ms": rep.answered_again(probes, f.t_inject,
                                                    f.t_inject + k.fault_window, end_fault)
            if k.fault_window > 0 else None,
            "answered_restore_ms": rep.answered_again(probes, f.t_restore,
                                                      f.t_restore + k.restore_window, f.t_next)
            if f.t_restore > f.t_inject else None,
            "failed_in": sum(inside.values()),
            "failed_out": len(outside),
            "probe_misses_out": len(rep.probe_misses_outside(probes, near, self.drain)),
            "sticky": rep.sticky_changes(records, self.faults, self.sticky_last),
        }
        res["vip_wrong_s"], res["vip_double_s"] = rep.vip_problems(list(self.lab.vip_log), f,
                                                                   self.drain)
        self.outside += outside
        res["violations"] = (res["failed_out"] + len(res["sticky"]) +
                             (res["vip_wrong_s"] > 0) +
                             (k.fault_window > 0 and res["answered_fault_ms"] is None) +
                             (f.t_restore > f.t_inject and res["answered_restore_ms"] is None))
        self.per_fault[index] = res
        ans = rep.fmt_ms(res["answered_fault_ms"])
        back = rep.fmt_ms(res["answered_restore_ms"])
        self.lab.event(
            f"[{index + 1}/{self.args.faults}] {f.kind.name:<10} {f.target:<13} answering again "
            f"{ans:>6} ms, after restore {back:>6} ms; failed in windows {res['failed_in']:>3}, "
            f"outside {res['failed_out']}; sticky changed {len(res['sticky'])}; VIP wrong "
            f"{res['vip_wrong_s'] * 1000:.0f} ms" + ("  VIOLATION" if res["violations"] else ""))

    def run(self):
        args, lab = self.args, self.lab
        results = Results(os.path.join(lab.run_dir, "requests.jsonl"))
        t0 = time.time()
        start = t0 + args.warmup
        schedule = []  # (time, action, fault index)
        for i in range(args.faults):
            kind = args.kinds[i % len(args.kinds)]
            t = start + i * args.period
            schedule.append((t, "inject", i))
            if Chaos.has_restore(kind.name):
                schedule.append((t + args.hold, "restore", i))
        t_end = start + args.faults * args.period
        results.starts = [start + i * args.period for i in range(args.faults)]
        load = lab.start_proc("load", "client", [
            sys.executable, os.path.join(HERE, "soak_load.py"), "--vip", VIP4,
            "--duration", str(t_end - t0 + 1), "--out", results.path,
            "--source-addrs", ",".join(SOURCE_ADDRS[:4]),
            "--plain-addrs", ",".join(SOURCE_ADDRS[4:8]),
            "--timeout", str(args.request_timeout)])
        lab.event(f"client load started; {args.faults} faults, one every {args.period:g} s, "
                  f"restored after {args.hold:g} s")
        analyzed = 0
        next_sample = 0.0
        next_check = 0.0
        margin = 4 * args.request_timeout + 1.0
        # Bounded: the loop ends at the last period's end plus the analysis margin.
        while True:
            now = time.time()
            while schedule and schedule[0][0] <= now:
                _, action, i = schedule.pop(0)
                kind = args.kinds[i % len(args.kinds)]
                if action == "inject":
                    t = time.time()
                    target = self.chaos.inject(kind.name)
                    nxt = start + (i + 1) * args.period
                    restore = t + args.hold if Chaos.has_restore(kind.name) else t
                    self.faults.append(rep.Fault(kind, i, t, restore, nxt, target))
                    lab.event(f"fault {i + 1}: {kind.name} ({target})")
                else:
                    t = time.time()
                    f = self.faults[i]
                    self.faults[i] = f._replace(t_restore=t)
                    self.chaos.restore(kind.name, f.target)
            # After an action, `now` predates it: a restore that just restarted the daemons must
            # not be sampled as if they were still killed.
            now = time.time()
            if now >= next_check:
                next_check = now + 0.5
                self.check_processes(now)
                results.poll()
            if now >= next_sample:
                next_sample = now + args.sample_interval
                self.sample(now)
            while analyzed < len(self.faults) and now > self.faults[analyzed].t_next + margin:
                results.poll()
                if analyzed == 0:
                    self.analyze_warmup(results.buckets.pop(-1, []))
                self.analyze(analyzed, results.buckets.pop(analyzed, []), results)
                analyzed += 1
            if analyzed >= args.faults or now > t_end + 10 * margin:
                break
            time.sleep(0.05)
        load.wait(timeout=30)
        lab.procs.pop("load", None)
        self.dump_fds()
        with open(os.path.join(lab.run_dir, "events.json"), "w") as out:
            json.dump({"faults": [dict(f._asdict(), kind=f.kind.name) for f in self.faults],
                       "vip_log": list(lab.vip_log)}, out)
        return t0, start, t_end

    def dump_fds(self):
        """What each daemon's fds are at the end, and the nodes' TCP sockets, for a growth
        report (fds-NAME.txt in the run dir)."""
        for name in DAEMONS:
            proc = self.lab.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            kinds = {}
            try:
                for fd in os.listdir(f"/proc/{proc.pid}/fd"):
                    target = os.readlink(f"/proc/{proc.pid}/fd/{fd}")
                    key = target.split(":")[0] if ":" in target else target
                    kinds[key] = kinds.get(key, 0) + 1
            except OSError:
                continue
            node = name.split("-", 1)[1]
            ss = sh(f"ip netns exec {self.lab.ns(node)} ss -tanp", check=False).stdout
            with open(os.path.join(self.lab.run_dir, f"fds-{name}.txt"), "w") as out:
                out.write(json.dumps(kinds, sort_keys=True) + "\n" + ss)

    def analyze_warmup(self, records):
        """Requests before the first fault: no window covers them."""
        _, outside = rep.failures(records, self.faults[:1], self.drain)
        self.outside += outside
        self.warm_sticky = rep.sticky_changes(records, self.faults, self.sticky_last)


def summary(soak, t_start, t_end):
    """Prints the summary; returns the number of violations."""
    rows = []
    total_violations = 0
    for kind in KINDS:
        mine = [soak.per_fault[f.index] for f in soak.faults
                if f.kind is kind and f.index in soak.per_fault]
        if not mine:
            continue
        fa = [r["answered_fault_ms"] for r in mine]
        ra = [r["answered_restore_ms"] for r in mine]
        v = sum(r["violations"] for r in mine)
        total_violations += v
        restore = (f"{rep.fmt_ms(rep.percentile(ra, 50))} / {rep.fmt_ms(rep.percentile(ra, 100))}"
                   if any(x is not None for x in ra) else "-")
        rows.append([
            kind.name, len(mine),
            f"{rep.fmt_ms(rep.percentile(fa, 50))} / {rep.fmt_ms(rep.percentile(fa, 100))}",
            restore,
            f"{kind.fault_window:g} / {kind.restore_window:g}",
            sum(r["failed_in"] for r in mine), sum(r["failed_out"] for r in mine),
            sum(r["probe_misses_out"] for r in mine),
            sum(len(r["sticky"]) for r in mine),
            f"{sum(r['vip_wrong_s'] for r in mine) * 1000:.0f} / "
            f"{sum(r['vip_double_s'] for r in mine) * 1000:.0f}",
            v])
    print("\nPer fault kind (VIP answering again: from the fault, or from its restore, to the end "
          "of the first successful probe after the first outage in the window; 0 = no outage):")
    print(rep.table(["fault", "count", "VIP answering again p50 / max (ms)",
                     "after restore p50 / max (ms)", "windows (s)", "failed in windows",
                     "failed outside", "probe misses outside", "sticky changed",
                     "VIP wrong / two holders after settle (ms)", "violations"], rows))
    warm_out = [r for r in soak.outside if r.t < t_start]
    other = []
    if warm_out:
        other.append(f"{len(warm_out)} requests failed before the first fault")
    if soak.warm_sticky:
        other.append(f"{len(soak.warm_sticky)} sticky clients changed backend before the first fault")
    judged = t_end - t_start >= GROWTH_MIN_MINUTES * 60
    print("\nDaemons (RSS MiB and open fds, medians of the first and last quarter of the run; "
          f"growth allowed: RSS {RSS_REL:.0%} or {RSS_ABS_KB // 1024} MiB, fds {FD_ABS}):")
    drows = []
    for name in DAEMONS:
        s = soak.samples[name]
        rss = rep.quarter_medians([(t, v) for t, v, _, _ in s], t_start, t_end)
        fds = rep.quarter_medians([(t, v) for t, _, v, _ in s], t_start, t_end)
        pids = len({p for _, _, _, p in s})
        if rss is None or fds is None:
            drows.append([name, pids, "-", "-", "no samples"])
            other.append(f"{name}: no RSS/fd samples in a quarter")
            continue
        bad = []
        if rep.grew(rss[0], rss[1], RSS_REL, RSS_ABS_KB):
            bad.append("RSS grew")
        if rep.grew(fds[0], fds[1], 0, FD_ABS):
            bad.append("fds grew")
        if not judged:
            bad = [f"{b} (not judged: run < {GROWTH_MIN_MINUTES} min)" for b in bad]
        else:
            other += [f"{name}: {b}" for b in bad]
        drows.append([name, pids, f"{rss[0] / 1024:.1f} -> {rss[1] / 1024:.1f}",
                      f"{fds[0]:g} -> {fds[1]:g}", ", ".join(bad) or "ok"])
    print(rep.table(["daemon", "processes (restarts + 1)", "RSS MiB", "fds", "verdict"], drows))
    print(f"\nDaemon crashes (exits the soak did not cause): {len(soak.crashes)}")
    for t, name, code, tail in soak.crashes:
        other.append(f"{name} crashed (exit {code}) at +{t - t_start:.1f} s")
        print(f"  +{t - t_start:.1f} s {name} exited with {code}; last log lines:\n{tail}")
    if soak.strays:
        t, node, comms = soak.strays[0]
        other.append(f"{len(soak.strays)} samples with unexpected processes in a settled node, "
                     f"first at +{t - t_start:.1f} s on {node}: {sorted(comms)}")
    reloads = {n: (count_lines(soak.lab, f"lbd-{n}", "reload: ok"),
                   count_lines(soak.lab, f"vrrpd-{n}", "reload: kept=")) for n in NODES}
    for node, (lbd, vrrpd) in reloads.items():
        if lbd != soak.chaos.hups or vrrpd != soak.chaos.hups:
            other.append(f"{node}: {soak.chaos.hups} SIGHUPs but lbd logged {lbd} reloads and "
                         f"vrrpd {vrrpd}")
    for r in soak.outside[:10]:
        print(f"  failed outside a window: +{r.t - t_start:.3f} s {r.client} {r.err}")
    for f in soak.faults:
        res = soak.per_fault.get(f.index)
        for r, prev in (res["sticky"] if res else [])[:5]:
            print(f"  sticky change in fault {f.index + 1} ({f.kind.name}): +{r.t - t_start:.3f} s "
                  f"{r.client} {prev} -> {r.backend}")
    if other:
        print("\nOther violations:\n  " + "\n  ".join(other))
    return total_violations + len(other)


def count_lines(lab, name, needle):
    path = os.path.join(lab.run_dir, f"{name}.log")
    if not os.path.exists(path):
        return 0
    return sum(needle in line for line in open(path, errors="replace"))


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--minutes", type=float, default=30.0, help="length of the fault schedule")
    p.add_argument("--period", type=float, default=20.0, help="seconds between two faults")
    p.add_argument("--hold", type=float, default=6.0, help="seconds before a fault is undone")
    p.add_argument("--warmup", type=float, default=8.0, help="seconds of load before the first")
    p.add_argument("--sample-interval", type=float, default=2.0,
                   help="seconds between two RSS/fd/process samples")
    p.add_argument("--advert", type=parse_interval, default=parse_interval("100ms"))
    p.add_argument("--request-timeout", type=float, default=0.5)
    p.add_argument("--kinds", default=",".join(k.name for k in KINDS),
                   help="comma list of the fault kinds to inject, in turn (default: all)")
    p.add_argument("--keep-logs", action="store_true", help="keep the run dir (logs, requests)")
    p.add_argument("--bin-dir", default=os.path.join(ROOT, "build"))
    p.add_argument("--conf-dir", default=os.path.join(ROOT, "conf"))
    args = p.parse_args()
    if os.geteuid() != 0:
        print("soak: skipped: needs root (network namespaces, VRRP raw sockets)")
        return 77
    if not 0 < args.minutes <= 240 or args.period < 10 or not 0 < args.hold < args.period - 4:
        print("soak: --minutes in (0, 240], --period >= 10, 0 < --hold < period - 4",
              file=sys.stderr)
        return 2
    unknown = [k for k in args.kinds.split(",") if k not in KIND_BY_NAME]
    if unknown or not args.kinds:
        print(f"soak: unknown fault kind(s) {unknown}; known: "
              f"{', '.join(k.name for k in KINDS)}", file=sys.stderr)
        return 2
    args.kinds = [KIND_BY_NAME[k] for k in args.kinds.split(",")]
    args.faults = max(1, int(args.minutes * 60 // args.period))
    args.lbd = shutil.which("lbd", path=f"{args.bin_dir}/lbd:{args.bin_dir}") or ""
    args.vrrpd = shutil.which("vrrpd", path=f"{args.bin_dir}/vrrpd:{args.bin_dir}") or ""
    if not args.lbd or not args.vrrpd:
        print(f"soak: lbd/vrrpd not found under {args.bin_dir} (TARGETS=\"lbd vrrpd lbctl\" "
              "./scripts/build build)", file=sys.stderr)
        return 2
    args.python = sys.executable
    lab = Lab(SimpleNamespace(advert=args.advert, conf_dir=args.conf_dir, quiet=False,
                              lbd=args.lbd, vrrpd=args.vrrpd, request_timeout=args.request_timeout,
                              python=args.python, handover_drain=None))

    def on_signal(sig, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    failed = True
    try:
        print(f"Soak: namespaces {lab.prefix}-*, VIP {VIP4}, adverts every "
              f"{args.advert * 1000:g} ms, {args.faults} faults over {args.minutes:g} min; "
              f"logs in {lab.run_dir}")
        chaos = bring_up(lab, args)
        soak = Soak(lab, chaos, args)
        _, t_start, t_end = soak.run()
        violations = summary(soak, t_start, t_end)
        print(f"\nclient {CLIENT}: {sum(1 for _ in open(os.path.join(lab.run_dir, 'requests.jsonl')))}"
              f" requests; logs: {lab.run_dir}")
        if violations:
            print(f"\nFAILED: {violations} violation(s)")
            return 1
        failed = False
        print("\nOK: no violation")
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted: tearing the soak down")
        return 130
    except (RuntimeError, OSError, KeyError) as e:
        print(f"\nsoak: {type(e).__name__}: {e}", file=sys.stderr)
        for name in DAEMONS:
            path = os.path.join(lab.run_dir, f"{name}.log")
            if os.path.exists(path):
                print(f"--- {name}.log (last lines)", file=sys.stderr)
                print("".join(open(path, errors="replace").readlines()[-15:]), file=sys.stderr)
        return 1
    finally:
        lab.down()
        if failed or args.keep_logs:
            print(f"logs kept in {lab.run_dir}")
        else:
            shutil.rmtree(lab.run_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
