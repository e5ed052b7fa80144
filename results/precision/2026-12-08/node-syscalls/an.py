#!/usr/bin/env python3
"""System calls per request of the nodes, the store and the proxy, per step.

Usage: an.py RUN_DIR SAMPLES.tsv[.gz]

RUN_DIR holds the sweep's run.json (a `--pairing blocks` sweep of one mode);
the samples are sample.sh's one-second perf counts per process. A sample
belongs to the step whose number of nodes matches the nodes that served
requests in it (over 200 recvfrom calls); each figure is the median over the
step's samples of calls per second divided by the step's throughput.
"""
import collections, gzip, json, statistics, sys

run_dir, tsv = sys.argv[1], sys.argv[2]
run = json.load(open(f"{run_dir}/run.json"))
throughput = {s["nodes"]: s["throughput"] for s in run["steps"]}
store, proxy, nodes = run["pids"][0], run["pids"][1], run["pids"][2:]
counts = collections.defaultdict(lambda: collections.defaultdict(dict))
opener = gzip.open if tsv.endswith(".gz") else open
with opener(tsv, "rt") as f:
    for line in f:
        t, pid, event, value = line.rstrip("\n").split("\t")
        name = event.split(":")[1].replace("sys_enter_", "") or "all"
        if name == "sys_enter":
            name = "all"
        try:
            counts[t][int(pid)][name] = int(value)
        except ValueError:
            pass  # "<not counted>": the process ended during the sample
per_step = collections.defaultdict(list)
for t in sorted(counts):
    active = [p for p in nodes if counts[t].get(p, {}).get("recvfrom", 0) > 200]
    if len(active) not in throughput:
        continue
    x = throughput[len(active)]
    row = {}
    for ev in ["all", "recvfrom", "sendto", "read", "write", "writev", "epoll_wait"]:
        row[f"nodes {ev}"] = sum(counts[t].get(p, {}).get(ev, 0) for p in active) / x
        row[f"store {ev}"] = counts[t].get(store, {}).get(ev, 0) / x
        row[f"proxy {ev}"] = counts[t].get(proxy, {}).get(ev, 0) / x
    per_step[len(active)].append(row)
steps = sorted(per_step)
keys = [k for k in per_step[steps[0]][0]
        if any(statistics.median(r[k] for r in per_step[n]) > 0.005 for n in steps)]
print("| calls per request | " + " | ".join(f"N = {n}" for n in steps) + " |")
print("|---|" + "---:|" * len(steps))
for k in sorted(keys):
    cells = [f"{statistics.median(r[k] for r in per_step[n]):.2f}" for n in steps]
    print(f"| {k} | " + " | ".join(cells) + " |")
print("\nsamples per step: " + ", ".join(f"N = {n}: {len(per_step[n])}" for n in steps))
