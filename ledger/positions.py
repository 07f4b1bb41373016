"""Where a request's writes reached in the log (read-your-writes).

Whoever serves a request (the API) opens a ``Written`` for it with ``watch()``; every save made
on its behalf (``Ledger.save``, and the journal's group committer on the caller's behalf) notes
the notification id of the last event it recorded. Contexts copied from the request's (a thread
pool running the route) share the same ``Written``. Nothing watches outside a request: ``note``
is then a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


MAX_ACCOUNTS = 32  # a bulk movement (a welfare-day chunk) names no accounts: it is nobody's read


@dataclass
class Written:
    position: int = 0  # the notification id of the last event recorded; 0: nothing written
    # the volunteer and merchant accounts the recorded movements touched (a redemption's payer)
    accounts: set[str] = field(default_factory=set)
    bulk: bool = False  # more than MAX_ACCOUNTS were touched: none are kept


_written: ContextVar[Written | None] = ContextVar("moralbank_written", default=None)


@contextmanager
def watch() -> Iterator[Written]:
    written = Written()
    token = _written.set(written)
    try:
        yield written
    finally:
        _written.reset(token)


def note(position: int | None, accounts: Iterable[str] = ()) -> None:
    written = _written.get()
    if written is None or not position:
        return
    written.position = max(written.position, int(position))
    if not written.bulk:
        written.accounts.update(a for a in accounts if not a.startswith("issuing:"))
        if len(written.accounts) > MAX_ACCOUNTS:
            written.accounts.clear()
            written.bulk = True


def last_of(recordings: Iterable[Any]) -> int:
    """The highest notification id among an ``Application.save``'s recordings (0 if none)."""
    return max((r.notification.id for r in recordings if r.notification.id is not None), default=0)
