"""The app's own CPU per request, without sockets or a server: ``python -m bench.inproc``.

On a shared machine wall-clock req/s moves with the neighbours' load; the CPU time this
process spends per request does far less. ``create_app`` is driven by a plain ASGI loop
(lifespan, then requests whose ``receive``/``send`` are two small functions) on a fresh,
seeded database, and ``time.process_time()`` is read around blocks of requests. What it
measures is our code plus Starlette's routing: what a server (granian) adds per request is
the served figure's part (docs/benchmarks.md).

``--ab SRC`` compares two source trees (e.g. a second checkout's ``src``) interleaved: each
round runs one child process per tree, in alternating order, and the medians are printed.
The children share this interpreter's virtualenv, so only the source differs.

    python -m bench.inproc                          # this tree, SQLite
    python -m bench.inproc --engine postgresql      # a scratch PostgreSQL database
    python -m bench.inproc --ab ../base/src --rounds 6
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import database, documents, reachcli

SCENARIOS = ("healthz", "get", "patch", "upsert")


def _field(name: str, n: int) -> Any:
    values = {
        "email": f"user{n}@example.com",
        "phone": f"+1555{n % 10_000_000:07d}",
        "firstName": f"First{n}",
        "lastName": f"Last{n}",
        "emailOptOut": n % 2 == 0,
        "smsOptOut": n % 3 == 0,
        "customerDetailUrl": f"https://crm.example.com/c/{n}",
    }
    return values[name]


_FIELDS = (
    "email",
    "phone",
    "firstName",
    "lastName",
    "emailOptOut",
    "smsOptOut",
    "customerDetailUrl",
)


def _some_fields(rng: random.Random) -> dict[str, Any]:
    """What bench/lua/common.lua's PATCH sends: 2-3 random customer fields."""
    n = rng.randint(1, 1_000_000_000)
    return {name: _field(name, n) for name in rng.sample(_FIELDS, rng.randint(2, 3))}


