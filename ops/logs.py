"""Logging set-up: warnings as text, and the request log as bare JSON lines on stderr."""

from __future__ import annotations

import logging
import sys


def configure() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    requests = logging.getLogger("moralbank.requests")
    if not requests.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        requests.addHandler(handler)
    requests.setLevel(logging.INFO)
    requests.propagate = False
