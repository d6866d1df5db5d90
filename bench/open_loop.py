#!/usr/bin/env python3
"""How on time framewut's open loop sends, and what being on time costs.

nginx (one worker) is pinned to CPU 0 and `framewut load --rate` (one
thread) to CPU 1. For each rate the script prints, as medians of ROUNDS
rounds: the req/s achieved; the median and p99 latency from each request's
intended send time and from its actual send; the median's difference (how
late the generator sent: nothing queues at these rates, so any difference
is the generator's, charged to the server); the generator's CPU seconds
per 100k requests; and the backlog.

Give --framewut twice to set two builds side by side, rounds interleaved:
a build whose loop waits on epoll's whole-millisecond timeout alone shows
its lateness here.

Usage: python3 bench/open_loop.py [--rounds 3] [--duration 3s]
                                  [--rates 200,2000,20000,80000]
                                  [--framewut PATH [--framewut PATH]]
"""

import argparse
import json
import subprocess

from benchlib import Nginx, framewut_release, median, need


def percentile(histogram, q):
    return next(p["us"] for p in histogram["percentiles"] if p["percentile"] == q)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", default="3s")
    ap.add_argument("--rates", default="200,2000,20000,80000")
    ap.add_argument("--framewut", action="append",
                    help="a framewut binary to measure instead of building one (twice to compare)")
    args = ap.parse_args()

    need("taskset", "util-linux")
    builds = args.framewut or [framewut_release()]
    rates = [int(r) for r in args.rates.split(",")]
    nginx = Nginx(cpu=0)
    rows = {}
    try:
        for _ in range(args.rounds):
            for rate in rates:
                for build in builds:
                    out = subprocess.run(
                        ["taskset", "-c", "1", build, "load", "-t1", "-c32", "-d", args.duration,
                         "--warmup", "500ms", "--rate", str(rate), "--json", nginx.url],
                        capture_output=True, text=True, check=True).stdout
                    r = json.loads(out)
                    intended, actual = r["latency"], r["latency_uncorrected"]
                    rows.setdefault((rate, build), []).append((
                        r["requests_per_s"],
                        percentile(intended, 50.0), percentile(intended, 99.0),
                        percentile(actual, 50.0), percentile(actual, 99.0),
                        percentile(intended, 50.0) - percentile(actual, 50.0),
                        r["generator_cpu"]["per_100k_requests_s"], r["backlog"]))
    finally:
        nginx.stop()

    print(f"medians of {args.rounds} rounds of {args.duration}; latency in µs, "
          "from the intended send | from the actual send")
    head = ("rate", "req/s", "p50", "p99", "p50 act", "p99 act", "late p50", "CPU s/100k", "backlog")
    print(("{:>7} " * len(head)).format(*head) + " build")
    for rate in rates:
        for build in builds:
            m = [median(c) for c in zip(*rows[(rate, build)])]
            print(f"{rate:>7} {m[0]:>7.0f} {m[1]:>7.0f} {m[2]:>7.0f} {m[3]:>7.0f} {m[4]:>7.0f} "
                  f"{m[5]:>7.0f} {m[6]:>7.3f} {m[7]:>7.0f}  {build}")


if __name__ == "__main__":
    main()
