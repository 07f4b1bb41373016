"""What every ``moralbank`` command shares: output to stdout and stderr, failing with an exit
code, settings, services for one command, and parsing ids. The command modules (``ops.cli``,
``ops.batch_cli``) import it; it imports none of them."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any, NoReturn
from uuid import UUID

import typer
from pydantic import ValidationError
from rich.console import Console

from api.context import Services
from ledger.errors import LedgerError
from ops.projecting import catch_up
from ops.settings import Settings


class _Console:
    """A rich console made when used, so it writes to the current stdout/stderr; piped output
    gets wide lines (COLUMNS, else 200) so ids in tables are never cut."""

    def __init__(self, *, stderr: bool) -> None:
        self.stderr = stderr

    def print(self, *objects: Any, **kwargs: Any) -> None:
        stream = sys.stderr if self.stderr else sys.stdout
        width = None if stream.isatty() else int(os.environ.get("COLUMNS") or 200)
        Console(file=stream, width=width, soft_wrap=True).print(*objects, **kwargs)


out = _Console(stderr=False)
err = _Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def load_settings(**overrides: Any) -> Settings:
    try:
        settings = Settings()
    except ValidationError as e:
        lines = "; ".join(f"MORALBANK_{'_'.join(map(str, x['loc'])).upper()}: {x['msg']}" for x in e.errors())
        fail(f"bad settings: {lines}", 2)
    return settings.model_copy(update=overrides) if overrides else settings


@contextlib.contextmanager
def services_for(settings: Settings | None = None, *, clock: Any = None) -> Iterator[Services]:
    """Services for one command, closed afterwards; ledger refusals become exit code 1."""
    from ops.wiring import build_services, close_services

    svc = build_services(settings or load_settings(), clock=clock)
    try:
        yield svc
    except LedgerError as e:
        detail = ", ".join(f"{k}={v}" for k, v in e.details.items())
        fail(f"{e.message}" + (f" ({detail})" if detail else ""))
    finally:
        close_services(svc)


def caught_up(svc: Services) -> Services:
    for f in svc.followers:
        catch_up(f)
    return svc


def parse_uuid(value: str, what: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        fail(f"{what} must be an id (a UUID), not {value!r}", 2)


def store_label(settings: Settings) -> str:
    if settings.is_postgres:
        from urllib.parse import urlparse

        u = urlparse(settings.database_url)
        return f"PostgreSQL {u.hostname}:{u.port or 5432}/{u.path.lstrip('/')}"
    from ledger.store import sqlite_path

    return f"SQLite {sqlite_path(settings.database_url)}"
