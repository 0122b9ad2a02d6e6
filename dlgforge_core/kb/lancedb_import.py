"""Import LanceDB without the REST namespace client it never uses here.

``lancedb`` imports ``lance_namespace``, which imports the model classes of
``lance_namespace_urllib3_client``; importing any submodule runs that package's
``__init__``, which also builds every REST API class (pydantic ``validate_call`` schemas for
hundreds of endpoints): about 0.5 s of CPU at every process start that opens an index, for
a client a local index folder never calls. The package is registered un-executed (its
submodules, the models, import normally); the first attribute asked of the package itself
runs its real ``__init__``, so a caller that does use the REST client still gets it.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any

_REST_CLIENT = "lance_namespace_urllib3_client"
_lock = threading.Lock()


def import_lancedb() -> ModuleType:
    """``import lancedb``, with the REST client package's ``__init__`` deferred."""
    if "lancedb" not in sys.modules:
        with _lock:
            if _REST_CLIENT not in sys.modules:
                _defer_package(_REST_CLIENT)
    import lancedb

    return lancedb


def _defer_package(name: str) -> None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    module = importlib.util.module_from_spec(spec)
    loaded = threading.Lock()

    def __getattr__(attribute: str) -> Any:  # PEP 562: only for names not yet defined
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        with loaded:
            if module.__dict__.get("__getattr__") is __getattr__:
                del module.__dict__["__getattr__"]
                spec.loader.exec_module(module)
        return getattr(module, attribute)

    module.__getattr__ = __getattr__  # type: ignore[attr-defined]
    sys.modules[name] = module
