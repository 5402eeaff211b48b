"""Change events (issue 14) for :class:`reach.client.Client`: a record's history and the
tenant's feed, tailed with long polls. Both act for the client's tenant."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from reach.client.partner import segment


class ChangeEvent(msgspec.Struct, rename="camel", frozen=True):
    """One change event (docs/events.md). ``resource.*`` events carry the record fields;
    ``tenant.*``, ``schema_definition.*`` and ``batch.completed`` only ``data``."""

    id: str
    sequence: int | None
    type: str
    occurred_at: str
    data: Any
    actor: dict[str, Any] | None = None
    schema_definition_id: str | None = None
    schema_name: str | None = None
    resource_external_id: str | None = None
    version: int | None = None
    changes: dict[str, Any] | None = None


class EventPagination(msgspec.Struct, rename="camel", frozen=True):
    has_next_page: bool
    cursor: str | None = None


class EventPage(msgspec.Struct, frozen=True):
    results: list[ChangeEvent]
    pagination: EventPagination


class EventTail(Iterator[ChangeEvent]):
    """The feed, event by event, long-polling when nothing is new. :attr:`cursor` is where it
    stands: store it, and ``iterate_events(cursor=...)`` resumes right after the last event
    yielded. With ``follow=False`` it stops at the first empty page."""

    def __init__(
        self, calls: EventCalls, params: dict[str, Any], cursor: str | None, *, follow: bool
    ) -> None:
        self._calls = calls
        self._params = params
        self.cursor = cursor
        self._follow = follow
        self._buffer: list[ChangeEvent] = []
        self._next_cursor: str | None = cursor

    def __next__(self) -> ChangeEvent:
        while not self._buffer:
            page = self._calls.events(cursor=self._next_cursor, **self._params)
            self._buffer = list(page.results)
            self._next_cursor = page.pagination.cursor or self._next_cursor
            if not self._buffer:
                self.cursor = self._next_cursor
                if not self._follow:
                    raise StopIteration
        event = self._buffer.pop(0)
        if not self._buffer:
            self.cursor = self._next_cursor
        return event


class EventCalls:
    tenant: str | None

    def _call(self, method: str, path: str, into: Any, **kwargs: Any) -> Any:
        raise NotImplementedError  # provided by Client

    def history(
        self, schema: str, external_id: str, *, limit: int = 100, cursor: str | None = None
    ) -> EventPage:
        """One page of the record's change events, newest first (also after a delete)."""
        params = {"limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        page: EventPage = self._call(
            "GET",
            f"/api/resources/{segment(schema)}/{segment(external_id)}/history",
            EventPage,
            params=params,
        )
        return page

    def events(
        self,
        *,
        cursor: str | None = None,
        limit: int = 100,
        types: Iterable[str] = (),
        schema: str | None = None,
        wait: int = 0,
    ) -> EventPage:
        """One page of the tenant's feed after ``cursor``, oldest first; ``wait`` seconds
        (at most 30) of long poll when nothing is new."""
        params = {"limit": str(limit), "wait": str(wait)}
        names = ",".join(types)
        if names:
            params["types"] = names
        if schema:
            params["schema"] = schema
        if cursor:
            params["cursor"] = cursor
        page: EventPage = self._call("GET", "/api/events", EventPage, params=params)
        return page

    def iterate_events(
        self,
        *,
        cursor: str | None = None,
        types: Iterable[str] = (),
        schema: str | None = None,
        wait: int = 20,
        page_size: int = 100,
        follow: bool = True,
    ) -> EventTail:
        """Every event after ``cursor`` (None: from the oldest kept), then — with ``follow`` —
        new ones as they happen, waiting ``wait`` seconds per poll (keep it under the client's
        timeout, 30 s by default). Without ``follow``, no poll waits."""
        # Not following: stop at the first empty page rather than wait on it.
        wait = wait if follow else 0
        params: dict[str, Any] = {"limit": page_size, "wait": wait, "types": tuple(types)}
        if schema:
            params["schema"] = schema
        return EventTail(self, params, cursor, follow=follow)
