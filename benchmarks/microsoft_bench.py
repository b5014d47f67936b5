"""Requests and wall time of the Microsoft provider against the TLS loopback fake.

The synthetic manager calendar shared with the other benchmarks (200 weekly 1on1 series
over 3 years, every 10th with deleted and moved occurrences) is served through Graph by
tests/fakes/microsoft.py, and read through the real msal and httpx:

1. in process: the provider's fetch of the run window — first sync, steady state, after
   one change — and a first sync of the whole 3 years;
2. as cron would: `calsync status` and `calsync run` as subprocesses with SQLite state,
   beside `python -c "import msal, httpx"` in the same run.

Run: .venv/bin/python benchmarks/microsoft_bench.py [--series 200] [--years 3] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
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
from calsync.backends.microsoft.calendar import MicrosoftProvider  # noqa: E402
from calsync.backends.microsoft.setup import setup  # noqa: E402
from calsync.config import load  # noqa: E402
from calsync.core.state import MemoryState  # noqa: E402
from tests.fakes.microsoft import FakeMicrosoft, make_tls  # noqa: E402

NOW = "2026-11-25T09:00:00+01:00"
OWNER = "mgr@example.com"




def counts(fake: FakeMicrosoft) -> tuple[int, int, int]:
    """(Graph requests, of which writes, identity-platform requests)."""
    graph = fake.graph_requests()
    writes = sum(1 for r in graph if r.method != "GET")
    identity = sum(1 for r in fake.log if not r.graph and not r.path.startswith("/download/"))
    return len(graph), writes, identity


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=200)
    ap.add_argument("--years", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    now = datetime.fromisoformat(NOW)
    rows: list[tuple[str, ...]] = []
    ca, server_ctx = make_tls()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ca_file = folder / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
            os.environ[var] = str(ca_file)
        os.environ["CALSYNC_HOME"] = str(folder / "home")
        fake = FakeMicrosoft(user_email=OWNER, user_name="Manager").start(server_ctx)
        t = time.perf_counter()
        fake.seed_ics(calendar(args.series, args.years, now.replace(tzinfo=None)),
                      default_tz="Europe/Berlin")
        seeded = time.perf_counter() - t
        config_path = folder / "config.toml"
        config_path.write_text(
            f'[owner]\nemail = "{OWNER}"\ntimezone = "Europe/Berlin"\n\n'
            f'[[calendars]]\nname = "work"\nprovider = "microsoft"\nclient_id = "bench"\n'
            f'authority_url = "{fake.base}"\ngraph_url = "{fake.graph_url}"\n'
        )
        setup(config_path, None, "organizations", browser=False, read_only=False,
              echo=lambda s: None)
        config = load(config_path)
        cal = config.calendars[0]
        span = window(config, now)

        # -- 1. in process --------------------------------------------------------------
        def fetch(state: MemoryState, w: Window) -> tuple[int, int, int, float, int]:
            fake.log.clear()
            t = time.perf_counter()
            p = MicrosoftProvider(cal, config.owner, state, now)
            n = len(p.fetch(w).occurrences)
            p.close()
            elapsed = time.perf_counter() - t
            return (*counts(fake), elapsed, n)

        state = MemoryState()
        for label, prep in (
            ("first sync (run window)", None),
            ("steady state, nothing changed", None),
            ("after one change", "edit"),
        ):
            if prep == "edit":
                master = next(e for e in fake.events.values() if e["type"] == "seriesMaster")
                slot = master["_start"]
                while slot < now:
                    slot += timedelta(weeks=1)
                fake.edit(fake.occurrence_id(master["id"], slot), subject="moved by a person")
            reqs, writes, ident, elapsed, n = fetch(state, span)
            rows.append((label, f"{reqs} ({writes} writes)", str(ident),
                         f"{elapsed * 1000:.0f} ms", f"{n} occurrences"))
        whole = Window(now - timedelta(days=365 * args.years), now + timedelta(days=28))
        reqs, writes, ident, elapsed, n = fetch(MemoryState(), whole)
        rows.append((f"first sync, all {args.years} years", f"{reqs} ({writes} writes)",
                     str(ident), f"{elapsed * 1000:.0f} ms", f"{n} occurrences"))
        state_kb = sum(len(v) for v in state.data.values()) / 1024

        # -- 2. as cron runs it ---------------------------------------------------------
        exe = str(Path(sys.executable).with_name("calsync"))
        env = dict(os.environ)
        status = [exe, "--config", str(config_path), "status", "--now", NOW, "--format", "json"]
        run = [exe, "--config", str(config_path), "run", "--now", NOW]
        cron: list[tuple[str, ...]] = []

        def cron_row(label: str, cmd: list[str], repeat: int = 1) -> None:
            fake.log.clear()
            elapsed = median_of(lambda: wall(cmd, env), repeat)
            reqs, writes, ident = counts(fake)
            note = f"median of {repeat}" if repeat > 1 else ""
            cron.append((label, f"{reqs / repeat:g} ({writes / repeat:g} writes)",
                         f"{ident / repeat:g}", f"{elapsed * 1000:.0f} ms", note))

        cron_row("`status`, first sync (cold)", status)
        cron_row("`status`, steady state", status, args.repeat)
        cron_row(f"`run`, first (creates {args.series} docs, writes {args.series} agendas)", run)
        cron_row("`run`, second (nothing new)", run)
        cron_row("`run`, steady state", run, args.repeat)
        imp = median_of(lambda: wall([sys.executable, "-c", "import msal, httpx"], env),
                        args.repeat)
        bare = median_of(lambda: wall([sys.executable, "-c", "pass"], env), args.repeat)
        cron.append(('`python -c "import msal, httpx"`', "", "", f"{imp * 1000:.0f} ms",
                     f"median of {args.repeat}"))
        cron.append(('`python -c "pass"`', "", "", f"{bare * 1000:.0f} ms",
                     f"median of {args.repeat}"))
        instances = len(fake.instances(now - timedelta(days=365 * args.years),
                                       now + timedelta(days=28)))
        fake.stop()

    print(f"{args.series} weekly series over {args.years} years: {instances} instances "
          f"served by the fake (seeded in {seeded:.2f} s); run window "
          f"{span.start.date()} .. {span.end.date()}; cached state {state_kb:.0f} KiB\n")
    head = "| {} | Graph requests | identity requests | wall | |"
    print(head.format("provider fetch, in process"))
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    print(head.format("cron-style subprocess (per run)"))
    print("|---|---|---|---|---|")
    for r in cron:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
