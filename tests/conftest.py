"""Suite-wide settings: everything runs offline against loopback services."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
# A real key in the developer's shell must never reach the loopback test servers.
for _name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "LLM_MODEL", "OPENAI_MODEL", "HF_TOKEN", "TAVILY_API_KEY"):
    os.environ.pop(_name, None)

# A real PostgreSQL for any test: pg_cluster (session), postgres_url (a fresh database per test).
pytest_plugins = ["tests.support.postgres"]
