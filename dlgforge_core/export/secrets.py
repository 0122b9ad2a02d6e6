"""Secrets in text: detection (``detect-secrets``), redaction and the ``no_secrets`` gate.

Detection runs Yelp's ``detect-secrets`` as a library, offline, with its plugin set (AWS,
Azure, GitHub, GitLab, Slack, Stripe, Twilio, OpenAI, JWT, private keys, basic-auth URLs,
``password = "..."`` keywords, base64 high-entropy strings, ...) and its false-positive
filters (UUIDs, sequential strings, templated values, ``${VAR}`` references). Two of its
plugins are left out on purpose: ``IPPublicDetector`` (IP addresses are the PII gate's job)
and ``HexHighEntropyString`` (commit ids and checksums fill technical documents and are not
secrets; hex keys next to a keyword are still found by the keyword plugin). A few patterns
it lacks are added here: Hugging Face, current OpenAI/Anthropic and Google API keys,
``SOME_SECRET=value`` assignments and "the password is ..." in prose.

Findings carry a kind and a position, never the matched text, so reports, logs and gate
files cannot leak what they found.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dlgforge_core.export.checks import MAX_OFFENDING, TEXT_KEYS, GateOutcome

PLACEHOLDERS = {
    "private_key": "[PRIVATE_KEY]",
    "api_key": "[API_KEY]",
    "token": "[TOKEN]",
    "password": "[PASSWORD]",
    "secret": "[SECRET]",
}
_LEFT_OUT_PLUGINS = {"IPPublicDetector", "HexHighEntropyString"}
_CATEGORY = {
    "Private Key": "private_key",
    "Secret Keyword": "password",
    "Basic Auth Credentials": "password",
    "Password in text": "password",
    "JSON Web Token": "token",
    "Slack Token": "token",
    "GitHub Token": "token",
    "GitLab Token": "token",
    "Discord Bot Token": "token",
    "Telegram Bot Token": "token",
    "Hugging Face Token": "token",
    "PyPI Token": "token",
    "NPM tokens": "token",
    "Base64 High Entropy String": "secret",
    "Secret assignment": "secret",
}
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-./+=~]")
_PEM_BLOCK = re.compile(
    r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
    r"|(?=\n\s*\n)|\Z)", re.S)
_HAS_LETTER_AND_DIGIT = re.compile(r"(?=.*[A-Za-z])(?=.*\d)")
_EXTRA: list[tuple[str, re.Pattern[str], bool]] = [  # (type, pattern, value must mix letters/digits)
    ("Hugging Face Token", re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"), False),
    ("Anthropic API Key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{32,}"), False),
    ("OpenAI API Key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}"), True),
    ("Google API Key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"), False),
    ("Secret assignment", re.compile(
        r"\b[A-Za-z0-9_]*(?:SECRET|TOKEN|API_?KEY|APIKEY|PASSWORD|PASSWD|ACCESS_KEY|PRIVATE_KEY)"
        r"[A-Za-z0-9_]*\s*[:=]\s*['\"]?([A-Za-z0-9/+_\-.=~]{12,})", re.I), True),
    ("Password in text", re.compile(
        r"\b(?:password|passwd|passphrase|pwd|mot de passe|contraseña|passwort|senha)\b"
        r"[^\n.]{0,24}?\b(?:is|was|:|=|est|es|ist|é)\s*[`'\"“«]?([^\s`'\"”»]{8,})", re.I), True),
]
_GENERIC = {"Base64 High Entropy String", "Secret assignment", "Secret Keyword"}
_lock = threading.Lock()
_FILENAME = "generated.txt"


@dataclass(frozen=True)
class SecretFinding:
    """One secret in a text: its detector type, category and position (never the text)."""

    kind: str
    category: str
    start: int
    end: int
    line: int


def find_secrets(text: str) -> list[SecretFinding]:
    """Non-overlapping secret spans of ``text``, in text order."""
    return find_secrets_many([text])[0]


def find_secrets_many(texts: Sequence[str]) -> list[list[SecretFinding]]:
    """``find_secrets`` of each text, with one pass of detect-secrets over all of them."""
    lines: list[tuple[int, str]] = []
    where: list[tuple[int, int, int]] = []  # per line: (text index, line number, offset)
    for index, text in enumerate(texts):
        offset = 0
        for number, line in enumerate((text or "").split("\n"), start=1):
            if line.strip():
                lines.append((len(lines) + 1, line))
                where.append((index, number, offset))
            offset += len(line) + 1
    raw: list[list[tuple[str, int, int, int]]] = [[] for _ in texts]
    for position, kind, value in _detect(lines):
        index, number, offset = where[position - 1]
        line = lines[position - 1][1]
        for start, end in _spans(line, value):
            raw[index].append((kind, offset + start, offset + end, number))
    return [_resolve(text or "", found) for text, found in zip(texts, raw)]


def redact_text(text: str) -> tuple[str, list[str]]:
    """``text`` with each secret replaced by its category's placeholder, and the kinds."""
    findings = find_secrets(text)
    for finding in reversed(findings):
        text = text[: finding.start] + PLACEHOLDERS[finding.category] + text[finding.end:]
    return text, [f.kind for f in findings]


