"""`rujukan serve` as a real process on 127.0.0.1, for tests that need the real thing:
a browser, a generated client, signals. Embedded SQLite in a temp directory; bounded start
and stop; the process is always ended, killed if it does not stop by itself."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() == "true"


def service_env(directory: Path, **extra: str) -> dict[str, str]:
    """The environment of a service on its own SQLite file (no RUJUKAN_* from outside)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUJUKAN_")}
    env.update(
        RUJUKAN_DATABASE_URL=f"sqlite+aiosqlite:///{directory / 'rujukan.db'}",
        RUJUKAN_LOG_LEVEL="WARNING",
        RUJUKAN_RATE_LIMIT_PER_SECOND="100000",
        RUJUKAN_RATE_LIMIT_BURST="100000",
    )
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def rujukan(env: dict[str, str], *args: str, timeout: float = 60) -> Any:
    """Run the `rujukan` command; its stdout is JSON."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"rujukan {' '.join(args)} failed:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout)


def create_client(env: dict[str, str], role: str, *bindings: str) -> dict[str, Any]:
    flag = {"prison": "--facility", "sentra": "--sentra"}.get(role)
    args = ["clients", "create", "--name", f"ops test {role}", "--role", role]
    for binding in bindings:
        assert flag is not None
        args += [flag, binding]
    issued: dict[str, Any] = rujukan(env, *args)
    return issued


@dataclass
class Served:
    base_url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


def _stop(process: subprocess.Popen[bytes], timeout: float) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait(10)


@contextlib.contextmanager
def serve(
    directory: Path, env: dict[str, str] | None = None, *, start_timeout: float = 60
) -> Iterator[Served]:
    """`rujukan serve` on 127.0.0.1 and a free port until the block ends."""
    env = env or service_env(directory)
    port = free_port()
    log_path = directory / f"serve-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    served = Served(f"http://127.0.0.1:{port}", env, process, log_path)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"rujukan serve exited early:\n{served.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(served.base_url + "/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"not serving after {start_timeout}s:\n{served.log_tail()}")
            time.sleep(0.1)
        yield served
    finally:
        _stop(process, 30)


def stop(served: Served, timeout: float = 30) -> int:
    """SIGTERM, wait; the exit code (killed after `timeout`)."""
    return _stop(served.process, timeout)
