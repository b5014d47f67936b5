"""The Microsoft fault matrix, sampled: every fault kind at a stride of request indices.

The whole matrix is ``benchmarks/fault_matrix.py microsoft``; see tests/faults/matrix.py.
"""

from __future__ import annotations

from pathlib import Path

from tests.faults.matrix import KINDS, matrix
from tests.faults.ms_world import MsWorld


def test_every_sampled_cell_converges(tmp_path: Path) -> None:
    out = matrix(tmp_path, KINDS, stride=20, make=MsWorld)
    print(f"\nMicrosoft fault matrix (sampled): {out.tried} cells tried, {out.converged} converged")
    assert out.tried >= 3 * len(KINDS)
    assert out.failures == [], "\n".join(out.failures or [])
    assert out.converged == out.tried
