#!/usr/bin/env python3
"""Runs whole-process commands side by side on one event, interleaved so the machine's load
falls on all of them alike, and prints the median wall time, throughput, peak RSS (measured by
/usr/bin/time, "Maximum resident set size", in separate runs) and the ratios to the first command.

usage: bench.py --event EVENT.json [--runs N] NAME=COMMAND ...
"""
import argparse, json, os, shlex, statistics, subprocess, tempfile, time

p = argparse.ArgumentParser()
p.add_argument("--event", required=True)
p.add_argument("--runs", type=int, default=9)
p.add_argument("commands", nargs="+")
a = p.parse_args()

with open(a.event, "rb") as f:
    event_bytes = f.read()
records = len(json.loads(event_bytes)["records"])
mb = len(event_bytes) / 1e6
commands = [(c.split("=", 1)[0], shlex.split(c.split("=", 1)[1])) for c in a.commands]


rss_file = tempfile.NamedTemporaryFile(prefix="bench-rss-", delete=False).name
out_file = tempfile.NamedTemporaryFile(prefix="bench-out-", delete=False).name


def run(argv):
    """Wall seconds and the response's record count. The response goes to a file, read after the
    clock stops."""
    with open(out_file, "wb") as out:
        start = time.perf_counter()
        code = subprocess.call(argv, stdout=out, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"{argv[0]} failed with status {code}")
    with open(out_file, "rb") as f:
        return wall, len(json.loads(f.read())["records"])


def peak_rss_mb(argv):
    """Peak RSS as /usr/bin/time reports it, in runs of their own: the wrapper slows the clock,
    and a child forked from this large Python process would report the parent's pages."""
    subprocess.check_call(["/usr/bin/time", "-f", "%M", "-o", rss_file, *argv],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(rss_file) as f:
        return int(f.read().split()[-1]) / 1024


results = {name: ([], []) for name, _ in commands}
for name, argv in commands:  # warm-up: page cache, lazy binding
    _, n = run(argv)
    if n != records:
        raise SystemExit(f"{name} answered {n} of {records} records")
for _ in range(a.runs):
    for name, argv in commands:
        results[name][0].append(run(argv)[0])
for name, argv in commands:
    results[name][1].extend(peak_rss_mb(argv) for _ in range(3))

print(f"\nevent: {a.event}: {len(event_bytes):,} bytes, {records:,} records; median of {a.runs} runs each\n")
print(f"{'command':<10} {'median s':>10} {'MB/s':>8} {'records/s':>11} {'peak RSS MB':>12}  ratio")
base = statistics.median(results[commands[0][0]][0])
for name, _ in commands:
    walls, rss = results[name]
    m = statistics.median(walls)
    ratio = f"{m / base:.1f}x the time of {commands[0][0]}" if name != commands[0][0] else "1"
    print(f"{name:<10} {m:>10.4f} {mb / m:>8.1f} {records / m:>11,.0f} {max(rss):>12.1f}  {ratio}")
