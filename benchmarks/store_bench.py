"""The state store's cost, SQLite (default) against PostgreSQL (``state_url``, a local
server over loopback TCP, started as the tests start it): time per store operation, and
`calsync run` on the synthetic 200-series calendar, first and steady state.

Run: .venv/bin/python benchmarks/store_bench.py [--ops 2000] [--series 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from synthetic import calendar  # noqa: E402

from calsync.app.store import StateStore, Store  # noqa: E402
from calsync.app.store_pg import PgStore  # noqa: E402
from tests.pg import start_server  # noqa: E402

NOW = "2026-11-25T09:00:00+01:00"
WHEN = datetime(2026, 11, 25, tzinfo=UTC)


def per_op(store: StateStore, ops: int) -> dict[str, float]:
    """Microseconds per call of the operations a run makes most."""
    ns = store.namespace("bench")
    steps: dict[str, Callable[[int], object]] = {
        "kv set": lambda i: ns.set(f"k{i}", "v" * 200),
        "kv get": lambda i: ns.get(f"k{i}"),
        "record_write": lambda i: store.record_write("cal", f"evt{i}", "h" * 64, WHEN),
        "written_hash": lambda i: store.written_hash("cal", f"evt{i}"),
    }
    out = {}
    for name, step in steps.items():
        t = time.perf_counter()
        for i in range(ops):
            step(i)
        out[name] = (time.perf_counter() - t) / ops * 1e6
    t = time.perf_counter()
    with store.transaction():
        for i in range(ops):
            ns.set(f"t{i}", "v" * 200)
    out["kv set in a transaction"] = (time.perf_counter() - t) / ops * 1e6
    return out


def runs(folder: Path, state_url: str | None, repeat: int) -> tuple[float, float]:
    """Wall seconds of the first `calsync run` and the median steady-state one."""
    case = folder / ("pg" if state_url else "sqlite")
    case.mkdir()
    (case / "cal.ics").write_text((folder / "cal.ics").read_text())
    config = case / "config.toml"
    config.write_text((f'state_url = "{state_url}"\n' if state_url else "")
                      + '[owner]\nemail = "mgr@example.com"\n\n[[calendars]]\nprovider = "ics"\n'
                      'path = "cal.ics"\n')
    config.chmod(0o600)
    env = {**os.environ, "CALSYNC_HOME": str(case / "home")}
    cmd = [str(Path(sys.executable).with_name("calsync")), "--config", str(config), "run",
           "--now", NOW]

    def once() -> float:
        t = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t

    first = once()
    return first, statistics.median(once() for _ in range(repeat))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=2000)
    ap.add_argument("--series", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    server = start_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            stores: dict[str, StateStore] = {
                "SQLite": Store(folder / "ops" / "state.sqlite3"),
                "PostgreSQL": PgStore(server.url(server.new_database()), "mgr@example.com"),
            }
            print(f"per operation, microseconds (mean of {args.ops}):")
            for name, store in stores.items():
                figures = ", ".join(f"{k} {v:.0f}" for k, v in per_op(store, args.ops).items())
                print(f"  {name}: {figures}")
                store.close()
            (folder / "cal.ics").write_text(calendar(args.series, 3))
            print(f"calsync run, {args.series} series (first; steady state median of {args.repeat}):")
            for name, url in (("SQLite", None), ("PostgreSQL", server.url(server.new_database()))):
                first, steady = runs(folder, url, args.repeat)
                print(f"  {name}: {first:.2f} s; {steady:.2f} s")
    finally:
        server.ctl("-m", "immediate", "stop")


if __name__ == "__main__":
    main()
