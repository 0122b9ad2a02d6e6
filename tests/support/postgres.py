"""A real PostgreSQL server for tests: one throwaway cluster per session, a fresh database per test.

``DLGFORGE_TEST_PG_DSN`` (a server the tests may create databases on) replaces the throwaway
cluster. Registered for the whole suite in ``tests/conftest.py``:

- ``pg_cluster`` (session): the running server;
- ``postgres_url`` (function): the URL of a database created for this test, dropped after it;
- ``own_pg_cluster`` (function): a server of this test's own, that it may stop and start.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN = next((p for p in (Path("/usr/local/bin"), Path("/usr/lib/postgresql/15/bin")) if (p / "initdb").exists()),
              None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgCluster:
    """``initdb`` + ``pg_ctl`` in a temp folder (as the ``postgres`` user when run as root)."""

    def __init__(self, admin_url: str | None = None) -> None:
        self.root: Path | None = None
        self.port = 0
        self.admin_url = admin_url or ""

    @property
    def throwaway(self) -> bool:
        return self.root is not None

    def _as_postgres(self) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def init(self) -> PgCluster:
        if PG_BIN is None:
            pytest.fail("PostgreSQL binaries (initdb, pg_ctl) not found and DLGFORGE_TEST_PG_DSN is not set")
        self.root = Path(tempfile.mkdtemp(prefix="dlgforge-pg-"))
        self.port = free_port()
        (self.root / "sock").mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.root / "sock", "postgres")
        subprocess.run([*self._as_postgres(), str(PG_BIN / "initdb"), "-D", str(self.root / "data"), "-U",
                        "postgres", "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
        hba = self.root / "data" / "pg_hba.conf"  # one role that must give its password
        hba.write_text("local all all trust\nhost all dlg_pw 127.0.0.1/32 scram-sha-256\n"
                       "host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n", encoding="utf-8")
        if os.geteuid() == 0:
            shutil.chown(hba, "postgres")
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        return self.start()

    def start(self) -> PgCluster:
        assert self.root is not None
        options = f"-p {self.port} -k {self.root / 'sock'} -c listen_addresses=127.0.0.1 -c max_connections=200"
        subprocess.run([*self._as_postgres(), str(PG_BIN / "pg_ctl"), "-D", str(self.root / "data"), "-o", options,
                        "-w", "-l", str(self.root / "server.log"), "start"], check=True, capture_output=True)
        return self

    def stop(self, mode: str = "fast") -> None:
        assert self.root is not None
        subprocess.run([*self._as_postgres(), str(PG_BIN / "pg_ctl"), "-D", str(self.root / "data"), "-m", mode,
                        "-w", "stop"], capture_output=True)

    def remove(self) -> None:
        if self.root is not None:
            self.stop("immediate")
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, dbname: str) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{dbname}"

    def create_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'create database "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        try:
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f'drop database if exists "{name}" with (force)')
        except psycopg.Error:
            pass


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    given = os.environ.get("DLGFORGE_TEST_PG_DSN")
    if given:
        yield PgCluster(admin_url=given)
        return
    cluster = PgCluster().init()
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def postgres_url(pg_cluster: PgCluster) -> Iterator[str]:
    """A database of this test's own on the session's server."""
    name = pg_cluster.create_database()
    try:
        yield pg_cluster.url(name)
    finally:
        pg_cluster.drop_database(name)


@pytest.fixture
def own_pg_cluster() -> Iterator[PgCluster]:
    """A server only this test uses (it may stop and restart it)."""
    cluster = PgCluster().init()
    try:
        yield cluster
    finally:
        cluster.remove()
