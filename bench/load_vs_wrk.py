#!/usr/bin/env python3
"""framewut load against wrk, side by side, on the same nginx target.

nginx (one worker) is pinned to CPU 0 and each generator to CPU 1. wrk and
framewut run alternately, ROUNDS rounds each, with the same threads,
connections and duration, and the script prints for each load: req/s (median
of rounds), the ratio framewut/wrk, and generator CPU seconds per 100k
requests. Then the generators' peak RSS while holding 10,000 connections.

Usage: python3 bench/load_vs_wrk.py [--rounds 3] [--duration 5s] [--no-rss]
"""

import argparse
import json
import os

from benchlib import Nginx, framewut_release, measured, median, need, wrk_rate


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", default="5s")
    ap.add_argument("--no-rss", action="store_true", help="skip the 10,000-connection memory check")
    args = ap.parse_args()

    need("wrk", "wrk")
    need("taskset", "util-linux")
    framewut = framewut_release()
    cores = os.cpu_count()
    nginx = Nginx(cpu=0)
    try:
        print(f"{cores} cores; nginx 1 worker on CPU 0, generator on CPU 1; "
              f"{args.rounds} interleaved rounds of {args.duration} per generator")
        print(f"{'load':<12}{'wrk req/s':>12}{'framewut':>12}{'ratio':>8}"
              f"{'wrk s/100k':>12}{'fw s/100k':>12}   rounds (wrk | framewut)")
        for conns in (64, 256):
            wrk_runs, fw_runs = [], []
            for _ in range(args.rounds):
                out, cpu, _ = measured(["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}",
                                        f"-d{args.duration}", nginx.url])
                rate = wrk_rate(out)
                secs = float(args.duration.rstrip("s"))
                wrk_runs.append((rate, cpu * 1e5 / (rate * secs)))
                out, cpu, _ = measured(["taskset", "-c", "1", framewut, "load", "-t1",
                                        f"-c{conns}", f"-d{args.duration}", "--json", nginx.url])
                s = json.loads(out)
                fw_runs.append((s["requests_per_s"], cpu * 1e5 / max(s["requests"], 1)))
            w, f = median(r for r, _ in wrk_runs), median(r for r, _ in fw_runs)
            wc, fc = median(c for _, c in wrk_runs), median(c for _, c in fw_runs)
            rounds = " ".join(f"{r/1e3:.0f}k" for r, _ in wrk_runs) + " | " + \
                " ".join(f"{r/1e3:.0f}k" for r, _ in fw_runs)
            print(f"{f'-t1 -c{conns}':<12}{w:>12.0f}{f:>12.0f}{f/w:>8.2f}{wc:>12.3f}{fc:>12.3f}   {rounds}")
        if not args.no_rss:
            _, _, wrk_rss = measured(["taskset", "-c", "1", "wrk", "-t1", "-c10000", "-d3s",
                                      "--timeout", "5s", nginx.url])
            _, _, fw_rss = measured(["taskset", "-c", "1", framewut, "load", "-t1", "-c10000",
                                     "-d3s", "--timeout", "5s", "--json", nginx.url])
            print(f"peak RSS at -t1 -c10000: wrk {wrk_rss:.1f} MiB, framewut {fw_rss:.1f} MiB "
                  f"(ratio {fw_rss / wrk_rss:.2f}; target <= 2.00)")
    finally:
        nginx.stop()


if __name__ == "__main__":
    main()
