#!/usr/bin/env python3
"""Runs e2e bench binaries in turn, N rounds, and prints each run and the medians.

On a machine of two noisy cores one run of `cargo bench --bench e2e` varies by a third; the
figures in BENCHMARKS.md are medians of binaries taking turns, made by this script:

    cargo bench --bench e2e --no-run            # prints the binary's path
    cp target/release/deps/e2e-<hash> /tmp/e2e-before
    ... change, build again ...
    scripts/e2e_rounds.py 4 /tmp/e2e-before target/release/deps/e2e-<hash>

A binary may be a wrapper script that sets the bench's variables (E2E_IN_FLIGHT=4 ...).
Per run: % of the raw loop and CPU µs/event for 1 and 2 producers; then per binary the
medians, and 2 producers / 1 producer (the median of each run's ratio).
"""

import re
import statistics
import subprocess
import sys
from pathlib import Path

LINE = re.compile(
    r"(\d) producer\(s\):\s+(\d+) events/s\s+\((\d+)% of raw\)\s+CPU ([\d.]+)"
)


def run(binary):
    """One bench run: {producers: (rate, pct, cpu)}."""
    out = subprocess.run([binary, "--bench"], capture_output=True, text=True, check=True).stdout
    runs = {}
    for m in LINE.finditer(out):
        runs[int(m[1])] = (float(m[2]), float(m[3]), float(m[4]))
    if set(runs) != {1, 2}:
        sys.exit(f"{binary}: no 1- and 2-producer lines in its output:\n{out}")
    return runs


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    rounds, binaries = int(sys.argv[1]), sys.argv[2:]
    seen = {b: [] for b in binaries}
    print("binary  %raw(1) cpu(1)  %raw(2) cpu(2)  2/1")
    for _ in range(rounds):
        for b in binaries:
            r = run(b)
            seen[b].append(r)
            print(
                f"{Path(b).name}  {r[1][1]:.0f} {r[1][2]:.2f}  {r[2][1]:.0f} {r[2][2]:.2f}"
                f"  {r[2][0] / r[1][0]:.2f}",
                flush=True,
            )
    print("--- medians: %raw(1) (min-max) cpu(1)  %raw(2) cpu(2)  2/1")
    for b, runs in seen.items():
        pct1 = [r[1][1] for r in runs]
        med = lambda xs: statistics.median(xs)  # noqa: E731
        print(
            f"{Path(b).name}  {med(pct1):.1f} ({min(pct1):.0f}-{max(pct1):.0f})"
            f" {med([r[1][2] for r in runs]):.2f}"
            f"  {med([r[2][1] for r in runs]):.1f} {med([r[2][2] for r in runs]):.2f}"
            f"  {med([r[2][0] / r[1][0] for r in runs]):.2f}"
        )


if __name__ == "__main__":
    main()
