"""The PostgreSQL store (``store.backend: postgres``): psycopg 3 with its connection pool."""

from dlgforge_core.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
