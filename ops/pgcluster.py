"""A throwaway PostgreSQL cluster for tests.

Dependency-free apart from psycopg 3::

    with PgCluster() as pg:
        url = pg.create_database()      # postgresql://postgres@127.0.0.1:PORT/NAME
        ...

The cluster lives in a temporary directory (data, log and unix socket), listens on a
free TCP port of 127.0.0.1 only, and trusts every local connection. PostgreSQL refuses
to run as root, so when the current user is root the server programs are run as an
unprivileged OS user (``postgres`` unless ``PGCLUSTER_USER`` says otherwise) and the
temporary directory is handed to that user.

Environment knobs (all optional):
  PGCLUSTER_BINDIR  directory holding initdb and pg_ctl (searched first)
  PGCLUSTER_USER    OS user to run the server as when we are root (default: postgres)
  PGCLUSTER_TMPDIR  parent directory for the cluster's temporary directory
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import psycopg

__all__ = ["PgBinaries", "PgCluster", "PgClusterError", "free_port"]

START_TIMEOUT = 30.0

# Written to postgresql.conf so that restart() keeps them.
DEFAULT_SETTINGS: dict[str, str] = {
    "max_connections": "300",
    "shared_buffers": "128MB",
    "fsync": "on",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] %d '",
    "timezone": "'UTC'",
}


class PgClusterError(RuntimeError):
    pass


class PgBinaries(NamedTuple):
    bindir: str
    initdb: str
    pg_ctl: str


def _version_key(path: str) -> tuple[int, ...]:
    # /usr/lib/postgresql/15/bin -> (15,)
    digits = re.findall(r"\d+", Path(path).parent.name)
    return tuple(int(d) for d in digits)


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


class PgCluster:
    """A temporary PostgreSQL cluster; see the module docstring."""

    def __init__(
        self,
        *,
        settings: dict[str, str] | None = None,
        user: str | None = None,
        tmpdir: str | None = None,
    ) -> None:
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.base_dir: Path | None = None
        self._os_user = user or os.environ.get("PGCLUSTER_USER") or "postgres"
        self._tmp_parent = tmpdir or os.environ.get("PGCLUSTER_TMPDIR") or None
        self._bins: PgBinaries | None = None
        self._running = False
        self._atexit_registered = False

    # ------------------------------------------------------------------ discovery

    @staticmethod
    def find_binaries() -> PgBinaries | None:
        """Locate initdb and pg_ctl (both from the same directory), or None.

        Search order: $PGCLUSTER_BINDIR, $PATH, /usr/local/bin, then
        /usr/lib/postgresql/*/bin, newest version first.
        """
        candidates: list[str] = []
        if os.environ.get("PGCLUSTER_BINDIR"):
            candidates.append(os.environ["PGCLUSTER_BINDIR"])
        candidates += [p for p in os.environ.get("PATH", "").split(os.pathsep) if p]
        candidates.append("/usr/local/bin")
        candidates += sorted(
            glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True
        )
        seen: set[str] = set()
        for d in candidates:
            if d in seen:
                continue
            seen.add(d)
            initdb, pg_ctl = os.path.join(d, "initdb"), os.path.join(d, "pg_ctl")
            if _executable(initdb) and _executable(pg_ctl):
                # Resolve symlinks (e.g. /usr/local/bin -> /usr/lib/postgresql/15/bin)
                # so pg_ctl finds its sibling `postgres` binary.
                initdb, pg_ctl = os.path.realpath(initdb), os.path.realpath(pg_ctl)
                return PgBinaries(os.path.dirname(pg_ctl), initdb, pg_ctl)
        return None

    @classmethod
    def available(cls) -> bool:
        return cls.find_binaries() is not None

    # ------------------------------------------------------------------ paths, urls

    @property
    def data_dir(self) -> Path:
        return self._base() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._base() / "sock"

    @property
    def log_path(self) -> Path:
        return self._base() / "server.log"

    @property
    def running(self) -> bool:
        return self._running

    def url(self, dbname: str = "postgres") -> str:
        if self.port is None:
            raise PgClusterError("cluster not started")
        return f"postgresql://postgres@{self.host}:{self.port}/{dbname}"

    def server_log(self, max_chars: int = 20_000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except (OSError, PgClusterError):
            return "(no server log)"
        return text[-max_chars:]

    def _base(self) -> Path:
        if self.base_dir is None:
            raise PgClusterError("cluster not started")
        return self.base_dir

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "PgCluster":
        """initdb (first time only) and start the server; wait until it accepts connections."""
        if self._running:
            return self
        if self.base_dir is None:
            self._bins = self.find_binaries()
            if self._bins is None:
                raise PgClusterError(
                    "PostgreSQL server binaries (initdb, pg_ctl) not found in $PATH, "
                    "/usr/local/bin or /usr/lib/postgresql/*/bin; install postgresql-15 "
                    "or set PGCLUSTER_BINDIR"
                )
            try:
                self._make_base_dir()
                self._initdb()
                self._start_on_free_port()
            except BaseException:
                self._cleanup_after_failure()
                raise
        else:
            self._pg_ctl_start()  # restart: same data dir, same port
        return self

    def stop(self) -> None:
        """Stop the server at once (-m immediate) and remove the temporary directory."""
        try:
            if self._running:
                self._pg_ctl_stop("immediate")
        finally:
            self._running = False
            if self.base_dir is not None:
                shutil.rmtree(self.base_dir, ignore_errors=True)
                self.base_dir = None
            if self._atexit_registered:
                atexit.unregister(self.stop)
                self._atexit_registered = False

    def restart(self, mode: str = "fast", *, down_for: float = 0.0) -> None:
        """Stop the server (-m fast by default; "immediate" simulates a crash) and
        start it again on the same port and data directory, ``down_for`` seconds later."""
        if self.base_dir is None:
            raise PgClusterError("cluster not started")
        if self._running:
            self._pg_ctl_stop(mode)
        if down_for > 0:
            time.sleep(down_for)
        self._pg_ctl_start()

    def halt(self, mode: str = "immediate") -> None:
        """Stop the server (a crash by default) and keep its directory: ``restart`` starts it again."""
        if self._running:
            self._pg_ctl_stop(mode)

    def __enter__(self) -> "PgCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<PgCluster {self.host}:{self.port} {state} {self.base_dir}>"

    def standby(self, settings: dict[str, str] | None = None) -> "PgCluster":
        """Start a hot standby of this running cluster, fed by streaming replication: its own
        temporary directory and free port, a base backup taken with ``pg_basebackup -R``."""
        if not self._running or self._bins is None:
            raise PgClusterError("the primary is not running")
        basebackup = os.path.join(self._bins.bindir, "pg_basebackup")
        standby = PgCluster(
            settings={**self.settings, "hot_standby": "on", "hot_standby_feedback": "on", **(settings or {})},
            user=self._os_user, tmpdir=self._tmp_parent,
        )
        standby._bins = self._bins
        try:
            standby._make_base_dir()
            standby._run(
                [basebackup, "-h", self.host, "-p", str(self.port), "-U", "postgres",
                 "-D", str(standby.data_dir), "-R", "-X", "stream", "-c", "fast"],
            )
            standby._start_on_free_port()
        except BaseException:
            standby._cleanup_after_failure()
            raise
        return standby

    def wait_for_database(self, name: str, timeout: float = 60.0) -> str:
        """The URL of database ``name`` once it accepts connections here (on a standby: once the
        WAL that created it has been replayed)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url(name), connect_timeout=2):
                    return self.url(name)
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    # ------------------------------------------------------------------ databases

    def create_database(self, name: str | None = None) -> str:
        """CREATE DATABASE and return its URL; a random name when none is given."""
        name = name or "t_" + secrets.token_hex(6)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
            raise ValueError(f"unsupported database name: {name!r}")
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    # ------------------------------------------------------------------ internals

    def _as_root(self) -> bool:
        return hasattr(os, "geteuid") and os.geteuid() == 0

    def _make_base_dir(self) -> None:
        base = Path(tempfile.mkdtemp(prefix="pgcluster-", dir=self._tmp_parent))
        self.base_dir = base
        (base / "sock").mkdir()
        if self._as_root():
            try:
                pw = pwd.getpwnam(self._os_user)
            except KeyError:
                raise PgClusterError(
                    f"running as root, but OS user {self._os_user!r} does not exist; "
                    "PostgreSQL refuses to run as root. Create an unprivileged user "
                    "(e.g. `useradd --system postgres`) or set PGCLUSTER_USER."
                ) from None
            for p in (base, base / "sock"):
                os.chown(p, pw.pw_uid, pw.pw_gid)
            # The server user must be able to reach the directory.
            probe = self._run(["test", "-w", str(base)], check=False)
            if probe.returncode != 0:
                raise PgClusterError(
                    f"OS user {self._os_user!r} cannot write to {base}; its parent "
                    "directories must be traversable (set PGCLUSTER_TMPDIR)"
                )

    def _wrap(self, argv: list[str]) -> list[str]:
        if not self._as_root():
            return argv
        if shutil.which("runuser"):
            return ["runuser", "-u", self._os_user, "--", *argv]
        return ["su", self._os_user, "-s", "/bin/sh", "-c", shlex.join(argv)]

    def _env(self) -> dict[str, str]:
        # Stray PG* variables (PGDATA, PGPORT, PGOPTIONS, ...) must not leak in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C", TZ="UTC")
        return env

    def _run(
        self, argv: list[str], *, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self._wrap(argv),
            cwd=self.base_dir,  # a directory the server user can enter
            env=self._env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise PgClusterError(
                f"command failed ({proc.returncode}): {shlex.join(argv)}\n"
                f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}\n"
                f"--- server log ---\n{self.server_log()}"
            )
        return proc

    def _initdb(self) -> None:
        assert self._bins is not None
        self._run(
            [
                self._bins.initdb,
                "-D", str(self.data_dir),
                "-U", "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ]
        )

    def _write_conf(self) -> None:
        settings = {
            **self.settings,
            "port": str(self.port),
            "listen_addresses": f"'{self.host}'",
            "unix_socket_directories": f"'{self.socket_dir}'",
        }
        lines = ["", "# --- tests/pgcluster.py ---"]
        lines += [f"{k} = {v}" for k, v in settings.items()]
        conf = self.data_dir / "postgresql.auto.conf"
        # postgresql.auto.conf is read last and is owned by the server user already;
        # appending (as root or as the owner) keeps ownership intact.
        with open(conf, "a") as f:
            f.write("\n".join(lines) + "\n")

    def _start_on_free_port(self, attempts: int = 5) -> None:
        # Another process may grab the port between probing and binding; retry.
        for attempt in range(attempts):
            self.port = free_port(self.host)
            self._write_conf()
            try:
                self._pg_ctl_start()
                return
            except PgClusterError:
                if attempt + 1 < attempts and "Address already in use" in self.server_log():
                    self.log_path.write_text("")
                    continue
                raise

    def _pg_ctl_start(self) -> None:
        assert self._bins is not None
        deadline = time.monotonic() + START_TIMEOUT
        self._run(
            [
                self._bins.pg_ctl,
                "-D", str(self.data_dir),
                "-l", str(self.log_path),
                "-w", "-t", str(int(START_TIMEOUT)),
                "start",
            ],
            timeout=START_TIMEOUT + 10,
        )
        self._running = True
        if not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        self._wait_ready(deadline)

    def _wait_ready(self, deadline: float) -> None:
        last: Exception | None = None
        while True:
            try:
                with psycopg.connect(self.url(), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.Error as e:
                last = e
            if time.monotonic() >= deadline:
                raise PgClusterError(
                    f"PostgreSQL on {self.host}:{self.port} did not accept connections "
                    f"within {START_TIMEOUT:.0f}s: {last}\n"
                    f"--- server log ---\n{self.server_log()}"
                )
            time.sleep(0.05)

    def _pg_ctl_stop(self, mode: str) -> None:
        assert self._bins is not None
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"bad shutdown mode {mode!r}")
        self._run(
            [self._bins.pg_ctl, "-D", str(self.data_dir), "-m", mode, "-w", "stop"],
            timeout=60,
        )
        self._running = False

    def _cleanup_after_failure(self) -> None:
        try:
            if self._running:
                self._pg_ctl_stop("immediate")
        except Exception:
            pass
        self._running = False
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None
        if self._atexit_registered:
            atexit.unregister(self.stop)
            self._atexit_registered = False


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


if __name__ == "__main__":  # quick manual check: python tests/pgcluster.py
    t0 = time.perf_counter()
    with PgCluster() as pg:
        t1 = time.perf_counter()
        print(f"started {pg!r} in {t1 - t0:.2f}s")
        for _ in range(2):
            u = pg.create_database()
            with psycopg.connect(u) as c:
                print(u, c.execute("SELECT 1").fetchone())
        t2 = time.perf_counter()
        pg.restart()
        print(f"restart {time.perf_counter() - t2:.2f}s")
    print(f"total {time.perf_counter() - t0:.2f}s")
