"""One way to show benchmark results: a rich table, and the same rows as JSON."""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}


def emit(name: str, rows: list[dict[str, Any]], *, meta: dict[str, Any] | None = None, out: Path | None = None) -> Path:
    """Print ``rows`` (dicts with the same keys) as a table and write them as JSON.

    Returns the JSON path: ``out`` or ``var/bench/<name>-<UTC time>.json``.
    """
    console = Console()
    table = Table(title=f"moralbank bench {name}")
    columns = list(rows[0]) if rows else []
    for col in columns:
        table.add_column(col, justify="right" if rows and isinstance(rows[0][col], (int, float)) else "left")
    for row in rows:
        table.add_row(*[f"{v:,.1f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v) for v in row.values()])
    console.print(table)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = out or Path("var/bench") / f"{name}-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"bench": name, "at": stamp, "machine": machine(), "meta": meta or {}, "rows": rows}
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str))
    console.print(f"written {path}")
    return path
