"""Segments, schema mappings and channel accounts (issue 15) for :class:`reach.client.Client`.

Segment and channel-account methods act for the client's tenant; the mapping methods are the
partner's.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import msgspec

from reach.client.models import Page, Record
from reach.client.partner import segment as path_segment
from reach.client.transport import Transport


class Condition(msgspec.Struct, frozen=True):
    field: str
    operator: str
    value: list[Any] = []


class Segment(msgspec.Struct, rename="camel", frozen=True):
    id: str
    name: str
    created_at: str
    type: str
    description: str | None = None
    conditions: list[Condition] = []
    updated_at: str | None = None


class UserSegments(msgspec.Struct, frozen=True):
    segments: list[Segment]


class TextToSegment(msgspec.Struct, rename="camel", frozen=True):
    success: bool
    failure_reason: str | None
    conditions: list[Condition]
    title: str | None
    description: str | None


class ChannelAccount(msgspec.Struct, rename="camel", frozen=True):
    id: str
    type: str
    channel_account_metadata: dict[str, Any]
    created_at: str
    updated_at: str


ConditionLike = Condition | Mapping[str, Any]


def _conditions(given: Sequence[ConditionLike]) -> list[Any]:
    return [msgspec.to_builtins(c) if isinstance(c, Condition) else dict(c) for c in given]


class SegmentCalls:
    _transport: Transport
    tenant: str | None

    def _call(self, method: str, path: str, into: Any, **kwargs: Any) -> Any:
        raise NotImplementedError  # provided by Client

    # -- schema mappings (partner)

    def get_schema_mappings(self) -> dict[str, Any]:
        found: dict[str, Any] = self._transport.call(
            "GET", "/partner/schema-mappings", dict[str, Any]
        )
        return found

    def set_schema_mappings(self, mapping: Mapping[str, Any]) -> dict[str, Any]:
        saved: dict[str, Any] = self._transport.call(
            "POST", "/partner/schema-mappings", dict[str, Any], json=dict(mapping)
        )
        return saved

    # -- segments (tenant)

    def create_segment(
        self,
        name: str,
        conditions: Sequence[ConditionLike],
        *,
        description: str | None = None,
        type: str = "custom",
    ) -> Segment:
        body = {
            "name": name,
            "description": description,
            "conditions": _conditions(conditions),
            "type": type,
        }
        made: Segment = self._call("POST", "/api/segments", Segment, json=body)
        return made

    def get_segment(self, segment_id: str) -> Segment:
        found: Segment = self._call("GET", f"/api/segments/{path_segment(segment_id)}", Segment)
        return found

    def update_segment(self, segment_id: str, changes: Mapping[str, Any]) -> Segment:
        body = dict(changes)
        if "conditions" in body:
            body["conditions"] = _conditions(body["conditions"])
        updated: Segment = self._call(
            "PATCH", f"/api/segments/{path_segment(segment_id)}", Segment, json=body
        )
        return updated

    def delete_segment(self, segment_id: str) -> Segment:
        gone: Segment = self._call("DELETE", f"/api/segments/{path_segment(segment_id)}", Segment)
        return gone

    def iterate_segments(self, *, page_size: int = 100) -> Iterator[Segment]:
        cursor: str | None = None
        while True:
            params = {"limit": str(page_size), **({"cursor": cursor} if cursor else {})}
            page: Page[Segment] = self._call("GET", "/api/segments", Page[Segment], params=params)
            yield from page.results
            if not page.pagination.has_next_page or not page.pagination.cursor:
                return
            cursor = page.pagination.cursor

    def segment_members(
        self, segment_id: str, *, limit: int = 100, cursor: str | None = None
    ) -> Page[Record]:
        """One page of the segment's contacts, evaluated now; ``pagination.total`` counts all."""
        params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        page: Page[Record] = self._call(
            "GET",
            f"/api/segments/{path_segment(segment_id)}/members",
            Page[Record],
            params=params,
        )
        return page

    def iterate_segment_members(
        self, segment_id: str, *, page_size: int = 1000
    ) -> Iterator[Record]:
        cursor: str | None = None
        while True:
            page = self.segment_members(segment_id, limit=page_size, cursor=cursor)
            yield from page.results
            if not page.pagination.has_next_page or not page.pagination.cursor:
                return
            cursor = page.pagination.cursor

    def user_segments(self, external_id: str) -> builtins.list[Segment]:
        found: UserSegments = self._call(
            "GET", f"/api/segments/user/{path_segment(external_id)}", UserSegments
        )
        return found.segments

    def text_to_segment(self, text: str, *, user_custom_verb: str = "user") -> TextToSegment:
        body = {"text": text, "userCustomVerb": user_custom_verb}
        answer: TextToSegment = self._call(
            "POST", "/api/segments/text-to-segment", TextToSegment, json=body
        )
        return answer

    # -- channel accounts (tenant)

    def list_channel_accounts(self) -> builtins.list[ChannelAccount]:
        found: builtins.list[ChannelAccount] = self._call(
            "GET", "/api/channel/accounts", builtins.list[ChannelAccount]
        )
        return found

    def create_channel_account(self, type: str, base_domain: str | None = None) -> ChannelAccount:
        body: dict[str, Any] = {"type": type}
        if base_domain is not None:
            body["channelAccountMetadata"] = {"baseDomain": base_domain}
        made: ChannelAccount = self._call(
            "POST", "/api/channel/accounts", ChannelAccount, json=body
        )
        return made

    def set_channel_base_domain(self, account_id: str, base_domain: str) -> ChannelAccount:
        body = {"channelAccountMetadata": {"baseDomain": base_domain}}
        updated: ChannelAccount = self._call(
            "PATCH", f"/api/channel/accounts/{path_segment(account_id)}", ChannelAccount, json=body
        )
        return updated
