"""The bodies of ``reach import`` and ``reach export`` (the click wrappers are in reach.cli)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reach.bulk.exporter import export
from reach.bulk.formats import format_of
from reach.bulk.importer import Importer
from reach.bulk.progress import Progress, progress_for
from reach.client import Client


def partner_client(
    url: str, partner_id: str | None, secret: str | None, tenant: str, connections: int
) -> Client:
    if not partner_id or not secret:
        raise ValueError(
            "partner credentials needed: --partner-id and --secret "
            "(or REACH_PARTNER_ID and REACH_PARTNER_SECRET)"
        )
    return Client.for_partner(
        url, partner_id, secret, tenant=tenant, max_connections=max(4, connections + 2)
    )


def run_import(
    client: Client,
    schema: str,
    path: Path,
    *,
    fmt: str | None,
    resume: bool,
    concurrency: int,
    on_conflict: str,
    ignore_unknown_fields: bool,
    rejects: Path | None,
    progress_interval: float,
) -> dict[str, Any]:
    def progress(total: int, initial: int) -> Progress:
        return progress_for("import", total, initial=initial, interval=progress_interval)

    return Importer(
        client,
        schema,
        path,
        fmt=format_of(path, fmt),
        progress=progress,
        resume=resume,
        concurrency=concurrency,
        on_conflict=on_conflict,
        ignore_unknown_fields=ignore_unknown_fields,
        rejects_path=rejects,
    ).run()


def run_export(
    client: Client,
    schema: str,
    *,
    fmt: str | None,
    output: Path | None,
    fields: Sequence[str] | None,
    progress_interval: float,
) -> dict[str, Any]:
    chosen = format_of(output, fmt, default="jsonl")

    def progress(total: int) -> Progress:
        return progress_for("export", total, interval=progress_interval)

    if output is None:
        return export(
            client, schema, sys.stdout.buffer, fmt=chosen, fields=fields, progress=progress
        )
    with output.open("wb") as out:
        return export(client, schema, out, fmt=chosen, fields=fields, progress=progress)
