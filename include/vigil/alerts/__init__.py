"""Alerting: rules over the results store's history, stateful and de-duplicated alerts,
one digest per channel per run, silences and maintenance windows.

Entry points, each imported from its own module (this package imports nothing, so
loading one piece never loads the rest):
- `vigil.alerts.engine.evaluate(store, run, config)`: the last task of every run;
- `vigil.alerts.silences`: the `vigil silence add|list|remove` CLI;
- `vigil.alerts.resolver.Resolver`: channel secrets, resolved at send time;
- `vigil.alerts.channels`: one sender per channel kind.
The configuration (the spec's `alerts:` section) is part of the spec: `vigil.spec.alerts`,
`vigil.spec.channels`, `vigil.spec.windows`.
"""
