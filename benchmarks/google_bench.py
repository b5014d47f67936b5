"""Requests and wall time of the Google provider against the loopback fake.

A synthetic manager calendar (200 weekly 1on1 series over 3 years, shared with the other
benchmarks) is served by tests/fakes/google.py through the real client libraries:

1. in process: the provider's fetch of the run window — first sync, steady state, after
   one change —, a first sync of the whole 3 years, and ``freeBusy.query`` for make-up
   slots (one counterpart; all of them, 50 per request);
2. as cron would: `calsync status` (and `calsync run` when it works) as a subprocess with
   SQLite state, beside `python -c "import googleapiclient.discovery"` in the same run.

Run: .venv/bin/python benchmarks/google_bench.py [--series 200] [--years 3] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import calendar, median_of, wall  # noqa: E402

from calsync.app.engine import window  # noqa: E402
from calsync.backends.base import Window  # noqa: E402
from calsync.backends.google.calendar import GoogleProvider  # noqa: E402
from calsync.config import load  # noqa: E402
from calsync.core.state import MemoryState  # noqa: E402
from tests.fakes.google import FakeGoogle, api_requests  # noqa: E402

NOW = "2026-11-25T09:00:00+01:00"
OWNER = "mgr@example.com"




def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=200)
    ap.add_argument("--years", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    now = datetime.fromisoformat(NOW)
    rows: list[tuple[str, str, str, str]] = []

    with tempfile.TemporaryDirectory() as tmp, FakeGoogle() as fake:
        folder = Path(tmp)
        t = time.perf_counter()
        fake.seed_ics(calendar(args.series, args.years, now.replace(tzinfo=None)), [OWNER],
                      tz="Europe/Berlin", end=now + timedelta(days=365))
        seeded = time.perf_counter() - t
        instances = sum(1 for e in fake.events.values() if e.get("recurringEventId"))
        token = folder / "token.json"
        fake.write_token(token, OWNER)
        config_path = folder / "config.toml"
        config_path.write_text(
            f'[owner]\nemail = "{OWNER}"\ntimezone = "Europe/Berlin"\n\n'
            f'[[calendars]]\nname = "work"\nprovider = "google"\ntoken_file = "{token}"\n'
            f'api_url = "{fake.base}"\n'
        )
        config = load(config_path)
        cal = config.calendars[0]
        span = window(config, now)

        # -- 1. in process --------------------------------------------------------------
        def fetch(state: MemoryState, w: Window) -> tuple[int, int, float, int]:
            fake.log.clear()
            p = GoogleProvider(cal, config.owner, state, now)
            t = time.perf_counter()
            n = len(p.fetch(w).occurrences)
            p.close()
            elapsed = time.perf_counter() - t
            calls = api_requests(fake)
            writes = sum(1 for c in calls if c["method"] != "GET")
            return len(calls), writes, elapsed, n

        state = MemoryState()
        for label, prep in (
            ("first sync (run window)", None),
            ("steady state, nothing changed", None),
            ("after one change", "edit"),
        ):
            if prep == "edit":
                target = next(e for e in fake.events.values() if e.get("recurringEventId")
                              and e["_start"] > now)
                fake.edit(target["id"], description="edited by a person")
            reqs, writes, elapsed, n = fetch(state, span)
            rows.append((label, f"{reqs} ({writes} writes)", f"{elapsed * 1000:.0f} ms",
                         f"{n} occurrences"))
        whole = Window(now - timedelta(days=365 * args.years), now + timedelta(days=28))
        reqs, writes, elapsed, n = fetch(MemoryState(), whole)
        rows.append((f"first sync, all {args.years} years", f"{reqs} ({writes} writes)",
                     f"{elapsed * 1000:.0f} ms", f"{n} occurrences"))
        state_kb = sum(len(v) for v in state.data.values()) / 1024
        people = sorted({a["email"] for e in fake.events.values() for a in e.get("attendees") or []
                         if a["email"] != OWNER})
        for who in people:
            fake.add_calendar(who)  # their own calendars are visible: busy times come back
        for label, asked in (("free/busy of 1 counterpart (make-up slots)", people[:1]),
                             (f"free/busy of {len(people)} counterparts", people)):
            fake.log.clear()
            p = GoogleProvider(cal, config.owner, MemoryState(), now)
            t = time.perf_counter()
            found = p.busy(asked, now, now + timedelta(days=5))
            elapsed = time.perf_counter() - t
            spans = sum(len(v) for v in found.values())
            rows.append((label, f"{len(api_requests(fake))} (0 writes)",
                         f"{elapsed * 1000:.0f} ms", f"{spans} busy spans"))

        # -- 2. as cron runs it ---------------------------------------------------------
        exe = str(Path(sys.executable).with_name("calsync"))
        env = {**os.environ, "CALSYNC_HOME": str(folder / "home")}
        status = [exe, "--config", str(config_path), "status", "--now", NOW, "--format", "json"]
        run = [exe, "--config", str(config_path), "run", "--now", NOW]
        cron: list[tuple[str, str, str, str]] = []
        fake.log.clear()
        first = wall(status, env)
        cron.append(("`status`, first sync (cold)", str(len(api_requests(fake))),
                     f"{first * 1000:.0f} ms", ""))
        fake.log.clear()
        steady = median_of(lambda: wall(status, env), args.repeat)
        per_run = len(api_requests(fake)) / args.repeat
        cron.append(("`status`, steady state", f"{per_run:g}",
                     f"{steady * 1000:.0f} ms", f"median of {args.repeat}"))
        fake.log.clear()
        t = time.perf_counter()
        ok = subprocess.run(run, env=env, capture_output=True).returncode == 0
        first_run = time.perf_counter() - t
        if ok:
            first_run_calls = api_requests(fake)
            writes = sum(1 for c in first_run_calls if c["method"] != "GET")
            cron.append(("`run`, first (creates 200 docs, writes 200 agendas)",
                         f"{len(first_run_calls)} ({writes} writes)",
                         f"{first_run * 1000:.0f} ms", ""))
            fake.log.clear()
            second = wall(run, env)
            calls = api_requests(fake)
            writes = sum(1 for c in calls if c["method"] != "GET")
            cron.append(("`run`, second (same hour: the Drive change feed is not read)",
                         f"{len(calls)} ({writes} writes)", f"{second * 1000:.0f} ms", ""))
            fake.log.clear()
            steady_run = median_of(lambda: wall(run, env), args.repeat)
            calls = api_requests(fake)
            writes = sum(1 for c in calls if c["method"] != "GET")
            cron.append(("`run`, steady state", f"{len(calls) / args.repeat:g} "
                         f"({writes} writes)", f"{steady_run * 1000:.0f} ms",
                         f"median of {args.repeat}"))
        imp = median_of(lambda: wall([sys.executable, "-c", "import googleapiclient.discovery"],
                                     env), args.repeat)
        bare = median_of(lambda: wall([sys.executable, "-c", "pass"], env), args.repeat)
        cron.append(('`python -c "import googleapiclient.discovery"`', "", f"{imp * 1000:.0f} ms",
                     f"median of {args.repeat}"))
        cron.append(('`python -c "pass"`', "", f"{bare * 1000:.0f} ms", f"median of {args.repeat}"))

    print(f"{args.series} weekly series over {args.years} years: {instances} instances "
          f"served by the fake (seeded in {seeded:.1f} s); run window "
          f"{span.start.date()} .. {span.end.date()}; cached state {state_kb:.0f} KiB\n")
    print("| provider fetch, in process | API requests | wall | |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print("\n| cron-style subprocess | API requests per run | wall | |")
    print("|---|---|---|---|")
    for r in cron:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
