"""The whole Google fault matrix: every fault kind at every request index of both phases.

    .venv/bin/python benchmarks/fault_matrix.py [STRIDE]

Prints cells tried, cells converged, the failures, and the time taken.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.faults.matrix import KINDS, matrix  # noqa: E402


def main() -> None:
    stride = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = matrix(Path(tmp), KINDS, stride=stride)
    print(f"Google fault matrix: {out.tried} cells tried ({len(KINDS)} fault kinds), "
          f"{out.converged} converged, {time.perf_counter() - started:.0f} s")
    for line in out.failures or []:
        print("  " + line)


if __name__ == "__main__":
    main()
