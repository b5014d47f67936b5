"""What an organisation run's state costs, SQLite (one file, one runner) against PostgreSQL
(``state_url``: a lock per owner, a local server over loopback TCP as the tests start it):
the fleet over the memory tenant (tests/fleet_world.py), first run and steady state, with
the statements (and, for PostgreSQL, round trips and server transactions) per owner.

Run: .venv/bin/python benchmarks/org_store_bench.py [--owners 1000] [--reports 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from calsync.app import fleet  # noqa: E402
from calsync.app.store_owners import OwnerStores, SqliteOwners  # noqa: E402
from calsync.app.store_pg_owners import PgOwners  # noqa: E402
from calsync.config import Config, parse  # noqa: E402
from tests.fleet_world import NOW, MemoryTenant, tenant_with  # noqa: E402
from tests.pg import start_server  # noqa: E402


def world(folder: Path, owners: int, reports: int, workers: int) -> tuple[Config, MemoryTenant]:
    people = [f"owner{i:05d}@corp.example" for i in range(owners)]
    config = parse({"organizations": [{"provider": "google", "name": "eng", "service_account": "sa.json",
                                       "members": people}]}, folder / "config.toml")
    tenant = tenant_with(config.organizations[0],
                         {p: [f"r{j}.{p}" for j in range(reports)] for p in people})
    tenant.workers = workers
    return config, tenant


class Counted:
    """Statements counted on the store's own side of the wire."""

    def __init__(self, stores: OwnerStores) -> None:
        self.stores, self.sqlite = stores, 0
        if isinstance(stores, SqliteOwners):
            stores.store.db.set_trace_callback(self._trace)

    def _trace(self, _: str) -> None:
        self.sqlite += 1

    def statements(self) -> int:
        s = self.stores
        return s.statements if isinstance(s, PgOwners) else self.sqlite


def server_xacts(url: str) -> int:
    """Transactions the server committed in this database (each autocommit statement is one)."""
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("SELECT pg_stat_force_next_flush()")
        time.sleep(0.05)
        row = db.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
                         ).fetchone()
        return int(row[0]) if row else 0


def one(config: Config, tenant: MemoryTenant, make: Callable[[], OwnerStores],
        url: str | None) -> tuple[float, int, int, int]:
    """(seconds, statements, round trips, server transactions) of one fleet run."""
    stores = make()
    counted = Counted(stores)
    before = server_xacts(url) if url else 0
    t = time.perf_counter()
    report = fleet.run_all(config, NOW, stores, opener=lambda org: tenant)
    seconds = time.perf_counter() - t
    stores.close()
    assert report.exit_code() == 0, [str(f) for f in report.failures][:3]
    trips = stores.round_trips if isinstance(stores, PgOwners) else 0
    # each of this benchmark's own two stats queries is a transaction too
    xacts = server_xacts(url) - before - 2 if url else 0
    return seconds, counted.statements(), trips, xacts


def bare_owners(url: str, owners: int, workers: int, connections: int) -> tuple[float, float]:
    """Microseconds per owner (wall, ``workers`` threads; CPU of this process) of the store's
    part alone: lock, read the owner's rows, unlock, for owners the runs above left behind."""
    import resource
    from concurrent.futures import ThreadPoolExecutor

    stores = PgOwners(url, connections=connections)
    people = [f"owner{i:05d}@corp.example" for i in range(owners)]

    def cycle(who: str) -> None:
        with stores.owner(who):
            pass

    cpu = resource.getrusage(resource.RUSAGE_SELF)
    t = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(cycle, people))
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_SELF)
    stores.close()
    used = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    return wall / owners * 1e6, used / owners * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--owners", type=int, default=1000)
    ap.add_argument("--reports", type=int, default=8)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    server = start_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            url = server.url(server.new_database())
            cases: list[tuple[str, Callable[[], OwnerStores], str | None]] = [
                ("SQLite", lambda: SqliteOwners(folder / "home" / "state.sqlite3"), None),
                ("PostgreSQL", lambda: PgOwners(url, connections=args.connections), url),
            ]
            n = args.owners
            print(f"organisation run, {n} owners x {args.reports} relationships, memory tenant, "
                  f"{args.workers} workers (PostgreSQL: {args.connections} connections):")
            for name, make, db in cases:
                config, tenant = world(folder, n, args.reports, args.workers)
                first = one(config, tenant, make, db)
                steady = [one(config, tenant, make, db) for _ in range(args.repeat)]
                wall = statistics.median(s[0] for s in steady)
                stmts = statistics.median(s[1] for s in steady)
                extra = ""
                if db:
                    trips = statistics.median(s[2] for s in steady)
                    xacts = statistics.median(s[3] for s in steady)
                    extra = f", {trips / n:.2f} round trips, {xacts / n:.2f} server transactions"
                print(f"  {name}: first {first[0]:.2f} s ({first[1] / n:.1f} statements/owner); "
                      f"steady {wall:.2f} s, {wall / n * 1e3:.2f} ms/owner, "
                      f"{stmts / n:.2f} statements/owner{extra}")
            wall_us, cpu_us = bare_owners(url, n, args.workers, args.connections)
            print(f"  PostgreSQL, the store's part alone (lock, read, unlock): {wall_us:.0f} µs wall, "
                  f"{cpu_us:.0f} µs CPU per owner")
    finally:
        server.ctl("-m", "immediate", "stop")


if __name__ == "__main__":
    main()
