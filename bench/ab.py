#!/usr/bin/env python3
"""Two framewut binaries against the same nginx, round by round.

A before/after check of the load engine: the binaries run alternately
(A, B, A, B, ...) with the same flags, so a machine that gets busier or
quieter during the run moves both alike. nginx (one worker) is pinned to
CPU 0 and the generator to CPU 1. Prints, per load, each binary's median
req/s and generator CPU seconds per 100k requests, and B's over A's.

Usage: python3 bench/ab.py BEFORE AFTER [--rounds 7] [--duration 3s]
"""

import argparse
import json

from benchlib import Nginx, measured, median, need


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="the framewut binary measured first in each round (before)")
    ap.add_argument("b", help="the framewut binary measured second (after)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--duration", default="3s")
    args = ap.parse_args()
    need("taskset", "util-linux")
    nginx = Nginx(cpu=0)

    def load(binary, conns):
        out, cpu, _ = measured(["taskset", "-c", "1", binary, "load", "-t1", f"-c{conns}",
                                f"-d{args.duration}", "--json", nginx.url])
        s = json.loads(out)
        return s["requests_per_s"], cpu * 1e5 / max(s["requests"], 1)

    try:
        print(f"nginx 1 worker on CPU 0, generator on CPU 1; {args.rounds} alternating rounds "
              f"of {args.duration}; medians")
        print(f"{'load':<12}{'A req/s':>10}{'B req/s':>10}{'B/A':>7}{'A s/100k':>10}{'B s/100k':>10}{'B/A':>7}")
        for conns in (64, 256):
            a, b = [], []
            for _ in range(args.rounds):
                a.append(load(args.a, conns))
                b.append(load(args.b, conns))
            ar, br = median(r for r, _ in a), median(r for r, _ in b)
            ac, bc = median(c for _, c in a), median(c for _, c in b)
            print(f"{f'-t1 -c{conns}':<12}{ar:>10.0f}{br:>10.0f}{br / ar:>7.3f}{ac:>10.3f}{bc:>10.3f}{bc / ac:>7.3f}")
    finally:
        nginx.stop()


if __name__ == "__main__":
    main()
