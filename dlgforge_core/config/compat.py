"""dlgforge's config schemas translated to the native one, before validation.

``translate(data, ...)`` takes the YAML mapping of a config written for dlgforge (its newest
schema: ``run.turns.*``, ``run.data.seeding.*``, ``llm.agents.user|assistant|judge``,
``tools.*``, ...; or the older one its README documented: ``run.min_turns``,
``run.seed_topics_*``, top-level ``ray`` / ``retrieval`` / ``models``, ``llm.backend``,
``llm.agents.qa_generator``, ...) and returns the native mapping. Native keys pass through
untouched, so a native config is returned as it is. Every dlgforge key either sets a native
key or is kept out with one warning naming it and why it has no effect here (``warn``); a
key neither schema knows stays an error naming its path. Null values, empty strings and empty
mappings mean "unset" and are dropped without a warning. The key table is ``compat_keys.py``.

``environ`` None is the ``dlgforge config migrate`` mode: keys read from environment variables
(``api_key_env``) become ``${VAR}`` references instead of their value, so no secret is written.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from dlgforge_core.config.compat_keys import MOVED, NO_EFFECT, empty
from dlgforge_core.config.compat_llm import translate_llm
from dlgforge_core.errors import ConfigError

_DISTRIBUTIONS = {"uniform": "uniform", "poisson": "poisson", "pois": "poisson",
                  "exponential": "exponential", "exp": "exponential"}
_RAY_ACTOR = ("num_cpus", "num_gpus", "coordinator_num_cpus", "replicas_qa", "replicas_complete")
_PREFIXES = {p.rsplit(".", i)[0] for p in (*MOVED, *NO_EFFECT) for i in range(1, p.count(".") + 1)}
_OLD_RETRIEVAL = ("overlap", "persist_dir", "skip_if_unchanged", "embedding_backend", "embedding_model",
                  "embedding_device", "fallback_on_cpu", "embedding_model_kwargs",
                  "embedding_tokenizer_kwargs", "embedding_encode_kwargs")


def looks_like_dlgforge(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` uses keys only dlgforge's schemas have (not a native config)."""
    run = data.get("run") if isinstance(data.get("run"), dict) else {}
    llm = data.get("llm") if isinstance(data.get("llm"), dict) else {}
    agents = llm.get("agents") if isinstance(llm.get("agents"), dict) else {}
    retrieval = data.get("retrieval") if isinstance(data.get("retrieval"), dict) else {}
    return bool(
        {"tools", "models"} & data.keys()
        or {"turns", "data", "seed_question", "question_seed", "seed_topics_path", "seed_topics_enabled",
            "seed_topics_variant", "seed_topics_probability"} & run.keys()
        or {"user", "assistant", "judge"} & agents.keys()
        or {"api_key_env", "provider", "extra"} & llm.keys()
        or set(_OLD_RETRIEVAL) & retrieval.keys()
        or any(k.startswith("doc_coverage_") for k in (data.get("coverage") or {}))
    )


