#!/usr/bin/env python3
"""Prints the Markdown summary of bench/h2.sh from its h2.tsv: per column the median and the
range of requests/s and of the SUT's CPU microseconds per request, then lbd / HAProxy per
mode, taken round by round (the two runs of a round are next to each other in time) and
summarised as median and range.

Usage: summarize_h2.py RESULTS/h2.tsv [MORE/h2.tsv ...]   (several files are pooled)
"""
import csv
import statistics
import sys


def fmt_range(values, digits):
    return f"{min(values):,.{digits}f}–{max(values):,.{digits}f}"


def main(paths):
    rows = []
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                row["source"] = path
                rows.append(row)
    if not rows:
        print("no results")
        return 1
    columns = list(dict.fromkeys(r["target"] for r in rows))
    print("| column | runs | req/s median (range) | SUT CPU µs/req median (range) | SUT CPU % | failed |")
    print("|---|---:|---:|---:|---:|---:|")
    for c in columns:
        rs = [r for r in rows if r["target"] == c]
        rps = [float(r["rps"]) for r in rs]
        us = [float(r["sut_us_per_req"]) for r in rs]
        pct = [float(r["sut_cpu_pct"]) for r in rs]
        failed = sum(int(r["failed"]) for r in rs)
        print(f"| {c} | {len(rs)} | {statistics.median(rps):,.0f} ({fmt_range(rps, 0)}) | "
              f"{statistics.median(us):.2f} ({fmt_range(us, 2)}) | {statistics.median(pct):.0f} | {failed} |")
    print()
    print("| lbd / HAProxy, paired by round | rounds | req/s median (range) | CPU µs/req median (range) |")
    print("|---|---:|---:|---:|")
    for mode in ("h2c", "h2s"):
        lbd = {(r["source"], r["round"]): r for r in rows if r["target"] == f"lbd-{mode}"}
        hap = {(r["source"], r["round"]): r for r in rows if r["target"] == f"haproxy-{mode}"}
        keys = sorted(set(lbd) & set(hap))
        if not keys:
            continue
        rps = [float(lbd[k]["rps"]) / float(hap[k]["rps"]) for k in keys]
        us = [float(lbd[k]["sut_us_per_req"]) / float(hap[k]["sut_us_per_req"]) for k in keys]
        print(f"| {mode} | {len(keys)} | {statistics.median(rps):.2f}× ({fmt_range(rps, 2)}) | "
              f"{statistics.median(us):.2f}× ({fmt_range(us, 2)}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
