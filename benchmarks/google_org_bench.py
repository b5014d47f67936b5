"""A Google Workspace organisation against the loopback Workspace fake: per-owner cost.

N owners (each with R weekly 1on1 series) are read through ``GoogleTenant`` (a service
account with domain-wide delegation) from W worker threads, as the organisation run
does: first sync, then a steady run from a fresh tenant (tokens from the token cache,
sync tokens from each owner's state). Reported per phase: wall time, HTTP requests per
owner (tokens included), token requests, and the client's CPU per owner for ``open`` +
fetch + close (thread CPU time of the worker threads, so the in-process fake's own work
is not counted). The steady run is repeated with every owner building its own APIs and
connections (``shared=None``, as before organisation runs) to show what sharing saves.

Run: .venv/bin/python benchmarks/google_org_bench.py [--owners 300] [--series 8]
     [--workers 16] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from calsync.backends.base import Window  # noqa: E402
from calsync.backends.google.calendar import GoogleProvider  # noqa: E402
from calsync.backends.google.config import GoogleOrg  # noqa: E402
from calsync.backends.google.service_account import DIRECTORY_SCOPES, owner_scopes  # noqa: E402
from calsync.backends.google.tenant import GoogleTenant  # noqa: E402
from calsync.backends.org import Member  # noqa: E402
from calsync.config import Owner  # noqa: E402
from calsync.core.state import MemoryState  # noqa: E402
from tests.fakes.google_tenant import FakeWorkspace  # noqa: E402

NOW = datetime.fromisoformat("2026-03-02T09:00:00+00:00")
WINDOW = Window(NOW - timedelta(days=60), NOW + timedelta(days=28))


def ics(me: str, series: int) -> str:
    out = ["BEGIN:VCALENDAR", "VERSION:2.0"]
    for i in range(series):
        peer = f"r{i}-{me}"
        out += ["BEGIN:VEVENT", f"UID:{me}-{i}", f"SUMMARY:{peer} / {me} 1on1",
                f"DTSTART:202601{5 + i % 5:02d}T{9 + i % 8:02d}0000Z",
                f"DTEND:202601{5 + i % 5:02d}T{9 + i % 8:02d}3000Z",
                "RRULE:FREQ=WEEKLY;COUNT=12", f"ORGANIZER:mailto:{me}",
                f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{me}",
                f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{peer}", "END:VEVENT"]
    return "\r\n".join([*out, "END:VCALENDAR", ""])


def serve(conn: Any, key: str, owners: int, series: int) -> None:
    """The child process: the Workspace fake, seeded, answering until told to stop."""
    fake = FakeWorkspace().start()
    fake.add_service_account(Path(key), [*owner_scopes(False), *DIRECTORY_SCOPES])
    for me in people(owners):
        fake.add_user(me)
        fake.seed_ics(ics(me, series), [me])
    conn.send(fake.base)
    while True:
        cmd, arg = conn.recv()
        if cmd == "stop":
            break
        if cmd == "latency":
            fake.latency = arg
        conn.send(None)
    fake.stop()


def people(n: int) -> list[str]:
    return [f"m{i:05d}@example.com" for i in range(n)]


def phase(tenant: GoogleTenant, owners: list[str], states: dict[str, MemoryState],
          workers: int, shared: bool) -> dict[str, float]:
    """Every owner opened, fetched and closed on ``workers`` threads."""
    calls: list[int] = []

    def one(me: str) -> None:
        cal = tenant.calendar(Member(me))
        owner = Owner((me,), "UTC")
        if shared:
            p = tenant.open(cal, owner, states[me], NOW)
        else:
            p = GoogleProvider(cal, owner, states[me], NOW, retry=tenant.retry,
                               login=tenant.login(me, cal.name))
        p.fetch(WINDOW)
        p.close()
        calls.append(p.requests)

    cpu = time.process_time()
    t = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, owners))
    wall = time.perf_counter() - t
    cpu = time.process_time() - cpu
    tenant.cache.flush()
    return {"wall": wall, "api": sum(calls), "tokens": tenant.cache.issued,
            "cpu_ms": 1000 * cpu / len(owners)}


def fleet_phase(org: GoogleOrg, latency: float, conn: Any, db: Path) -> dict[str, float]:
    """One organisation run (calsync.app.fleet) over every owner, as ``calsync run`` does."""
    from calsync.app import fleet
    from calsync.app.store_owners import SqliteOwners
    from calsync.config import parse

    conn.send(("latency", latency))
    conn.recv()
    config = parse({"organizations": [{
        "provider": "google", "name": org.name, "service_account": str(org.service_account),
        "members": list(people(ORG_SIZE[0])), "api_url": org.api_url, "timezone": "UTC",
        "concurrency": org.concurrency}]}, db.with_name("config.toml"))
    opened: list[GoogleTenant] = []

    def opener(o: Any) -> GoogleTenant:
        opened.append(GoogleTenant(o))
        return opened[-1]

    stores = SqliteOwners(db)
    cpu, t = time.process_time(), time.perf_counter()
    try:
        report = fleet.run_all(config, NOW, stores, opener=opener)
    finally:
        stores.close()
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    done = report.orgs[0]
    return {"wall": wall, "api": done.requests - opened[0].cache.issued,
            "tokens": opened[0].cache.issued, "cpu_ms": 1000 * cpu / ORG_SIZE[0],
            "failures": len(report.merged().failures)}


ORG_SIZE = [0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--owners", type=int, default=1000)
    ap.add_argument("--series", type=int, default=8)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--fleet", action="store_true",
                    help="whole organisation runs (calsync.app.fleet) instead of fetches")
    args = ap.parse_args()
    ORG_SIZE[0] = args.owners
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CALSYNC_HOME"] = str(Path(tmp) / "home")
        key = Path(tmp) / "sa.json"
        ctx = multiprocessing.get_context("fork")
        conn, child_conn = ctx.Pipe()
        child = ctx.Process(target=serve, args=(child_conn, str(key), args.owners, args.series))
        t = time.perf_counter()
        child.start()
        base = conn.recv()
        seeded = time.perf_counter() - t
        owners = people(args.owners)
        org = GoogleOrg(name="bench", provider="google", service_account=key,
                        api_url=base, concurrency=args.workers)
        states = {me: MemoryState() for me in owners}
        rows: list[tuple[str, dict[str, float]]] = []

        def run(label: str, shared: bool = True, latency: float = 0.0) -> None:
            conn.send(("latency", latency))
            conn.recv()
            tenant = GoogleTenant(org)
            result = phase(tenant, owners, states, args.workers, shared)
            tenant.close()
            rows.append((label, result))

        try:
            if args.fleet:
                db = Path(tmp) / "state.sqlite3"
                rows.append(("fleet run, first", fleet_phase(org, 0.0, conn, db)))
                rows.append(("fleet run, steady", fleet_phase(org, 0.0, conn, db)))
                rows.append((f"fleet run, steady, {args.latency * 1000:.0f} ms per request",
                             fleet_phase(org, args.latency, conn, db)))
                return report(args, seeded, rows)
            run("first sync (no token cache)")
            run("steady state, shared APIs (this build)")
            run("steady state, APIs built per owner (before)", shared=False)
            run(f"steady state, {args.latency * 1000:.0f} ms per request", latency=args.latency)
        finally:
            conn.send(("stop", None))
            child.join()
    report(args, seeded, rows)


def report(args: Any, seeded: float, rows: list[tuple[str, dict[str, float]]]) -> None:
    print(f"{args.owners} owners × {args.series} series, {args.workers} workers, fake in its "
          f"own process (seeded in {seeded:.1f} s)\n")
    print("| phase | wall | API requests/owner (no tokens) | token requests | client CPU/owner |")
    print("|---|---|---|---|---|")
    for label, r in rows:
        print(f"| {label} | {r['wall']:.2f} s | {r['api'] / args.owners:.2f} | "
              f"{r['tokens']:.0f} | {r['cpu_ms']:.2f} ms |")
    steady = rows[-1][1]
    print(f"\n10,000 owners at the last rate: {steady['wall'] / args.owners * 10_000:.0f} s; "
          f"latency floor (requests × latency ÷ workers): "
          f"{steady['api'] / args.owners * args.latency / args.workers * 10_000:.0f} s; "
          f"client CPU: {steady['cpu_ms'] * 10:.0f} s")


if __name__ == "__main__":
    main()
