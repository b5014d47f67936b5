"""Many calendars per run (issue 16): wall time and peak RSS of `status`, first `run`
and steady `run` at 1/50/200 calendars, and what a steady `run` writes to the state
database (write transactions committed, rows changed).

Each calendar is its own .ics file with a few weekly 1on1 series (the synthetic shape),
so the total grows with the number of calendars and a flat RSS means each calendar's
read is dropped before the next is read.

Run: .venv/bin/python benchmarks/calendars_bench.py [--calendars 1,50,200] [--series 5]
     [--years 1] [--repeat 5] [--tree DIR ...] [--status-only]

Each ``--tree`` is a source checkout to measure (default: this one); several are
measured in turn inside each repetition, so a before/after comparison shares the
machine's load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import calendar  # noqa: E402

NOW = "2026-11-25T09:00:00+01:00"

_TIMED = (
    "import os, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"
    "print(time.perf_counter() - t, usage.ru_maxrss, os.waitstatus_to_exitcode(status))\n"
)

# Counts write transactions the way SQLite commits them: an explicit COMMIT after rows
# changed, or one statement that changed rows outside a transaction (autocommit: its
# own fsync). A COMMIT with no change since BEGIN writes nothing and is not counted.
_COUNTED = """
import sys
from datetime import datetime
from calsync.app import store as store_mod
from calsync.app.run import run
from calsync.config import load
from calsync.paths import data_dir

stats = {"commits": 0, "rows": 0}
store = store_mod.Store(data_dir() / "state.sqlite3")
db = store.db
before = db.total_changes
state = {"in_tx": False, "begun": db.total_changes}

def trace(sql):
    word = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    if word == "BEGIN":
        state["in_tx"], state["begun"] = True, db.total_changes
    elif word in ("COMMIT", "END"):
        state["in_tx"] = False
        stats["commits"] += db.total_changes > state["begun"]
    elif word == "ROLLBACK":
        state["in_tx"] = False

class Counting:
    def __init__(self, real):
        self.real = real
    def execute(self, sql, *args):
        was = state["in_tx"]
        n = self.real.total_changes
        cur = self.real.execute(sql, *args)
        if not was and not state["in_tx"] and self.real.total_changes > n:
            stats["commits"] += 1
        return cur
    def __getattr__(self, name):
        return getattr(self.real, name)

db.set_trace_callback(trace)
store.db = Counting(db)
from pathlib import Path
config = load(Path(sys.argv[1]))
report = run(config, datetime.fromisoformat(sys.argv[2]), store)
print(stats["commits"], db.total_changes - before,
      sum(1 for c in report.changes), len(report.failures))
"""


def build(folder: Path, calendars: int, series: int, years: int) -> Path:
    end = datetime(2026, 11, 25, 9, 0)
    lines = ['language = "en"', "[owner]", 'email = "mgr@example.com"',
             'timezone = "Europe/Berlin"', "[agenda]", 'docs_dir = "docs"']
    text = calendar(series, years, end)
    for i in range(calendars):
        # each calendar its own people, so nothing is shared between calendars
        (folder / f"cal{i}.ics").write_text(text.replace("report", f"c{i}r"), newline="")
        lines += ["[[calendars]]", f'name = "cal{i}"', 'provider = "ics"', f'path = "cal{i}.ics"']
    config = folder / "config.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def timed(cmd: list[str], env: dict[str, str], tree: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process run from ``tree``."""
    out = subprocess.run([sys.executable, "-c", _TIMED, *cmd], env=env, check=True, cwd=tree,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), int(out[1]) / 1024


def med(rows: list[tuple[float, float]]) -> str:
    return (f"{statistics.median(r[0] for r in rows):6.2f} / "
            f"{statistics.median(r[1] for r in rows):5.0f}")


def measure(n: int, trees: list[Path], args: argparse.Namespace) -> None:
    cli = [sys.executable, "-m", "calsync.cli"]
    rows: dict[Path, dict[str, list[tuple[float, float]]]] = {
        t: {"status": [], "first": [], "steady": []} for t in trees}
    counted: dict[Path, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = build(folder, n, args.series, args.years)
        for r in range(args.repeat):
            for k, tree in enumerate(trees):
                env = {**os.environ, "CALSYNC_HOME": str(folder / f"home-s{r}-{k}")}
                rows[tree]["status"].append(
                    timed([*cli, "--config", str(config), "status", "--now", NOW], env, tree))
                if args.status_only:
                    continue
                work = folder / f"w{r}-{k}"
                work.mkdir()
                conf = build(work, n, args.series, args.years)
                env = {**os.environ, "CALSYNC_HOME": str(work / "home")}
                run = [*cli, "--config", str(conf), "run", "--now", NOW]
                rows[tree]["first"].append(timed(run, env, tree))
                rows[tree]["steady"].append(timed(run, env, tree))
                if r == 0:  # in-process, to see each statement
                    done = subprocess.run(
                        [sys.executable, "-c", _COUNTED, str(conf), NOW], env=env, cwd=tree,
                        capture_output=True, text=True)
                    if done.returncode:
                        raise SystemExit(done.stderr)
                    counted[tree] = done.stdout.split()
    for tree in trees:
        got = rows[tree]
        if args.status_only:
            print(f"{n:9d}  {med(got['status'])}   {tree.name}", flush=True)
            continue
        print(f"{n:9d}  {med(got['status'])}     {med(got['first'])}        "
              f"{med(got['steady'])}         {counted[tree][0]} / {counted[tree][1]}"
              f"   {tree.name if len(trees) > 1 else ''}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calendars", default="1,50,200")
    ap.add_argument("--series", type=int, default=5)
    ap.add_argument("--years", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--tree", type=Path, action="append")
    ap.add_argument("--status-only", action="store_true")
    args = ap.parse_args()
    trees = [t.resolve() for t in args.tree or [Path(__file__).resolve().parent.parent]]
    print(f"{args.series} series x {args.years} y per calendar; median of {args.repeat}; "
          f"load {os.getloadavg()[0]:.1f}")
    print("calendars  status s / MiB   first run s / MiB   steady run s / MiB   "
          "steady commits / rows changed")
    for n in (int(x) for x in args.calendars.split(",")):
        measure(n, trees, args)
    print(f"load {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
