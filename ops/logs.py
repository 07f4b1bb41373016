"""Logging set-up: warnings as text, and the request and command logs as bare JSON lines on stderr."""

from __future__ import annotations

import logging
import sys


def configure() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One JSON line per request and per domain command (api.requestlog, api.commands).
    for name in ("moralbank.requests", "moralbank.commands"):
        lines = logging.getLogger(name)
        if not lines.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))
            lines.addHandler(handler)
        lines.setLevel(logging.INFO)
        lines.propagate = False
