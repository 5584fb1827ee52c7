"""The chaos soak's verdicts, as pure functions over what the soak recorded (no I/O): which
request failures fall inside a fault's window, when the VIP answered again, which sticky clients
changed backend, who held the VIP once a fault had settled, whether daemon RSS or fd counts grew,
and the summary table. soak_report_test.py checks them on made-up data."""
import statistics
from collections import namedtuple

# One client request: start time, end time (start + latency), client id, kind (cookie, source,
# plain, probe), ok, backend name ("" when failed) and the error text.
Request = namedtuple("Request", "t end client kind ok backend err")

# One injected fault: its kind (a FaultKind), its number, when it was injected, when it was undone
# (the restore action; == injected for a fault with nothing to undo), when the next fault starts
# (the end of this one's period), and what it hit (e.g. the backend's name).
Fault = namedtuple("Fault", "kind index t_inject t_restore t_next target")

# A kind of fault: name, what it does, how long after injection and after restore requests may
# fail (seconds: the failover windows; the VIP holders are checked only outside them, once the
# fault has settled), and which nodes must hold the VIP between the settled fault and its restore
# (None: not checked, as in a partition where each side is master of its own half).
FaultKind = namedtuple("FaultKind", "name what fault_window restore_window holders_during")

STICKY_KINDS = ("cookie", "source", "plain")


def request_from_json(d):
    return Request(d["t"], d["t"] + d.get("lat", 0.0), d["client"], d["kind"], d["ok"],
                   d.get("backend", ""), d.get("err", d.get("status", "")))


# After a fault that moved the VIP to node-b, node-a takes it back (preempts) up to this long after
# the restore (its lbd must be up and in sync first). node-b then keeps the VIP, unannounced, for
# its handover drain (vrrpd's handover_drain) while the connections it carries finish, and resets
# those still open at the end (plain L4 keep-alive clients that never close).
SWITCH_BACK_SLACK = 3.0


def hands_back(fault):
    """Whether node-a takes the VIP back from node-b when `fault` is restored."""
    return fault.t_restore > fault.t_inject and fault.kind.holders_during != ("node-a",)


def windows(fault, drain=0.0):
    """The intervals in which requests may fail because of `fault`; with a handover drain of
    `drain` seconds, also its end after a switch-back."""
    k = fault.kind
    out = []
    if k.fault_window > 0:
        out.append((fault.t_inject, fault.t_inject + k.fault_window))
    if k.restore_window > 0:
        out.append((fault.t_restore, fault.t_restore + k.restore_window))
    if drain > 0 and hands_back(fault):
        start = fault.t_restore + drain
        out.append((start, start + SWITCH_BACK_SLACK + max(k.restore_window, 1.0)))
    return out


def in_any(start, end, intervals):
    return any(start < hi and end >= lo for lo, hi in intervals)


def fault_at(faults, t):
    """The fault whose period [t_inject, t_next) holds t; None before the first one."""
    for f in faults:
        if f.t_inject <= t < f.t_next:
            return f
    return None


def answered_again(probes, start, window_end, end):
    """Milliseconds from `start` until the VIP answered again: until the end of the first
    successful probe after the first outage that began in [start, window_end) (the fault's
    window); 0 when no outage began there; None when no probe succeeded before `end`. An outage
    is a run of failed probes that is refused or reset, or at least two long: one probe timing
    out alone is a miss (its 50 ms timeout on a busy machine), not a failover."""
    window = [p for p in probes if start <= p.t < end]
    i = 0
    while i < len(window):
        if window[i].ok or window[i].t >= window_end:
            i += 1
            continue
        j = i
        while j < len(window) and not window[j].ok:
            j += 1
        run = window[i:j]
        if len(run) >= 2 or not run[0].err.startswith("TimeoutError"):
            return None if j == len(window) else round((window[j].end - start) * 1000, 1)
        i = j
    return 0.0


def failures(records, faults, drain=0.0):
    """Failed client requests (probes excluded: their 50 ms timeout is a measuring stick, not a
    client) split into those inside a window of the fault whose period they overlap and those
    outside. Returns ({fault index: count inside}, [requests outside])."""
    inside = {f.index: 0 for f in faults}
    outside = []
    all_windows = [(f, windows(f, drain)) for f in faults]
    for r in records:
        if r.ok or r.kind == "probe":
            continue
        hit = next((f for f, w in all_windows if in_any(r.t, r.end, w)), None)
        if hit is None:
            outside.append(r)
        else:
            inside[hit.index] += 1
    return inside, outside


