"""Settings from the environment (``MORALBANK_`` prefix). Secrets are never logged."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MORALBANK_", extra="ignore")

    database_url: str = "sqlite:///var/moralbank.sqlite3"
    # PostgreSQL hot standbys of database_url (streaming replication), comma-separated: reads of
    # projections go to one that has replayed the caller's last write, else to the primary.
    read_database_urls: str = ""
    timezone: str = "Asia/Shanghai"
    secret_key: SecretStr | None = None
    bootstrap_token: SecretStr | None = None
    var_dir: Path = Path("var")
    # /readyz fails when a projection is further behind than this many events.
    readiness_max_lag: int = 10_000
    pool_size: int = 10
    # With SQLite, serve runs the projections in-process unless told otherwise.
    inprocess_projections: bool | None = None
    # Create the schema at start-up. `serve --workers N` creates it once in the parent and
    # starts the workers with this off (concurrent DDL beside writers stalls on PostgreSQL).
    create_tables: bool = True
    # Scans (issue 4): a repeat within this many seconds is the same scan; scans are
    # group-committed (many per transaction) unless turned off.
    scan_grace_seconds: float = 60.0
    scan_batching: bool = True
    # Abuse limits (api.ratelimit), in-process token buckets per worker: per access token on
    # scans, pay codes and redemptions; failed attempts (bad tokens by IP, forged / expired /
    # used codes by token). MORALBANK_RATE_LIMITS=false turns them all off (benches do).
    rate_limits: bool = True
    rate_scans_per_minute: float = 60
    rate_scans_burst: int = 30
    rate_pay_codes_per_minute: float = 30
    rate_pay_codes_burst: int = 20
    rate_redemptions_per_minute: float = 300
    rate_redemptions_burst: int = 100
    rate_failures_per_minute: float = 30
    rate_failures_burst: int = 30

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {v!r}") from e
        return v

    @field_validator("database_url")
    @classmethod
    def _known_store(cls, v: str) -> str:
        if not v.startswith(("sqlite://", "postgresql://", "postgres://")):
            raise ValueError("MORALBANK_DATABASE_URL must start with sqlite:// or postgresql://")
        return v

    @field_validator("read_database_urls")
    @classmethod
    def _standbys(cls, v: str) -> str:
        for url in filter(None, (u.strip() for u in v.split(","))):
            if not url.startswith(("postgresql://", "postgres://")):
                raise ValueError("MORALBANK_READ_DATABASE_URLS holds PostgreSQL URLs, comma-separated")
        return v

    @property
    def read_urls(self) -> list[str]:
        return [u.strip() for u in self.read_database_urls.split(",") if u.strip()]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    def signing_key(self) -> bytes:
        """The QR signing key: from the setting, else a file under var/ made on first use."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.var_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()