class _Translator:
    def __init__(self, data: dict[str, Any], environ: Mapping[str, str] | None, source: str,
                 warn: Callable[[str], None]) -> None:
        self.data = data
        self.environ = environ
        self.source = source
        self._warn = warn
        self.dlgforge = looks_like_dlgforge(data)

    # helpers -------------------------------------------------------------------------------
    def error(self, path: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {path}: {message}")

    def warn(self, path: str, why: str) -> None:
        self._warn(f"{path}: accepted, no effect here: {why}")

    def section(self, parent: dict[str, Any], key: str, path: str) -> dict[str, Any] | None:
        value = parent.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error(path, f"must be a mapping, got {type(value).__name__}")
        return value

    def set(self, native: str, value: Any, origin: str) -> None:
        """Set the native key ``native`` (dotted) from the dlgforge key ``origin``."""
        if empty(value):
            return
        *parents, leaf = native.split(".")
        node = self.data
        for name in parents:
            child = node.get(name)
            if child is None:
                child = node[name] = {}
            if not isinstance(child, dict):
                raise self.error(name, f"must be a mapping, got {type(child).__name__}")
            node = child
        if leaf in node and node[leaf] is not None and node[leaf] != value and native != origin:
            raise self.error(origin, f"conflicts with {native} (both are set; keep one)")
        node[leaf] = value

    def consume(self, value: Any, path: str) -> None:
        """Translate one dlgforge key (or block) through the key table."""
        if path in MOVED:
            self.set(MOVED[path], value, path)
        elif path in NO_EFFECT:
            if not empty(value) and NO_EFFECT[path]:
                self.warn(path, NO_EFFECT[path])
        elif path in _PREFIXES and isinstance(value, dict):
            for key, item in value.items():
                self.consume(item, f"{path}.{key}")
        elif not (path in _PREFIXES and value is None):
            raise self.error(path, "unknown key")

    def secret_from_env(self, var: Any, path: str) -> str | None:
        """The value of the variable named by ``var`` (migrate mode: a ``${VAR}`` reference)."""
        if empty(var):
            return None
        if not isinstance(var, str):
            raise self.error(path, "must name an environment variable")
        if self.environ is None:
            return "${" + var + "}"
        return self.environ.get(var) or None

    # sections -------------------------------------------------------------------------------
    def run(self) -> None:
        run = self.section(self.data, "run", "run")
        if run is None:
            return
        for key in ("run_id", "resume_run_id", "n_turns", "min_turns", "max_turns", "turn_count_mean",
                    "turn_count_distribution"):
            if key in run and (run[key] is None or run[key] == ""):
                del run[key]  # dlgforge writes "" / null for "unset"
        turns = self.section(run, "turns", "run.turns")
        run.pop("turns", None)
        if turns is not None:
            self.turns(turns)
        if self.dlgforge and "n_turns" in run and ({"min_turns", "max_turns"} & run.keys()) and turns is None:
            self.warn("run.n_turns", "dlgforge samples the turn count within run.min_turns..run.max_turns "
                                     "when they are set; the fixed count is not used")
            del run["n_turns"]
        if isinstance(run.get("turn_count_distribution"), str):
            run["turn_count_distribution"] = _DISTRIBUTIONS.get(run["turn_count_distribution"].strip().lower(),
                                                                run["turn_count_distribution"])
        self.seeding(run)
        self.distributed(run)

    def turns(self, turns: dict[str, Any]) -> None:
        unknown = turns.keys() - {"mode", "exact", "min", "max", "distribution", "mean"}
        if unknown:
            raise self.error(f"run.turns.{sorted(unknown)[0]}", "unknown key")
        mode = str(turns.get("mode") or "range").strip().lower()
        if mode not in ("exact", "range"):
            raise self.error("run.turns.mode", f"must be exact or range (got {turns.get('mode')!r})")
        if mode == "exact":
            exact = next((turns[k] for k in ("exact", "max", "min") if not empty(turns.get(k))), None)
            if exact is None:
                raise self.error("run.turns.exact", "required when run.turns.mode is exact")
            self.set("run.n_turns", exact, "run.turns.exact")
        else:
            self.set("run.min_turns", turns.get("min"), "run.turns.min")
            self.set("run.max_turns", turns.get("max"), "run.turns.max")
        distribution = turns.get("distribution")
        if not empty(distribution):
            name = _DISTRIBUTIONS.get(str(distribution).strip().lower())
            if name is None:
                raise self.error("run.turns.distribution",
                                 f"must be uniform, poisson or exponential (got {distribution!r})")
            self.set("run.turn_count_distribution", name, "run.turns.distribution")
        mean = turns.get("mean")
        if not empty(mean):
            self.set("run.turn_count_mean", mean, "run.turns.mean")

    def seeding(self, run: dict[str, Any]) -> None:
        data = self.section(run, "data", "run.data")
        run.pop("data", None)
        seeding = self.section(data, "seeding", "run.data.seeding") if data else None
        if data and data.keys() - {"seeding"}:
            raise self.error(f"run.data.{sorted(data.keys() - {'seeding'})[0]}", "unknown key")
        seeding = dict(seeding or {})
        topics = self.section(seeding, "topics", "run.data.seeding.topics")
        seeding.pop("topics", None)
        question = seeding.pop("question", None)
        if seeding:
            raise self.error(f"run.data.seeding.{sorted(seeding)[0]}", "unknown key")
        questions = [(question, "run.data.seeding.question")]
        questions += [(run.pop(k, None), f"run.{k}") for k in ("seed_question", "question_seed")]
        for value, path in questions:
            if not empty(value):
                self.set("run.seed", seed_from_text(value), path)
                break
        topics = dict(topics or {})
        for key in ("path", "enabled", "variant", "probability"):
            old = run.pop(f"seed_topics_{key}", None)
            if key not in topics and old is not None:
                topics[key] = old
        enabled = topics.pop("enabled", True)
        path = topics.pop("path", None)
        if enabled not in (False, "false", "0", 0) and not empty(path):
            self.set("coverage.seed_topics_path", path, "run.data.seeding.topics.path")
        for key, value in topics.items():
            self.consume(value, f"run.data.seeding.topics.{key}")

    def distributed(self, run: dict[str, Any]) -> None:
        dist = self.section(run, "distributed", "run.distributed")
        if dist is None:
            return
        for key in ("backend", "executor"):
            value = dist.pop(key, None)
            if not empty(value) and str(value).strip().lower() != "ray":
                raise self.error(f"run.distributed.{key}", f"only ray is available (got {value!r})")
        spawn = self.section(dist, "spawn", "run.distributed.spawn")
        dist.pop("spawn", None)
        for key, value in (spawn or {}).items():
            self.consume(value, f"run.distributed.spawn.{key}")
        ray = self.section(dist, "ray", "run.distributed.ray")
        dist.pop("ray", None)
        if ray is not None:
            self.ray(dict(ray), "run.distributed.ray")

    def ray(self, ray: dict[str, Any], path: str) -> None:
        """dlgforge's ray block (``run.distributed.ray`` or the older top-level ``ray``)."""
        address = ray.pop("address", None)
        auto_start = ray.pop("auto_start_local", True)
        if not empty(address):
            # "auto" with a local fallback is what a missing ray.address does here: join the
            # running cluster of this machine, else start a local runtime
            if not (str(address).strip() == "auto" and auto_start not in (False, "false", 0)):
                self.set("ray.address", address, f"{path}.address")
        namespace = ray.pop("namespace", None)
        if not empty(namespace):
            self.warn(f"{path}.namespace", NO_EFFECT["ray.namespace"])
        actor = self.section(ray, "actor", f"{path}.actor")
        ray.pop("actor", None)
        for key, value in (actor or {}).items():
            if key not in _RAY_ACTOR:
                raise self.error(f"{path}.actor.{key}", "unknown key")
            if not empty(value):
                self.warn(f"{path}.actor.{key}", NO_EFFECT[f"ray.actor.{key}"])
        if "num_cpus" in ray:
            self.set("ray.num_cpus", ray.pop("num_cpus"), f"{path}.num_cpus")
        if ray:
            raise self.error(f"{path}.{sorted(ray)[0]}", "unknown key")

    def top_level_ray(self) -> None:
        ray = self.section(self.data, "ray", "ray")
        if ray is None or not {"auto_start_local", "namespace", "actor"} & ray.keys():
            return
        self.data["ray"] = {}
        self.ray(dict(ray), "ray")

    def llm(self) -> None:
        translate_llm(self)

    def coverage(self) -> None:
        cov = self.section(self.data, "coverage", "coverage")
        if cov is None:
            return
        mode = cov.pop("doc_coverage_mode", None)
        epsilon = cov.pop("doc_coverage_epsilon", None)
        if not empty(mode) and str(mode).strip().lower() not in ("balanced", "off"):
            raise self.error("coverage.doc_coverage_mode", f"must be balanced or off (got {mode!r})")
        if not empty(mode) and str(mode).strip().lower() == "off":
            # off: any document, uniformly; the same as exploring at every draw
            self.set("coverage.exploration_probability", 1.0, "coverage.doc_coverage_mode")
            if not empty(epsilon):
                self.warn("coverage.doc_coverage_epsilon", "doc_coverage_mode is off: every pick is random")
        elif not empty(epsilon):
            self.set("coverage.exploration_probability", epsilon, "coverage.doc_coverage_epsilon")
        if "doc_coverage_fraction" in cov:
            self.consume(cov.pop("doc_coverage_fraction"), "coverage.doc_coverage_fraction")

    def tools(self) -> None:
        tools = self.section(self.data, "tools", "tools")
        self.data.pop("tools", None)
        if tools is None:
            return
        tools = copy.deepcopy(tools)
        web = self.section(tools, "web_search", "tools.web_search") or {}
        enabled = web.pop("enabled", None)
        old_enabled = tools.pop("web_search_enabled", None)
        enabled = old_enabled if enabled is None else enabled
        if enabled is not None:
            self.set("retrieval.web_search.enabled", enabled, "tools.web_search.enabled")
            if enabled is True:
                self.set("retrieval.web_search.provider", "serper", "tools.web_search.enabled")
        retrieval = self.section(tools, "retrieval", "tools.retrieval") or {}
        index = self.section(retrieval, "index", "tools.retrieval.index") or {}
        self.skip_if_unchanged(index.pop("skip_if_unchanged", None), "tools.retrieval.index.skip_if_unchanged")
        for key, value in tools.items():
            self.consume(value, f"tools.{key}")

    def skip_if_unchanged(self, value: Any, path: str) -> None:
        if value is False:  # re-embed every document each run: a rebuild from scratch here
            retrieval = self.data.setdefault("retrieval", {})
            if not isinstance(retrieval, dict):
                raise self.error("retrieval", f"must be a mapping, got {type(retrieval).__name__}")
            retrieval["rebuild_index"] = True  # rebuild_index: false next to it is dlgforge's default

    def old_sections(self) -> None:
        retrieval = self.section(self.data, "retrieval", "retrieval")
        if retrieval is not None:
            self.skip_if_unchanged(retrieval.pop("skip_if_unchanged", None), "retrieval.skip_if_unchanged")
            for key in _OLD_RETRIEVAL:
                if key in retrieval:
                    self.consume(retrieval.pop(key), f"retrieval.{key}")
        models = self.section(self.data, "models", "models")
        self.data.pop("models", None)
        for key, value in (models or {}).items():
            self.consume(value, f"models.{key}")

    def saving(self) -> None:
        saving = self.section(self.data, "saving", "saving")
        if saving is None:
            return
        columns = self.section(saving, "output_columns", "saving.output_columns")
        if columns is not None and "message_with_tools" in columns:
            self.consume(columns.pop("message_with_tools"), "saving.output_columns.message_with_tools")
        push = self.section(saving, "hf_push", "saving.hf_push")
        if push is not None and "enabled" in push:
            # dlgforge pushes at the end of a run only when enabled and auto_push_on_run
            if push.pop("enabled") in (False, "false", 0):
                push["auto_push_on_run"] = False
        if push is not None:
            for key in ("repo_id", "source_file", "stats_file", "plots_dir"):
                if push.get(key) == "":
                    del push[key]


def seed_from_text(value: Any) -> int:
    """dlgforge's seed is a string; ``run.seed`` an integer: digits as is, else a stable hash."""
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16)


def translate(data: dict[str, Any], source: str, warn: Callable[[str], None],
              environ: Mapping[str, str] | None) -> dict[str, Any]:
    """The native config mapping for ``data`` (dlgforge or native schema); see the module doc."""
    out = copy.deepcopy(data)
    t = _Translator(out, environ, source, warn)
    t.tools()
    t.old_sections()
    t.run()
    t.top_level_ray()
    t.llm()
    t.coverage()
    t.saving()
    return out
