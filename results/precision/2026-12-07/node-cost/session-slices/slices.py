#!/usr/bin/env python3
"""Per cell of a run.json: the slices' spread of throughput and of the
store's CPU per request, and the correlation over slices between a
component's CPU per request and its runs (times put on a CPU) per request.
Usage: python3 slices.py RUN_JSON"""
import json
import statistics as st
import sys


def corr(x, y):
    mx, my = st.mean(x), st.mean(y)
    sx = sum((a - mx) ** 2 for a in x) ** 0.5
    sy = sum((b - my) ** 2 for b in y) ** 0.5
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / (sx * sy) if sx and sy else float("nan")


def cv(v):
    return st.pstdev(v) / st.mean(v)


run = json.load(open(sys.argv[1]))
print("mode N slices | X cv | store us/req cv | store runs/req (cv) | corr store cost~runs | corr X~store runs | corr node cost~runs")
for s in run["steps"]:
    sl = s["slices"]
    x = [a["throughput"] for a in sl]
    cost = [a["cpu_us_per_request"]["store"] for a in sl]
    runs = [a["runs_per_request"]["store"] for a in sl]
    ncost = [a["cpu_us_per_request"]["nodes"] for a in sl]
    nruns = [a["runs_per_request"]["nodes"] for a in sl]
    print(f"{s['mode']} {s['nodes']} {len(sl)} | {cv(x):.3f} | {cv(cost):.3f} | {st.mean(runs):.3f} ({cv(runs):.3f}) | "
          f"{corr(cost, runs):+.2f} | {corr(x, runs):+.2f} | {corr(ncost, nruns):+.2f}")
