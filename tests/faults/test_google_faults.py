"""The Google fault matrix, sampled: every fault kind at every 22nd request of both phases.

The whole matrix (every request index) is benchmarks/fault_matrix.py; see tests/faults/matrix.py.
"""

from __future__ import annotations

from pathlib import Path

from tests.faults.matrix import KINDS, matrix


def test_every_sampled_cell_converges(tmp_path: Path) -> None:
    out = matrix(tmp_path, KINDS, stride=22)
    print(f"\nGoogle fault matrix (sampled): {out.tried} cells tried, {out.converged} converged")
    assert out.tried >= 5 * len(KINDS)
    assert out.failures == [], "\n".join(out.failures or [])
    assert out.converged == out.tried
