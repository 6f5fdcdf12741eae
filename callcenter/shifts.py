"""Who takes the hotline's calls at each hour: the shift bands and the queues an agent joins.

The regulation's shift bands overlap (shared/docs/domain.md): 08:00–20:00, 09:00–21:00 and
20:00–08:00 the next day, at least 2 agents overnight. From 20:00 to 08:00 (Asia/Shanghai) the
IVR routes every call to the ``night`` queue (``[modes.night]`` of ``ivr/hotline.toml``), so
whoever is on shift in those hours must be a member of ``night``: at 20:30 the 09–21 band is
still at work beside the night band, at 03:00 only the night band is.

The product has no roster, so membership of ``night`` is derived, not kept by hand: an agent
who serves the general inbound queues (``aftersales``/``presales``) joins ``night`` too each
time it logs in (:func:`login_queues`), and leaves every queue when it logs out. The queue
therefore follows who is actually logged in:

* an agent of the 09–21 band logged in at 20:30 takes the night calls until it logs out;
* the night band logs in at 20:00 and takes them until 08:00;
* callers still waiting in ``night`` at 08:00 are answered by the day band, who are members
  too, and callers waiting in ``aftersales`` at 20:00 by the evening staff: no caller is
  stranded at a shift change;
* in day hours the IVR sends no call to ``night``, so being a member costs nothing.

Routing the night to ``aftersales`` instead would work as well, but ``night`` keeps its own
queue_log lines, service level and wallboard row, which the night answer rate is read from.
Specialists (an account with only ``complaints`` or ``techsupport``) do not join ``night``:
the night team answers every kind of call, the specialists' queues are daytime queues.

Pure: no clock, no I/O; the time of day is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import time
from typing import Final

__all__ = ["GENERAL_QUEUES", "NIGHT_QUEUE", "SHIFT_BANDS", "ShiftBand", "bands_on_duty",
           "login_queues"]

NIGHT_QUEUE: Final = "night"
"""The queue the IVR routes every call to from 20:00 to 08:00."""

GENERAL_QUEUES: Final = frozenset({"aftersales", "presales"})
"""The general inbound queues: their agents take the night calls too."""


@dataclass(frozen=True, slots=True)
class ShiftBand:
    """A shift band of the regulation, ``start`` to ``end`` local time; a band whose end is not
    after its start passes midnight (20:00–08:00)."""

    name: str
    start: time
    end: time

    def on_duty(self, at: time) -> bool:
        """Whether the band is at work at local time ``at`` (start included, end excluded)."""
        if self.start < self.end:
            return self.start <= at < self.end
        return at >= self.start or at < self.end


SHIFT_BANDS: Final = (
    ShiftBand("day", time(8, 0), time(20, 0)),
    ShiftBand("late", time(9, 0), time(21, 0)),
    ShiftBand("night", time(20, 0), time(8, 0)),
)


def bands_on_duty(at: time, bands: Iterable[ShiftBand] = SHIFT_BANDS) -> tuple[ShiftBand, ...]:
    """The bands at work at local time ``at`` (20:30 → late and night; 03:00 → night)."""
    return tuple(band for band in bands if band.on_duty(at))


def login_queues(account_queues: Iterable[str]) -> tuple[str, ...]:
    """The queues an agent logs in to: its account's queues (blank names dropped, order kept,
    no repeats) plus ``night`` when it serves a general queue (``aftersales``/``presales``).

    ``("aftersales", "presales")`` → ``("aftersales", "presales", "night")``;
    ``("complaints",)`` → ``("complaints",)``. See the module docstring for why ``night`` is
    derived rather than stored in the account.
    """
    queues = tuple(dict.fromkeys(q.strip() for q in account_queues if q.strip()))
    if NIGHT_QUEUE not in queues and GENERAL_QUEUES.intersection(queues):
        queues += (NIGHT_QUEUE,)
    return queues
