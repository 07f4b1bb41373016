"""``moralbank serve --workers 2``: prometheus-client's multiprocess mode, so a scrape of either
worker sums the counters of both; the metrics directory is made for the run and removed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
from serving import free_port, stop, wait_healthy


def healthz_count(text: str) -> float:
    m = re.search(r'^moralbank_http_requests_total\{method="GET",route="/healthz",status="200"\} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def test_serve_with_two_workers_sums_their_counters(tmp_path: Path) -> None:
    port = free_port()
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MORALBANK_", "PROMETHEUS_"))},
        "MORALBANK_DATABASE_URL": f"sqlite:///{tmp_path}/serve.sqlite3",
        "MORALBANK_VAR_DIR": str(tmp_path / "var"),
        "MORALBANK_SECRET_KEY": "serve-test-key",
        # SQLite runs projections in the server only with one worker; this test needs two.
        "MORALBANK_INPROCESS_PROJECTIONS": "false",
        "TMPDIR": str(tmpdir),  # where serve makes its metrics directory
    }
    cli = Path(sys.executable).with_name("moralbank")
    proc = subprocess.Popen(
        [str(cli), "serve", "--workers", "2", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, lambda: proc.poll() is None, lambda: "")
        deadline = time.monotonic() + 60
        # Both workers must be up: each reports itself in the live gauge.
        pids: set[str] = set()
        while len(pids) < 2:
            text = httpx.get(base + "/metrics", timeout=5).text
            pids = set(re.findall(r'^moralbank_worker_up\{pid="(\d+)"\} 1\.0$', text, re.M))
            assert time.monotonic() < deadline, f"workers seen: {pids}"
            time.sleep(0.2)
        assert len(list(tmpdir.iterdir())) == 1  # the run's metrics directory
        before = healthz_count(httpx.get(base + "/metrics", timeout=5).text)
        n = 60
        for _ in range(n):  # a new connection each time, so the kernel spreads them over the workers
            assert httpx.get(base + "/healthz", timeout=5, headers={"Connection": "close"}).status_code == 200
        scrapes = [healthz_count(httpx.get(base + "/metrics", timeout=5, headers={"Connection": "close"}).text) for _ in range(6)]
        # Whichever worker answers a scrape, it reports the sum over both.
        assert scrapes == [before + n] * 6
        metrics_dir = next(tmpdir.iterdir())
        writers = {p.name for p in metrics_dir.iterdir() if p.name.startswith("counter_")}
        assert writers == {f"counter_{pid}.db" for pid in pids}, writers  # counted in both processes
    finally:
        stop(proc)
    assert list(tmpdir.iterdir()) == []  # serve removed its metrics directory
