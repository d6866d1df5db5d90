#!/usr/bin/env python3
"""framewut load against wrk, side by side, on the same nginx target.

nginx (one worker) is pinned to CPU 0 and each generator to CPU 1. wrk and
framewut run alternately, ROUNDS rounds each, with the same threads,
connections and duration, and the script prints for each load: req/s (median
of rounds), the ratio framewut/wrk, and generator CPU seconds per 100k
requests. Then the same for a list of 3 targets (three paths, round-robin:
`framewut load --targets`, and wrk with a Lua request() cycling over them).
Then the generators' peak RSS while holding 10,000 connections.

Usage: python3 bench/load_vs_wrk.py [--rounds 3] [--duration 5s] [--no-rss]
                                    [--framewut PATH] [--no-targets]
"""

import argparse
import json
import os
import shutil
import tempfile

from benchlib import Nginx, framewut_release, measured, median, need, wrk_rate


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", default="5s")
    ap.add_argument("--no-rss", action="store_true", help="skip the 10,000-connection memory check")
    ap.add_argument("--framewut", help="a framewut binary to measure instead of building one "
                    "(e.g. to compare two builds)")
    ap.add_argument("--no-targets", action="store_true", help="skip the 3-target loads")
    args = ap.parse_args()

    need("wrk", "wrk")
    need("taskset", "util-linux")
    framewut = args.framewut or framewut_release()
    cores = os.cpu_count()
    nginx = Nginx(cpu=0)
    work = tempfile.mkdtemp(prefix="framewut-bench-")
    try:
        print(f"{cores} cores; nginx 1 worker on CPU 0, generator on CPU 1; "
              f"{args.rounds} interleaved rounds of {args.duration} per generator")
        print(f"{'load':<16}{'wrk req/s':>12}{'framewut':>12}{'ratio':>8}"
              f"{'wrk s/100k':>12}{'fw s/100k':>12}   rounds (wrk | framewut)")
        paths = ["/a", "/b?q=1", "/c/d"]
        targets = os.path.join(work, "targets.txt")
        with open(targets, "w") as f:
            f.write("\n".join(f"GET {nginx.url.rstrip('/')}{p}\n" for p in paths))
        lua = os.path.join(work, "targets.lua")
        with open(lua, "w") as f:
            f.write("local paths = {" + ", ".join(f'"{p}"' for p in paths) + "}\n"
                    "local i = 0\n"
                    "request = function()\n"
                    "  i = i % #paths + 1\n"
                    "  return wrk.format(nil, paths[i])\n"
                    "end\n")
        loads = [(f"-t1 -c{c}", c, [], []) for c in (64, 256)]
        if not args.no_targets:
            loads += [(f"3 targets -c{c}", c, ["-s", lua], ["--targets", targets])
                      for c in (64, 256)]
        for label, conns, wrk_extra, fw_extra in loads:
            wrk_runs, fw_runs = [], []
            for _ in range(args.rounds):
                out, cpu, _ = measured(["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}",
                                        f"-d{args.duration}", *wrk_extra, nginx.url])
                rate = wrk_rate(out)
                secs = float(args.duration.rstrip("s"))
                wrk_runs.append((rate, cpu * 1e5 / (rate * secs)))
                url = [] if fw_extra else [nginx.url]
                out, cpu, _ = measured(["taskset", "-c", "1", framewut, "load", "-t1",
                                        f"-c{conns}", f"-d{args.duration}", "--json",
                                        *fw_extra, *url])
                s = json.loads(out)
                fw_runs.append((s["requests_per_s"], cpu * 1e5 / max(s["requests"], 1)))
            w, f = median(r for r, _ in wrk_runs), median(r for r, _ in fw_runs)
            wc, fc = median(c for _, c in wrk_runs), median(c for _, c in fw_runs)
            rounds = " ".join(f"{r/1e3:.0f}k" for r, _ in wrk_runs) + " | " + \
                " ".join(f"{r/1e3:.0f}k" for r, _ in fw_runs)
            print(f"{label:<16}{w:>12.0f}{f:>12.0f}{f/w:>8.2f}{wc:>12.3f}{fc:>12.3f}   {rounds}")
        if not args.no_rss:
            _, _, wrk_rss = measured(["taskset", "-c", "1", "wrk", "-t1", "-c10000", "-d3s",
                                      "--timeout", "5s", nginx.url])
            _, _, fw_rss = measured(["taskset", "-c", "1", framewut, "load", "-t1", "-c10000",
                                     "-d3s", "--timeout", "5s", "--json", nginx.url])
            print(f"peak RSS at -t1 -c10000: wrk {wrk_rss:.1f} MiB, framewut {fw_rss:.1f} MiB "
                  f"(ratio {fw_rss / wrk_rss:.2f}; target <= 2.00)")
    finally:
        nginx.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
