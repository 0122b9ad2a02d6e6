"""The HTTP library under the installed ``openai`` SDK, used by every HTTP call of dlgforge
(one library loaded, not two): ``httpx2`` for newer SDKs, ``httpx`` for older ones."""

try:
    import httpx2 as httpx
except ImportError:  # pragma: no cover - depends on the installed SDK
    import httpx  # type: ignore[no-redef]

__all__ = ["httpx"]
