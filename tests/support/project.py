"""Helpers shared by the test packages: a small KB and config-dict merging."""

from __future__ import annotations

from pathlib import Path
from typing import Any

KB_FILES = {
    "billing.md": "# Billing\n\n## Invoices\n\nInvoices are sent on the first day of each month by email. "
    "Each invoice lists the plan, the seats and the taxes of the period.\n\n## Refunds\n\n"
    "Refunds take five business days to reach the original payment method. "
    "Annual plans are refunded pro rata for unused months.\n",
    "accounts.md": "# Accounts\n\n## Passwords\n\nPasswords must be at least twelve characters long "
    "and are checked against known breaches.\n\n## Two-factor authentication\n\n"
    "Two-factor authentication can be enabled in the security settings page with an app or a key.\n",
    "shipping.md": "# Shipping\n\n## Delivery times\n\nOrders ship within two days. Delivery takes "
    "three to seven days depending on the region.\n\n## Returns\n\nReturns are accepted within "
    "thirty days if the item is unused and in its original box.\n",
}


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of two config dicts (``extra`` wins)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def write_kb(folder: Path, files: dict[str, str] = KB_FILES) -> Path:
    """Write the test KB documents into ``folder``; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder
