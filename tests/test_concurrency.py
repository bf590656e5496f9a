"""100 generations from different sessions run together: none waits for another."""

from __future__ import annotations

from bench.concurrency import run_concurrent


def test_hundred_generations_are_in_flight_at_once():
    result = run_concurrent(100, queue_s=3.0, run_s=5.0)
    assert result.delivered == 100
    assert result.submits == 100  # exactly one submit per generation
    assert result.max_in_flight == 100  # every job was at the provider at the same time
