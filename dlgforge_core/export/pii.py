"""PII scan and redaction of generated text (offline: regexes plus checksums).

Detected kinds: ``email``, ``phone`` (libphonenumber's matcher, region from the
conversation language), ``credit_card`` (13-19 digits passing Luhn), ``iban`` (ISO 13616
checksum), ``ip_address`` (public IPv4/IPv6 only: private and documentation addresses are
common in technical docs and identify nobody) and ``national_id`` (US SSN, Brazilian CPF,
Spanish DNI/NIE, Italian codice fiscale, French NIR, Indian Aadhaar with their checksums,
and the UK National Insurance number pattern). Findings carry positions and kinds, never
the matched text, so reports and logs cannot leak what they found.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import phonenumbers
from stdnum import iban, luhn
from stdnum.br import cpf
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.in_ import aadhaar
from stdnum.it import codicefiscale
from stdnum.us import ssn

from dlgforge_core.export.checks import MAX_OFFENDING, TEXT_KEYS, GateOutcome

PLACEHOLDERS = {
    "email": "[EMAIL]",
    "phone": "[PHONE]",
    "credit_card": "[CARD_NUMBER]",
    "iban": "[IBAN]",
    "ip_address": "[IP_ADDRESS]",
    "national_id": "[NATIONAL_ID]",
}

_REGIONS = {"en": "US", "de": "DE", "fr": "FR", "es": "ES", "it": "IT", "pt": "BR", "nl": "NL",
            "pl": "PL", "sv": "SE", "da": "DK", "ja": "JP", "zh": "CN", "ko": "KR", "ru": "RU",
            "tr": "TR", "hi": "IN", "ar": "SA"}

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
# Digit groups that are not part of a longer digit run (a card number, another id).
_ALONE = r"(?<!\d)(?<!\d[ .-]){}(?![ .-]?\d)"
_NATIONAL: list[tuple[re.Pattern[str], Callable[[str], bool]]] = [
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), ssn.is_valid),
    (re.compile(r"\b\d{3}\.\d{3}\.\d{3}-\d{2}\b"), cpf.is_valid),
    (re.compile(r"\b\d{8}-?[A-Z]\b"), dni.is_valid),
    (re.compile(r"\b[XYZ]-?\d{7}-?[A-Z]\b"), nie.is_valid),
    (re.compile(r"\b[A-Z]{6}\d{2}[A-Z]\d{2}[A-Z]\d{3}[A-Z]\b"), codicefiscale.is_valid),
    (re.compile(_ALONE.format(r"[12] ?\d{2} ?\d{2} ?(?:\d{2}|2A|2B) ?\d{3} ?\d{3} ?\d{2}")), nir.is_valid),
    (re.compile(_ALONE.format(r"[2-9]\d{3} \d{4} \d{4}")), aadhaar.is_valid),
    (re.compile(r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"), lambda _: True),
]


@dataclass(frozen=True)
class PiiFinding:
    """One PII span in a text: its kind and position (the text itself is never kept)."""

    kind: str
    start: int
    end: int


def find_pii(text: str, language: str | None = None) -> list[PiiFinding]:
    """Non-overlapping PII spans of ``text``, in text order.

    Where detectors overlap (a card number also looks like a phone number) the more
    specific kind wins: email, IBAN, card, national id, IP address, phone.
    """
    if not text:
        return []
    candidates = [*_emails(text), *_ibans(text), *_cards(text), *_national_ids(text),
                  *_ip_addresses(text), *_phones(text, language)]
    kept: list[PiiFinding] = []
    for finding in candidates:
        if all(finding.end <= other.start or finding.start >= other.end for other in kept):
            kept.append(finding)
    return sorted(kept, key=lambda f: f.start)


def redact_text(text: str, language: str | None = None) -> tuple[str, list[str]]:
    """``text`` with each PII span replaced by its placeholder, and the kinds replaced."""
    findings = find_pii(text, language)
    for finding in reversed(findings):
        text = text[: finding.start] + PLACEHOLDERS[finding.kind] + text[finding.end:]
    return text, [f.kind for f in findings]


def redact_value(value: Any, language: str | None = None, _key: str | None = None) -> Any:
    """A copy of a JSON value with PII redacted in every free-text string (see TEXT_KEYS)."""
    if isinstance(value, Mapping):
        return {k: redact_value(v, language, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(item, language, _key) for item in value]
    if isinstance(value, str) and _key in TEXT_KEYS:
        return redact_text(value, language)[0]
    return value


def record_texts(record: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(where, text)`` for every generated text of a conversation record."""
    for turn in record.get("turns") or []:
        at = f"turn {turn.get('turn_index')}"
        yield f"{at} user", str(turn.get("user_message") or "")
        yield f"{at} assistant", str(turn.get("assistant_message") or "")
        for n, candidate in enumerate(turn.get("candidates") or []):
            yield f"{at} candidate {n}", str(candidate.get("answer") or "")
            yield f"{at} candidate {n} judge notes", str((candidate.get("qa_judge") or {}).get("notes") or "")
        yield f"{at} judge notes", str((turn.get("qa_judge") or {}).get("notes") or "")
        # shipped by the training columns: the models' reasoning, the searches and their results
        yield f"{at} user reasoning", str(turn.get("generator_reasoning") or "")
        yield f"{at} assistant reasoning", str(turn.get("responder_reasoning") or "")
        for call in turn.get("tool_calls") or []:
            yield f"{at} search {call.get('round')} query", str(call.get("query") or "")
            for result in call.get("results") or []:
                yield f"{at} search {call.get('round')} result {result.get('id')}", str(result.get("text") or "")
    yield "conversation judge notes", str((record.get("conversation_judge") or {}).get("notes") or "")