class Driver:
    """A minimal ASGI server: one request at a time, in this event loop."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.auth = (b"authorization", f"Bearer {token}".encode())
        self.state: dict[str, Any] = {}

    async def start(self) -> None:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        self._lifespan = asyncio.create_task(self.app(scope, inbox.get, outbox.put))
        await inbox.put({"type": "lifespan.startup"})
        message = await outbox.get()
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"startup failed: {message}")
        self._inbox, self._outbox = inbox, outbox

    async def stop(self) -> None:
        await self._inbox.put({"type": "lifespan.shutdown"})
        await self._outbox.get()
        await self._lifespan

    async def request(self, method: str, path: str, body: bytes | None = None) -> int:
        headers = [(b"host", b"127.0.0.1"), self.auth]
        if body is not None:
            headers.append((b"content-type", b"application/json"))
            headers.append((b"content-length", str(len(body)).encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "scheme": "http",
            "method": method,
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
            "state": dict(self.state),
        }
        status = 0
        message = {"type": "http.request", "body": body or b"", "more_body": False}

        async def receive() -> dict[str, Any]:
            return message

        async def send(out: dict[str, Any]) -> None:
            nonlocal status
            if out["type"] == "http.response.start":
                status = out["status"]

        await self.app(scope, receive, send)
        return status


async def _measure(args: argparse.Namespace, url: str, token: str) -> dict[str, float]:
    os.environ["REACH_DATABASE_URL"] = url
    from reach.config import load_settings
    from reach.web.app import create_app  # after the environment is set, from whichever tree

    driver = Driver(create_app(load_settings()), token)
    await driver.start()
    rng = random.Random(args.seed)
    base = "/api/resources/customers"
    try:
        for i in range(args.records):
            seed = json.dumps({"data": documents.customer(i)}).encode()
            if await driver.request("POST", base, seed) != 200:
                raise RuntimeError(f"seeding customer {i} failed")
        new = 0

        def make(scenario: str) -> tuple[str, str, bytes | None]:
            nonlocal new
            record = documents.customer_id(rng.randrange(args.records))
            if scenario == "healthz":
                return "GET", "/healthz", None
            if scenario == "get":
                return "GET", f"{base}/{record}", None
            if scenario == "patch":
                return "PATCH", f"{base}/{record}", json.dumps({"data": _some_fields(rng)}).encode()
            data = _some_fields(rng)
            if rng.random() < 0.5:
                data["customerId"] = record
            else:
                new += 1
                data = {**documents.customer(args.records + new), **data}
                data["customerId"] = f"{documents.PREFIX}new-{new}"
            return "POST", base, json.dumps({"data": data}).encode()

        result: dict[str, float] = {}
        for scenario in args.scenarios:
            requests = [make(scenario) for _ in range(args.warmup + args.requests)]
            for method, path, body in requests[: args.warmup]:
                await driver.request(method, path, body)
            blocks: list[float] = []
            block = max(1, args.requests // 20)
            todo = requests[args.warmup :]
            for start in range(0, len(todo), block):
                chunk = todo[start : start + block]
                began = time.process_time()
                for method, path, body in chunk:
                    status = await driver.request(method, path, body)
                    if status != 200:
                        raise RuntimeError(f"{method} {path}: {status}")
                blocks.append((time.process_time() - began) / len(chunk) * 1e6)
            # The median block: a checkpoint or a collection landing in one block does not
            # move it. The least disturbed block (min) is the steadier figure when
            # neighbours share the cores: they only ever add to a block's time.
            result[scenario] = statistics.median(blocks)
            result[scenario + ".min"] = min(blocks)
        return result
    finally:
        await driver.stop()


def child(args: argparse.Namespace) -> dict[str, float]:
    """One measurement on a fresh database, in this process."""
    os.environ.setdefault("REACH_DEMO_ON_FIRST_RUN", "0")
    os.environ["REACH_BATCH_WORKER"] = "false"  # no background polling in the CPU figures
    os.environ.setdefault("REACH_LOG_LEVEL", "warning")
    with tempfile.TemporaryDirectory(prefix="reach-inproc-") as tmp:
        db = database.create(args.engine, Path(tmp), args.pg_url)
        try:
            identity = reachcli.provision(db.url, 7200)
            os.environ["REACH_SECRET_KEY"] = reachcli.environment(db.url)["REACH_SECRET_KEY"]
            return asyncio.run(_measure(args, db.url, identity.token))
        finally:
            db.drop()


def _run_child(src: str, argv: list[str]) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=src)
    done = subprocess.run(
        [sys.executable, "-m", "bench.inproc", "--child", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if done.returncode != 0:
        raise RuntimeError(f"child ({src}) failed:\n{done.stderr[-3000:]}")
    line = done.stdout.strip().splitlines()[-1]
    value: dict[str, float] = json.loads(line)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.inproc", description=__doc__)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=3000, help="measured, per scenario")
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--ab", metavar="SRC", help="compare with the tree whose src is SRC")
    parser.add_argument("--b", metavar="SRC", help="the other side's src (default: this tree)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    if args.child or not args.ab:
        print(json.dumps(child(args)), flush=True)
        return
    argv = [a for a in sys.argv[1:] if a not in ("--ab", args.ab, "--b", args.b)]
    here = args.b or str(Path(__file__).resolve().parent.parent / "src")
    sides = {"A (" + args.ab + ")": args.ab, "B (" + here + ")": here}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    for n in range(args.rounds):
        order = list(sides.items()) if n % 2 == 0 else list(sides.items())[::-1]
        for name, src in order:
            runs[name].append(_run_child(src, argv))
            print(f"round {n + 1} {name}: {runs[name][-1]}", file=sys.stderr, flush=True)
    print(f"{'scenario':10} " + " ".join(f"{name:>28}" for name in sides) + "   change")
    for scenario in [k for s in args.scenarios for k in (s, s + ".min")]:
        medians = [statistics.median(r[scenario] for r in runs[name]) for name in sides]
        change = (medians[1] - medians[0]) / medians[0] * 100
        print(
            f"{scenario:10} " + " ".join(f"{m:>25.1f} µs" for m in medians) + f"   {change:+.1f} %"
        )


if __name__ == "__main__":
    main()
