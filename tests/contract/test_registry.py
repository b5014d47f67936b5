"""The reference backend is reachable by name, like every other backend."""

from __future__ import annotations

from calsync.backends.base import HasDocs, WriteStatus
from calsync.backends.memory import MemoryCalendar
from calsync.backends.registry import open_provider
from calsync.config import CalendarConfig, Owner
from calsync.core.model import Body
from calsync.core.state import MemoryState
from tests.contract import world as w
from tests.contract.world_memory import seed


def test_registry_opens_the_memory_backend_with_its_config() -> None:
    cal = open_provider(CalendarConfig(name="scratch", provider="memory", read_only=True),
                        Owner((w.ME,), "Europe/Berlin"), MemoryState(), w.T0)
    assert isinstance(cal, MemoryCalendar) and isinstance(cal, HasDocs)
    assert (cal.kind, cal.name, cal.read_only) == ("memory", "scratch", True)
    seed(cal)
    occ = next(o for o in cal.fetch(w.WINDOW).occurrences if o.organizer_is_self)
    result = cal.write_description(occ, lambda b: Body(b.text + "x"), "t")
    assert result.status is WriteStatus.FORBIDDEN and cal.writes == []
