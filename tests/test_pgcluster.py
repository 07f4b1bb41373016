"""The throwaway PostgreSQL cluster used by the postgres half of the suite works."""

import os

import psycopg
import pytest

from ops.pgcluster import PgCluster


def _require_binaries() -> None:
    if PgCluster.available():
        return
    msg = (
        "PostgreSQL server binaries (initdb, pg_ctl) not found in $PATH, /usr/local/bin "
        "or /usr/lib/postgresql/*/bin; install postgresql-15 (ops/machine/test-packages.sh, run by make test)"
    )
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and {msg}", pytrace=False)
    pytest.skip(msg)


def test_cluster_start_write_restart_read_stop():
    _require_binaries()
    pg = PgCluster()
    with pg:
        assert pg.running
        url = pg.create_database()
        assert url.startswith(f"postgresql://postgres@127.0.0.1:{pg.port}/")
        port, base = pg.port, pg.base_dir

        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE t (id int PRIMARY KEY, note text NOT NULL)")
            conn.execute("INSERT INTO t VALUES (1, %s)", ("储蓄爱心",))
            assert conn.execute("SHOW max_connections").fetchone() == ("300",)
            assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)

        pg.restart()
        assert pg.running and pg.port == port and pg.base_dir == base

        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT id, note FROM t").fetchall() == [(1, "储蓄爱心")]

        other = pg.create_database("second_db")
        assert other.endswith("/second_db")
        with psycopg.connect(other) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)

    assert not pg.running
    assert not base.exists()
