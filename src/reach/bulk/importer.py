"""``reach import``: a CSV or JSON Lines file into one tenant's records, through the batch API.

The file is read and coerced on the calling thread and cut into chunks of at most 1000 records
(one batch each); up to ``concurrency`` chunks are in flight at once, uploaded by worker
threads, so reading, uploading and the server's processing overlap.

Chunks are *acknowledged* strictly in file order, when their batch has finished: their rejects
(rows that failed coercion here, items the server refused) are appended to the reject file and
then the state file is replaced (atomically) with the line the next chunk starts at and the
reject file's length. An interrupted import therefore resumes (``--resume``) after the last
acknowledged chunk, cutting any half-written rejects back to the recorded length; chunks that
were in flight are sent again, which is harmless because uploads are upserts. The state file is
removed when the import completes.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import msgspec
import orjson

from reach.bulk.formats import (
    FormatError,
    Row,
    count_lines,
    csv_columns,
    read_rows,
    unknown_columns,
)
from reach.bulk.progress import Progress
from reach.client import BadRequestError, Client, PayloadTooLargeError

CHUNK = 1000


class ImportFailed(Exception):
    """The import stopped; what was acknowledged stays, and ``--resume`` carries on."""


@dataclass(slots=True)
class Reject:
    line: int
    stage: str  # "coerce": refused here; "server": refused by the server
    errors: list[str]
    external_id: str | None = None

    def wire(self) -> bytes:
        row = {"line": self.line, "stage": self.stage, "externalId": self.external_id}
        return orjson.dumps({**row, "errors": self.errors}) + b"\n"


@dataclass(slots=True)
class Sent:
    """One uploaded batch of a chunk (or, ``batch_id`` None, rows the server refused outright)."""

    batch_id: str | None
    lines: list[int]
    refused: list[Reject]


@dataclass(slots=True)
class Chunk:
    records: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    local: list[Reject] = field(default_factory=list)
    last_line: int = 0

    @property
    def rows(self) -> int:
        return len(self.records) + len(self.local)


class State(msgspec.Struct, kw_only=True):
    """What survives an interruption (``FILE.import-state.json``)."""

    input: str
    size: int
    mtime_ns: int
    schema: str
    tenant: str
    next_line: int = 0  # the first line not yet acknowledged
    rows: int = 0
    imported: int = 0
    rejected: int = 0
    rejects_bytes: int = 0


def state_path_for(path: Path) -> Path:
    return path.with_name(path.name + ".import-state.json")


def rejects_path_for(path: Path) -> Path:
    return path.with_name(path.name + ".rejects.jsonl")


ProgressFactory = Callable[[int, int], Progress]  # (estimated total rows, rows already done)


class Importer:
    def __init__(
        self,
        client: Client,
        schema: str,
        path: Path,
        *,
        fmt: str,
        progress: ProgressFactory,
        resume: bool = False,
        concurrency: int = 4,
        chunk_size: int = CHUNK,
        on_conflict: str = "upsert",
        ignore_unknown_fields: bool = False,
        rejects_path: Path | None = None,
    ) -> None:
        self.client = client
        self.schema = schema
        self.path = path
        self.fmt = fmt
        self.resume = resume
        self.concurrency = max(1, concurrency)
        self.chunk_size = max(1, min(chunk_size, CHUNK))
        self.on_conflict = on_conflict
        self.ignore_unknown_fields = ignore_unknown_fields
        self.state_path = state_path_for(path)
        self.rejects_path = rejects_path or rejects_path_for(path)
        self._progress_factory = progress
        self._rejects: IO[bytes] | None = None
        self._key = ""

    # -- the run

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        definition = self.client.get_schema(self.schema)
        self._key = definition.external_id_field
        if self.fmt == "csv" and not self.ignore_unknown_fields:
            self._refuse_unknown_columns(definition.name, definition.schema)
        state, resumed_from = self._initial_state()
        rows_before = state.rows
        total = count_lines(self.path) - (1 if self.fmt == "csv" else 0)
        progress = self._progress_factory(max(total, state.rows), state.rows)
        rows = read_rows(self.path, self.fmt, definition.properties)
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="reach-import")
        in_flight: deque[tuple[Chunk, Future[list[Sent]]]] = deque()
        try:
            for chunk in self._chunks(rows, state.next_line):
                in_flight.append((chunk, pool.submit(self._submit, chunk.records, chunk.lines)))
                while len(in_flight) >= self.concurrency:
                    self._acknowledge(state, progress, *in_flight.popleft())
            while in_flight:
                self._acknowledge(state, progress, *in_flight.popleft())
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            progress.close()
            if self._rejects is not None:
                self._rejects.close()
        pool.shutdown()
        self.state_path.unlink(missing_ok=True)
        seconds = time.monotonic() - started
        done = state.rows - rows_before
        return {
            "schema": definition.name,
            "tenant": self.client.tenant,
            "file": str(self.path),
            "rows": state.rows,
            "imported": state.imported,
            "rejected": state.rejected,
            "rejectsFile": str(self.rejects_path) if state.rejected else None,
            "resumedFromLine": resumed_from,
            "seconds": round(seconds, 3),
            "recordsPerSecond": round(done / seconds) if seconds > 0 else None,
        }

    def _refuse_unknown_columns(self, name: str, json_schema: dict[str, Any]) -> None:
        """Stop before sending anything: the server would refuse every row for the column."""
        unknown = unknown_columns(csv_columns(self.path), json_schema)
        if unknown:
            raise FormatError(
                f"{self.path}: {'columns' if len(unknown) > 1 else 'column'} "
                f"{', '.join(map(repr, unknown))} not in schema {name!r}; nothing was sent. "
                "Fix the header, or pass --ignore-unknown-fields to import the other columns"
            )

    def _initial_state(self) -> tuple[State, int | None]:
        stat = self.path.stat()
        fresh = State(
            input=self.path.name,
            size=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            schema=self.schema,
            tenant=self.client.tenant or "",
        )
        if not self.resume or not self.state_path.exists():
            self.rejects_path.unlink(missing_ok=True)
            return fresh, None
        try:
            state = msgspec.json.decode(self.state_path.read_bytes(), type=State)
        except (msgspec.DecodeError, OSError) as exc:
            raise ImportFailed(f"unreadable state file {self.state_path}: {exc}") from None
        same = (state.input, state.size, state.mtime_ns, state.schema, state.tenant) == (
            fresh.input,
            fresh.size,
            fresh.mtime_ns,
            fresh.schema,
            fresh.tenant,
        )
        if not same:
            raise ImportFailed(
                f"{self.state_path} belongs to another file, schema or tenant (or the file "
                "changed since): run without --resume to start over"
            )
        if self.rejects_path.exists():
            with self.rejects_path.open("r+b") as handle:
                handle.truncate(state.rejects_bytes)  # drop rejects of unacknowledged chunks
        return state, state.next_line

    def _chunks(self, rows: Iterator[Row], skip_before: int) -> Iterator[Chunk]:
        chunk = Chunk()
        for line, record, errors in rows:
            if line < skip_before:
                continue
            chunk.last_line = line
            if errors:
                external_id = record.get(self._key)
                if not isinstance(external_id, str):
                    external_id = None
                chunk.local.append(Reject(line, "coerce", errors, external_id))
            else:
                chunk.records.append(record)
                chunk.lines.append(line)
            if len(chunk.records) >= self.chunk_size or chunk.rows >= 2 * self.chunk_size:
                yield chunk
                chunk = Chunk()
        if chunk.rows:
            yield chunk

    # -- worker threads: uploads

    def _submit(self, records: list[dict[str, Any]], lines: list[int]) -> list[Sent]:
        """Upload one chunk (without waiting for it to be processed)."""
        if not records:
            return []
        try:
            batch_id = self.client.submit_batch(
                self.schema,
                records,
                on_conflict=self.on_conflict,
                ignore_unknown_fields=self.ignore_unknown_fields,
            )
        except PayloadTooLargeError as exc:
            if len(records) == 1:
                return [
                    Sent(None, lines, [Reject(lines[0], "server", exc.errors or [exc.message])])
                ]
            half = len(records) // 2  # a body over the server's limit: send it in halves
            return self._submit(records[:half], lines[:half]) + self._submit(
                records[half:], lines[half:]
            )
        except BadRequestError as exc:  # the batch as a whole was refused
            refused = [Reject(line, "server", exc.errors or [exc.message]) for line in lines]
            return [Sent(None, lines, refused)]
        return [Sent(batch_id, lines, [])]

    # -- acknowledging, in file order (calling thread)

    def _outcome(self, sent: list[Sent]) -> list[Reject]:
        """Wait for the chunk's batches. Only the oldest chunk is waited for — the server works
        batches in the order they were accepted — so one poller suffices, starting short (a
        batch takes tens of milliseconds) and never sleeping long past its end."""
        rejects: list[Reject] = []
        for part in sent:
            rejects.extend(part.refused)
            if part.batch_id is None:
                continue
            batch = self.client.wait_for_batch(part.batch_id, poll=0.02, max_poll=0.25)
            rejects.extend(
                Reject(part.lines[failure.index], "server", failure.errors, failure.external_id)
                for failure in batch.failures()
            )
        return rejects

    def _acknowledge(
        self, state: State, progress: Progress, chunk: Chunk, sent: Future[list[Sent]]
    ) -> None:
        rejects = sorted(chunk.local + self._outcome(sent.result()), key=lambda r: r.line)
        if rejects:
            out = self._reject_file(state)
            out.write(b"".join(r.wire() for r in rejects))
            out.flush()
            state.rejects_bytes = out.tell()
        state.next_line = chunk.last_line + 1
        state.rows += chunk.rows
        state.rejected += len(rejects)
        state.imported += chunk.rows - len(rejects)
        self._save(state)
        progress.advance(chunk.rows, len(rejects))

    def _reject_file(self, state: State) -> IO[bytes]:
        if self._rejects is None:
            self._rejects = self.rejects_path.open("ab")
            self._rejects.seek(0, os.SEEK_END)
        return self._rejects

    def _save(self, state: State) -> None:
        temporary = self.state_path.with_name(self.state_path.name + ".tmp")
        temporary.write_bytes(msgspec.json.encode(state))
        os.replace(temporary, self.state_path)
