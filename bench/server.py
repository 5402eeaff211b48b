"""A ``reach serve`` subprocess on a free loopback port, optionally pinned to CPUs.

Pinning matters on small machines: with the server on one core and wrk on the other, the two
do not steal each other's cycles and runs repeat far better than when the scheduler mixes them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import httpx

from bench import reachcli


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(argv: list[str], cpus: list[int] | None) -> list[str]:
    """``argv`` run under ``taskset`` (children inherit the affinity) when asked and possible."""
    if not cpus or shutil.which("taskset") is None:
        return argv
    return ["taskset", "-c", ",".join(map(str, cpus)), *argv]


class Server:
    def __init__(
        self, database_url: str, log_path: Path, *, workers: int = 1, cpus: list[int] | None
    ) -> None:
        self.database_url = database_url
        self.log_path = log_path
        self.workers = workers
        self.cpus = cpus
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("server not started")
        return self._proc.pid

    def start(self, ready_timeout: float = 60.0) -> None:
        argv = [
            *reachcli.command(),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        with self.log_path.open("ab") as log:
            # A session of its own, so stop() can signal the server and its workers together.
            self._proc = subprocess.Popen(
                pinned(argv, self.cpus),
                env=reachcli.environment(self.database_url),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"reach serve exited early; see {self.log_path}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"reach serve was not ready in {ready_timeout:.0f} s; see {self.log_path}"
        )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        # The process group is the one start() created for this server (pgid == its pid).
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
