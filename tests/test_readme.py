"""README.md is run, not just read: every ``sh`` and ``python`` block, in order, against a live
``reach serve`` on a fresh database in an empty directory, as a new user would paste them.

The blocks share one shell's exported variables (``. ./reach.db.first-run`` sets the token
the later blocks use). ``curl`` fails on an HTTP error here (``--fail-with-body``), so an
example that answers 4xx fails the test instead of printing an error nobody reads. A block
preceded by ``<!-- readme-test: skip (reason) -->`` is not run; the reason is required.
Blocks of other languages (``text``, ``json``) are sample output.

The server is the embedded SQLite default, as in the Quickstart; the README's PostgreSQL steps
are exercised by tests/test_cli_serve.py.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.harness import free_port
from tests.test_cli import _clean_env
from tests.test_cli_serve import Served

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
RUNNABLE = {"sh", "python"}
_FENCE = re.compile(r"^```(\w*)\s*$")
_SKIP = re.compile(r"^<!-- readme-test: skip \((.+)\) -->$")


@dataclass
class Block:
    line: int
    lang: str
    text: str
    skip: str | None


def readme_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opened = _FENCE.match(lines[index])
        if not opened:
            index += 1
            continue
        skip = _SKIP.match(lines[index - 1]) if index else None
        end = index + 1
        while not lines[end].startswith("```"):
            end += 1
        body = "\n".join(lines[index + 1 : end]) + "\n"
        blocks.append(Block(index + 1, opened.group(1), body, skip.group(1) if skip else None))
        index = end + 1
    return blocks


def test_every_fenced_block_has_a_language_and_skips_say_why() -> None:
    for block in readme_blocks(README.read_text()):
        assert block.lang, f"README.md:{block.line}: a fence without a language"
        if block.skip is not None:
            assert block.lang in RUNNABLE, f"README.md:{block.line}: skip on a sample block"
            assert len(block.skip) > 10, f"README.md:{block.line}: say why it is not run"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty directory with ``.venv`` pointing at the environment running the tests, so
    the README's ``.venv/bin/reach`` and ``.venv/bin/python`` are the ones under test."""
    venv = Path(sys.prefix)
    assert (venv / "bin" / "reach").exists(), f"no reach entry point in {venv}"
    (tmp_path / ".venv").symlink_to(venv)
    return tmp_path


@pytest.fixture
def server(workdir: Path) -> Iterator[Served]:
    """``make serve`` in ``workdir``: ``.venv/bin/reach serve`` on the default ./reach.db."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
        [str(workdir / ".venv" / "bin" / "reach"), "serve"],
        cwd=workdir,
        env=_clean_env(REACH_PORT=str(port)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    served = Served(process, f"http://127.0.0.1:{port}")
    served.start_reading()
    try:
        served.wait_ready()
        yield served
    finally:
        served.stop()


def _local(text: str, port: int) -> str:
    """The README's server is on :8000; the test's is on a free port."""
    return re.sub(r"\b(localhost|127\.0\.0\.1):8000\b", f"127.0.0.1:{port}", text)


# Exported variables carry from block to block, as in the one shell a reader pastes into.
_PRELUDE = """set -euo pipefail
curl() { command curl --fail-with-body --show-error --max-time 60 "$@"; }
[ -f "$STATE" ] && . "$STATE"
"""


def test_readme_examples_run_in_order_against_a_live_server(server: Served, workdir: Path) -> None:
    port = int(server.base_url.rsplit(":", 1)[1])
    state = workdir.parent / "readme-shell-state"
    # REACH_URL: `reach import`/`export` default to :8000, where the README's server is.
    env = _clean_env(STATE=str(state), HOME=str(workdir.parent), REACH_URL=server.base_url)
    ran = 0
    for block in readme_blocks(README.read_text()):
        if block.lang not in RUNNABLE or block.skip is not None:
            continue
        code = _local(block.text, port)
        if block.lang == "sh":
            script = f'{_PRELUDE}{code}\nexport -p > "$STATE"\n'
            command = ["bash", "-c", script]
            stdin = None
        else:
            python = shlex.quote(str(workdir / ".venv" / "bin" / "python"))
            command = ["bash", "-c", f'. "$STATE" && exec {python} -']
            stdin = code
        result = subprocess.run(  # noqa: S603 - the README's own examples
            command,
            cwd=workdir,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, (
            f"README.md:{block.line} ({block.lang}) failed with {result.returncode}:\n"
            f"{code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}\n"
            f"--- server\n{server.text()}"
        )
        ran += 1
    assert ran >= 6
    # What the examples did is visible on the server, not just in their exit statuses.
    token = _exported(state, "TOKEN")
    headers = {"Authorization": f"Bearer {token}"}
    listed = httpx.get(f"{server.base_url}/api/resources/customers", headers=headers, timeout=30)
    assert listed.status_code == 200, listed.text
    assert os.stat(workdir / "reach.db.first-run").st_mode & 0o777 == 0o600
    assert (workdir / "customers.jsonl").read_text().count("\n") >= 2


def _exported(state: Path, name: str) -> str:
    found = re.search(rf"^declare -x {name}=\"([^\"]*)\"$", state.read_text(), re.MULTILINE)
    assert found, f"{name} not exported by the README's blocks"
    return found.group(1)
