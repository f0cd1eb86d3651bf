"""Cross-service scenarios: does the journey still work across services.

The third family (ADR 0008), between data quality and performance probes. Importing this
package imports only the spec models; the journey engine (requests, psycopg2, websockets,
JSONPath) and the suite runner load when a scenario runs (`vigil.scenarios.run`).

- `vigil.scenarios.models`: the `checks.scenarios` kinds, `journey` and `suite`;
- `vigil.scenarios.templating`: `{{variables}}` in requests, queries and conditions;
- `vigil.scenarios.references`: the targets a journey's steps name, and their consent;
- `vigil.scenarios.engine`: runs a journey's steps, its cleanup, and keeps the trace;
- `vigil.scenarios.suites`: runs a test suite and ingests its JUnit XML;
- `vigil.scenarios.run`: the family's runner (one scenario per task).
"""

from __future__ import annotations

from vigil.family import Family
from vigil.scenarios.models import SCENARIO_MODELS

FAMILY = "scenarios"
# How many scenarios run at once across every environment; an `exclusive` journey takes
# all of them.
POOL = "vigil_scenarios"
POOL_SLOTS = 4

SCENARIOS = Family(
    name=FAMILY,
    description="do the main journeys still work across services (multi-step API "
    "journeys with database and WebSocket assertions, and existing test suites)",
    models=SCENARIO_MODELS,
    runner="vigil.scenarios.run:run_checks",
    target_kinds=frozenset({"http", "postgres", "websocket"}),
    pool=POOL,
    pool_slots=POOL_SLOTS,
    task_per_check=True,
    references="vigil.scenarios.references:reference_problems",
)

__all__ = ["FAMILY", "POOL", "POOL_SLOTS", "SCENARIOS"]