def redact_value(value: Any, _key: str | None = None) -> Any:
    """A copy of a JSON value with secrets redacted in every free-text string (TEXT_KEYS)."""
    if isinstance(value, Mapping):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(item, _key) for item in value]
    if isinstance(value, str) and _key in TEXT_KEYS and value:
        return redact_text(value)[0]
    return value


def scan_records(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per text holding secrets: ``<conversation_id> <where>: <kinds>``."""
    from dlgforge_core.export.pii import record_texts

    places: list[str] = []
    texts: list[str] = []
    for record in records:
        for where, text in record_texts(record):
            if text:
                places.append(f"{record.get('conversation_id')} {where}")
                texts.append(text)
    return [f"{place}: {', '.join(sorted({f.kind for f in found}))}"
            for place, found in zip(places, find_secrets_many(texts)) if found]


def scan_chunks(chunks: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per KB chunk (``{"chunk_id", "text"}``) holding secrets."""
    unique = {str(c["chunk_id"]): str(c.get("text") or "") for c in chunks}
    ids = list(unique)
    return [f"KB chunk {cid}: {', '.join(sorted({f.kind for f in found}))}"
            for cid, found in zip(ids, find_secrets_many([unique[i] for i in ids])) if found]


def raft_chunk_secrets(files: Iterable[Any]) -> list[str]:
    """Secrets in the KB chunk texts shipped by the RAFT export (``DataFile`` list)."""
    chunks = [chunk for item in files if item.config_name == "raft" for row in item.rows
              for chunk in row["oracle_chunks"] + row["distractor_chunks"]]
    return scan_chunks(chunks) if chunks else []


def no_secrets(records: Iterable[Mapping[str, Any]], extra: Iterable[str] = ()) -> GateOutcome:
    """The ``no_secrets`` gate: no generated text holds an API key, private key, token or
    password. ``extra`` adds offending lines found elsewhere (KB chunks of the export)."""
    offending = scan_records(records) + list(extra)
    if not offending:
        return GateOutcome("no_secrets", True, "no secrets found in any message")
    return GateOutcome("no_secrets", False, f"secrets found in {len(offending)} texts "
                       "(redact with --redact-secrets or saving.hf_push.redact_secrets)",
                       offending[:MAX_OFFENDING])


def document_secrets(text: str) -> list[tuple[int, str]]:
    """``(line, kind)`` of every secret in a document's text, for the KB build report."""
    return sorted({(f.line, f.kind) for f in find_secrets(text)})


def scrub(text: str, secrets: Iterable[str | None], placeholder: str = "[REDACTED]") -> str:
    """``text`` with every occurrence of the given secret strings replaced (error messages
    that might echo a token back)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, placeholder)
    return text


def _detect(lines: list[tuple[int, str]]) -> Iterator[tuple[int, str, str]]:
    """``(line position, type, value)`` from detect-secrets and the extra patterns."""
    if not lines:
        return
    found: list[tuple[int, str, str]] = []
    with _lock:  # detect-secrets keeps its settings in process-wide state
        from detect_secrets.core.scan import _process_line_based_plugins
        from detect_secrets.settings import get_plugins, transient_settings
        from detect_secrets.util.code_snippet import get_code_snippet

        with transient_settings({"plugins_used": _plugins()}):
            # The plugins alone first: only lines where one of them matches go through the
            # whole pipeline, whose line filters cost ~10 ms on a long line of prose
            # (filters only ever remove findings, so the result is the same).
            plugins = get_plugins()
            candidates = [(position, line) for position, line in lines
                          if _any_match(plugins, line, get_code_snippet([line], 1))]
            numbered = [(n, line) for n, (_, line) in enumerate(candidates, start=1)]
            for secret in _process_line_based_plugins(numbered, filename=_FILENAME):
                if secret.secret_value:
                    position = candidates[secret.line_number - 1][0]
                    found.append((position, secret.type, secret.secret_value))
    yield from found
    for position, line in lines:
        for kind, pattern, mixed in _EXTRA:
            for match in pattern.finditer(line):
                value = match.group(match.lastindex or 0)
                if mixed and not _HAS_LETTER_AND_DIGIT.match(value):
                    continue
                yield position, kind, value


def _any_match(plugins: list[Any], line: str, context: Any) -> bool:
    return any(plugin.analyze_line(filename=_FILENAME, line=line, line_number=1, context=context)
               for plugin in plugins)


def _plugins() -> list[dict[str, str]]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    names = {cls.__name__ for cls in get_mapping_from_secret_type_to_class().values()}
    return [{"name": name} for name in sorted(names - _LEFT_OUT_PLUGINS)]


def _spans(line: str, value: str) -> list[tuple[int, int]]:
    """Where ``value`` sits in ``line``, widened to the whole token around it."""
    spans = []
    start = line.find(value)
    while start >= 0:
        end = start + len(value)
        # a detector's value can be part of a token ("ghp" of a GitHub token, a JWT without
        # its signature): the whole token goes
        while start > 0 and _TOKEN_CHARS.match(line[start - 1]):
            start -= 1
        while end < len(line) and _TOKEN_CHARS.match(line[end]):
            end += 1
        while end > start + 1 and line[end - 1] in ".,":
            end -= 1
        spans.append((start, end))
        start = line.find(value, end)
    if not spans:
        stripped = line.strip()
        first = line.find(stripped)
        spans.append((first, first + len(stripped)))
    return spans


def _resolve(text: str, found: list[tuple[str, int, int, int]]) -> list[SecretFinding]:
    """Private keys widened to their PEM block; overlaps resolved (the earlier, longer wins)."""
    findings = []
    for kind, start, end, line in found:
        category = _category(kind)
        if category == "private_key":
            block = _PEM_BLOCK.search(text, max(0, text.rfind("\n", 0, start) + 1))
            if block is not None and block.start() <= end:
                start, end = min(start, block.start()), max(end, block.end())
        findings.append(SecretFinding(kind, category, start, end, line))
    findings.sort(key=lambda f: (f.start, -(f.end - f.start), f.kind in _GENERIC))
    kept: list[SecretFinding] = []
    for finding in findings:
        if kept and finding.start < kept[-1].end:
            if finding.end > kept[-1].end:
                last = kept[-1]
                kept[-1] = SecretFinding(last.kind, last.category, last.start, finding.end, last.line)
            continue
        kept.append(finding)
    return kept


def _category(kind: str) -> str:
    if kind in _CATEGORY:
        return _CATEGORY[kind]
    lowered = kind.lower()
    if "token" in lowered:
        return "token"
    if "password" in lowered:
        return "password"
    return "api_key"
