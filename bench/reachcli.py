"""Driving the ``reach`` command line, exactly as an operator would."""

from __future__ import annotations

import base64
import functools
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def command() -> list[str]:
    """The ``reach`` entry point of this interpreter's environment (``-m reach`` as fallback)."""
    script = Path(sys.executable).parent / "reach"
    return [str(script)] if script.exists() else [sys.executable, "-m", "reach"]


@functools.cache
def _secret_key() -> str:
    """One key for the whole bench run: on PostgreSQL the server refuses to start without one
    (partner secrets are sealed with it), and every CLI call must use the same."""
    return os.environ.get("REACH_SECRET_KEY") or base64.b64encode(os.urandom(32)).decode()


def environment(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["REACH_DATABASE_URL"] = database_url
    env["REACH_SECRET_KEY"] = _secret_key()
    env["REACH_DEMO_ON_FIRST_RUN"] = "0"  # the bench makes its own partner and tenant
    env.update(extra)
    return env


def run(*args: str, database_url: str) -> str:
    done = subprocess.run(
        [*command(), *args],
        env=environment(database_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"reach {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def run_json(*args: str, database_url: str) -> dict[str, Any]:
    value = json.loads(run(*args, database_url=database_url))
    if not isinstance(value, dict):
        raise RuntimeError(f"reach {' '.join(args)}: expected a JSON object")
    return value


@dataclass
class Identity:
    """Who the load speaks as: one partner, one tenant, a tenant token."""

    partner_id: str
    tenant_id: str
    tenant_external_id: str
    token: str


def provision(database_url: str, ttl: int) -> Identity:
    partner = run_json("partners", "create", "Bench partner", database_url=database_url)
    tenant = run_json("tenants", "create", partner["id"], "bench-tenant", database_url=database_url)
    token = run(
        "token",
        partner["id"],
        "--tenant",
        tenant["externalId"],
        "--ttl",
        str(ttl),
        database_url=database_url,
    )
    return Identity(partner["id"], tenant["id"], tenant["externalId"], token)
