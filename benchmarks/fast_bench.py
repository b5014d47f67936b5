"""How much faster than the naive read calsync is, and how that holds as the calendar grows
(issue "Fast by design").

For each size (weekly 1on1 series × years of history, with a real calendar's noise:
team meetings, focus blocks, all-day events, ad-hoc 1on1s; see synthetic.py) this
measures, in fresh processes, against the *floor* measured in the same run (icalendar
parse + recurring-ical-events expansion of calsync's own window, nothing else):

- ``status`` cold (no cache: the prefilter and the parse of what it kept) and warm
  (the cache of the normalised read);
- ``run``, first (writes the next occurrence of every series, creates every doc) and
  steady (nothing new: writes nothing, the file stays byte-identical).

Each figure is the median of ``--repeat`` runs (at least 5), as CPU seconds of the child
(user + sys: steadier than wall time on a shared machine) and wall seconds, with the
peak RSS. Ratios are CPU / CPU of the floor.

Run: .venv/bin/python benchmarks/fast_bench.py [--series 50 200 800] [--years 1 3 6]
     [--first-years 3] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import calendar  # noqa: E402

NOW = "2026-11-25T09:00:00+01:00"
LOOKBACK = 180  # calsync's default window: 180 days back and ahead
FLOOR = """
import sys
from datetime import datetime, timedelta
import icalendar, recurring_ical_events
now = datetime.fromisoformat(sys.argv[2])
with open(sys.argv[1], encoding="utf-8") as fh:
    cal = icalendar.Calendar.from_ical(fh.read())
list(recurring_ical_events.of(cal).between(now - timedelta(days=180), now + timedelta(days=180)))
"""
MEASURE = """
import resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
wall = time.perf_counter() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(wall, r.ru_utime + r.ru_stime, r.ru_maxrss)
"""


@dataclass(frozen=True)
class Sample:
    wall: float
    cpu: float
    rss_kib: int


def measure(cmd: list[str], env: dict[str, str]) -> Sample:
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return Sample(float(out[0]), float(out[1]), int(out[2]))


@dataclass(frozen=True)
class Figure:
    cpu: float
    wall: float
    rss_mib: float

    @classmethod
    def of(cls, samples: list[Sample]) -> Figure:
        return cls(statistics.median(s.cpu for s in samples),
                   statistics.median(s.wall for s in samples),
                   max(s.rss_kib for s in samples) / 1024)


class Bench:
    def __init__(self, folder: Path, series: int, years: int) -> None:
        self.folder = folder
        self.cal = folder / "cal.ics"
        self.cal.write_text(calendar(series, years, noise=True), encoding="utf-8")
        self.pristine = self.cal.read_bytes()
        self.config = folder / "config.toml"
        self.config.write_text('[owner]\nemail = "mgr@example.com"\ntimezone = "Europe/Berlin"\n\n'
                               '[[calendars]]\nprovider = "ics"\npath = "cal.ics"\n', encoding="utf-8")
        self.home = folder / "home"
        self.env = {**os.environ, "CALSYNC_HOME": str(self.home)}
        self.exe = str(Path(sys.executable).with_name("calsync"))

    def calsync(self, *args: str) -> list[str]:
        return [self.exe, "--config", str(self.config), *args, "--now", NOW]

    def floor(self, n: int) -> Figure:
        return Figure.of([measure([sys.executable, "-c", FLOOR, str(self.cal), NOW], self.env)
                          for _ in range(n)])

    def status(self, n: int, warm: bool) -> Figure:
        samples = []
        for _ in range(n):
            if not warm:
                shutil.rmtree(self.home / "cache", ignore_errors=True)
            samples.append(measure(self.calsync("status", "--format", "json"), self.env))
        return Figure.of(samples)

    def first_run(self, n: int) -> Figure:
        samples = []
        for _ in range(n):
            self.cal.write_bytes(self.pristine)
            shutil.rmtree(self.home, ignore_errors=True)
            shutil.rmtree(self.folder / "docs", ignore_errors=True)
            samples.append(measure(self.calsync("run"), self.env))
        return Figure.of(samples)

    def steady_run(self, n: int) -> tuple[Figure, bool]:
        before = self.cal.read_bytes()
        fig = Figure.of([measure(self.calsync("run"), self.env) for _ in range(n)])
        return fig, self.cal.read_bytes() == before


def row(label: str, fig: Figure, floor: Figure) -> str:
    return (f"| {label} | {fig.cpu / floor.cpu:.2f}× | {fig.cpu:.2f} s | {fig.wall:.2f} s "
            f"| {fig.rss_mib:.0f} MiB |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, nargs="+", default=[50, 200, 800])
    ap.add_argument("--years", type=int, nargs="+", default=[1, 3, 6])
    ap.add_argument("--first-years", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    n = max(5, args.repeat)
    print("| size | what | × floor (CPU) | CPU | wall | peak RSS |")
    print("|---|---|---|---|---|---|")
    for series in args.series:
        for years in args.years:
            with tempfile.TemporaryDirectory() as tmp:
                bench = Bench(Path(tmp), series, years)
                size = f"{series}×{years}y, {len(bench.pristine) // 1024} KiB"
                floor = bench.floor(n)
                print(f"| {size} | naive floor | 1.00× | {floor.cpu:.2f} s | {floor.wall:.2f} s "
                      f"| {floor.rss_mib:.0f} MiB |")
                print(row(size, bench.status(n, warm=False), floor).replace(
                    f"| {size} |", f"| {size} | status, cold |"), flush=True)
                bench.status(1, warm=False)
                print(row(size, bench.status(n, warm=True), floor).replace(
                    f"| {size} |", f"| {size} | status, warm |"), flush=True)
                first = bench.first_run(n if years == args.first_years else 1)
                if years == args.first_years:
                    print(row(size, first, floor).replace(f"| {size} |", f"| {size} | run, first |"))
                steady, unchanged = bench.steady_run(n)
                print(row(size, steady, floor).replace(
                    f"| {size} |", f"| {size} | run, steady (file unchanged: {unchanged}) |"),
                    flush=True)
                if years == args.first_years:
                    print(f"| {size} | first ÷ steady | {first.cpu / steady.cpu:.2f}× | | | |")


if __name__ == "__main__":
    main()
