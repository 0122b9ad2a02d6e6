"""sample_turn_count: fixed, uniform, poisson and exponential draws, clamped and reproducible."""

from __future__ import annotations

import random
from collections import Counter
from statistics import mean

import pytest

from dlgforge_core.config.sections import RunConfig
from dlgforge_core.generation.turns import sample_turn_count


def draws(run: RunConfig, n: int, seed: int = 7) -> list[int]:
    rng = random.Random(seed)
    return [sample_turn_count(run, rng) for _ in range(n)]


def test_fixed_n_turns_wins() -> None:
    run = RunConfig(n_turns=4, min_turns=1, max_turns=2, turn_count_distribution="poisson")
    assert set(draws(run, 200)) == {4}


def test_uniform_covers_every_value_in_bounds() -> None:
    counts = Counter(draws(RunConfig(min_turns=2, max_turns=5), 4000))
    assert set(counts) == {2, 3, 4, 5}
    assert min(counts.values()) > 800  # each of 4 values ~1000 of 4000


@pytest.mark.parametrize("distribution", ["uniform", "poisson", "exponential"])
def test_draws_stay_in_bounds(distribution: str) -> None:
    run = RunConfig(min_turns=2, max_turns=4, turn_count_distribution=distribution, turn_count_mean=6)
    values = draws(run, 2000)
    assert min(values) >= 2 and max(values) <= 4


def test_poisson_mean_is_roughly_the_configured_mean() -> None:
    run = RunConfig(min_turns=1, max_turns=40, turn_count_distribution="poisson", turn_count_mean=8)
    values = draws(run, 20000)
    assert abs(mean(values) - 8) < 0.15
    assert len(set(values)) > 10  # a spread, not a constant


def test_poisson_default_mean_is_the_midpoint() -> None:
    run = RunConfig(min_turns=1, max_turns=21, turn_count_distribution="poisson")
    assert abs(mean(draws(run, 20000)) - 11) < 0.2


def test_exponential_mean_and_skew() -> None:
    run = RunConfig(min_turns=1, max_turns=200, turn_count_distribution="exponential", turn_count_mean=10)
    values = draws(run, 20000)
    assert abs(mean(values) - 10) < 0.6  # rounding and clamping at 1 shift the mean a little
    assert sorted(values)[len(values) // 2] < 10  # median below mean: right-skewed


def test_reproducible_for_a_seed_and_different_across_seeds() -> None:
    run = RunConfig(min_turns=1, max_turns=12, turn_count_distribution="poisson", turn_count_mean=5)
    assert draws(run, 300, seed=1) == draws(run, 300, seed=1)
    assert draws(run, 300, seed=1) != draws(run, 300, seed=2)


def test_one_draw_per_call() -> None:
    """Each call consumes the rng identically, so conversation i's later draws do not shift."""
    run = RunConfig(min_turns=1, max_turns=9, turn_count_distribution="exponential", turn_count_mean=3)
    a, b = random.Random(5), random.Random(5)
    sample_turn_count(run, a)
    sample_turn_count(run, b)
    assert a.random() == b.random()
