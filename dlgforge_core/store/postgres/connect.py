"""Connecting to PostgreSQL: a pre-flight that fails in one line, then a connection pool.

The DSN may hold a password: messages name only host, port, database and user.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from dlgforge_core.errors import StoreError

CONNECT_TIMEOUT_S = 5
POOL_WAIT_S = 10.0
T = TypeVar("T")


def describe(dsn: str) -> str:
    """``user@host:port/dbname`` of ``dsn`` (never the password)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(dsn)
    except Exception:  # noqa: BLE001 - a malformed DSN is reported by check_connection
        return "(unparsable DSN)"
    host = parts.get("host") or parts.get("hostaddr") or "localhost"
    port = parts.get("port") or "5432"
    user = f"{parts['user']}@" if parts.get("user") else ""
    return f"{user}{host}:{port}/{parts.get('dbname') or parts.get('user') or ''}"


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0].strip() if text else type(err).__name__


def connection_kwargs(statement_timeout_ms: int) -> dict[str, Any]:
    """Per-connection settings: the statement timeout (0: none) and the connect timeout."""
    kwargs: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "dlgforge"}
    if statement_timeout_ms:
        kwargs["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
    return kwargs


def check_connection(dsn: str, statement_timeout_ms: int) -> None:
    """Connect once, so a bad DSN, a wrong password or an unreachable server is one line."""
    import psycopg

    where = describe(dsn)
    try:
        with psycopg.connect(dsn, **connection_kwargs(statement_timeout_ms)) as conn:
            conn.execute("select 1")
    except psycopg.ProgrammingError:
        raise StoreError("store.postgres.dsn: not a valid PostgreSQL connection string") from None
    except psycopg.Error as err:
        raise StoreError(f"store.postgres.dsn: cannot connect to PostgreSQL at {where}: "
                         f"{_reason(err)}") from None


def _reason(err: BaseException) -> str:
    """The useful part of libpq's message ('connection failed: connection to server at
    "h", port p failed: FATAL:  password authentication failed for user "u"')."""
    text = first_line(err)
    if " failed: " in text:
        text = text.rsplit(" failed: ", 1)[1]
    return " ".join(text.replace("FATAL:", "").split())


def _probe(dsn: str) -> str | None:
    """Why a new connection fails now (the pool only says it waited), or None when it works."""
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT_S):
            return None
    except psycopg.Error as err:
        return _reason(err)


def _quiet_pool_logs() -> None:
    """The pool logs every failed reconnection; the store reports a lost server in one line."""
    logger = logging.getLogger("psycopg.pool")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    logger.propagate = False


def make_pool(dsn: str, min_size: int, max_size: int, statement_timeout_ms: int) -> Any:
    """An open psycopg pool (connections checked when taken: a restarted server is noticed)."""
    from psycopg_pool import ConnectionPool

    _quiet_pool_logs()
    pool = ConnectionPool(
        conninfo=dsn, min_size=min_size, max_size=max_size, open=False, timeout=POOL_WAIT_S,
        kwargs=connection_kwargs(statement_timeout_ms), check=ConnectionPool.check_connection,
        name="dlgforge-store", reconnect_timeout=POOL_WAIT_S)
    pool.open(wait=min_size > 0, timeout=POOL_WAIT_S)
    return pool


def store_errors(where: Callable[[Any], str]) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Turn a lost server (or any database failure) inside a store method into one line."""

    def wrap(method: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(method)
        def inner(self: Any, *args: Any, **kwargs: Any) -> T:
            import psycopg
            from psycopg_pool import PoolTimeout

            try:
                return method(self, *args, **kwargs)
            except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as err:
                reason = _probe(self.dsn) if isinstance(err, PoolTimeout) else None
                raise StoreError(
                    f"store.postgres: lost the PostgreSQL server at {where(self)} "
                    f"({reason or _reason(err)}); re-run the same command to resume") from None
            except psycopg.Error as err:
                raise StoreError(f"store.postgres: {method.__name__} failed at {where(self)}: "
                                 f"{first_line(err)}") from None

        return inner

    return wrap
