"""What the CPU advertises (Linux ``/proc/cpuinfo``)."""

from __future__ import annotations


def cpu_flags() -> str:
    """The CPU's feature flags line (e.g. ``flags : fpu ... amx_tile``); empty off Linux."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="ignore") as handle:
            return next((line for line in handle if line.startswith("flags")), "")
    except OSError:
        return ""
