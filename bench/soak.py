#!/usr/bin/env python3
"""A soak: one built-in stack under one long framewut load, memory watched.

A built-in stack runs pinned to CPU 0 and `framewut load` holds a closed-loop
load on it from CPU 1 for the whole run (default 10 minutes). Every minute
the script prints both processes' resident memory; at the end, the rate of
each minute from the load's own per-second timeline, and whether the rate
and both memories stayed flat (within 10% of their first minute).

Usage: python3 bench/soak.py [--minutes 10] [--stack rust/fast/per-core]
                             [--scenario hello] [--connections 64]
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

from benchlib import framewut_release, free_port, wait_port

# How far a figure may drift from its first minute and still count as flat.
FLAT = 0.10


def rss_mib(pid):
    """The process's resident memory in MiB, from /proc; None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        return None
    return None


def flat(values):
    """Whether every value lies within FLAT of the first."""
    first = values[0]
    return all(abs(v - first) <= FLAT * first for v in values)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=int, default=10)
    ap.add_argument("--stack", default="rust/fast/per-core")
    ap.add_argument("--scenario", default="hello")
    ap.add_argument("--connections", type=int, default=64)
    args = ap.parse_args()

    framewut = framewut_release()
    port = free_port()
    server = subprocess.Popen(
        ["taskset", "-c", "0", framewut, "serve", args.stack, "--port", str(port),
         "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    load = None
    try:
        wait_port(port)
        url = f"http://127.0.0.1:{port}/{args.scenario}"
        load = subprocess.Popen(
            ["taskset", "-c", "1", framewut, "load", "-t1", f"-c{args.connections}",
             f"-d{args.minutes * 60}s", "--json", url],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            start_new_session=True)
        print(f"{args.stack} on CPU 0, {args.connections} connections from CPU 1, "
              f"{args.minutes} min of {url}")
        print(f"{'minute':>6}  {'server RSS':>11}  {'generator RSS':>14}")
        server_rss, load_rss = [], []
        for minute in range(1, args.minutes + 1):
            time.sleep(60)
            s, g = rss_mib(server.pid), rss_mib(load.pid)
            if s is None or g is None:
                sys.exit(f"a process ended early (server {s}, generator {g})")
            server_rss.append(s)
            load_rss.append(g)
            print(f"{minute:>6}  {s:>8.1f}MiB  {g:>11.1f}MiB", flush=True)
        out, _ = load.communicate(timeout=60)
        summary = json.loads(out)
        seconds = [s["requests"] for s in summary["timeline"]]
        rates = [sum(seconds[m * 60:(m + 1) * 60]) / 60 for m in range(args.minutes)
                 if len(seconds) >= (m + 1) * 60]
        print(f"{'minute':>6}  {'req/s':>10}")
        for minute, rate in enumerate(rates, 1):
            print(f"{minute:>6}  {rate:>10,.0f}")
        errors = summary["errors"]
        failed = sum(v for v in errors.values() if isinstance(v, int))
        failed += sum(errors.get("status", {}).values())
        print(f"total {summary['requests']:,} requests, {failed} errors "
              f"(in flight at the end included); "
              f"rate flat: {flat(rates)}, server RSS flat: {flat(server_rss)}, "
              f"generator RSS flat: {flat(load_rss)} (within {FLAT:.0%} of the first minute)")
    finally:
        for process in (load, server):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=10)


if __name__ == "__main__":
    main()
