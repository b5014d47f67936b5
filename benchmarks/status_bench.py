"""Wall time and peak memory of `calsync status` and `calsync run` on a synthetic
200-series calendar, and the cost of `calsync --help` (which must import no provider
library).

Run: .venv/bin/python benchmarks/status_bench.py [--series 200] [--years 3] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import calendar  # noqa: E402

NOW = "2026-11-25T09:00:00+01:00"


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child process."""
    code = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *cmd], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), int(out[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=200)
    ap.add_argument("--years", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    exe = str(Path(sys.executable).with_name("calsync"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "cal.ics").write_text(calendar(args.series, args.years))
        (folder / "config.toml").write_text(
            '[owner]\nemail = "mgr@example.com"\n\n[[calendars]]\nprovider = "ics"\npath = "cal.ics"\n'
        )
        env = {**os.environ, "CALSYNC_HOME": str(folder / "home")}
        status = [timed([exe, "--config", str(folder / "config.toml"), "status", "--now", NOW,
                         "--format", "json"], env) for _ in range(args.repeat)]
        helps = [timed([exe, "--help"], env) for _ in range(args.repeat)]
        bare = [timed([sys.executable, "-c", "pass"], env) for _ in range(args.repeat)]
        probe = subprocess.run(
            [sys.executable, "-c",
             "import sys; from calsync.cli.main import main\n"
             "try: main(['--help'])\nexcept SystemExit: pass\n"
             "print([m for m in ('googleapiclient','msal','httpx','icalendar') if m in sys.modules])"],
            capture_output=True, text=True, env=env).stdout.strip().splitlines()[-1]
        size = (folder / "cal.ics").stat().st_size
        run = [exe, "--config", str(folder / "config.toml"), "run", "--now", NOW]
        first_run = timed(run, env)  # writes the next occurrence of every series
        written = (folder / "cal.ics").stat().st_size
        steady = [timed(run, env) for _ in range(args.repeat)]
        unchanged = (folder / "cal.ics").stat().st_size == written
    med = statistics.median
    print(f"calendar: {args.series} weekly series over {args.years} years, {size / 1024:.0f} KiB")
    print(f"status (180-day window): median {med(s[0] for s in status):.3f} s, "
          f"peak RSS {max(s[1] for s in status) / 1024:.0f} MiB over {args.repeat} runs")
    print(f"run, first (writes the next occurrence of {args.series} series): {first_run[0]:.3f} s, "
          f"peak RSS {first_run[1] / 1024:.0f} MiB; file {size / 1024:.0f} → {written / 1024:.0f} KiB")
    print(f"run, steady state: median {med(s[0] for s in steady):.3f} s over {args.repeat} runs; "
          f"file unchanged: {unchanged}")
    print(f"--help: median {med(h[0] for h in helps) * 1000:.0f} ms "
          f"(bare python: {med(b[0] for b in bare) * 1000:.0f} ms); heavy modules imported: {probe}")


if __name__ == "__main__":
    main()
