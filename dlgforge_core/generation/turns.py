"""How many turns a conversation gets: fixed, or one draw from the configured distribution."""

from __future__ import annotations

import math
import random

from dlgforge_core.config.sections import RunConfig


def sample_turn_count(run_cfg: RunConfig, rng: random.Random) -> int:
    """One turn count for one conversation.

    ``run.n_turns`` when set; else a draw in ``[min_turns, max_turns]``: uniform, or poisson /
    exponential with mean ``turn_count_mean`` (default: the midpoint), rounded and clamped.
    """
    if run_cfg.n_turns is not None:
        return run_cfg.n_turns
    low, high = run_cfg.min_turns, run_cfg.max_turns
    if run_cfg.turn_count_distribution == "uniform":
        return rng.randint(low, high)
    mean = run_cfg.turn_count_mean if run_cfg.turn_count_mean is not None else (low + high) / 2
    if run_cfg.turn_count_distribution == "poisson":
        draw = _poisson(mean, rng)
    else:
        draw = round(rng.expovariate(1.0 / mean))
    return max(low, min(high, draw))


def _poisson(mean: float, rng: random.Random) -> int:
    """Poisson draw by inversion of the CDF (one uniform); normal approximation for huge means."""
    if mean > 500:  # exp(-mean) would underflow
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    u = rng.random()
    k = 0
    prob = math.exp(-mean)
    cumulative = prob
    limit = int(mean * 10) + 100  # guards against float rounding keeping cumulative below u
    while u > cumulative and k < limit:
        k += 1
        prob *= mean / k
        cumulative += prob
    return k
