#!/usr/bin/env python3
"""How close the model from parts lands on every cpu and db cell of presets.

Runs each preset (quick, seed and seed-rust by default) with the release
build, then prints, for every cell the parts predict, the handler as timed
one call a request and in a row, the stack's own cost from its hello cell,
the predicted and measured rates, their ratio with its 95% interval between
the stack's starts, and a verdict:

  within   the ratio lies within the margin (0.85 to 1.15);
  unsure   outside it, but its interval reaches into it, so more starts
           would have to say;
  MISS     outside it, the interval too.

The last line counts them and the exit code is 1 when any cell missed. The
figures move with the machine (a shared host's neighbours, steal): run it on
a machine that is quiet but for the benchmark, and read each miss beside the
report's findings, which say what a request cost under load.

A run directory given instead of a preset (one holding analysis.json) is
read as it is, without running anything.

Usage: python3 bench/parts.py [PRESET or RUN-DIR ...] [--keep DIR]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

from benchlib import framewut_release

LOW, HIGH = 0.85, 1.15


def micros(us):
    return f"{us / 1000:.1f} ms" if us >= 1000 else f"{us:.0f} µs"


def verdict(ratio, spread):
    if LOW <= ratio <= HIGH:
        return "within"
    if spread is not None and ratio - spread <= HIGH and ratio + spread >= LOW:
        return "unsure"
    return "MISS"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*", default=["quick", "seed", "seed-rust"])
    parser.add_argument("--keep", help="write each preset's results under this directory")
    args = parser.parse_args()
    framewut = framewut_release
    counts = {"within": 0, "unsure": 0, "MISS": 0}
    with tempfile.TemporaryDirectory() as scratch:
        base = args.keep or scratch
        for preset in args.presets:
            out = preset
            if not os.path.exists(os.path.join(preset, "analysis.json")):
                out = os.path.join(base, preset)
                print(f"running {preset} ...", file=sys.stderr, flush=True)
                subprocess.run([framewut(), "run", preset, "--out", out], check=True,
                               stdout=subprocess.DEVNULL)
            with open(os.path.join(out, "analysis.json")) as f:
                analysis = json.load(f)
            print(f"\n{preset}")
            print(f"{'cell':48} {'a request':>10} {'workers':>7} {'in a row':>10} {'stack':>8}"
                  f" {'predicted':>10} {'measured':>10} {'ratio':>13}  verdict")
            for cell in analysis["cells"]:
                parts = cell.get("parts")
                if not parts:
                    continue
                # The interval's half-width is kept as a share of the ratio.
                spread = parts.get("spread")
                if spread is not None:
                    spread *= parts["ratio"]
                row = parts.get("in_row_us")
                said = verdict(parts["ratio"], spread)
                counts[said] += 1
                interval = f" ±{spread:.2f}" if spread is not None else ""
                print(f"{cell['id']:48} {micros(parts['handler_us']):>10}"
                      f" {parts.get('workers', '-'):>7}"
                      f" {micros(row) if row else '-':>10} {micros(parts['stack_us']):>8}"
                      f" {parts['predicted_per_s']:>10,.1f} {parts['measured_per_s']:>10,.1f}"
                      f" {parts['ratio']:>7.2f}{interval:<6}  {said}")
    print(f"\n{counts['within']} within {LOW}-{HIGH}, {counts['unsure']} unsure,"
          f" {counts['MISS']} missed")
    sys.exit(1 if counts["MISS"] else 0)


if __name__ == "__main__":
    main()
