"""User-facing errors: each message is one line that names the bad input."""


class DlgforgeError(Exception):
    """A failure caused by the user's input or environment, not by a bug.

    The CLI prints ``error: <message>`` and exits with code 2, without a traceback.
    """


class ConfigError(DlgforgeError):
    """The configuration is invalid: the message names the key path or file."""


class KBError(DlgforgeError):
    """The knowledge base cannot be read or indexed."""


class LLMSetupError(DlgforgeError):
    """An LLM backend cannot be set up (endpoint unreachable, model file missing, ...)."""


class ExportError(DlgforgeError):
    """The export cannot be prepared (bad paths, missing sources)."""


class GateError(DlgforgeError):
    """A quality gate blocks the push: the message names the gate and offending records."""


class StoreError(DlgforgeError):
    """The store (PostgreSQL) cannot be reached or used: bad DSN, server gone, newer schema."""
