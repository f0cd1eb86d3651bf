"""Performance probes: how fast an environment is, measured honestly, against thresholds.

The fourth check family (ADR 0005). Importing this package imports only the spec models;
the load engine (uvloop, httptools), psycopg2 sessions and the histogram library load when
a probe runs (`vigil.probes.run.run_checks`).

- `vigil.probes.models`: the `checks.probes` kinds (http_load, pg_query, pg_connections,
  pg_plan), their load shapes, profiles and hard ceilings;
- `vigil.probes.thresholds`: `p95 < 250ms`, `error_rate < 1%`, `p95 < 1.5 x baseline`;
- `vigil.probes.measure`: the Measurement every probe fills (an HdrHistogram, counts);
- `vigil.probes.http_load`: the HTTP engine (closed and open loop, coordinated-omission
  correct), `pg_query`, `pg_connections`, `plan`, `pg_stat`: the database probes;
- `vigil.probes.run`: the family's runner (one probe at a time, one result per threshold);
- `vigil.results.probe_figures`: the figures' time series in the results store.
"""

from __future__ import annotations

from vigil.family import Family
from vigil.probes.models import PROBE_MODELS

FAMILY = "probes"
# One slot: probes never overlap each other, whichever DAG or environment they belong to.
POOL = "vigil_probes"

PROBES = Family(
    name=FAMILY,
    description="is it still fast (latency percentiles, throughput and error rate under "
    "bounded load; query plans and connection headroom)",
    models=PROBE_MODELS,
    runner="vigil.probes.run:run_checks",
    lint="vigil.probes.lint:lint_spec",
    pool=POOL,
    after_others=True,
)

__all__ = ["FAMILY", "POOL", "PROBES"]
