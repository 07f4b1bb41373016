"""Starting real servers in tests: a free port, and waiting until one answers /healthz."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(base: str, alive: Callable[[], bool], output: Callable[[], str], timeout: float = 60) -> None:
    """Until ``base``/healthz answers 200; fails with the server's output if it exits or
    ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert alive(), f"serve exited:\n{output()}"
        assert time.monotonic() < deadline, f"serve did not start in {timeout}s:\n{output()}"
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Ask a server to shut down as Ctrl-C does (so it cleans up); kill it if it will not."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
