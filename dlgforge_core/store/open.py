"""Opening the configured store: ``store.backend`` file (default) or postgres."""

from __future__ import annotations

from typing import Any

from dlgforge_core.store.base import Store


def open_store(cfg: Any, prepare: bool = True) -> Store:
    """The store of ``cfg``; ``prepare`` connects (PostgreSQL: pre-flight, schema) or repairs
    the folder (file). Blocking: call it off the event loop."""
    if cfg.store.backend == "postgres":
        from dlgforge_core.store.postgres import PostgresStore

        store: Store = PostgresStore.from_config(cfg)
    else:
        from dlgforge_core.store.file_store import FileStore

        store = FileStore(cfg)
    if prepare:
        store.prepare()
    return store


def check_store(cfg: Any) -> None:
    """Fail in one line (``StoreError``) when the configured database cannot be used; the
    file store needs no check. Run before any LLM call."""
    if cfg.store.backend != "postgres":
        return
    store = open_store(cfg, prepare=True)
    store.close()
