"""Every line ``reach serve`` and ``reach worker`` write is a JSON log line: ours, the start-up
banner, the worker's, and the HTTP server's (granian's) own."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson

from tests.harness import free_port
from tests.test_cli import _clean_env


def _json_lines(text: str) -> list[dict[str, object]]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "nothing logged"
    parsed = []
    for line in lines:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise AssertionError(f"not a JSON line: {line!r}\n{text}") from None
        assert {"ts", "level", "logger", "message"} <= set(record), line
        parsed.append(record)
    return parsed


def _run(args: list[str], database: Path, until: str, **env: str) -> tuple[str, str]:
    """Start ``reach ARGS``, wait until its stderr shows ``until``, stop it with SIGTERM."""
    process = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
        [sys.executable, "-m", "reach", *args],
        env=_clean_env(REACH_DATABASE_URL=f"sqlite:///{database}", **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        collected = ""
        assert process.stderr is not None
        while until not in collected and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            collected += line
        assert until in collected, collected
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    return out, collected + err


def test_serve_logs_only_json_lines_banner_and_http_server_included(tmp_path: Path) -> None:
    port = free_port()
    database = tmp_path / "logs.db"
    stdout, stderr = _run(
        ["serve", "--port", str(port)],
        database,
        until="Started worker",
        REACH_ACCESS_LOG="true",
    )
    records = _json_lines(stderr)
    loggers = {str(r["logger"]) for r in records}
    assert "granian" in loggers
    assert any("listening on" in str(r["message"]) for r in records)
    assert any("first run" in str(r["message"]) for r in records)
    assert stdout.strip() == ""


def test_serve_access_lines_and_shutdown_lines_are_json(tmp_path: Path) -> None:
    port = free_port()
    database = tmp_path / "access.db"
    process = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
        [sys.executable, "-m", "reach", "serve", "--port", str(port)],
        env=_clean_env(REACH_DATABASE_URL=f"sqlite:///{database}", REACH_ACCESS_LOG="true"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    records = _json_lines(stderr)
    assert any(r["logger"] == "reach.access" for r in records)
    assert any("shutdown" in str(r["message"]).lower() for r in records)
    assert stdout.strip() == ""


def test_worker_logs_only_json_lines(tmp_path: Path) -> None:
    database = tmp_path / "worker.db"
    stdout, stderr = _run(["worker"], database, until="started")
    records = _json_lines(stderr)
    assert any(r["logger"] == "reach.batches" for r in records)
    assert stdout.strip() == ""
