"""``reach.client.Client``: every Partner Resources API route as a typed method.

    client = Client.for_partner("http://127.0.0.1:8000", partner_id, secret, tenant="acme")
    client.create("customers", {"customerId": "c-1", "firstName": "Ada", ...})
    for record in client.iterate("customers", filters={"emailOptOut": False}):
        ...
    batch = client.upload("customers", rows, progress=lambda b: print(b.progress))

Resource, batch and listing methods act for the client's tenant (``tenant=`` or
:meth:`Client.for_tenant`); tenant and schema-definition methods are the partner's. Segments,
schema mappings and channel accounts: :mod:`reach.client.segments`.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import httpx

from reach.client.errors import BatchTimeout, ReachClientError
from reach.client.events import EventCalls
from reach.client.models import (
    Accepted,
    Batch,
    Fetched,
    Page,
    Record,
)
from reach.client.partner import PartnerCalls, segment
from reach.client.retry import RetryPolicy
from reach.client.segments import SegmentCalls
from reach.client.transport import Credentials, StaticToken, Transport
from reach.client.webhooks import WebhookCalls

Scalar = str | int | float | bool
ProgressCallback = Callable[[Batch], None]


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _filter_params(filters: Mapping[str, Scalar] | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in (filters or {}).items():
        params[f"filter[{name}]"] = _flag(value) if isinstance(value, bool) else str(value)
    return params


class Client(SegmentCalls, WebhookCalls, PartnerCalls, EventCalls):
    def __init__(self, transport: Transport, tenant: str | None = None) -> None:
        super().__init__(transport)
        self.tenant = tenant

    @classmethod
    def for_partner(
        cls,
        base_url: str,
        partner_id: str,
        secret: str,
        *,
        tenant: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        max_connections: int = 16,
        token_ttl: int = 3600,
        http: httpx.Client | None = None,
    ) -> Client:
        """A client that signs its own partner tokens with ``secret``; ``tenant`` (the
        tenant's external id or id) is who resource calls act for."""
        transport = Transport(
            base_url,
            Credentials(partner_id, secret, token_ttl),
            retry=retry,
            timeout=timeout,
            max_connections=max_connections,
            http=http,
        )
        return cls(transport, tenant)

    @classmethod
    def for_token(
        cls,
        base_url: str,
        token: str,
        *,
        tenant: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
    ) -> Client:
        """A client with a ready-made token (a tenant token needs no ``tenant``)."""
        return cls(Transport(base_url, StaticToken(token), retry=retry, timeout=timeout), tenant)

    def for_tenant(self, tenant: str) -> Client:
        """The same connection and credentials, acting for another tenant."""
        return Client(self._transport, tenant)

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, path: str, into: Any, **kwargs: Any) -> Any:
        return self._transport.call(method, path, into, tenant=self.tenant, **kwargs)

    # -- resources

    def create(
        self,
        schema: str,
        data: Mapping[str, Any],
        *,
        on_conflict: str = "upsert",
        ignore_unknown_fields: bool = False,
    ) -> Record:
        """Create, or merge into, the record keyed by ``data[<externalIdField>]``."""
        params = {"onconflict": on_conflict, "ignoreUnknownFields": _flag(ignore_unknown_fields)}
        record: Record = self._call(
            "POST", f"/api/resources/{segment(schema)}", Record, json={"data": data}, params=params
        )
        return record

    upsert = create

    def create_at(
        self,
        schema: str,
        external_id: str,
        data: Mapping[str, Any],
        *,
        on_conflict: str = "upsert",
        ignore_unknown_fields: bool = False,
    ) -> Record:
        """The legacy form ``POST /api/resources/{schema}/{externalId}``."""
        params = {"onconflict": on_conflict, "ignoreUnknownFields": _flag(ignore_unknown_fields)}
        record: Record = self._call(
            "POST",
            f"/api/resources/{segment(schema)}/{segment(external_id)}",
            Record,
            json={"data": data},
            params=params,
        )
        return record

    def get(self, schema: str, external_id: str, *, include: Iterable[str] = ()) -> Fetched:
        """One record, and the records its named ``$ref`` fields point at."""
        names = ",".join(include)
        fetched: Fetched = self._call(
            "GET",
            f"/api/resources/{segment(schema)}/{segment(external_id)}",
            Fetched,
            params={"include": names} if names else None,
        )
        return fetched

    def patch(
        self,
        schema: str,
        external_id: str,
        data: Mapping[str, Any],
        *,
        ignore_unknown_fields: bool = False,
    ) -> Record:
        """Merge ``data`` into the record (absent: unchanged; None: removed)."""
        fetched: Fetched = self._call(
            "PATCH",
            f"/api/resources/{segment(schema)}/{segment(external_id)}",
            Fetched,
            json={"data": data},
            params={"ignoreUnknownFields": _flag(ignore_unknown_fields)},
        )
        return fetched.result

    def delete(self, schema: str, external_id: str, *, cascade: bool = False) -> Record:
        """Delete the record (and, with ``cascade``, the records that reference it)."""
        record: Record = self._call(
            "DELETE",
            f"/api/resources/{segment(schema)}/{segment(external_id)}",
            Record,
            params={"cascade": _flag(cascade)},
        )
        return record

    def list(
        self,
        schema: str,
        *,
        filters: Mapping[str, Scalar] | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[Record]:
        """One page of records in insertion order; pass ``pagination.cursor`` for the next."""
        params = _filter_params(filters)
        params["limit"] = str(limit)
        if cursor:
            params["cursor"] = cursor
        page: Page[Record] = self._call(
            "GET", f"/api/resources/{segment(schema)}", Page[Record], params=params
        )
        return page

    def iterate(
        self, schema: str, *, filters: Mapping[str, Scalar] | None = None, page_size: int = 1000
    ) -> Iterator[Record]:
        """Every matching record, page by page (a keyset cursor: stable under inserts)."""
        cursor: str | None = None
        while True:
            page = self.list(schema, filters=filters, limit=page_size, cursor=cursor)
            yield from page.results
            if not page.pagination.has_next_page or not page.pagination.cursor:
                return
            cursor = page.pagination.cursor

    # -- batches

    def submit_batch(
        self,
        schema: str,
        resources: Iterable[Mapping[str, Any]],
        *,
        on_conflict: str = "upsert",
        ignore_unknown_fields: bool = False,
        dependency_wait_timeout: int = 0,
    ) -> str:
        """Queue an upload of at most 1000 records; returns the batch id."""
        params = {
            "onconflict": on_conflict,
            "ignoreUnknownFields": _flag(ignore_unknown_fields),
            "dependencyWaitTimeout": str(dependency_wait_timeout),
        }
        accepted: Accepted = self._call(
            "POST",
            f"/api/resources/{segment(schema)}/batch",
            Accepted,
            json={"resources": builtins.list(resources)},
            params=params,
        )
        return accepted.batch_id

    def submit_patch_batch(
        self,
        schema: str,
        resources: Iterable[Mapping[str, Any]],
        *,
        ignore_unknown_fields: bool = False,
    ) -> str:
        """Queue merges into existing records (each keyed by its external id field)."""
        accepted: Accepted = self._call(
            "PATCH",
            f"/api/resources/{segment(schema)}/batch",
            Accepted,
            json={"resources": builtins.list(resources)},
            params={"ignoreUnknownFields": _flag(ignore_unknown_fields)},
        )
        return accepted.batch_id

    def submit_delete_batch(
        self, schema: str, external_ids: Iterable[str], *, cascade: bool = False
    ) -> str:
        accepted: Accepted = self._call(
            "DELETE",
            f"/api/resources/{segment(schema)}/batch",
            Accepted,
            json={"externalIds": builtins.list(external_ids), "cascade": cascade},
        )
        return accepted.batch_id

    def get_batch(self, batch_id: str) -> Batch:
        batch: Batch = self._call("GET", f"/api/batches/{segment(batch_id)}", Batch)
        return batch

    def wait_for_batch(
        self,
        batch_id: str,
        *,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        poll: float = 0.05,
        max_poll: float = 1.0,
    ) -> Batch:
        """Poll until the batch finishes; ``progress`` sees every status read. The poll
        interval starts short (small batches finish in milliseconds) and grows to
        ``max_poll``."""
        started = time.monotonic()
        while True:
            batch = self.get_batch(batch_id)
            if progress is not None:
                progress(batch)
            if batch.finished:
                return batch
            if timeout is not None and time.monotonic() - started > timeout:
                raise BatchTimeout(batch_id, timeout)
            time.sleep(poll)
            poll = min(max_poll, poll * 1.5)

    def upload(
        self,
        schema: str,
        resources: Iterable[Mapping[str, Any]],
        *,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        **options: Any,
    ) -> Batch:
        """Submit a batch and wait for it (``options`` as for :meth:`submit_batch`)."""
        batch_id = self.submit_batch(schema, resources, **options)
        return self.wait_for_batch(batch_id, progress=progress, timeout=timeout)


__all__ = ["Client", "ProgressCallback", "ReachClientError"]
