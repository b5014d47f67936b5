"""The whole fault matrix: every fault kind at every request index of both phases.

    .venv/bin/python benchmarks/fault_matrix.py [google|microsoft] [STRIDE] [KIND...]

KINDS are the fault kinds to try (default: all), e.g. ``timeout`` or ``500 reset``.

Prints cells tried, cells converged, the failures, and the time taken.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.faults.matrix import KINDS, World, matrix  # noqa: E402


def main() -> None:
    args = sys.argv[1:]
    backend = args.pop(0) if args and not args[0].isdigit() else "google"
    stride = int(args.pop(0)) if args else 1
    kinds = tuple(int(k) if k.isdigit() else k for k in args) or KINDS
    make: type[World] = World
    if backend == "microsoft":
        from tests.faults.ms_world import MsWorld

        make = MsWorld
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = matrix(Path(tmp), kinds, stride=stride, make=make)
    print(f"{backend.capitalize()} fault matrix: {out.tried} cells tried ({len(kinds)} fault "
          f"kinds), {out.converged} converged, {time.perf_counter() - started:.0f} s")
    for line in out.failures or []:
        print("  " + line)


if __name__ == "__main__":
    main()
