"""The ``llm`` part of the dlgforge translation (see compat.py): agents, keys, endpoints."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from dlgforge_core.config.compat_keys import NO_EFFECT, empty

ROLE_TO_AGENT: dict[str, str] = {"user": "qa_generator", "assistant": "kb_responder", "judge": "qa_judge"}
_AGENT_KEYS = {"provider", "model", "base_url", "api_key", "api_key_env", "temperature", "max_tokens",
               "top_p", "timeout", "max_retries", "extra"}
_KEY_ENV_BY_ROLE = {"user": ("LLM_USER_API_KEY_ENV", "LLM_QA_GENERATOR_API_KEY_ENV"),
                    "assistant": ("LLM_ASSISTANT_API_KEY_ENV", "LLM_KB_RESPONDER_API_KEY_ENV"),
                    "judge": ("LLM_JUDGE_API_KEY_ENV", "LLM_QA_JUDGE_API_KEY_ENV")}


def translate_llm(t: Any) -> None:
    """The ``llm`` section: dlgforge's agent names and spellings, endpoints as plain URLs."""
    llm = t.section(t.data, "llm", "llm")
    if llm is None:
        return
    clean_agent(t, llm, "llm", top=True)
    routing = t.section(llm, "routing", "llm.routing")
    if routing is not None and isinstance(routing.get("endpoints"), list):
        routing["endpoints"] = [endpoint(t, e, f"llm.routing.endpoints[{i}]")
                                for i, e in enumerate(routing["endpoints"])]
    agents = t.section(llm, "agents", "llm.agents")
    if agents is None:
        return
    for role, native in ROLE_TO_AGENT.items():
        if role not in agents:
            continue
        given = agents.pop(role)
        if given is None:
            continue
        if not isinstance(given, dict):
            raise t.error(f"llm.agents.{role}", f"must be a mapping, got {type(given).__name__}")
        agent = clean_agent(t, dict(given), f"llm.agents.{role}")
        if agent.get("api_key") is None:
            key = key_from_role_env(t, role)
            if key:
                agent["api_key"] = key
        earlier = agents.get(native) if isinstance(agents.get(native), dict) else {}
        agents[native] = {**earlier, **agent}
    for native in ROLE_TO_AGENT.values():
        if isinstance(agents.get(native), dict):
            agents[native] = clean_agent(t, agents[native], f"llm.agents.{native}")


def clean_agent(t: Any, agent: dict[str, Any], path: str, top: bool = False) -> dict[str, Any]:
    """Nulls and empty strings dropped, ``api_key_env`` read, unknown keys named."""
    for key in list(agent):
        if key in _AGENT_KEYS and (agent[key] is None or agent[key] == ""):
            del agent[key]
    if "api_key_env" in agent:
        key = t.secret_from_env(agent.pop("api_key_env"), f"{path}.api_key_env")
        if key and not agent.get("api_key"):
            agent["api_key"] = key
    if not top:
        unknown = agent.keys() - _AGENT_KEYS
        if unknown:
            raise t.error(f"{path}.{sorted(unknown)[0]}", "unknown key")
    return agent


def key_from_role_env(t: Any, role: str) -> str | None:
    """dlgforge's env-only credentials: ``LLM_<ROLE>_API_KEY_ENV`` names the key variable."""
    env = t.environ if t.environ is not None else os.environ
    for mapping in _KEY_ENV_BY_ROLE[role]:
        var = env.get(mapping)
        if var:
            return t.secret_from_env(var, mapping)
    return None


def endpoint(t: Any, entry: Any, path: str) -> Any:
    """A plain URL becomes ``{base_url}`` (``/v1`` added to a bare host); ``name`` warned."""
    if isinstance(entry, str):
        url = entry.strip()
        if not urlsplit(url).path.strip("/"):
            url = url.rstrip("/") + "/v1"
        return {"base_url": url}
    if isinstance(entry, dict) and "name" in entry:
        entry = dict(entry)
        name = entry.pop("name")
        if not empty(name):
            t.warn(f"{path}.name", NO_EFFECT["llm.routing.endpoints[].name"])
    return entry