def probe_misses_outside(records, faults, drain=0.0):
    return [r for r in records if r.kind == "probe" and not r.ok and
            not any(in_any(r.t, r.end, windows(f, drain)) for f in faults)]


def sticky_changes(records, faults, last):
    """Sticky clients (cookie, source IP, plain via the connection table) whose backend changed
    between two successful requests. A change is allowed only in the period of a fault that
    killed a backend, to or from that backend. Returns the disallowed changes as
    (request, previous backend) pairs. Per client the records must be in order (each client is
    one thread); `last` (client -> backend) carries over from the previous call."""
    bad = []
    for r in records:
        if not r.ok or r.kind not in STICKY_KINDS:
            continue
        prev = last.get(r.client)
        last[r.client] = r.backend
        if prev is None or prev == r.backend:
            continue
        f = fault_at(faults, r.t)
        if f is not None and f.kind.name == "backend" and f.target in (prev, r.backend):
            continue
        bad.append((r, prev))
    return bad


def holders_between(vip_log, start, end):
    """[(from, to, holders)] covering [start, end) from the (time, holders) event log."""
    out = []
    current = ()
    for when, holders in vip_log:
        if when <= start:
            current = holders
            continue
        if when >= end:
            break
        out.append((start if not out else out[-1][1], when, current))
        current = holders
    out.append((start if not out else out[-1][1], end, current))
    return [(a, b, h) for a, b, h in out if b > a]


def settled_intervals(fault, master="node-a"):
    """(start, end, expected holders or None) once `fault` has settled: after its fault window
    until the restore, and after the restore window until the next fault."""
    k = fault.kind
    out = []
    if fault.t_restore > fault.t_inject:
        out.append((fault.t_inject + k.fault_window, fault.t_restore, k.holders_during))
    out.append((fault.t_restore + k.restore_window, fault.t_next, (master,)))
    return [(a, b, h) for a, b, h in out if b > a]


def vip_problems(vip_log, fault, drain=0.0):
    """Seconds in the settled intervals of `fault` during which the VIP holders were not the
    expected ones; and the seconds of those in which two nodes held it (not counted while a
    partition lasts: each half has its master then, by design; nor while node-b drains after a
    switch-back: it keeps the address then but no longer announces it)."""
    wrong = 0.0
    double = 0.0
    drain_end = fault.t_restore + drain + SWITCH_BACK_SLACK if drain > 0 and hands_back(fault) \
        else fault.t_restore
    for start, end, expected in settled_intervals(fault):
        for a, b, holders in holders_between(vip_log, start, end):
            if expected == ("node-a",) and set(holders) == {"node-a", "node-b"} and \
                    a >= fault.t_restore:
                a = max(a, drain_end)  # only what outlasts the drain counts
                if b <= a:
                    continue
            if len(holders) > 1 and expected is not None:
                double += b - a
            if expected is not None and tuple(holders) != tuple(expected):
                wrong += b - a
            elif expected is None and len(holders) == 0:
                wrong += b - a
    return wrong, double


def quarter_medians(samples, t0, t1):
    """Medians of the samples in the first and last quarter of [t0, t1]; samples are
    (time, value). None when a quarter has no sample."""
    q = (t1 - t0) / 4
    first = [v for t, v in samples if t0 <= t < t0 + q]
    last = [v for t, v in samples if t1 - q <= t <= t1]
    if not first or not last:
        return None
    return statistics.median(first), statistics.median(last)


def grew(first, last, rel, absolute):
    """True when `last` exceeds `first` by more than both `rel` (a fraction) and `absolute`."""
    return last - first > max(first * rel, absolute)


def percentile(values, p):
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    k = min(len(vals) - 1, max(0, int(round(p / 100 * (len(vals) - 1)))))
    return vals[k]


def fmt_ms(v):
    return "-" if v is None else f"{v:,.0f}"


def table(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = "| " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(str(c).rjust(w) if i else str(c).ljust(w)
                              for i, (c, w) in enumerate(zip(r, widths))) + " |" for r in rows]
    return "\n".join([line, sep] + body)
