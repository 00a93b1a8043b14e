"""How much each fuzz test runs, and the Hypothesis settings that keep runs reproducible.

Runs are derandomized: the same examples every time, so a failure in CI replays locally.
`RUNCAST_FUZZ_SEED=<int>` explores a different stream instead, and `RUNCAST_FUZZ_SCALE=<x>`
multiplies the number of examples (e.g. 10 for a long local run).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, Phase, seed, settings

# Examples per backend (GraphQL: per operation). Postgres runs a smaller share: its round
# trips are slower and the request handling under test is the same code.
EXAMPLES = {
    "graphql": {"sqlite": 100, "postgres": 40},
    "rest": {"sqlite": 5_000, "postgres": 1_500},
}
READ_TIMEOUT_S = 10.0


def examples(test: str, backend: str) -> int:
    scale = float(os.environ.get("RUNCAST_FUZZ_SCALE", "1"))
    return max(1, round(EXAMPLES[test][backend] * scale))


def fuzz_settings(max_examples: int) -> Callable[[Any], Any]:
    """Hypothesis settings for one fuzz loop: no deadline, no shrinking (failures are
    collected, not raised), no example database."""
    chosen = os.environ.get("RUNCAST_FUZZ_SEED")
    configured = settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=chosen is None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    if chosen is None:
        return configured

    def seeded(test: Any) -> Any:
        return seed(int(chosen))(configured(test))

    return seeded
