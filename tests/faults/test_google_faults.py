"""The Google fault matrix, sampled: every fault kind at every 22nd request of both phases.

The whole matrix (every request index) is benchmarks/fault_matrix.py; see tests/faults/matrix.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.faults.matrix import KINDS, World, baseline, matrix


def test_every_sampled_cell_converges(tmp_path: Path) -> None:
    out = matrix(tmp_path, KINDS, stride=22)
    print(f"\nGoogle fault matrix (sampled): {out.tried} cells tried, {out.converged} converged")
    assert out.tried >= 5 * len(KINDS)
    assert out.failures == [], "\n".join(out.failures or [])
    assert out.converged == out.tried


def test_a_doc_whose_create_answer_was_lost_is_neither_resent_nor_made_again(
    tmp_path: Path,
) -> None:
    """The cells the full matrix found: the connection drops after Drive created a doc."""
    wants, _ = baseline(tmp_path / "baseline")
    w = World(tmp_path / "w")
    try:
        w.fake.fault_at = lambda i, method, path: (
            "reset" if method == "POST" and path == "/drive/v3/files" and not creates() else None
        )

        def creates() -> list[dict[str, Any]]:
            return [e for e in w.fake.log[:-1]
                    if e["method"] == "POST" and e["path"] == "/drive/v3/files"]

        assert w.run() == 4  # that pair's agenda waits; the others are written
        w.fake.fault_at = None
        first = [e["body"]["appProperties"] for e in creates()]
        assert len(first) == len(set(map(str, first)))  # no pair's doc was asked for twice
        assert w.run() == 0
        tags = [f["appProperties"]["calsync-key"] for f in w.fake.files.values()]
        assert sorted(tags) == sorted(set(tags))  # one doc per pair: the lost one was found
        assert w.check(wants[0]) == []
    finally:
        w.close()