def scan_records(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per text holding PII: ``<conversation_id> <where>: <kinds>`` (never the PII)."""
    lines = []
    for record in records:
        language = record.get("language")
        for where, text in record_texts(record):
            kinds = sorted({f.kind for f in find_pii(text, language)})
            if kinds:
                lines.append(f"{record.get('conversation_id')} {where}: {', '.join(kinds)}")
    return lines


def no_pii(records: Iterable[Mapping[str, Any]], extra: Iterable[str] = ()) -> GateOutcome:
    """The ``no_pii`` gate: no generated text holds PII. ``extra`` adds offending lines
    found elsewhere in the export (e.g. KB chunk texts of the RAFT records)."""
    offending = scan_records(records) + list(extra)
    if not offending:
        return GateOutcome("no_pii", True, "no PII found in any message")
    return GateOutcome("no_pii", False, f"PII found in {len(offending)} texts", offending[:MAX_OFFENDING])


def _emails(text: str) -> Iterator[PiiFinding]:
    for m in _EMAIL.finditer(text):
        yield PiiFinding("email", m.start(), m.end())


def _ibans(text: str) -> Iterator[PiiFinding]:
    for m in _IBAN.finditer(text):
        if iban.is_valid(m.group()):
            yield PiiFinding("iban", m.start(), m.end())


def _cards(text: str) -> Iterator[PiiFinding]:
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn.is_valid(digits):
            yield PiiFinding("credit_card", m.start(), m.end())


def _national_ids(text: str) -> Iterator[PiiFinding]:
    for pattern, is_valid in _NATIONAL:
        for m in pattern.finditer(text):
            if is_valid(m.group()):
                yield PiiFinding("national_id", m.start(), m.end())


def _ip_addresses(text: str) -> Iterator[PiiFinding]:
    for pattern in (_IPV4, _IPV6):
        for m in pattern.finditer(text):
            try:
                address = ipaddress.ip_address(m.group())
            except ValueError:
                continue
            if address.is_global:
                yield PiiFinding("ip_address", m.start(), m.end())


def _phones(text: str, language: str | None) -> Iterator[PiiFinding]:
    region = _REGIONS.get((language or "en").split("-")[0].lower(), "US")
    for match in phonenumbers.PhoneNumberMatcher(text, region):
        yield PiiFinding("phone", match.start, match.end)
