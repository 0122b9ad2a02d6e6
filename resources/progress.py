"""Where long materializations report progress: the Dagster log, and stdout for the CLI."""

from __future__ import annotations

import math
import time

import dagster as dg


def format_progress(language: str, accepted: int, target: int, rate: float, eta: float | None) -> str:
    """One progress line: accepted/target, rate and ETA."""
    eta_text = "?" if eta is None or math.isinf(eta) or math.isnan(eta) else f"{eta:.0f}s"
    return f"[{language}] {accepted}/{target} accepted, {rate:.2f} conv/s, ETA {eta_text}"


class ProgressResource(dg.ConfigurableResource):
    """Reports progress lines; `echo` also prints them to stdout (set by `dlgforge run`).

    `min_interval_s` throttles lines so a fast run does not flood the event log; the final
    line (accepted == target) is always reported, once.
    """

    echo: bool = False
    min_interval_s: float = 2.0

    def reporter(self, log: dg.DagsterLogManager, language: str):
        """A callback `(accepted, target, rate_per_s, eta_s)` for the engine."""
        last_time, last_accepted = [0.0], [-1]

        def report(accepted: int, target: int, rate: float, eta: float | None) -> None:
            now = time.monotonic()
            if accepted == last_accepted[0]:
                return
            if accepted < target and now - last_time[0] < self.min_interval_s:
                return
            last_time[0], last_accepted[0] = now, accepted
            line = format_progress(language, accepted, target, rate, eta)
            log.info(line)
            if self.echo:
                print(line, flush=True)

        return report
